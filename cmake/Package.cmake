# SPDX-License-Identifier: Apache-2.0
# The Debian package of everything `cmake --install` installs: `mumba`, `mumba-host`,
# the home app's page and the SDK with its CMake package, under /usr.
# scripts/package.sh builds it (cpack -G DEB) as mumba_<version>_<arch>.deb, which
# `apt-get install ./mumba_<version>_amd64.deb` installs with what it needs.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME mumba)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "Mumba developers <mumba@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "peer-to-peer application platform")
string(CONCAT CPACK_PACKAGE_DESCRIPTION
    "Mumba runs apps as sandboxed native daemons with web UIs in Chromium, gives each\n"
    "app key-value, SQL and file storage, and installs apps from their permanent\n"
    "addresses over BitTorrent. The package holds the host (mumba-host), the CLI (mumba)\n"
    "and the C++ SDK apps are built with.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
# Binaries go into the package stripped: the debug information stays in the build.
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# The shared libraries the binaries link (gRPC, protobuf, libtorrent, SQLite, LMDB,
# libsodium, libseccomp, spdlog, toml++, ...) with the versions dpkg-shlibdeps finds;
# app daemons link the same gRPC and protobuf. bubblewrap jails every app daemon.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "bubblewrap")
# Chromium opens the apps' windows; the rest builds apps with the SDK (`mumba new`,
# `mumba install DIR`). apt-get installs recommended packages unless told not to.
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS
    "chromium, fonts-liberation, cmake, ninja-build, g++, binutils, protobuf-compiler, protobuf-compiler-grpc, libgrpc++-dev, libprotobuf-dev")
include(CPack)
