// SPDX-License-Identifier: Apache-2.0
// mumba launch APP [PATH] | mumba windows [APP] | mumba close WINDOW|APP | mumba gateway-session APP |
// mumba shim [--remove] APP
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "bundle/manifest.h"
#include "cli/cli.h"
#include "cli/local_system.h"
#include "cli/options.h"

namespace mumba::cli {
namespace hv1 = mumba::host::v1;
namespace fs = std::filesystem;

namespace {

constexpr char kShimMarker[] = "# mumba shim:";

std::atomic<bool> g_interrupted{false};

void OnInterrupt(int) { g_interrupted = true; }

void PrintWindow(const hv1::WindowInfo& w) {
  std::printf("%s  %-12s %s%s  %s\n", w.id().c_str(), w.app_name().c_str(), w.url().c_str(),
              w.headless() ? " (headless)" : "", w.title().c_str());
}

bool WindowOpen(hv1::Control::Stub* stub, const std::string& id) {
  grpc::ClientContext c;
  c.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  hv1::ListWindowsRequest req;
  hv1::ListWindowsResponse resp;
  if (!stub->ListWindows(&c, req, &resp).ok()) return false;  // The host is gone, and the window with it.
  for (const auto& w : resp.windows()) {
    if (w.id() == id) return true;
  }
  return false;
}

// From now on Ctrl-C (SIGINT), SIGTERM and SIGHUP only set g_interrupted.
void CatchInterrupts() {
  struct sigaction sa {};
  sa.sa_handler = OnInterrupt;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGHUP, &sa, nullptr);
}

// Waits while window `id` is open; an interrupt (caught since before the launch,
// so one that came while the window opened counts too) closes it.
int WaitForWindow(hv1::Control::Stub* stub, const std::string& id) {
  while (!g_interrupted && WindowOpen(stub, id)) {
    for (int i = 0; i < 5 && !g_interrupted; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (g_interrupted) {
    grpc::ClientContext c;
    c.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    hv1::CloseWindowRequest req;
    req.set_window(id);
    hv1::CloseWindowResponse resp;
    (void)stub->CloseWindow(&c, req, &resp);
  }
  return 0;
}

fs::path HomeDir() {
  const char* home = std::getenv("HOME");
  return home && *home ? fs::path(home) : fs::path("/");
}

fs::path ApplicationsDir() {
  const char* data = std::getenv("XDG_DATA_HOME");
  return (data && *data ? fs::path(data) : HomeDir() / ".local/share") / "applications";
}

// True when `path` does not exist or is a shim we wrote.
bool OursOrFree(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(fs::symlink_status(path, ec))) return true;
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), {});
  return text.find(kShimMarker) != std::string::npos;
}

std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// A value of a .desktop file: one line, whatever the text holds (the Desktop
// Entry Specification's escapes), so a description cannot add keys such as Exec.
std::string DesktopString(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (c >= 0x20 && c != 0x7f) out += static_cast<char>(c);
    }
  }
  return out;
}

// The Exec value for a program at `path` with no arguments: quoted as one argument
// when it holds a reserved character, '%' doubled (field codes), then escaped as a
// string value.
std::string DesktopExec(const std::string& path) {
  std::string arg;
  bool quote = false;
  for (char c : path) {
    if (std::string_view(" \t\n\"'\\><~|&;$*?#()`").find(c) != std::string_view::npos) quote = true;
    if (c == '"' || c == '`' || c == '$' || c == '\\') arg += '\\';
    if (c == '%') arg += '%';
    arg += c;
  }
  return DesktopString(quote ? "\"" + arg + "\"" : arg);
}

int Launch(const Context& ctx, const LaunchOptions& o) {
  if (o.wait) CatchInterrupts();
  auto stub = ConnectHost(ctx);
  if (!stub.ok()) return Fail(stub.status());
  hv1::LaunchRequest req;
  req.set_app(o.app);
  req.set_path(o.path);
  req.set_headless(o.headless);
  hv1::WindowInfo w;
  if (int rc = Unary(**stub, &hv1::Control::Stub::Launch, req, &w)) return rc;
  if (o.json) {
    std::printf("%s\n", ToJson(w).c_str());
  } else {
    std::printf("opened %s in window %s%s (%.2f s)\n", w.url().c_str(), w.id().c_str(),
                w.headless() ? ", headless" : "", w.first_paint_ms() / 1000.0);
  }
  std::fflush(stdout);
  return o.wait ? WaitForWindow(stub->get(), w.id()) : 0;
}

int ListWindows(const Context& ctx, const WindowsOptions& o) {
  hv1::ListWindowsRequest req;
  req.set_app(o.app);
  hv1::ListWindowsResponse resp;
  if (int rc = Unary(ctx, &hv1::Control::Stub::ListWindows, req, &resp)) return rc;
  if (o.json) {
    std::printf("%s\n", ToJson(resp).c_str());
  } else if (resp.windows().empty()) {
    std::printf("no windows are open\n");
  } else {
    for (const auto& info : resp.windows()) PrintWindow(info);
  }
  return 0;
}

int CloseWindows(const Context& ctx, const CloseOptions& o) {
  hv1::CloseWindowRequest req;
  req.set_window(o.window);
  hv1::CloseWindowResponse resp;
  if (int rc = Unary(ctx, &hv1::Control::Stub::CloseWindow, req, &resp)) return rc;
  std::printf("closed %d window%s\n", resp.closed(), resp.closed() == 1 ? "" : "s");
  return 0;
}

// Prints the app's origin and secret cookie on stdout, and only there: the caller
// reads them from a pipe, so the secret is never in any command line.
int PrintGatewaySession(const Context& ctx, const GatewaySessionOptions& o) {
  hv1::AppRef ref;
  ref.set_app(o.app);
  hv1::GatewaySessionResponse resp;
  if (int rc = Unary(ctx, &hv1::Control::Stub::GatewaySession, ref, &resp)) return rc;
  if (o.json) {
    std::printf("%s\n", ToJson(resp).c_str());
  } else {
    std::printf("origin %s\ncookie %s=%s\n", resp.origin().c_str(), resp.cookie_name().c_str(), resp.secret().c_str());
  }
  return 0;
}

int Shim(const Context& ctx, const ShimOptions& o) {
  hv1::AppRef ref;
  ref.set_app(o.app);
  hv1::AppInfo info;
  if (int rc = Unary(ctx, &hv1::Control::Stub::Status, ref, &info)) return rc;
  const fs::path bin = HomeDir() / ".local/bin" / info.name();
  const fs::path desktop = ApplicationsDir() / ("mumba-" + info.name() + ".desktop");
  for (const auto& p : {bin, desktop}) {
    if (!OursOrFree(p)) return Fail(AlreadyExists(p.string() + " exists and is not a Mumba shim; left alone"));
  }
  std::error_code ec;
  if (o.remove) {
    int removed = fs::remove(bin, ec) + fs::remove(desktop, ec);
    std::printf("removed %d file%s of %s's shim\n", removed, removed == 1 ? "" : "s", info.name().c_str());
    return 0;
  }
  auto self = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return Fail(Internal("cannot tell where mumba is: " + ec.message()));
  fs::create_directories(bin.parent_path(), ec);
  fs::create_directories(desktop.parent_path(), ec);
  {
    std::ofstream out(bin, std::ios::trunc);
    out << "#!/bin/sh\n"
        << kShimMarker << " " << info.name() << " (" << info.id() << ")\n"
        << "# Asks the Mumba host to open the app's window and lives as long as it; Ctrl-C closes it.\n"
        << "MUMBA_HOME=" << ShellQuote(ctx.Home().string()) << " exec " << ShellQuote(self.string())
        << " launch " << ShellQuote(info.id()) << " --wait \"$@\"\n";
    if (!out) return Fail(Unavailable("cannot write " + bin.string()));
  }
  ::chmod(bin.c_str(), 0755);
  std::string icon;
  if (auto m = LoadManifest(info.install_dir()); m.ok() && !m->icon.empty()) {
    icon = (fs::path(info.install_dir()) / m->icon).string();
  }
  {
    std::ofstream out(desktop, std::ios::trunc);
    out << "[Desktop Entry]\n"
        << kShimMarker << " " << info.name() << " (" << info.id() << ")\n"
        << "Type=Application\n"
        << "Name=" << DesktopString(info.name()) << "\n"
        << "Comment=" << DesktopString(info.description()) << "\n"
        << "Exec=" << DesktopExec(bin.string()) << "\n"
        << (icon.empty() ? "" : "Icon=" + DesktopString(icon) + "\n") << "Terminal=false\n"
        << "Categories=Network;\n";
    if (!out) return Fail(Unavailable("cannot write " + desktop.string()));
  }
  std::printf("wrote %s\nwrote %s\n", bin.c_str(), desktop.c_str());
  if (RunsFromBuildTree()) {
    std::fprintf(stderr, "mumba: warning: the shim calls %s: %s\n", self.c_str(),
                 BuildTreeWarning("shim " + info.name()).c_str());
  }
  return 0;
}

}  // namespace

void AddWindowCommands(CLI::App& app, Context& ctx) {
  AddCommand<LaunchOptions>(
      app, "launch", "Open an app's UI in its own Chromium window (headless when there is no display)",
      [&ctx](LaunchOptions& o) { return Launch(ctx, o); });
  AddCommand<WindowsOptions>(app, "windows", "List the app windows the host has open",
                             [&ctx](WindowsOptions& o) { return ListWindows(ctx, o); });
  AddCommand<CloseOptions>(app, "close", "Close a window (by id, see `mumba windows`) or every window of an app",
                           [&ctx](CloseOptions& o) { return CloseWindows(ctx, o); });
  AddCommand<GatewaySessionOptions>(
      app, "gateway-session",
      "Print an app's gateway origin and the secret cookie its windows hold, for your own scripts and tests "
      "(without it the gateway serves only static files). The output is a secret, new at every host start: "
      "read it from a pipe and keep it out of logs, URLs and command lines",
      [&ctx](GatewaySessionOptions& o) { return PrintGatewaySession(ctx, o); });
  AddCommand<ShimOptions>(
      app, "shim",
      "Write a launcher for an app into ~/.local/bin and a .desktop entry, so it starts like any program",
      [&ctx](ShimOptions& o) { return Shim(ctx, o); });
}

}  // namespace mumba::cli
