// SPDX-License-Identifier: Apache-2.0
// mumba dev APP_DIR: an author's loop. Builds, installs and starts the app, opens
// its window with its pages served from the source folder, then watches the folder:
// a change under ui/ reloads the window; any other change (sources, protos,
// CMakeLists.txt, mumba.toml, data/) rebuilds, reinstalls (the daemon restarts on
// the new build, its stores kept) and reloads. The daemon's log and the build's
// errors stream to the terminal. Ctrl-C puts the pages back on the bundle, stops the
// app and closes its windows.
#include <poll.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <map>
#include <thread>

#include "bundle/manifest.h"
#include "cli/cli.h"
#include "cli/options.h"
#include "platform/unique_fd.h"

namespace mumba::cli {
namespace {

namespace fs = std::filesystem;
namespace hv1 = mumba::host::v1;
using Clock = std::chrono::steady_clock;

std::atomic<bool> stop_requested{false};
void OnSignal(int) { stop_requested = true; }

double MsSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// Watches `root` and every folder below it but build/ and hidden ones; folders
// made later are added as they appear. Maps watch descriptors to folders.
class FolderWatch {
 public:
  explicit FolderWatch(fs::path root) : root_(std::move(root)), fd_(::inotify_init1(IN_CLOEXEC | IN_NONBLOCK)) {
    Add(root_);
  }
  int fd() const { return fd_.get(); }

  // The paths (relative to the root) that changed in the events waiting now.
  std::vector<std::string> Drain() {
    std::vector<std::string> out;
    alignas(struct inotify_event) char buf[64 * 1024];
    for (;;) {
      ssize_t n = ::read(fd_.get(), buf, sizeof buf);
      if (n <= 0) break;
      for (char* p = buf; p < buf + n;) {
        auto* e = reinterpret_cast<struct inotify_event*>(p);
        p += sizeof(struct inotify_event) + e->len;
        auto dir = dirs_.find(e->wd);
        if (dir == dirs_.end() || e->len == 0) continue;
        fs::path path = dir->second / e->name;
        if (Ignored(path)) continue;
        std::error_code ec;
        if ((e->mask & IN_ISDIR) && (e->mask & (IN_CREATE | IN_MOVED_TO))) Add(path);
        out.push_back(path.lexically_relative(root_).string());
      }
    }
    return out;
  }

 private:
  bool Ignored(const fs::path& path) const {
    std::string rel = path.lexically_relative(root_).string();
    std::string first = rel.substr(0, rel.find('/'));
    return first == "build" || first.starts_with(".") || path.filename().string().starts_with(".") ||
           path.filename().string().ends_with("~");
  }

  void Add(const fs::path& dir) {
    int wd = ::inotify_add_watch(fd_.get(), dir.c_str(),
                                 IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE);
    if (wd >= 0) dirs_[wd] = dir;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
      if (e.is_directory(ec) && !e.is_symlink(ec) && !Ignored(e.path())) Add(e.path());
    }
  }

  fs::path root_;
  UniqueFd fd_;
  std::map<int, fs::path> dirs_;
};

// Prints what is appended to `file` until `stop`, each line after `prefix`.
void FollowLog(const fs::path& file, const std::string& prefix, const std::atomic<bool>& stop) {
  std::streamoff offset = 0;
  std::error_code ec;
  if (auto size = fs::file_size(file, ec); !ec) offset = static_cast<std::streamoff>(size);
  std::string pending;
  while (!stop) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    auto size = fs::file_size(file, ec);
    if (ec) continue;
    if (static_cast<std::streamoff>(size) < offset) offset = 0;  // Rotated.
    if (static_cast<std::streamoff>(size) == offset) continue;
    std::ifstream f(file, std::ios::binary);
    f.seekg(offset);
    std::string chunk((std::istreambuf_iterator<char>(f)), {});
    offset += static_cast<std::streamoff>(chunk.size());
    pending += chunk;
    for (size_t nl; (nl = pending.find('\n')) != std::string::npos; pending.erase(0, nl + 1)) {
      std::fprintf(stderr, "%s%s\n", prefix.c_str(), pending.substr(0, nl).c_str());
    }
  }
}

class DevLoop {
 public:
  DevLoop(const Context& ctx, const DevOptions& o, fs::path dir, std::string name)
      : ctx_(ctx), o_(o), dir_(std::move(dir)), name_(std::move(name)) {}

  // Builds and installs; on success the daemon is (re)started on the new build.
  bool BuildAndInstall() {
    auto start = Clock::now();
    auto bundle = BuildApp(dir_, dir_ / "build", /*quiet=*/false);
    if (!bundle.ok()) {
      std::fprintf(stderr, "mumba dev: %s; fix it and save again\n", bundle.status().message().c_str());
      return false;
    }
    double build_ms = MsSince(start);
    hv1::InstallResponse resp;
    if (InstallAsking(ctx_, *bundle, o_.yes, &resp) != 0) return false;
    log_file_ = resp.app().log_file();
    std::fprintf(stderr, "mumba dev: built in %.1f s, installed %s %s in %.1f s\n", build_ms / 1000,
                 resp.app().name().c_str(), resp.app().version().c_str(), (MsSince(start) - build_ms) / 1000);
    return true;
  }

  // Starts the app (a no-op when it runs: an install restarted it), serves its
  // pages from the source folder and opens its window.
  int Open() {
    hv1::AppRef ref;
    ref.set_app(name_);
    hv1::AppInfo info;
    if (int rc = Unary(ctx_, &hv1::Control::Stub::Start, ref, &info)) return rc;
    log_file_ = info.log_file();
    hv1::DevRequest dev;
    dev.set_app(name_);
    dev.set_set_ui_dir(true);
    dev.set_ui_dir((dir_ / "ui").string());
    hv1::DevResponse none;
    if (int rc = Unary(ctx_, &hv1::Control::Stub::Dev, dev, &none)) return rc;
    if (o_.no_window) return 0;
    hv1::LaunchRequest launch;
    launch.set_app(name_);
    launch.set_headless(o_.headless);
    hv1::WindowInfo window;
    return Unary(ctx_, &hv1::Control::Stub::Launch, launch, &window);
  }

  void Reload(const char* why, Clock::time_point since) {
    hv1::DevRequest dev;
    dev.set_app(name_);
    dev.set_reload(true);
    hv1::DevResponse resp;
    if (Unary(ctx_, &hv1::Control::Stub::Dev, dev, &resp) != 0) return;
    std::fprintf(stderr, "mumba dev: %s: reloaded %d window(s), %.0f ms after the change\n", why,
                 resp.reloaded(), MsSince(since));
  }

  // Puts the pages back on the bundle, stops the app and closes its windows.
  void Close() {
    hv1::DevRequest dev;
    dev.set_app(name_);
    dev.set_set_ui_dir(true);
    hv1::DevResponse none;
    (void)Unary(ctx_, &hv1::Control::Stub::Dev, dev, &none);
    hv1::CloseWindowRequest close;
    close.set_window(name_);
    hv1::CloseWindowResponse closed;
    (void)Unary(ctx_, &hv1::Control::Stub::CloseWindow, close, &closed);
    hv1::AppRef ref;
    ref.set_app(name_);
    hv1::AppInfo info;
    (void)Unary(ctx_, &hv1::Control::Stub::Stop, ref, &info);
  }

  const std::string& log_file() const { return log_file_; }

 private:
  const Context& ctx_;
  const DevOptions& o_;
  fs::path dir_;
  std::string name_;
  std::string log_file_;
};

int Dev(const Context& ctx, const DevOptions& o) {
  fs::path dir = fs::absolute(o.dir).lexically_normal();
  if (!fs::exists(dir / "CMakeLists.txt")) {
    return Fail(InvalidArgument(dir.string() + " is not an app folder (no CMakeLists.txt; mumba new makes one)"));
  }
  auto manifest = LoadManifest(dir);
  if (!manifest.ok()) return Fail(manifest.status());
  DevLoop loop(ctx, o, dir, manifest->name);
  if (!loop.BuildAndInstall()) return 1;
  if (int rc = loop.Open()) return rc;

  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  std::atomic<bool> stop_log{false};
  std::thread log([&] { FollowLog(loop.log_file(), "[" + manifest->name + "] ", stop_log); });
  FolderWatch watch(dir);
  std::fprintf(stderr, "mumba dev: watching %s (Ctrl-C stops)\n", dir.c_str());
  while (!stop_requested) {
    struct pollfd p{watch.fd(), POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) continue;
    auto since = Clock::now();
    // An editor saves in several steps: take what comes within a moment as one change.
    std::vector<std::string> changed = watch.Drain();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    for (auto& c : watch.Drain()) changed.push_back(std::move(c));
    if (changed.empty()) continue;
    bool ui_only = true;
    for (const auto& c : changed) ui_only = ui_only && c.starts_with("ui/");
    if (ui_only) {
      loop.Reload("ui changed", since);
    } else if (loop.BuildAndInstall()) {
      loop.Reload("rebuilt", since);
    }
  }
  std::fprintf(stderr, "mumba dev: stopping %s\n", manifest->name.c_str());
  loop.Close();
  stop_log = true;
  log.join();
  return 0;
}

}  // namespace

void AddDevCommand(CLI::App& app, Context& ctx) {
  AddCommand<DevOptions>(app, "dev",
                         "Work on an app: build, install and start it and open its window, then watch its folder; "
                         "a change under ui/ reloads the window, any other rebuilds, reinstalls (stores kept) and "
                         "reloads. Ctrl-C stops the app",
                         [&ctx](DevOptions& o) { return Dev(ctx, o); });
}

}  // namespace mumba::cli
