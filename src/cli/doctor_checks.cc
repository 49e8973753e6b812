// SPDX-License-Identifier: Apache-2.0
#include "cli/doctor_checks.h"

#include <arpa/inet.h>
#include <link.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include <grpcpp/grpcpp.h>
#include <toml++/toml.h>

#include "bundle/bundle.h"
#include "bundle/manifest.h"
#include "cli/host_service.h"
#include "cli/local_system.h"
#include "common/files.h"
#include "platform/unique_fd.h"
#include "sandbox/sandbox.h"
#include "shell/chromium.h"

namespace fs = std::filesystem;

namespace mumba::cli {
namespace {

// Below this much free space under MUMBA_HOME an install or a store write is
// likely to fail; below the second, soon.
constexpr uint64_t kDiskFailBytes = 100ull << 20;
constexpr uint64_t kDiskWarnBytes = 1ull << 30;
constexpr uint64_t kInodesFail = 1000;
// An app that has used this share of its quota is told about it.
constexpr double kQuotaWarnShare = 0.9;

DoctorCheck Ok(std::string name, std::string message) {
  return {std::move(name), CheckStatus::kOk, std::move(message), ""};
}
DoctorCheck Warn(std::string name, std::string message, std::string fix) {
  return {std::move(name), CheckStatus::kWarn, std::move(message), std::move(fix)};
}
DoctorCheck Failed(std::string name, std::string message, std::string fix) {
  return {std::move(name), CheckStatus::kFail, std::move(message), std::move(fix)};
}

std::string Size(uint64_t bytes) {
  char buf[32];
  if (bytes >= (1ull << 30)) std::snprintf(buf, sizeof buf, "%.1f GiB", bytes / double(1ull << 30));
  else std::snprintf(buf, sizeof buf, "%.1f MiB", bytes / double(1ull << 20));
  return buf;
}

std::string FirstLine(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  auto nl = text.find('\n');
  return nl == std::string::npos ? text : text.substr(0, nl);
}

struct ListenAddress {
  std::string ip;
  int port = -1;
};

// "IP:PORT" or "[IPv6]:PORT"; port -1 when it does not parse.
ListenAddress ParseListen(const std::string& text) {
  ListenAddress a;
  auto colon = text.rfind(':');
  if (colon == std::string::npos) return a;
  a.ip = text.substr(0, colon);
  if (a.ip.size() >= 2 && a.ip.front() == '[' && a.ip.back() == ']') a.ip = a.ip.substr(1, a.ip.size() - 2);
  try {
    a.port = std::stoi(text.substr(colon + 1));
  } catch (const std::exception&) {
    a.port = -1;
  }
  if (a.port < 0 || a.port > 65535) a.port = -1;
  return a;
}

// Whether a socket of `type` can bind ip:port now; errno's text when it cannot.
std::string TryBind(const std::string& ip, int port, int type) {
  const bool v6 = ip.find(':') != std::string::npos;
  UniqueFd fd(::socket(v6 ? AF_INET6 : AF_INET, type | SOCK_CLOEXEC, 0));
  if (!fd) return std::strerror(errno);
  // A port the host left in TIME_WAIT is free for the host, which binds it this way.
  int one = 1;
  if (type == SOCK_STREAM) ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  int rc;
  if (v6) {
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(static_cast<uint16_t>(port));
    if (::inet_pton(AF_INET6, ip.c_str(), &a.sin6_addr) != 1) return "not an IP address";
    rc = ::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a);
  } else {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    if (::inet_pton(AF_INET, ip.c_str(), &a.sin_addr) != 1) return "not an IP address";
    rc = ::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a);
  }
  return rc == 0 ? "" : std::strerror(errno);
}

std::string Holder(int port, bool udp) {
  std::string who = PortHolder(port, udp);
  return who.empty() ? "another program" : who;
}

// The path of the loaded shared object whose file name starts with `prefix`.
std::string LoadedLibrary(const std::string& prefix) {
  struct Search {
    std::string prefix;
    std::string found;
  } search{prefix, ""};
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* data) {
        auto* s = static_cast<Search*>(data);
        if (info->dlpi_name && fs::path(info->dlpi_name).filename().string().starts_with(s->prefix)) {
          s->found = info->dlpi_name;
          return 1;
        }
        return 0;
      },
      &search);
  return search.found;
}

}  // namespace

const char* StatusName(CheckStatus status) {
  switch (status) {
    case CheckStatus::kOk: return "ok";
    case CheckStatus::kWarn: return "warn";
    case CheckStatus::kFail: return "fail";
  }
  return "fail";
}

DoctorConfig LoadDoctorConfig(const fs::path& file) {
  DoctorConfig c;
  std::error_code ec;
  if (!fs::exists(file, ec)) return c;
  toml::table root;
  try {
    root = toml::parse_file(file.string());
  } catch (const toml::parse_error& e) {
    c.error = file.string() + ":" + std::to_string(e.source().begin.line) + ": " + std::string(e.description());
    return c;
  }
  c.gateway_port = static_cast<int>(root["gateway"]["port"].value_or(int64_t{0}));
  if (root["p2p"].is_table()) {
    c.p2p_with_host = true;
    c.p2p_listen = root["p2p"]["listen"].value_or(c.p2p_listen);
    if (const toml::array* nodes = root["p2p"]["bootstrap"].as_array()) {
      for (const auto& n : *nodes) {
        if (auto s = n.value<std::string>()) c.bootstrap.push_back(*s);
      }
    }
  }
  c.sandbox = root["security"]["sandbox"].value_or(true);
  return c;
}

DoctorCheck CheckConfig(const DoctorConfig& config, const HomeLayout& layout) {
  if (!config.error.empty()) {
    return Failed("config", "config.toml does not parse: " + config.error + "; the host will not start",
                  "fix that line of " + layout.config().string() + " (src/host/config.h lists every key)");
  }
  std::error_code ec;
  return Ok("config", fs::exists(layout.config(), ec) ? layout.config().string() + " parses"
                                                       : "no config.toml: the defaults apply");
}

DoctorCheck CheckHost(const std::optional<RunningHost>& host, const HomeLayout& layout) {
  if (!host) {
    return Ok("host", "no host runs on " + layout.home.string() +
                          " (any mumba command starts one; checks that need it were skipped)");
  }
  const auto& st = host->status;
  std::string exe;
  std::error_code ec;
  exe = fs::read_symlink("/proc/" + std::to_string(st.pid()) + "/exe", ec).string();
  const std::string restart = "restart it: mumba host stop && mumba host start";
  if (exe.ends_with(" (deleted)")) {
    return Warn("host", "the host (pid " + std::to_string(st.pid()) + ") runs " + exe +
                            ": its program was replaced, e.g. by an upgrade, and it still runs the old one",
                restart);
  }
  if (st.version() != MUMBA_VERSION) {
    return Warn("host", "the host runs version " + st.version() + " and this mumba is " + MUMBA_VERSION, restart);
  }
  return Ok("host", "running on " + layout.home.string() + " (pid " + std::to_string(st.pid()) + ", version " +
                        st.version() + (exe.empty() ? "" : ", " + exe) + ")");
}

DoctorCheck CheckRuntime() {
  const fs::path host_exe = ExecutableDir() / "mumba-host";
  const std::string reinstall =
      "install the missing libraries (`apt-get install ./mumba_<version>_amd64.deb` brings them all), "
      "or reinstall Mumba";
  if (::access(host_exe.c_str(), X_OK) != 0) {
    return Failed("runtime", host_exe.string() + " is missing: no host can start", reinstall);
  }
  ProgramResult r = RunProgram({host_exe.string(), "--version"}, std::chrono::seconds(20));
  if (r.exit_code != 0) {
    return Failed("runtime", host_exe.string() + " does not start: " + FirstLine(r.output), reinstall);
  }
  const RuntimeDecl runtime = HostRuntime();
  const std::string loaded_grpc = LoadedLibrary("libgrpc++.so");
  const std::string loaded_protobuf = LoadedLibrary("libprotobuf.so");
  // Bundles record MAJOR.MINOR of the headers they were built with; the library
  // that loads must be the same release.
  const std::string grpc_version = grpc::Version();
  if (!grpc_version.starts_with(runtime.grpc + ".")) {
    return Failed("runtime",
                  "Mumba was built for gRPC " + runtime.grpc + " but gRPC " + grpc_version + " is loaded",
                  "rebuild Mumba against this gRPC, or install gRPC " + runtime.grpc);
  }
  return Ok("runtime", "apps run on " + DescribeRuntime(runtime) + " (" +
                           (loaded_grpc.empty() ? "gRPC linked statically" : loaded_grpc) + ", " +
                           (loaded_protobuf.empty() ? "protobuf linked statically" : loaded_protobuf) +
                           "); mumba-host starts");
}

DoctorCheck CheckAppRuntimes(const std::optional<RunningHost>& host) {
  if (!host) return Ok("app-runtimes", "not checked: no host runs");
  const RuntimeDecl runtime = HostRuntime();
  std::vector<std::string> stale;
  for (const auto& app : host->apps) {
    auto m = LoadManifest(app.install_dir());
    if (m.ok() && !m->runtime.empty() && m->runtime != runtime) {
      stale.push_back(app.name() + " " + app.version() + " (built for " + DescribeRuntime(m->runtime) + ")");
    }
  }
  if (stale.empty()) {
    return Ok("app-runtimes", std::to_string(host->apps.size()) + " installed app(s) match " +
                                  DescribeRuntime(runtime));
  }
  std::string list;
  for (const auto& s : stale) list += (list.empty() ? "" : ", ") + s;
  return Warn("app-runtimes", "daemons that will not start on this host's " + DescribeRuntime(runtime) + ": " + list,
              "rebuild each from its source (mumba install DIR), or `mumba update APP` once its publisher "
              "publishes a build for this runtime");
}

DoctorCheck CheckChromium() {
  const std::string fix =
      "apt-get install chromium (or point MUMBA_CHROMIUM at a Chromium), then start the host again "
      "so it sees it";
  auto found = shell::FindChromium();
  if (!found.ok()) {
    std::string why = found.status().message();
    if (auto hint = why.find("; install it with"); hint != std::string::npos) why.resize(hint);
    return Failed("chromium", why + ": app windows cannot open (mumba launch)", fix);
  }
  ProgramResult r = RunProgram({found->string(), "--version"}, std::chrono::seconds(30));
  if (r.exit_code != 0) {
    return Failed("chromium", found->string() + " does not run (exit code " + std::to_string(r.exit_code) +
                                  "): " + FirstLine(r.output),
                  fix);
  }
  // The wrapper script of Debian's package may say other things first.
  std::string version = FirstLine(r.output);
  std::istringstream lines(r.output);
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with("Chromium ") || line.starts_with("Google Chrome ")) version = line;
  }
  return Ok("chromium", version + " at " + found->string());
}

DoctorCheck CheckSandboxWorks(const DoctorConfig& config) {
  if (!config.sandbox) {
    return Warn("sandbox", "off: `[security] sandbox = false` in config.toml, so apps run unconfined, with "
                           "your whole view of the machine",
                "remove that line (and restart the host) to run every app in its bubblewrap jail");
  }
  auto bwrap = CheckSandbox(ProcessLauncher::System());
  if (!bwrap.ok()) {
    // Where CheckSandbox looks for bwrap: when one is there, installing it again
    // changes nothing, and what stops the jail is the kernel's user namespaces.
    const bool installed = ::access("/usr/bin/bwrap", X_OK) == 0 || ::access("/usr/local/bin/bwrap", X_OK) == 0;
    return Failed("sandbox", bwrap.status().message() + " No app starts until this is fixed.",
                  installed ? "allow user namespaces: sysctl kernel.unprivileged_userns_clone=1 and "
                              "user.max_user_namespaces > 0 (in a container, its runtime must allow them too)"
                            : "apt-get install bubblewrap");
  }
  return Ok("sandbox", "bubblewrap works (" + bwrap->string() + " ran a jail with user namespaces and seccomp)");
}

DoctorCheck CheckGatewayPort(const DoctorConfig& config, const std::optional<RunningHost>& host,
                             const HomeLayout& layout) {
  if (host && host->status.gateway_port() > 0) {
    return Ok("gateway-port", "the gateway serves http://<app>.localhost:" +
                                  std::to_string(host->status.gateway_port()) + "/");
  }
  if (host) {
    return Failed("gateway-port", "the running host has no gateway: app pages cannot open",
                  "see " + layout.host_log().string() + ", then restart the host");
  }
  if (config.gateway_port > 0) {
    std::string why = TryBind("127.0.0.1", config.gateway_port, SOCK_STREAM);
    if (!why.empty()) {
      return Failed("gateway-port",
                    "127.0.0.1:" + std::to_string(config.gateway_port) + " ([gateway] port in config.toml) is " +
                        "taken by " + Holder(config.gateway_port, false) + " (" + why + "): the host will not start",
                    "stop that program, or set another [gateway] port in " + layout.config().string() +
                        " (0 picks a free one)");
    }
    return Ok("gateway-port", "127.0.0.1:" + std::to_string(config.gateway_port) + " is free for the gateway");
  }
  auto recorded = ReadFile(layout.home / "gateway.port");
  int port = recorded.ok() ? std::atoi(recorded->c_str()) : 0;
  if (port > 0 && port < 65536) {
    std::string why = TryBind("127.0.0.1", port, SOCK_STREAM);
    if (!why.empty()) {
      return Warn("gateway-port",
                  "127.0.0.1:" + std::to_string(port) + ", the gateway's port so far, is taken by " +
                      Holder(port, false) + ": the host will pick another, and apps' pages lose what they "
                      "kept in the browser (their origin changes)",
                  "stop that program before the host starts, or pin a port with [gateway] port in config.toml");
    }
    return Ok("gateway-port", "127.0.0.1:" + std::to_string(port) + " (kept in gateway.port) is free");
  }
  return Ok("gateway-port", "the host picks a free port at its first start and keeps it");
}

DoctorCheck CheckP2pPort(const DoctorConfig& config, const std::optional<RunningHost>& host) {
  if (host && !host->status.p2p_listen().empty()) {
    return Ok("p2p-port", "BitTorrent and the DHT listen on " + host->status.p2p_listen());
  }
  ListenAddress a = ParseListen(config.p2p_listen);
  if (a.port < 0) {
    return Failed("p2p-port", "[p2p] listen = \"" + config.p2p_listen + "\" is not IP:PORT",
                  "write it as IP:PORT, e.g. 0.0.0.0:6881");
  }
  if (a.port == 0) return Ok("p2p-port", config.p2p_listen + ": any free port");
  for (int type : {SOCK_STREAM, SOCK_DGRAM}) {
    std::string why = TryBind(a.ip, a.port, type);
    if (why.empty()) continue;
    const bool udp = type == SOCK_DGRAM;
    return Failed("p2p-port",
                  config.p2p_listen + (udp ? " (UDP, the DHT)" : " (TCP, BitTorrent)") + " is taken by " +
                      Holder(a.port, udp) + " (" + why + "): publishing, installing by address and seeding fail",
                  "stop that program, or set another port: [p2p] listen = \"0.0.0.0:PORT\" in config.toml "
                  "(port 0 picks any), or mumba host start --listen IP:PORT");
  }
  return Ok("p2p-port", config.p2p_listen + " is free for BitTorrent and the DHT (TCP and UDP)" +
                            std::string(host || config.p2p_with_host ? "" : "; the node starts when first needed"));
}

std::optional<DoctorCheck> CheckDht(const RunningHost& host, const std::vector<std::string>& bootstrap) {
  const auto& st = host.status;
  if (st.p2p_listen().empty()) return std::nullopt;
  if (st.dht_nodes() > 0) {
    return Ok("dht", "the DHT answers: " + std::to_string(st.dht_nodes()) + " nodes in the routing table");
  }
  std::string nodes;
  for (const auto& n : bootstrap) nodes += (nodes.empty() ? "" : ", ") + n;
  if (nodes.empty()) nodes = "none";
  const std::string message = "the DHT has no nodes after " + std::to_string(st.uptime_ms() / 1000) +
                              " s: no bootstrap node answered (" + nodes + ")";
  const std::string fix = "let UDP on " + st.p2p_listen() +
                          " reach the network (firewall, NAT), or give nodes you can reach: [p2p] bootstrap "
                          "in config.toml, or mumba host start --bootstrap HOST:PORT";
  // A node that just started may still be joining.
  if (st.uptime_ms() < 30'000) return Warn("dht", message + "; it started moments ago, so it may still be joining", fix);
  return Failed("dht", message + ": addresses cannot be resolved or published", fix);
}

DoctorCheck CheckDisk(const HomeLayout& layout, uint64_t* free_bytes) {
  fs::path where = layout.home;
  std::error_code ec;
  while (!where.empty() && !fs::exists(where, ec) && where != where.parent_path()) where = where.parent_path();
  struct statvfs vfs {};
  if (::statvfs(where.c_str(), &vfs) != 0) {
    *free_bytes = 0;
    return Failed("disk", "cannot read the free space of " + where.string() + ": " + std::strerror(errno),
                  "check that " + where.string() + " is readable");
  }
  *free_bytes = static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize;
  const std::string move = "free space there, or move MUMBA_HOME to a larger disk (MUMBA_HOME=DIR or mumba --home DIR)";
  const std::string on = " free on the filesystem of " + where.string();
  if (::access(where.c_str(), W_OK) != 0) {
    return Failed("disk", where.string() + " is not writable: the host cannot keep its state there",
                  "make it writable for you, or use another MUMBA_HOME");
  }
  if (*free_bytes < kDiskFailBytes) {
    return Failed("disk", "only " + Size(*free_bytes) + on + ": installs, stores and logs need at least " +
                              Size(kDiskFailBytes), move);
  }
  if (vfs.f_files > 0 && vfs.f_favail < kInodesFail) {
    return Failed("disk", "only " + std::to_string(vfs.f_favail) + " inodes" + on + ": new files cannot be made", move);
  }
  if (*free_bytes < kDiskWarnBytes) {
    return Warn("disk", Size(*free_bytes) + on + ": an app or two more may fill it", move);
  }
  return Ok("disk", Size(*free_bytes) + on);
}

DoctorCheck CheckQuotas(const std::optional<RunningHost>& host, uint64_t free_bytes) {
  if (!host) return Ok("quotas", "not checked: no host runs");
  std::vector<std::string> full;
  uint64_t promised = 0;
  bool unlimited = false;
  for (const auto& app : host->apps) {
    if (app.quota_bytes() == 0) {
      unlimited = true;
      continue;
    }
    if (app.storage_bytes() < app.quota_bytes()) promised += app.quota_bytes() - app.storage_bytes();
    if (app.storage_bytes() >= kQuotaWarnShare * app.quota_bytes()) {
      full.push_back(app.name() + " uses " + Size(app.storage_bytes()) + " of " + Size(app.quota_bytes()));
    }
  }
  if (!full.empty()) {
    std::string list;
    for (const auto& f : full) list += (list.empty() ? "" : ", ") + f;
    return Warn("quotas", "near or over their quota: " + list + "; their writes will be refused",
                "raise quota_bytes in [apps.NAME] of config.toml, or delete some of their data");
  }
  if (promised > free_bytes) {
    return Warn("quotas", "apps may still store " + Size(promised) + " under their quotas, but the disk has " +
                              Size(free_bytes) + " free",
                "free space, or lower [storage] quota_bytes in config.toml");
  }
  return Ok("quotas", std::to_string(host->apps.size()) + " app(s) within their quotas" +
                          (unlimited ? " (some without a limit)" : ""));
}

DoctorCheck CheckBuildTools() {
  std::vector<std::string> missing;
  for (const char* tool : {"cmake", "ninja", "protoc", "grpc_cpp_plugin", "objcopy"}) {
    if (FindInPath(tool).empty()) missing.push_back(tool);
  }
  if (FindInPath("c++").empty() && FindInPath("g++").empty() && FindInPath("clang++").empty()) {
    missing.push_back("a C++ compiler (c++, g++ or clang++)");
  }
  std::error_code ec;
  const fs::path sdk = ExecutableDir().parent_path() / "lib/cmake/Mumba/MumbaConfig.cmake";
  if (!fs::exists(sdk, ec)) missing.push_back("the SDK (" + sdk.string() + ")");
  if (missing.empty()) return Ok("build-tools", "apps build here (cmake, ninja, C++ compiler, protoc, the SDK)");
  std::string list;
  for (const auto& m : missing) list += (list.empty() ? "" : ", ") + m;
  return Warn("build-tools", "apps cannot be built here (mumba new, mumba install DIR): missing " + list,
              "apt-get install cmake ninja-build g++ binutils protobuf-compiler protobuf-compiler-grpc "
              "libgrpc++-dev libprotobuf-dev (apps from the network need none of these)");
}

DoctorCheck CheckAutostart(const HomeLayout& layout) {
  const fs::path unit = UserUnitDir() / kHostUnitName;
  auto text = ReadFile(unit);
  if (!text.ok()) return Ok("autostart", "the host does not start at login (mumba host enable)");
  if (!text->starts_with(kHostUnitMarker)) return Ok("autostart", unit.string() + " is your own unit");
  std::string exec;
  std::istringstream lines(*text);
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with("ExecStart=")) exec = line.substr(10);
  }
  // The program is the first word of ExecStart as HostUnitText writes it: quoted
  // with \" and \\ escaped, or bare; '%' doubled either way.
  std::string program;
  const bool quoted = !exec.empty() && exec.front() == '"';
  for (size_t i = quoted ? 1 : 0; i < exec.size(); ++i) {
    char c = exec[i];
    if (quoted ? c == '"' : c == ' ') break;
    if (quoted && c == '\\' && i + 1 < exec.size()) c = exec[++i];
    else if (c == '%' && i + 1 < exec.size() && exec[i + 1] == '%') ++i;
    program += c;
  }
  if (program.empty() || ::access(program.c_str(), X_OK) != 0) {
    return Warn("autostart",
                unit.string() + " starts " + (program.empty() ? "nothing" : program) +
                    ", which is not there any more: no host will start at login",
                "run `mumba host enable` again with the installed mumba, or `mumba host disable`");
  }
  auto home = SystemdWord(layout.home.string());
  const bool ours = home.ok() && text->find("--home " + *home + "\n") != std::string::npos;
  return Ok("autostart", "systemd starts " + program + " at login" +
                             (ours ? "" : " for another MUMBA_HOME (see " + unit.string() + ")"));
}

std::string PortHolder(int port, bool udp) {
  // The socket's inode, from the kernel's tables of sockets bound to the port.
  std::string inode;
  for (const char* table : udp ? std::vector<const char*>{"/proc/net/udp", "/proc/net/udp6"}
                               : std::vector<const char*>{"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream in(table);
    std::string line;
    std::getline(in, line);
    while (inode.empty() && std::getline(in, line)) {
      std::istringstream fields(line);
      std::string slot, local, remote, state, queues, timer, retransmits, uid, timeout, node;
      fields >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid >> timeout >> node;
      auto colon = local.rfind(':');
      if (colon == std::string::npos || std::stoi(local.substr(colon + 1), nullptr, 16) != port) continue;
      if (!udp && state != "0A") continue;  // TCP: only a listener holds the port.
      inode = node;
    }
  }
  if (inode.empty() || inode == "0") return "";
  const std::string target = "socket:[" + inode + "]";
  std::error_code ec;
  for (const auto& proc : fs::directory_iterator("/proc", ec)) {
    const std::string pid = proc.path().filename().string();
    if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
    for (const auto& fd : fs::directory_iterator(proc.path() / "fd", ec)) {
      if (fs::read_symlink(fd.path(), ec).string() != target) continue;
      std::ifstream comm(proc.path() / "comm");
      std::string name;
      std::getline(comm, name);
      return name + " (pid " + pid + ")";
    }
  }
  return "";
}

}  // namespace mumba::cli
