// SPDX-License-Identifier: Apache-2.0
// JSON <-> protobuf for the methods an app exports, using its descriptor set.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/dynamic_message.h>
#include <google/protobuf/util/type_resolver.h>

#include "mumba/status.h"

namespace mumba {

// Immutable after Load; safe to share between threads. What every call needs is
// made once here, not per call: the type resolver the JSON conversions work from
// (protobuf's JsonStringToMessage would build one from the pool on every call).
class Transcoder {
 public:
  // `services` are the only ones callers may reach (the manifest's exports).
  static Expected<std::shared_ptr<const Transcoder>> Load(const std::filesystem::path& descriptor_set,
                                                          std::vector<std::string> services);

  // The same for services compiled into this program: `files` (with everything
  // they import) are copied into the transcoder's own pool. For the host's own
  // API, which its home app calls like any app's.
  static Expected<std::shared_ptr<const Transcoder>> FromCompiled(
      const std::vector<const google::protobuf::FileDescriptor*>& files, std::vector<std::string> services);

  // "hello.v1.Greeter/SayHello" -> the method, or NOT_FOUND / UNIMPLEMENTED naming
  // what is missing. Only unary methods of exported services are found.
  Expected<const google::protobuf::MethodDescriptor*> FindMethod(const std::string& name) const;


  // Request JSON to wire bytes; INVALID_ARGUMENT says which field does not fit.
  Expected<std::string> RequestFromJson(const google::protobuf::MethodDescriptor* method,
                                        const std::string& json) const;

  // Reply wire bytes to JSON (proto3 JSON mapping, fields named as in the .proto).
  Expected<std::string> ResponseToJson(const google::protobuf::MethodDescriptor* method,
                                       const std::string& bytes) const;

  ~Transcoder();

 private:
  Transcoder() = default;
  // Makes the factory and the type resolver once the pool is complete.
  void Finish();
  static std::string TypeUrl(const google::protobuf::Descriptor* type);

  std::unique_ptr<google::protobuf::DescriptorPool> pool_;
  std::unique_ptr<google::protobuf::DynamicMessageFactory> factory_;
  std::unique_ptr<google::protobuf::util::TypeResolver> resolver_;
  std::vector<std::string> services_;
};

}  // namespace mumba
