// SPDX-License-Identifier: Apache-2.0
// The checks of `mumba doctor`: each looks at one thing a working platform needs
// (Chromium, the sandbox, the gateway and p2p ports, the DHT, disk space and quotas,
// the runtime libraries, the tools that build apps) and says what is wrong and what
// to do. They only look: nothing is started but short probes (bwrap running
// /bin/true, `chromium --version`, `mumba-host --version`), no port is held past
// the check, and nothing is sent to any network; the DHT is judged by what the
// running host reports.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "common/paths.h"
#include "mumba/host/v1/control.pb.h"

namespace mumba::cli {

enum class CheckStatus { kOk, kWarn, kFail };

// One finding. A kFail is an essential miss: the platform, or a main part of it,
// does not work until it is fixed, and `mumba doctor` exits 1.
struct DoctorCheck {
  std::string name;     // "chromium", "sandbox", "gateway-port", ...
  CheckStatus status = CheckStatus::kOk;
  std::string message;  // What was found.
  std::string fix;      // What to do about it; empty when nothing needs doing.
};

// "ok", "warn" or "fail".
const char* StatusName(CheckStatus status);

// What doctor reads of $MUMBA_HOME/config.toml. A file that does not parse is
// reported by CheckConfig, and the defaults are used for the other checks.
struct DoctorConfig {
  std::string error;                 // Why config.toml does not parse; empty when it does.
  int gateway_port = 0;              // [gateway] port
  bool p2p_with_host = false;        // A [p2p] table: the node starts with the host.
  std::string p2p_listen = "0.0.0.0:6881";
  std::vector<std::string> bootstrap;  // Empty: the public routers.
  bool sandbox = true;               // [security] sandbox
};

// Reads `file`; a missing file gives the defaults.
DoctorConfig LoadDoctorConfig(const std::filesystem::path& file);

// What the running host says about itself, when one answers.
struct RunningHost {
  mumba::host::v1::HostStatusResponse status;
  std::vector<mumba::host::v1::AppInfo> apps;
};

DoctorCheck CheckConfig(const DoctorConfig& config, const HomeLayout& layout);
// Whether a host runs, and whether it runs this mumba's version from a file that
// is still there (an upgrade replaces the file under a running host).
DoctorCheck CheckHost(const std::optional<RunningHost>& host, const HomeLayout& layout);
// mumba-host beside this mumba starts (its shared libraries load), and the gRPC and
// protobuf this mumba loaded are the ones bundles are built against.
DoctorCheck CheckRuntime();
// Installed apps whose bundle records another runtime than this host's.
DoctorCheck CheckAppRuntimes(const std::optional<RunningHost>& host);
DoctorCheck CheckChromium();
// Whether bubblewrap runs a jail: ok when it does, a warning when config.toml turns
// the sandbox off, a failure whose fix is installing bwrap when it is missing and
// allowing user namespaces when it is there but cannot make its jail.
DoctorCheck CheckSandboxWorks(const DoctorConfig& config);
DoctorCheck CheckGatewayPort(const DoctorConfig& config, const std::optional<RunningHost>& host,
                             const HomeLayout& layout);
DoctorCheck CheckP2pPort(const DoctorConfig& config, const std::optional<RunningHost>& host);
// Only with a running host whose p2p node runs; nullopt otherwise. `bootstrap`
// names the nodes the host joins through, for the message.
std::optional<DoctorCheck> CheckDht(const RunningHost& host, const std::vector<std::string>& bootstrap);
// Free space and inodes on the filesystem of MUMBA_HOME (or of the folder that will
// hold it).
DoctorCheck CheckDisk(const HomeLayout& layout, uint64_t* free_bytes);
// Apps near or over their quota, and quotas that promise more than the disk holds.
DoctorCheck CheckQuotas(const std::optional<RunningHost>& host, uint64_t free_bytes);
// cmake, ninja, a C++ compiler, protoc, grpc_cpp_plugin, objcopy and the SDK's
// CMake package: what `mumba new` apps need to build.
DoctorCheck CheckBuildTools();

// Whether `mumba host enable` made systemd start a host at login, and whether the
// program its unit starts is still there (a build tree cleaned, a package removed).
DoctorCheck CheckAutostart(const HomeLayout& layout);

// Who holds `port` on this machine, e.g. "nc (pid 123)"; empty when unknown.
std::string PortHolder(int port, bool udp);

}  // namespace mumba::cli
