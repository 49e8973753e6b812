// SPDX-License-Identifier: Apache-2.0
// mumba build DIR: compiles an app folder and assembles its bundle.
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "bundle/bundle.h"
#include "bundle/manifest.h"
#include "cli/cli.h"
#include "cli/options.h"
#include "common/files.h"
#include "platform/process_launcher.h"
#include "platform/unique_fd.h"

namespace fs = std::filesystem;

namespace mumba::cli {
namespace {

// Runs argv (looked up in PATH), its output going to our stderr (or, when quiet,
// appended to `log`). Returns its exit code; 127, as a shell would, when it cannot
// run (saying so where its output would have gone).
// Whether `file` is an ELF binary (what objcopy can strip), not a script.
bool IsElf(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  char magic[4] = {};
  return in.read(magic, 4) && magic[0] == 0x7f && magic[1] == 'E' && magic[2] == 'L' && magic[3] == 'F';
}

int RunTool(const std::vector<std::string>& argv, bool quiet, const fs::path& log) {
  UniqueFd log_fd;
  if (quiet) log_fd.Reset(::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
  const int out = log_fd ? log_fd.get() : 2;
  LaunchSpec spec;
  spec.executable = argv[0];
  spec.search_path = true;
  spec.args.assign(argv.begin() + 1, argv.end());
  spec.env = InheritedEnvironment();
  spec.fds = {{0, 0}, {1, out}, {2, out}};
  auto launched = ProcessLauncher::System().Launch(spec);
  if (!launched.ok()) {
    std::string line = launched.status().message() + "\n";
    (void)!::write(out, line.data(), line.size());
    return 127;
  }
  return ProcessLauncher::System().Wait(launched->pid).ExitCode();
}

fs::path MumbaCMakeDir() {
  for (const auto& candidate : {ExecutableDir() / ".." / "lib" / "cmake" / "Mumba"}) {
    if (fs::exists(candidate / "MumbaConfig.cmake")) return fs::weakly_canonical(candidate);
  }
  return {};
}

// The Mumba_DIR an app's build folder was configured with, as its CMake cache
// records it; empty when there is none.
fs::path ConfiguredMumbaDir(const fs::path& build_dir) {
  std::ifstream in(build_dir / "CMakeCache.txt");
  // Mumba_DIR:PATH=... once CMake typed it, Mumba_DIR:UNINITIALIZED=... as given by -D.
  for (std::string line; std::getline(in, line);) {
    if (!line.starts_with("Mumba_DIR:")) continue;
    auto eq = line.find('=');
    if (eq != std::string::npos) return fs::path(line.substr(eq + 1));
  }
  return {};
}

Status CopyIfExists(const fs::path& from, const fs::path& to) {
  if (!fs::exists(from)) return Status();
  return CopyBundleTree(from, to);
}

}  // namespace

Expected<fs::path> BuildApp(const fs::path& app_dir, fs::path build_dir, bool quiet) {
  MUMBA_ASSIGN_OR_RETURN(Manifest m, LoadManifest(app_dir));
  if (!fs::exists(app_dir / "CMakeLists.txt")) {
    return InvalidArgument(app_dir.string() + " has no CMakeLists.txt (mumba new creates one)");
  }
  fs::path cmake_dir = MumbaCMakeDir();
  if (cmake_dir.empty()) return FailedPrecondition("cannot find Mumba's CMake package beside " + ExecutableDir().string());
  std::error_code ec;
  fs::create_directories(build_dir, ec);
  fs::path log = build_dir / "build.log";
  if (quiet) fs::remove(log, ec);
  auto failed = [&](const std::string& step) {
    std::string msg = step + " failed for " + app_dir.string();
    if (quiet) {
      auto text = ReadFile(log);
      if (text.ok()) std::fprintf(stderr, "%s", text->c_str());
      msg += " (output above, also in " + log.string() + ")";
    }
    return FailedPrecondition(msg);
  };
  // A build folder configured by another Mumba (the build tree's, before it was
  // installed, or an older install) is configured again, so the daemon is built
  // against the SDK of the mumba that runs, never one that may be gone.
  if (!fs::exists(build_dir / "CMakeCache.txt") || ConfiguredMumbaDir(build_dir) != cmake_dir) {
    if (!quiet) std::fprintf(stderr, "configuring %s\n", app_dir.c_str());
    if (RunTool({"cmake", "-S", app_dir.string(), "-B", build_dir.string(), "-G", "Ninja",
                 "-DCMAKE_BUILD_TYPE=Release", "-DMumba_DIR=" + cmake_dir.string()},
                quiet, log) != 0) {
      return failed("cmake configure");
    }
  }
  if (!quiet) std::fprintf(stderr, "building %s\n", app_dir.c_str());
  if (RunTool({"cmake", "--build", build_dir.string()}, quiet, log) != 0) return failed("build");

  // Assemble into a fresh folder, then swap it in, so a failed build never
  // leaves a half-updated bundle behind.
  fs::path bundle = build_dir / "bundle";
  fs::path next = build_dir / ("bundle.tmp-" + RandomSuffix());
  fs::create_directories(next, ec);
  auto cleanup = [&](Status st) {
    fs::remove_all(next, ec);
    return st;
  };
  if (!m.runtime.empty()) {
    return cleanup(InvalidArgument("mumba.toml: runtime: written by mumba build into the bundle; remove "
                                   "[runtime] from " + (app_dir / "mumba.toml").string()));
  }
  fs::copy_file(app_dir / "mumba.toml", next / "mumba.toml", ec);
  if (ec) return cleanup(Internal("cannot copy mumba.toml: " + ec.message()));
  {
    // What the daemon was linked against: a host with another runtime refuses the
    // bundle at install instead of starting a daemon that cannot load.
    const RuntimeDecl runtime = HostRuntime();
    std::ofstream out(next / "mumba.toml", std::ios::app);
    out << "\n# Written by mumba build: the shared libraries bin/ was built against.\n[runtime]\n"
        << "grpc = \"" << runtime.grpc << "\"\nprotobuf = \"" << runtime.protobuf << "\"\n";
    if (!out) return cleanup(Internal("cannot write the runtime into the bundle's mumba.toml"));
  }
  fs::path daemon = build_dir / m.daemon_command;
  if (!fs::exists(daemon)) {
    return cleanup(InvalidArgument("mumba.toml: daemon.command: the build produced no " + daemon.string() +
                                   " (mumba_app(NAME ...) writes bin/NAME)"));
  }
  fs::create_directories((next / m.daemon_command).parent_path(), ec);
  fs::copy_file(daemon, next / m.daemon_command, ec);
  if (ec) return cleanup(Internal("cannot copy the daemon: " + ec.message()));
  if (IsElf(daemon)) {
    // The bundle carries the daemon stripped (every installing host downloads it);
    // its debug information stays beside the build, linked by name, for the
    // author's debugger.
    const fs::path debug = build_dir / (daemon.filename().string() + ".debug");
    if (RunTool({"objcopy", "--only-keep-debug", daemon.string(), debug.string()}, quiet, log) != 0 ||
        RunTool({"objcopy", "--strip-unneeded", "--add-gnu-debuglink=" + debug.string(),
                 (next / m.daemon_command).string()},
                quiet, log) != 0) {
      return cleanup(failed("objcopy (stripping the daemon)"));
    }
  }
  for (const char* sub : {"ui", "data", "proto"}) {
    if (Status st = CopyIfExists(app_dir / sub, next / sub); !st.ok()) return cleanup(st);
  }
  if (!m.icon.empty() && fs::exists(app_dir / m.icon) && !fs::exists(next / m.icon)) {
    fs::create_directories((next / m.icon).parent_path(), ec);
    fs::copy_file(app_dir / m.icon, next / m.icon, ec);
  }
  std::vector<std::string> protos;
  if (fs::exists(app_dir / "proto")) {
    for (const auto& e : fs::recursive_directory_iterator(app_dir / "proto")) {
      if (e.path().extension() == ".proto") protos.push_back(fs::relative(e.path(), app_dir / "proto").string());
    }
  }
  std::sort(protos.begin(), protos.end());
  if (!protos.empty()) {
    std::vector<std::string> argv = {"protoc", "--proto_path=" + (app_dir / "proto").string(),
                                     "--include_imports",
                                     "--descriptor_set_out=" + (next / kDescriptorSetPath).string()};
    argv.insert(argv.end(), protos.begin(), protos.end());
    if (RunTool(argv, quiet, log) != 0) return cleanup(failed("protoc"));
  }
  auto valid = ValidateBundle(next);
  if (!valid.ok()) return cleanup(valid.status());
  fs::path old = build_dir / ("bundle.old-" + RandomSuffix());
  if (fs::exists(bundle)) fs::rename(bundle, old, ec);
  fs::rename(next, bundle, ec);
  if (ec) return cleanup(Internal("cannot move the bundle into place: " + ec.message()));
  fs::remove_all(old, ec);
  return bundle;
}

namespace {

int Build(const BuildOptions& o) {
  fs::path app_dir = fs::absolute(o.dir).lexically_normal();
  fs::path out = o.build_dir.empty() ? app_dir / "build" : fs::absolute(o.build_dir).lexically_normal();
  auto bundle = BuildApp(app_dir, out, false);
  if (!bundle.ok()) return Fail(bundle.status());
  std::printf("%s\n", bundle->c_str());
  return 0;
}

}  // namespace

void AddBuildCommand(CLI::App& app, Context&) {
  AddCommand<BuildOptions>(app, "build",
                           "Build an app folder and assemble its bundle (manifest, bin/, ui/, proto/ with "
                           "api.binpb, data/) into BUILD_DIR/bundle",
                           [](BuildOptions& o) { return Build(o); });
}

}  // namespace mumba::cli
