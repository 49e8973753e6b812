// SPDX-License-Identifier: Apache-2.0
#include "shell/chromium.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace mumba::shell {

namespace fs = std::filesystem;

namespace {

constexpr const char* kInstallHint = "install it with: apt-get install chromium";

bool IsExecutableFile(const fs::path& path) {
  std::error_code ec;
  return fs::is_regular_file(path, ec) && ::access(path.c_str(), X_OK) == 0;
}

fs::path SearchPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/local/bin:/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) continue;
    fs::path candidate = fs::path(dir) / name;
    if (IsExecutableFile(candidate)) return candidate;
  }
  return {};
}

// The last few lines of the browser's log, for an error message: they usually say
// why it did not start.
std::string LogTail(const fs::path& log_path, size_t max_lines = 3) {
  if (log_path.empty()) return "";
  std::ifstream in(log_path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    lines.push_back(line);
    if (lines.size() > max_lines) lines.erase(lines.begin());
  }
  if (lines.empty()) return "";
  std::string tail = "; its log " + log_path.string() + " ends with:";
  for (const auto& line : lines) tail += "\n  " + line;
  return tail;
}

}  // namespace

Expected<fs::path> FindChromium(const fs::path& preferred) {
  fs::path chosen = preferred;
  std::string source = "the configured browser";
  if (chosen.empty()) {
    if (const char* env = std::getenv("MUMBA_CHROMIUM"); env && *env) {
      chosen = env;
      source = "MUMBA_CHROMIUM";
    }
  }
  if (!chosen.empty()) {
    if (!chosen.has_parent_path()) {
      fs::path found = SearchPath(chosen.string());
      if (!found.empty()) return found;
    } else if (IsExecutableFile(chosen)) {
      return chosen;
    }
    return FailedPrecondition(source + " " + chosen.string() + " is not an executable file; " +
                              kInstallHint);
  }
  for (const char* name : {"chromium", "chromium-browser"}) {
    fs::path found = SearchPath(name);
    if (!found.empty()) return found;
  }
  return FailedPrecondition(
      std::string("Chromium is not installed (no chromium or chromium-browser in PATH); ") +
      kInstallHint);
}

std::vector<std::string> ChromiumArgs(const LaunchOptions& options) {
  std::vector<std::string> args;
  if (options.headless) args.push_back("--headless=new");
  // Chromium refuses to run as root with its sandbox on; as anyone else the
  // sandbox stays.
  if (::geteuid() == 0) args.push_back("--no-sandbox");
  for (const char* flag :
       {"--disable-gpu", "--disable-quic", "--no-first-run", "--no-default-browser-check",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"}) {
    args.push_back(flag);
  }
  args.push_back("--user-data-dir=" + options.user_data_dir.string());
  args.push_back("--remote-debugging-pipe");
  args.insert(args.end(), options.extra_args.begin(), options.extra_args.end());
  args.push_back("about:blank");
  return args;
}

Expected<std::unique_ptr<CdpConnection>> LaunchChromium(const LaunchOptions& options) {
  if (options.user_data_dir.empty()) return InvalidArgument("LaunchChromium needs a user_data_dir");
  std::error_code ec;
  fs::create_directories(options.user_data_dir, ec);
  if (ec) {
    return FailedPrecondition("cannot create " + options.user_data_dir.string() + ": " +
                              ec.message());
  }
  MUMBA_ASSIGN_OR_RETURN(fs::path chromium, FindChromium(options.chromium));
  const auto started = std::chrono::steady_clock::now();
  MUMBA_ASSIGN_OR_RETURN(std::unique_ptr<CdpConnection> cdp,
                         CdpConnection::Start({chromium, ChromiumArgs(options), options.log_path}));
  auto version =
      cdp->Call("Browser.getVersion", nlohmann::json::object(), "", options.startup_timeout);
  if (!version.ok()) {
    cdp->Close(std::chrono::seconds(1));
    return Unavailable(chromium.string() + " did not start: " + version.status().message() +
                       LogTail(options.log_path));
  }
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                  started);
  auto product = version->find("product");
  spdlog::info(
      "{} ready in {} ms (pid {})",
      product != version->end() && product->is_string() ? product->get<std::string>() : "Chromium",
      ms.count(), cdp->pid());
  return cdp;
}

bool ShouldRunHeadless() {
  auto set = [](const char* name) {
    const char* v = std::getenv(name);
    return v && *v;
  };
  return !set("DISPLAY") && !set("WAYLAND_DISPLAY");
}

}  // namespace mumba::shell
