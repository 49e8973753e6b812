# SPDX-License-Identifier: Apache-2.0
# mumba_app(NAME SOURCES src... PROTOS proto/x/v1/x.proto...)
#
# Builds the daemon executable NAME into ${CMAKE_BINARY_DIR}/bin, generating C++
# and gRPC code for PROTOS (paths relative to the app folder, imported relative to
# its proto/ folder). `mumba build` then assembles the bundle from the app folder.
function(mumba_app name)
  cmake_parse_arguments(ARG "" "" "SOURCES;PROTOS" ${ARGN})
  set(gen ${CMAKE_CURRENT_BINARY_DIR}/gen)
  file(MAKE_DIRECTORY ${gen})
  get_target_property(plugin gRPC::grpc_cpp_plugin LOCATION)
  set(srcs)
  foreach(p ${ARG_PROTOS})
    get_filename_component(abs ${p} ABSOLUTE)
    file(RELATIVE_PATH rel ${CMAKE_CURRENT_SOURCE_DIR}/proto ${abs})
    string(REGEX REPLACE "\\.proto$" "" base ${rel})
    set(outs ${gen}/${base}.pb.cc ${gen}/${base}.pb.h ${gen}/${base}.grpc.pb.cc ${gen}/${base}.grpc.pb.h)
    add_custom_command(
      OUTPUT ${outs}
      COMMAND protobuf::protoc --proto_path=${CMAKE_CURRENT_SOURCE_DIR}/proto
              --cpp_out=${gen} --grpc_out=${gen} --plugin=protoc-gen-grpc=${plugin} ${abs}
      DEPENDS ${abs}
      COMMENT "protoc ${rel}")
    list(APPEND srcs ${outs})
  endforeach()
  add_executable(${name} ${ARG_SOURCES} ${srcs})
  target_include_directories(${name} PRIVATE ${gen})
  target_link_libraries(${name} PRIVATE Mumba::mumba)
  set_target_properties(${name} PROPERTIES
    RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin
    CXX_STANDARD 20 CXX_STANDARD_REQUIRED ON)
endfunction()
