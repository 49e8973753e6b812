// SPDX-License-Identifier: Apache-2.0
// mumba install | uninstall | list | start | stop | restart | status | logs
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <thread>

#include "broker/grants.h"
#include "cli/cli.h"
#include "cli/options.h"

namespace mumba::cli {
namespace hv1 = mumba::host::v1;

namespace {

// The installer's refusal as the owner reads it: "<app> asks for:" and one ask a line.
std::string AsksText(const std::string& message) {
  size_t at = message.find(kAsksFor);
  std::string head = message.substr(0, at);
  std::string rest = message.substr(at + kAsksFor.size());
  if (size_t paren = rest.rfind(" ("); paren != std::string::npos) rest.resize(paren);
  std::string out = head + " asks for:";
  size_t start = 0;
  while (start <= rest.size()) {
    size_t end = rest.find("; ", start);
    out += "\n  - " + rest.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (end == std::string::npos) break;
    start = end + 2;
  }
  return out;
}

}  // namespace

namespace {

std::string Ago(int64_t ms) {
  if (ms <= 0) return "-";
  time_t t = ms / 1000;
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", std::localtime(&t));
  return buf;
}

std::string HumanBytes(uint64_t n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

}  // namespace

void PrintSandbox(const hv1::AppInfo& a) {
  if (!a.sandbox().empty()) std::printf("  sandbox  %s\n", a.sandbox().c_str());
  for (const auto& p : a.permissions()) {
    std::printf("  %s  %s\n", p.granted() ? "granted" : "revoked", p.description().c_str());
  }
}

namespace {

void PrintStatus(const hv1::AppInfo& a) {
  std::printf("%s %s\n", a.name().c_str(), a.version().c_str());
  std::printf("  id          %s\n", a.id().c_str());
  if (!a.description().empty()) std::printf("  description %s\n", a.description().c_str());
  std::printf("  state       %s%s\n", a.state().c_str(), a.enabled() ? "" : " (not started at boot)");
  if (a.pid()) std::printf("  pid         %d\n", a.pid());
  if (a.started_at_ms()) std::printf("  started     %s\n", Ago(a.started_at_ms()).c_str());
  std::printf("  restarts    %d\n", a.restarts());
  if (!a.last_exit().empty()) std::printf("  last exit   %s\n", a.last_exit().c_str());
  if (!a.error().empty()) std::printf("  error       %s\n", a.error().c_str());
  for (const auto& s : a.services()) std::printf("  service     %s\n", s.c_str());
  for (const auto& r : a.routes()) std::printf("  route       %s\n", r.c_str());
  if (!a.sandbox().empty()) std::printf("  sandbox     %s\n", a.sandbox().c_str());
  for (const auto& p : a.permissions()) {
    std::printf("  %-11s %s\n", p.granted() ? "granted" : "revoked", p.description().c_str());
  }
  std::printf("  socket      %s\n", a.socket().c_str());
  std::printf("  installed   %s in %s\n", Ago(a.installed_at_ms()).c_str(), a.install_dir().c_str());
  std::printf("  data        %s\n", a.data_dir().c_str());
  std::printf("  log         %s\n", a.log_file().c_str());
  std::printf("  stores      %s\n", a.stores_dir().c_str());
  if (a.quota_bytes() > 0) {
    std::printf("  storage     %s of %s (%.1f%%)\n", HumanBytes(a.storage_bytes()).c_str(),
                HumanBytes(a.quota_bytes()).c_str(), 100.0 * a.storage_bytes() / a.quota_bytes());
  } else {
    std::printf("  storage     %s (no quota)\n", HumanBytes(a.storage_bytes()).c_str());
  }
}

hv1::AppRef Ref(const std::string& app) {
  hv1::AppRef ref;
  ref.set_app(app);
  return ref;
}

// Runs one AppRef method (start, stop, ...) and prints the resulting state.
using AppRefMethod = grpc::Status (hv1::Control::Stub::*)(grpc::ClientContext*, const hv1::AppRef&,
                                                          hv1::AppInfo*);

int RunAppRef(const Context& ctx, const std::string& app, AppRefMethod method, const char* verb) {
  hv1::AppInfo info;
  if (int rc = Unary(ctx, method, Ref(app), &info)) return rc;
  std::printf("%s %s (%s)\n", verb, info.name().c_str(), info.state().c_str());
  return 0;
}

int FollowLog(const std::filesystem::path& file, int lines, bool follow) {
  std::ifstream in(file, std::ios::binary);
  if (!in && !follow) {
    std::printf("(no output yet: %s)\n", file.c_str());
    return 0;
  }
  if (in) {
    std::vector<std::string> tail;
    std::string line;
    while (std::getline(in, line)) {
      tail.push_back(line);
      if (lines > 0 && static_cast<int>(tail.size()) > lines) tail.erase(tail.begin());
    }
    for (const auto& l : tail) std::printf("%s\n", l.c_str());
    std::fflush(stdout);
  }
  if (!follow) return 0;
  // Follow: read what is appended; reopen when the file is rotated or replaced.
  std::streamoff offset = 0;
  ino_t inode = 0;
  struct stat st{};
  if (::stat(file.c_str(), &st) == 0) {
    offset = st.st_size;
    inode = st.st_ino;
  }
  for (;;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    if (::stat(file.c_str(), &st) != 0) continue;
    if (st.st_ino != inode || st.st_size < offset) {
      inode = st.st_ino;
      offset = 0;
    }
    if (st.st_size == offset) continue;
    std::ifstream f(file, std::ios::binary);
    f.seekg(offset);
    std::string chunk((std::istreambuf_iterator<char>(f)), {});
    offset += static_cast<std::streamoff>(chunk.size());
    std::fwrite(chunk.data(), 1, chunk.size(), stdout);
    std::fflush(stdout);
  }
}

}  // namespace

int InstallAsking(const Context& ctx, const std::filesystem::path& bundle, bool yes, hv1::InstallResponse* out) {
  hv1::InstallRequest req;
  req.set_bundle_dir(bundle.string());
  req.set_accept_asks(yes);
  hv1::InstallResponse& resp = *out;
  auto channel = ConnectHostChannel(ctx);
  if (!channel.ok()) return Fail(channel.status());
  hv1::Control::Stub stub(*channel);
  grpc::Status st;
  {
    grpc::ClientContext c;
    st = stub.Install(&c, req, &resp);
  }
  // What the app asks for (the network, other apps to call) waits for the owner's yes.
  if (!st.ok() && st.error_code() == grpc::StatusCode::FAILED_PRECONDITION &&
      st.error_message().find(kAsksFor) != std::string::npos) {
    std::fprintf(stderr, "%s\n", AsksText(st.error_message()).c_str());
    if (!AskYes("Grant it and install? [y/N] ")) {
      std::fprintf(stderr, "not installed (mumba install --yes grants it without asking)\n");
      return 1;
    }
    req.set_accept_asks(true);
    grpc::ClientContext c;
    st = stub.Install(&c, req, &resp);
  }
  if (!st.ok()) return Fail(st);
  return 0;
}

namespace {

int Install(const Context& ctx, const InstallOptions& o) {
  if (o.source.starts_with("mumba://")) return InstallFromNetwork(ctx, o.source, o.yes, o.json, o.timeout_s);
  std::filesystem::path dir = std::filesystem::absolute(o.source).lexically_normal();
  if (!std::filesystem::is_directory(dir)) return Fail(NotFound(dir.string() + " is not a folder"));
  std::filesystem::path bundle = dir;
  if (std::filesystem::exists(dir / "CMakeLists.txt")) {
    auto built = BuildApp(dir, dir / "build", true);
    if (!built.ok()) return Fail(built.status());
    bundle = *built;
  }
  hv1::InstallResponse resp;
  if (int rc = InstallAsking(ctx, bundle, o.yes, &resp)) return rc;
  std::printf("%s %s %s (%s)\n", resp.replaced() ? "updated" : "installed", resp.app().name().c_str(),
              resp.app().version().c_str(), resp.app().id().c_str());
  PrintSandbox(resp.app());
  return 0;
}

int Uninstall(const Context& ctx, const UninstallOptions& o) {
  hv1::UninstallRequest req;
  req.set_app(o.app);
  req.set_purge(o.purge);
  hv1::UninstallResponse resp;
  if (int rc = Unary(ctx, &hv1::Control::Stub::Uninstall, req, &resp)) return rc;
  std::printf("uninstalled %s%s\n", o.app.c_str(), o.purge ? " and deleted its data" : "");
  return 0;
}

int List(const Context& ctx, const ListOptions& o) {
  hv1::ListRequest req;
  req.set_implements(o.implements);
  hv1::ListResponse resp;
  if (int rc = Unary(ctx, &hv1::Control::Stub::List, req, &resp)) return rc;
  if (o.json) {
    std::printf("%s\n", ToJson(resp).c_str());
    return 0;
  }
  if (resp.apps().empty()) {
    if (o.implements.empty()) std::printf("no apps installed (mumba install DIR)\n");
    else std::printf("no installed app implements %s\n", o.implements.c_str());
    return 0;
  }
  std::printf("%-20s %-12s %-9s %-8s %s\n", "NAME", "VERSION", "STATE", "PID", "ID");
  for (const auto& a : resp.apps()) {
    std::printf("%-20s %-12s %-9s %-8s %s\n", a.name().c_str(), a.version().c_str(), a.state().c_str(),
                a.pid() ? std::to_string(a.pid()).c_str() : "-", a.id().c_str());
  }
  return 0;
}

int ShowStatus(const Context& ctx, const StatusOptions& o) {
  hv1::AppInfo info;
  if (int rc = Unary(ctx, &hv1::Control::Stub::Status, Ref(o.app), &info)) return rc;
  if (o.json) std::printf("%s\n", ToJson(info).c_str());
  else PrintStatus(info);
  return 0;
}

int Permissions(const Context& ctx, const PermissionsOptions& o) {
  hv1::PermissionsRequest req;
  req.set_app(o.app);
  // "network", "peers", or what it may call, with or without the "call:" of the ask.
  auto ask = [](const std::string& a) {
    return a == "network" || a == "peers" || a.starts_with("call:") ? a : "call:" + a;
  };
  for (const auto& a : o.revoke) req.add_revoke(ask(a));
  for (const auto& a : o.grant) req.add_grant(ask(a));
  hv1::PermissionsResponse resp;
  if (int rc = Unary(ctx, &hv1::Control::Stub::Permissions, req, &resp)) return rc;
  if (o.json) {
    std::printf("%s\n", ToJson(resp).c_str());
    return 0;
  }
  if (resp.permissions().empty()) {
    std::printf("%s asks for nothing: no network, no other apps\n", o.app.c_str());
    return 0;
  }
  for (const auto& p : resp.permissions()) {
    std::printf("%-8s %-40s %s\n", p.granted() ? "granted" : "revoked", p.ask().c_str(), p.description().c_str());
  }
  return 0;
}

int Logs(const Context& ctx, const LogsOptions& o) {
  hv1::AppInfo info;
  if (int rc = Unary(ctx, &hv1::Control::Stub::Status, Ref(o.app), &info)) return rc;
  return FollowLog(info.log_file(), o.lines, o.follow);
}

}  // namespace

void AddAppCommands(CLI::App& app, Context& ctx) {
  AddCommand<InstallOptions>(app, "install",
                             "Install an app from its address (mumba://...: fetched over BitTorrent), from an "
                             "app folder (built first) or from a bundle folder",
                             [&ctx](InstallOptions& o) { return Install(ctx, o); });
  AddCommand<UninstallOptions>(app, "uninstall", "Stop and remove an app (its data is kept unless --purge)",
                               [&ctx](UninstallOptions& o) { return Uninstall(ctx, o); });
  AddCommand<ListOptions>(app, "list", "List installed apps and their state; --implements S lists the apps that export service S",
                          [&ctx](ListOptions& o) { return List(ctx, o); })
      ->alias("apps");

  struct Verb {
    const char* name;
    const char* help;
    AppRefMethod method;
    const char* done;
  };
  static const Verb kVerbs[] = {
      {"start", "Start an app's daemon; it is started again whenever the host starts", &hv1::Control::Stub::Start, "started"},
      {"stop", "Stop an app's daemon; it stays stopped across host restarts", &hv1::Control::Stub::Stop, "stopped"},
      {"restart", "Stop and start an app's daemon", &hv1::Control::Stub::Restart, "restarted"},
  };
  for (const auto& v : kVerbs) {
    AddCommand<AppOptions>(app, v.name, v.help,
                           [&ctx, &v](AppOptions& o) { return RunAppRef(ctx, o.app, v.method, v.done); });
  }

  AddCommand<PermissionsOptions>(app, "permissions",
                                 "Show what an app asks for (the network, other apps to call) and what you granted; "
                                 "--revoke takes a grant back at once (open channels under it close), --grant gives "
                                 "it again",
                                 [&ctx](PermissionsOptions& o) { return Permissions(ctx, o); });
  AddCommand<StatusOptions>(app, "status", "Show an app's state, pid, restarts and paths",
                            [&ctx](StatusOptions& o) { return ShowStatus(ctx, o); });
  AddCommand<LogsOptions>(app, "logs", "Print an app daemon's output (stdout and stderr)",
                          [&ctx](LogsOptions& o) { return Logs(ctx, o); });
}

}  // namespace mumba::cli
