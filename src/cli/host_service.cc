// SPDX-License-Identifier: Apache-2.0
// mumba host enable | disable
#include "cli/host_service.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "cli/cli.h"
#include "cli/local_system.h"
#include "cli/options.h"
#include "common/files.h"

namespace fs = std::filesystem;

namespace mumba::cli {

fs::path UserUnitDir() {
  if (const char* config = std::getenv("XDG_CONFIG_HOME"); config && *config && fs::path(config).is_absolute()) {
    return fs::path(config) / "systemd/user";
  }
  const char* home = std::getenv("HOME");
  return fs::path(home && *home ? home : "/") / ".config/systemd/user";
}

Expected<std::string> SystemdWord(const std::string& value) {
  std::string word;
  bool quote = value.empty();
  for (unsigned char c : value) {
    if (c < 0x20 || c == 0x7f) return InvalidArgument("'" + value + "' holds a control character");
    switch (c) {
      case '%': word += "%%"; break;
      case '$': word += "$$"; break;
      case '"':
      case '\\':
        word += '\\';
        word += static_cast<char>(c);
        quote = true;
        break;
      case ' ':
      case '\'':
      case ';':
        word += static_cast<char>(c);
        quote = true;
        break;
      default: word += static_cast<char>(c);
    }
  }
  return quote ? "\"" + word + "\"" : word;
}

Expected<std::string> HostUnitText(const fs::path& host_exe, const fs::path& home) {
  MUMBA_ASSIGN_OR_RETURN(std::string exe, SystemdWord(host_exe.string()));
  MUMBA_ASSIGN_OR_RETURN(std::string home_word, SystemdWord(home.string()));
  MUMBA_ASSIGN_OR_RETURN(std::string env, SystemdWord("MUMBA_HOME=" + home.string()));
  // append: takes the rest of the line as the path, unquoted: only '%' needs care.
  MUMBA_ASSIGN_OR_RETURN(std::string log, SystemdWord((home / "logs/host.log").string()));
  if (log.front() == '"') log = log.substr(1, log.size() - 2);
  std::string text;
  text += std::string(kHostUnitMarker) + " written by `mumba host enable`; `mumba host disable` removes it.\n";
  text += "[Unit]\n";
  std::string description = "Mumba host of ";
  for (char c : home.string()) description += c == '%' ? std::string("%%") : std::string(1, c);
  text += "Description=" + description + "\n";
  text += "\n[Service]\n";
  text += "Type=simple\n";
  text += "Environment=" + env + "\n";
  text += "ExecStart=" + exe + " --home " + home_word + "\n";
  // A crash or a kill restarts it; `mumba host stop` (a clean exit) does not.
  text += "Restart=on-failure\n";
  text += "RestartSec=2\n";
  // SIGTERM goes to the host alone, which stops each daemon politely (5 s each at
  // most); whatever is left when it has exited is killed.
  text += "KillMode=mixed\n";
  text += "TimeoutStopSec=90\n";
  // Where `mumba host start` puts the host's output too.
  text += "StandardOutput=append:" + log + "\n";
  text += "StandardError=inherit\n";
  text += "\n[Install]\n";
  text += "WantedBy=default.target\n";
  return text;
}

namespace {

bool IsOurUnit(const fs::path& unit) {
  auto text = ReadFile(unit);
  return text.ok() && text->starts_with(kHostUnitMarker);
}

// Whether a systemd user manager answers for this user (it does not in most
// containers, nor where the session was started without systemd).
bool UserManagerRuns() {
  if (FindInPath("systemctl").empty()) return false;
  return RunProgram({"systemctl", "--user", "show-environment"}, std::chrono::seconds(10)).exit_code == 0;
}

// Runs `systemctl --user ARGS`; on failure prints what it said and returns false.
bool Systemctl(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"systemctl", "--user"};
  argv.insert(argv.end(), args.begin(), args.end());
  ProgramResult r = RunProgram(argv, std::chrono::seconds(60));
  if (r.exit_code == 0) return true;
  std::string cmd;
  for (const auto& a : argv) cmd += (cmd.empty() ? "" : " ") + a;
  std::fprintf(stderr, "mumba: `%s` failed (exit code %d): %s\n", cmd.c_str(), r.exit_code, r.output.c_str());
  return false;
}

// Waits until the host of `layout` answers, for at most 15 s.
Status AwaitHost(const HomeLayout& layout) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (!HostAnswers(layout, std::chrono::milliseconds(200))) {
    if (std::chrono::steady_clock::now() >= deadline) {
      return Unavailable("systemd started " + std::string(kHostUnitName) +
                         " but the host did not answer within 15 s; see `systemctl --user status " +
                         kHostUnitName + "` and " + layout.host_log().string());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return Status();
}

int Enable(const Context& ctx, const HostEnableOptions& o) {
  auto exe = InstalledProgram("mumba-host", "host enable", o.build_tree);
  if (!exe.ok()) {
    return Fail(FailedPrecondition("the unit would start a host that can vanish: " + exe.status().message() +
                                   " (--build-tree writes it anyway)"));
  }
  const HomeLayout layout = ctx.Layout();
  auto text = HostUnitText(*exe, layout.home);
  if (!text.ok()) return Fail(text.status());
  const fs::path dir = UserUnitDir();
  const fs::path unit = dir / kHostUnitName;
  std::error_code ec;
  if (fs::exists(unit, ec) && !IsOurUnit(unit)) {
    return Fail(AlreadyExists(unit.string() + " exists and was not written by mumba; left alone"));
  }
  fs::create_directories(dir, ec);
  fs::create_directories(layout.logs_dir(), ec);
  if (Status st = WriteFileAtomic(unit, *text); !st.ok()) return Fail(st);
  std::printf("wrote %s\n", unit.c_str());

  if (!UserManagerRuns()) {
    // Enabled as `systemctl --user enable` would, so the next login where a user
    // manager runs starts the host.
    const fs::path wants = dir / "default.target.wants";
    fs::create_directories(wants, ec);
    fs::remove(wants / kHostUnitName, ec);
    fs::create_symlink(unit, wants / kHostUnitName, ec);
    std::printf(
        "No systemd user manager runs here (as in a container, or a session started without "
        "systemd), so nothing starts the host now; the unit is enabled for the next login where one "
        "runs. Until then start the host by hand: mumba host start\n"
        "Where a user manager runs, `mumba host enable` starts it at once (or: systemctl --user "
        "daemon-reload && systemctl --user enable --now %s).\n",
        kHostUnitName);
    return 0;
  }
  // A host started by hand holds the home's lock; the unit's would fail on it.
  const bool unit_active =
      RunProgram({"systemctl", "--user", "is-active", "--quiet", kHostUnitName}, std::chrono::seconds(10)).exit_code == 0;
  if (!unit_active && HostAnswers(layout, std::chrono::milliseconds(1000))) {
    ProgramResult stop = RunProgram({(ExecutableDir() / "mumba").string(), "--home", layout.home.string(), "host", "stop"},
                                    std::chrono::seconds(60));
    if (stop.exit_code != 0) return Fail(Unavailable("cannot stop the host that runs now: " + stop.output));
    std::printf("stopped the host started by hand; systemd starts it again\n");
  }
  if (!Systemctl({"daemon-reload"}) || !Systemctl({"enable", "--now", kHostUnitName})) return 1;
  if (unit_active && !Systemctl({"restart", kHostUnitName})) return 1;
  if (Status st = AwaitHost(layout); !st.ok()) return Fail(st);
  std::printf(
      "enabled: the host of %s runs now, starts at login and restarts when it dies "
      "(systemctl --user status %s). To keep it running while you are logged out: loginctl enable-linger\n",
      layout.home.c_str(), kHostUnitName);
  return 0;
}

int Disable() {
  const fs::path dir = UserUnitDir();
  const fs::path unit = dir / kHostUnitName;
  std::error_code ec;
  if (!fs::exists(unit, ec)) {
    std::printf("no %s: the host is not started by systemd\n", unit.c_str());
    return 0;
  }
  if (!IsOurUnit(unit)) return Fail(AlreadyExists(unit.string() + " was not written by mumba; left alone"));
  const bool manager = UserManagerRuns();
  if (manager && !Systemctl({"disable", "--now", kHostUnitName})) return 1;
  fs::remove(dir / "default.target.wants" / kHostUnitName, ec);
  fs::remove(unit, ec);
  if (ec) return Fail(Unavailable("cannot remove " + unit.string() + ": " + ec.message()));
  if (manager) (void)Systemctl({"daemon-reload"});
  std::printf("removed %s%s\n", unit.c_str(),
              manager ? "; the host it ran is stopped (`mumba host start` starts one by hand)"
                      : "; no systemd user manager runs here, so nothing else changed");
  return 0;
}

}  // namespace

std::optional<Status> StartThroughSystemd(const HomeLayout& layout) {
  auto text = ReadFile(UserUnitDir() / kHostUnitName);
  auto home = SystemdWord(layout.home.string());
  if (!text.ok() || !home.ok() || !text->starts_with(kHostUnitMarker) ||
      text->find("--home " + *home + "\n") == std::string::npos || !UserManagerRuns()) {
    return std::nullopt;
  }
  ProgramResult r = RunProgram({"systemctl", "--user", "start", kHostUnitName}, std::chrono::seconds(60));
  if (r.exit_code != 0) {
    return Unavailable("`systemctl --user start " + std::string(kHostUnitName) + "` failed: " + r.output);
  }
  return AwaitHost(layout);
}

void AddHostServiceCommands(CLI::App& host, Context& ctx) {
  AddCommand<HostEnableOptions>(
      host, "enable",
      "Start the host at login and restart it when it dies: writes the systemd user unit "
      "~/.config/systemd/user/mumba-host.service for this MUMBA_HOME and enables it (--now)",
      [&ctx](HostEnableOptions& o) { return Enable(ctx, o); });
  AddCommand(host, "disable", "Stop starting the host at login: disables and removes the systemd user unit",
             [] { return Disable(); });
}

}  // namespace mumba::cli
