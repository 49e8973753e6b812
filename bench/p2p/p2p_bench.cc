// SPDX-License-Identifier: Apache-2.0
// mumba-p2p-bench: distribution over BitTorrent and the DHT, each figure printed
// beside baselines taken in the same run.
//
// (1) Install throughput. A copy of the hello bundle with a 200 MB random file in
//     data/ and a new id (a key made by `mumba --home A keys new`) is published by
//     host A (`mumba publish DIR --json`); host B, which knows only A, runs
//     `mumba install mumba://ADDR --yes --json`. Start to "done" is the figure:
//     resolved in the DHT, downloaded, every piece verified, installed. Baselines:
//     sha256sum of the same 200 MB and a plain TCP copy of it over 127.0.0.1.
// (2) Address resolution. 20 P2pNodes in this process on 127.0.0.1 join each other
//     with AddDhtNode; one puts a mutable item, the others look it up with
//     GetMutable. A raw libtorrent session in the same DHT shows when the value
//     first arrives and when the lookup ends, which GetMutable waits for. Then 5
//     nodes go silent (closed, their UDP ports held by sockets that never answer,
//     as vanished hosts are on a real network) and the survivors look up and put
//     again, as a DHT with churn makes them.
//
// Every socket is on 127.0.0.1 and every DHT node joins only through the bench's
// own nodes; bench/p2p/run.sh also runs it in a network namespace that holds only
// loopback. Whatever happens (error, SIGINT, SIGTERM, SIGHUP), the bench ends every
// process it started, by PID, and removes its temporary folder. Every wait is
// bounded. The table goes to stdout, progress to stderr. Exit status: 0 when the
// bench ran, whatever the targets say; 1 when it could not run; 128 + the signal
// when stopped by one.
//
// Errors are exceptions (BenchError, bench_util.h), caught in main.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <climits>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <libtorrent/alert_types.hpp>
#include <libtorrent/session.hpp>
#include <libtorrent/session_params.hpp>
#include <libtorrent/settings_pack.hpp>
#include <nlohmann/json.hpp>

#include "bench_util.h"
#include "raw_session.h"
#include "common/keys.h"
#include "p2p/p2p_node.h"
#include "p2p/session_settings.h"

namespace {

using namespace mumba::bench;
using namespace std::chrono_literals;
using Row = TableRow;

struct Options {
  uint64_t megabytes = 200;  // Size of the random file in the bundle (MB = 10^6 bytes).
  int nodes = 20;            // DHT nodes of part 2.
  int lookups = 50;          // GetMutable calls measured.
  fs::path bundle = MUMBA_HELLO_BUNDLE;
  int churn = 5;             // Nodes closed before the lookups with dead nodes.
  bool skip_install = false;
  bool skip_dht = false;
  bool verbose = false;      // Install events and host logs on stderr.
};

// ---- Processes and files the bench is responsible for. ----

// Everything that must be undone at the end, shared by main and the signal thread.
struct Session {
  std::mutex mu;            // Guards root.
  fs::path root;            // Temporary folder: homes, bundle, copies. Removed at the end.
  ChildRegistry children;   // mumba-host children (kHost) and commands (CLI, sha256sum).
};
Session g_session;

// Starts `argv` (SpawnChild) with stderr appended to `log` and stdout to a pipe
// whose read end is returned in *stdout_fd (or to `log` when stdout_fd is null),
// and registers it. Call from the main thread only.
pid_t Spawn(const std::vector<std::string>& argv, const fs::path& log, int* stdout_fd, ChildRegistry::Kind kind) {
  int pipe_fds[2] = {-1, -1};
  if (stdout_fd && ::pipe2(pipe_fds, O_CLOEXEC) != 0) Fail(std::string("pipe: ") + std::strerror(errno));
  pid_t pid = 0;
  try {
    pid = g_session.children.Spawn(argv, {.log = log, .stdout_fd = pipe_fds[1]}, kind);
  } catch (...) {
    if (stdout_fd) {
      ::close(pipe_fds[0]);
      ::close(pipe_fds[1]);
    }
    throw;
  }
  if (stdout_fd) {
    ::close(pipe_fds[1]);
    *stdout_fd = pipe_fds[0];
  }
  return pid;
}

struct Line {
  std::string text;
  Clock::time_point at;  // When the bench read it.
};

struct RunResult {
  int exit_code = -1;
  std::vector<Line> lines;  // stdout, one entry per line.
  Clock::time_point started, ended;
  std::string Stdout() const {
    std::string s;
    for (const auto& l : lines) s += l.text + "\n";
    return s;
  }
};

fs::path LogFile() { return g_session.root / "commands.log"; }

// Runs `argv` to completion, reading its stdout line by line as it comes (each
// line stamped with the time it arrived). Fails if it does not end within
// `timeout` (the child is killed) or, when `check`, if it exits non-zero.
RunResult Run(const std::vector<std::string>& argv, Clock::duration timeout, bool check = true) {
  {
    std::ofstream log(LogFile(), std::ios::app);
    log << "$";
    for (const auto& a : argv) log << " " << a;
    log << "\n";
  }
  RunResult r;
  int fd = -1;
  r.started = Clock::now();
  const auto deadline = r.started + timeout;
  pid_t pid = Spawn(argv, LogFile(), &fd, ChildRegistry::Kind::kOther);
  std::string pending;
  char buf[65536];
  bool eof = false;
  while (!eof) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) break;
    pollfd p{fd, POLLIN, 0};
    int n = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 1000)));
    if (n < 0 && errno != EINTR) break;
    if (n <= 0) continue;
    ssize_t got = ::read(fd, buf, sizeof buf);
    auto now = Clock::now();
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      eof = true;
      break;
    }
    pending.append(buf, static_cast<size_t>(got));
    for (size_t nl; (nl = pending.find('\n')) != std::string::npos;) {
      r.lines.push_back({pending.substr(0, nl), now});
      pending.erase(0, nl + 1);
    }
  }
  ::close(fd);
  if (!pending.empty()) r.lines.push_back({pending, Clock::now()});
  auto status = eof ? WaitFor(pid, std::max<Clock::duration>(deadline - Clock::now(), 0s)) : std::nullopt;
  r.ended = Clock::now();
  if (!status) {
    g_session.children.End(pid, 2s);
    Fail(argv[0] + " " + (argv.size() > 1 ? argv[1] : "") + "... did not end within " +
         std::to_string(Seconds(timeout)) + " s");
  }
  g_session.children.Forget(pid);
  r.exit_code = WIFEXITED(*status) ? WEXITSTATUS(*status) : 128 + WTERMSIG(*status);
  if (check && r.exit_code != 0) {
    std::string cmd;
    for (const auto& a : argv) cmd += " " + a;
    Fail("command failed (exit " + std::to_string(r.exit_code) + "):" + cmd + "\n  stdout: " + r.Stdout() +
         "  (stderr in " + LogFile().string() + ")");
  }
  return r;
}

// Stops every host (SIGTERM: the host stops its daemons and saves its state;
// SIGKILL if it does not end within 10 s), ends every other child, and removes the
// temporary folder. Idempotent; safe from the signal thread.
void Cleanup() {
  g_session.children.CleanUpOnce([] {
    g_session.children.EndAll(10s, 2s);
    std::lock_guard lock(g_session.mu);
    if (!g_session.root.empty()) {
      std::error_code ec;
      fs::remove_all(g_session.root, ec);
      if (ec) Progress("cannot remove %s: %s", g_session.root.c_str(), ec.message().c_str());
    }
  });
}

// ---- Small helpers. ----

fs::path Which(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/bin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    fs::path candidate = fs::path(dirs.substr(start, end - start)) / program;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  Fail(program + " is not on PATH");
}

void WriteText(const fs::path& file, const std::string& text) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out) Fail("cannot write " + file.string());
}

// Writes `bytes` of xoshiro256** output: incompressible, reproducible, and much
// faster than /dev/urandom.
void WriteRandomFile(const fs::path& file, uint64_t bytes) {
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) Fail("cannot create " + file.string() + ": " + std::strerror(errno));
  uint64_t s[4] = {0x9E3779B97F4A7C15ull, 0xBF58476D1CE4E5B9ull, 0x94D049BB133111EBull, 0x2545F4914F6CDD1Dull};
  auto rotl = [](uint64_t x, int k) { return (x << k) | (x >> (64 - k)); };
  std::vector<uint64_t> buf(1 << 19);  // 4 MiB.
  uint64_t left = bytes;
  while (left > 0) {
    for (auto& v : buf) {
      v = rotl(s[1] * 5, 7) * 9;
      uint64_t t = s[1] << 17;
      s[2] ^= s[0];
      s[3] ^= s[1];
      s[1] ^= s[2];
      s[0] ^= s[3];
      s[2] ^= t;
      s[3] = rotl(s[3], 45);
    }
    size_t n = static_cast<size_t>(std::min<uint64_t>(left, buf.size() * 8));
    const char* p = reinterpret_cast<const char*>(buf.data());
    for (size_t off = 0; off < n;) {
      ssize_t w = ::write(fd, p + off, n - off);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        ::close(fd);
        Fail("cannot write " + file.string() + ": " + std::strerror(errno));
      }
      off += static_cast<size_t>(w);
    }
    left -= n;
  }
  ::close(fd);
}

bool SameFiles(const fs::path& a, const fs::path& b) {
  std::ifstream fa(a, std::ios::binary), fb(b, std::ios::binary);
  if (!fa || !fb) return false;
  std::vector<char> ba(1 << 20), bb(1 << 20);
  for (;;) {
    fa.read(ba.data(), static_cast<std::streamsize>(ba.size()));
    fb.read(bb.data(), static_cast<std::streamsize>(bb.size()));
    if (fa.gcount() != fb.gcount()) return false;
    if (std::memcmp(ba.data(), bb.data(), static_cast<size_t>(fa.gcount())) != 0) return false;
    if (fa.gcount() == 0) return true;
  }
}

// A port free on 127.0.0.1 for both TCP and UDP (BitTorrent and the DHT share it).
int FreePort(std::mt19937& rng, const std::vector<int>& taken) {
  std::uniform_int_distribution<int> pick(20000, 44999);
  for (int attempt = 0; attempt < 200; ++attempt) {
    int port = pick(rng);
    if (std::find(taken.begin(), taken.end(), port) != taken.end()) continue;
    bool ok = true;
    for (int type : {SOCK_STREAM, SOCK_DGRAM}) {
      int fd = ::socket(AF_INET, type | SOCK_CLOEXEC, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(static_cast<uint16_t>(port));
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) ok = false;
      if (fd >= 0) ::close(fd);
    }
    if (ok) return port;
  }
  Fail("no free port on 127.0.0.1");
}

// ---- The table. ----

void PrintRows(const std::vector<Row>& rows) {
  PrintTable(rows, {.figure = 46, .value = 12, .baseline = 30, .target = 16});
}

// ---- Part 1: install of a big bundle between two hosts. ----

struct Host {
  std::string name;
  fs::path home;
  int port = 0;
  pid_t pid = 0;
};

fs::path g_bin;

std::vector<std::string> Cli(const Host& h, std::vector<std::string> args) {
  args.insert(args.begin(), {(g_bin / "mumba").string(), "--home", h.home.string()});
  return args;
}

// Starts mumba-host on a new home listening on 127.0.0.1:port and joining the DHT
// only through `bootstrap` (our own hosts). config.toml says the same, so a host
// that the CLI might start on this home could not reach the public routers either.
Host StartHost(const std::string& name, int port, const std::vector<int>& bootstrap) {
  Host h;
  h.name = name;
  h.home = g_session.root / name;
  h.port = port;
  fs::create_directories(h.home);
  std::string listen = "127.0.0.1:" + std::to_string(port);
  std::string nodes, toml_nodes;
  for (int p : bootstrap) {
    nodes += (nodes.empty() ? "" : ",") + ("127.0.0.1:" + std::to_string(p));
    toml_nodes += (toml_nodes.empty() ? "\"" : ", \"") + ("127.0.0.1:" + std::to_string(p)) + "\"";
  }
  WriteText(h.home / "config.toml", "[p2p]\nlisten = \"" + listen + "\"\nbootstrap = [" + toml_nodes +
                                        "]\nupdate_interval_s = 0\n");
  h.pid = Spawn({(g_bin / "mumba-host").string(), "--home", h.home.string(), "--listen", listen, "--bootstrap",
                 nodes},
                g_session.root / (name + "-host.out"), nullptr, ChildRegistry::Kind::kHost);
  auto deadline = Clock::now() + 15s;
  for (;;) {
    if (::waitpid(h.pid, nullptr, WNOHANG) == h.pid) {
      g_session.children.Forget(h.pid);
      Fail("host " + name + " exited at start:\n" + Tail(g_session.root / (name + "-host.out"), 10));
    }
    if (fs::exists(h.home / "host.sock") && Run(Cli(h, {"host", "status"}), 10s, false).exit_code == 0) break;
    if (Clock::now() >= deadline) Fail("host " + name + " did not answer within 15 s");
    std::this_thread::sleep_for(20ms);
  }
  return h;
}

void StopHost(Host& h) {
  if (h.pid <= 0) return;
  g_session.children.End(h.pid, 10s);
  h.pid = 0;
}

// MB/s of `bytes` moved in `d`.
double Rate(uint64_t bytes, Clock::duration d) { return static_cast<double>(bytes) / 1e6 / Seconds(d); }

// Copies `src` to `dst` through a TCP connection on 127.0.0.1 (1 MiB reads and
// writes on both sides): what moving the bytes costs with no protocol at all.
Clock::duration TcpCopy(const fs::path& src, const fs::path& dst) {
  int ls = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (ls < 0) Fail(std::string("socket: ") + std::strerror(errno));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (::bind(ls, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(ls, 1) != 0 ||
      ::getsockname(ls, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ::close(ls);
    Fail(std::string("loopback listen: ") + std::strerror(errno));
  }
  timeval tv{30, 0};  // No read or write of the copy may hang longer.
  std::atomic<bool> received_ok{false};
  Clock::time_point received_at;
  const auto start = Clock::now();
  std::thread receiver([&] {
    pollfd p{ls, POLLIN, 0};
    if (::poll(&p, 1, 10000) != 1) return;
    int c = ::accept4(ls, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) return;
    ::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int out = ::open(dst.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    std::vector<char> buf(1 << 20);
    bool ok = out >= 0;
    while (ok) {
      ssize_t n = ::recv(c, buf.data(), buf.size(), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n == 0) break;
      if (n < 0) ok = false;
      for (ssize_t off = 0; ok && off < n;) {
        ssize_t w = ::write(out, buf.data() + off, static_cast<size_t>(n - off));
        if (w <= 0) ok = false;
        else off += w;
      }
    }
    if (out >= 0) ::close(out);
    ::close(c);
    received_at = Clock::now();
    received_ok = ok;
  });
  bool sent = false;
  int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int in = ::open(src.c_str(), O_RDONLY | O_CLOEXEC);
  if (s >= 0 && in >= 0) {
    ::setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
      std::vector<char> buf(1 << 20);
      sent = true;
      for (;;) {
        ssize_t n = ::read(in, buf.data(), buf.size());
        if (n == 0) break;
        if (n < 0) {
          sent = false;
          break;
        }
        for (ssize_t off = 0; sent && off < n;) {
          ssize_t w = ::send(s, buf.data() + off, static_cast<size_t>(n - off), MSG_NOSIGNAL);
          if (w <= 0) sent = false;
          else off += w;
        }
        if (!sent) break;
      }
    }
  }
  if (in >= 0) ::close(in);
  if (s >= 0) ::close(s);  // EOF for the receiver (or an error, which it sees too).
  receiver.join();
  ::close(ls);
  if (!sent || !received_ok) Fail("the loopback TCP copy failed");
  return received_at - start;
}

struct InstallFigures {
  uint64_t bundle_bytes = 0;
  Clock::duration publish{}, install{}, resolve{}, first_peer{}, download{}, finish{};
  // From host B's log (wall clock, ms): copy into apps/ and the re-hash to seed it.
  std::optional<double> reseed_ms;
  double sha256_rate = 0, sha1_rate = 0, tcp_rate = 0;
  bool stored_in_dht = false;
  bool identical = false;
};

uint64_t TreeBytes(const fs::path& dir) {
  uint64_t total = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) total += e.file_size();
  }
  return total;
}

// Host B logs "installed NAME" once Host::Install has copied the bundle into
// apps/, and "p2p: installed NAME" once Distribution::Fetch has also made it a seed
// (which hashes the whole bundle again); the gap between the two is that hash.
std::optional<double> ReseedMillis(const fs::path& host_log) {
  std::ifstream in(host_log);
  std::optional<double> copied, seeded;
  auto millis_of_day = [](const std::string& line) -> std::optional<double> {
    // "2026-11-25 14:50:33.366 info ..."
    int h, m, sec, ms;
    if (line.size() < 23 || std::sscanf(line.c_str() + 11, "%d:%d:%d.%d", &h, &m, &sec, &ms) != 4) {
      return std::nullopt;
    }
    return ((h * 60.0 + m) * 60.0 + sec) * 1000.0 + ms;
  };
  for (std::string line; std::getline(in, line);) {
    if (line.find(" info installed ") != std::string::npos) copied = millis_of_day(line);
    if (line.find(" info p2p: installed ") != std::string::npos) seeded = millis_of_day(line);
  }
  if (!copied || !seeded || *seeded < *copied) return std::nullopt;
  return *seeded - *copied;
}

InstallFigures BenchInstall(const Options& o) {
  InstallFigures f;
  if (!fs::exists(o.bundle / "mumba.toml")) {
    Fail("no hello bundle at " + o.bundle.string() + " (run: cd build && ctest -R build_hello_bundle)");
  }
  // The bundle: hello plus data/blob.bin, its id replaced below.
  const fs::path bundle = g_session.root / "bundle";
  fs::copy(o.bundle, bundle, fs::copy_options::recursive | fs::copy_options::copy_symlinks);
  fs::create_directories(bundle / "data");
  const fs::path blob = bundle / "data" / "blob.bin";
  const uint64_t blob_bytes = o.megabytes * 1000 * 1000;
  Progress("writing %llu MB of random data", static_cast<unsigned long long>(o.megabytes));
  WriteRandomFile(blob, blob_bytes);

  // Baselines on the same bytes, from the page cache like everything after.
  // Each the best of 3: they take well under a second, and writeback of the file
  // just written disturbs single runs.
  Progress("baselines: sha256sum, sha1sum, loopback TCP copy");
  for (int i = 0; i < 3; ++i) {
    RunResult r = Run({Which("sha256sum").string(), blob.string()}, 60s);
    f.sha256_rate = std::max(f.sha256_rate, Rate(blob_bytes, r.ended - r.started));
    RunResult r1 = Run({Which("sha1sum").string(), blob.string()}, 60s);
    f.sha1_rate = std::max(f.sha1_rate, Rate(blob_bytes, r1.ended - r1.started));
    const fs::path copy = g_session.root / "tcp-copy.bin";
    auto d = TcpCopy(blob, copy);
    if (!SameFiles(blob, copy)) Fail("the loopback TCP copy differs from its source");
    fs::remove(copy);
    f.tcp_rate = std::max(f.tcp_rate, Rate(blob_bytes, d));
  }

  std::mt19937 rng(std::random_device{}());
  int port_a = FreePort(rng, {});
  int port_b = FreePort(rng, {port_a});
  Progress("starting host A on 127.0.0.1:%d and host B on 127.0.0.1:%d (B joins through A only)", port_a, port_b);
  Host a = StartHost("a", port_a, {port_b});
  Host b = StartHost("b", port_b, {port_a});

  std::string address = Run(Cli(a, {"keys", "new"}), 20s).Stdout();
  address.erase(address.find_last_not_of(" \n") + 1);
  if (!address.starts_with("mumba://")) Fail("keys new printed '" + address + "'");
  std::string manifest = ReadFile(bundle / "mumba.toml");
  auto at = manifest.find("id = \"");
  if (at == std::string::npos) Fail("no id in the hello manifest");
  auto end = manifest.find('"', at + 6);
  manifest.replace(at + 6, end - at - 6, address);
  WriteText(bundle / "mumba.toml", manifest);
  f.bundle_bytes = TreeBytes(bundle);

  Progress("host A publishes %s (%.1f MB)", address.c_str(), static_cast<double>(f.bundle_bytes) / 1e6);
  RunResult pub = Run(Cli(a, {"publish", bundle.string(), "--json"}), 120s);
  f.publish = pub.ended - pub.started;
  auto published = nlohmann::json::parse(pub.Stdout());
  f.stored_in_dht = published.value("stored_in_dht", false);
  if (published.value("address", "") != address) Fail("publish answered " + pub.Stdout());

  Progress("host B installs %s", address.c_str());
  RunResult inst = Run(Cli(b, {"install", address, "--yes", "--json", "--timeout", "20"}), 120s);
  std::optional<Clock::time_point> resolved, first_peer, installing, done;
  for (const auto& l : inst.lines) {
    auto j = nlohmann::json::parse(l.text, nullptr, false);
    if (j.is_discarded()) continue;
    std::string phase = j.value("phase", "");
    if (phase == "resolved" && !resolved) resolved = l.at;
    if (phase == "downloading" && !first_peer && j.value("peers", 0) > 0) first_peer = l.at;
    if (phase == "installing" && !installing) installing = l.at;
    if (phase == "done" && !done) done = l.at;
  }
  if (o.verbose) {
    for (const auto& l : inst.lines) Progress("+%.0f ms %s", Millis(l.at - inst.started), l.text.c_str());
    Progress("host A's log:\n%s", Tail(g_session.root / "a-host.out", 12).c_str());
    Progress("host B's log:\n%s", Tail(g_session.root / "b-host.out", 12).c_str());
  }
  if (!resolved || !installing || !done) Fail("install printed no resolved/installing/done:\n" + inst.Stdout());
  f.install = *done - inst.started;
  f.resolve = *resolved - inst.started;
  f.first_peer = (first_peer ? *first_peer : *installing) - *resolved;
  f.reseed_ms = ReseedMillis(g_session.root / "b-host.out");
  f.download = *installing - *resolved;
  f.finish = *done - *installing;

  // Not timed: the installed file is the published one, byte for byte.
  for (const auto& e : fs::recursive_directory_iterator(b.home / "apps")) {
    if (e.path().filename() == "blob.bin" && e.path().parent_path().filename() == "data") {
      f.identical = SameFiles(blob, e.path());
    }
  }
  StopHost(b);
  StopHost(a);
  return f;
}

// ---- Part 2: GetMutable in a private DHT of in-process nodes. ----

struct DhtFigures {
  int nodes = 0;
  Clock::duration create{}, joined{}, formed{}, put{};
  bool formed_ok = false;
  int min_known = 0, max_known = 0;
  std::vector<double> get_ms;  // Successful GetMutable calls.
  int lookups = 0;
  std::vector<double> first_ms, end_ms;  // Raw libtorrent: first value, lookup end.
  int probe_lookups = 0;
  // After `churn` nodes were closed: GetMutable from the survivors, all at once.
  int churn = 0;
  std::vector<double> churn_get_ms;
  int churn_lookups = 0;
  std::optional<double> churn_probe_first_ms, churn_probe_end_ms;  // Unset: never came.
  Clock::duration churn_put{};
  bool churn_put_ok = false;
};

constexpr auto kChurnTimeout = 20s;

// The settings P2pNode gives a loopback node, for the raw libtorrent probe.
lt::settings_pack ProbeSettings() {
  lt::settings_pack s = mumba::SessionSettings("127.0.0.1:0", /*loopback=*/true);
  s.set_int(lt::settings_pack::alert_mask, lt::alert_category::status | lt::alert_category::dht |
                                               lt::alert_category::error);
  return s;
}

// One lookup from a raw session: when the first signed value arrived and when
// libtorrent said the lookup was over (the authoritative alert); end_ms is unset
// if the lookup did not end within `timeout`.
struct ProbeTimes {
  std::optional<double> first_ms;
  std::optional<double> end_ms;
};

ProbeTimes ProbeLookup(lt::session& s, const std::array<char, 32>& key, Clock::duration timeout) {
  std::vector<lt::alert*> alerts;
  s.pop_alerts(&alerts);  // Drop what came before.
  const auto start = Clock::now();
  s.dht_get_item(key);
  ProbeTimes t;
  while (Clock::now() - start < timeout) {
    s.wait_for_alert(lt::milliseconds(50));
    s.pop_alerts(&alerts);
    for (lt::alert* a : alerts) {
      auto* m = lt::alert_cast<lt::dht_mutable_item_alert>(a);
      if (!m || m->key != key) continue;
      if (!t.first_ms && m->item.type() == lt::entry::dictionary_t) t.first_ms = Millis(Clock::now() - start);
      if (m->authoritative) {
        t.end_ms = Millis(Clock::now() - start);
        return t;
      }
    }
  }
  return t;
}

DhtFigures BenchDht(const Options& o) {
  DhtFigures f;
  f.nodes = o.nodes;
  std::vector<std::unique_ptr<mumba::P2pNode>> nodes;
  std::vector<std::string> addrs;
  // Destroyed in parallel whatever happens: a session takes a moment to close.
  struct Closer {
    std::vector<std::unique_ptr<mumba::P2pNode>>* nodes;
    ~Closer() {
      std::vector<std::thread> t;
      for (auto& n : *nodes) t.emplace_back([&n] { n.reset(); });
      for (auto& th : t) th.join();
    }
  } closer{&nodes};

  Progress("starting %d DHT nodes on 127.0.0.1", o.nodes);
  auto t0 = Clock::now();
  for (int i = 0; i < o.nodes; ++i) {
    mumba::P2pOptions po;
    po.listen = "127.0.0.1:0";
    auto n = mumba::P2pNode::Create(po);
    if (!n.ok()) Fail("P2pNode::Create: " + n.status().message());
    nodes.push_back(std::move(n).value());
  }
  f.create = Clock::now() - t0;
  for (auto& n : nodes) addrs.push_back(n->Status().listen);

  // Each node is told about every other one, as the hosts of tests/integration
  // are (each bootstraps from all the others).
  Progress("joining each node to the %d others with AddDhtNode", o.nodes - 1);
  const int want = std::min(o.nodes - 1, 8);  // A full bucket: what a lookup asks.
  t0 = Clock::now();
  for (int i = 0; i < o.nodes; ++i) {
    for (int j = 0; j < o.nodes; ++j) {
      if (i == j) continue;
      if (auto st = nodes[i]->AddDhtNode(addrs[j]); !st.ok()) Fail("AddDhtNode: " + st.message());
    }
  }
  bool joined = false;
  const auto formation_deadline = t0 + 15s;
  while (Clock::now() < formation_deadline) {
    int lo = INT_MAX, hi = 0;
    for (auto& n : nodes) {
      int k = n->Status().dht_nodes;
      lo = std::min(lo, k);
      hi = std::max(hi, k);
    }
    f.min_known = lo;
    f.max_known = hi;
    if (!joined && lo >= 1) {
      joined = true;
      f.joined = Clock::now() - t0;
    }
    if (lo >= want) {
      f.formed_ok = true;
      break;
    }
    std::this_thread::sleep_for(5ms);
  }
  f.formed = Clock::now() - t0;
  if (!joined) Fail("the DHT did not form: some node knows no other after 15 s");

  mumba::KeyPair key = mumba::GenerateKeyPair();
  std::map<std::string, std::string> fields = {
      {"ih", std::string(20, '\x11')}, {"v2", std::string(32, '\x22')}, {"name", "bench"},
      {"version", "1.0.0"}, {"size", "200000000"}};
  Progress("node %d puts a mutable item", o.nodes - 1);
  t0 = Clock::now();
  if (auto st = nodes.back()->PutMutable(key, fields, 1, 10s); !st.ok()) Fail("PutMutable: " + st.message());
  f.put = Clock::now() - t0;

  Progress("%d GetMutable lookups from nodes 0..%d", o.lookups, o.nodes - 2);
  const auto lookups_deadline = Clock::now() + 40s;
  for (int i = 0; i < o.lookups && Clock::now() < lookups_deadline; ++i) {
    auto& n = nodes[static_cast<size_t>(i % (o.nodes - 1))];
    t0 = Clock::now();
    auto got = n->GetMutable(key.public_key, 5s);
    double ms = Millis(Clock::now() - t0);
    ++f.lookups;
    if (got.ok() && got->seq == 1 && got->fields == fields) f.get_ms.push_back(ms);
  }

  // Where a lookup's time goes: a raw session joined to every node.
  Progress("raw libtorrent probe: first value vs end of lookup");
  lt::session_params params(ProbeSettings());
  auto probe = std::make_unique<lt::session>(std::move(params));
  struct ProbeCloser {
    std::unique_ptr<lt::session>* s;
    ~ProbeCloser() {
      lt::session_proxy proxy = (*s)->abort();
      s->reset();
    }
  } probe_closer{&probe};
  JoinLoopbackDht(*probe, addrs);
  auto port_of = [](const std::string& addr) { return std::stoi(addr.substr(addr.rfind(':') + 1)); };
  std::array<char, 32> pk;
  std::memcpy(pk.data(), key.public_key.data(), 32);
  // Warm up until the probe finds the item (its routing table fills meanwhile).
  auto warm_deadline = Clock::now() + 10s;
  while (Clock::now() < warm_deadline) {
    auto t = ProbeLookup(*probe, pk, 5s);
    if (t.first_ms && t.end_ms) break;
    std::this_thread::sleep_for(50ms);
  }
  auto probe_deadline = Clock::now() + 15s;
  for (int i = 0; i < 20 && Clock::now() < probe_deadline; ++i) {
    auto t = ProbeLookup(*probe, pk, 5s);
    ++f.probe_lookups;
    if (t.first_ms && t.end_ms) {
      f.first_ms.push_back(*t.first_ms);
      f.end_ms.push_back(*t.end_ms);
    }
  }

  // Churn: nodes that vanish without a word, as hosts that lose their network
  // do. On loopback a closed port answers with ICMP "port unreachable", which
  // libtorrent takes as an immediate failure; a UDP socket left on the port that
  // never reads makes the node silent instead, as it would be on a real network.
  const int churn = std::min(o.churn, o.nodes - 3);
  if (churn > 0) {
    Progress("closing %d nodes and leaving their ports silent", churn);
    struct Silent {
      std::vector<int> fds;
      ~Silent() {
        for (int fd : fds) ::close(fd);
      }
    } silent;
    {
      std::vector<std::thread> t;
      for (int i = 0; i < churn; ++i) t.emplace_back([&nodes, i] { nodes[static_cast<size_t>(i)].reset(); });
      for (auto& th : t) th.join();
    }
    for (int i = 0; i < churn; ++i) {
      int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(static_cast<uint16_t>(port_of(addrs[static_cast<size_t>(i)])));
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      if (fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
        silent.fds.push_back(fd);
      } else if (fd >= 0) {
        ::close(fd);
      }
    }
    f.churn = churn;
    // One lookup from each survivor (but the putter) and one from the probe, all
    // at once, each with the timeout `mumba install` gives its Resolve (20 s):
    // each is bounded by it, so the whole step is.
    std::vector<int> askers;
    for (int i = churn; i < o.nodes - 1 && askers.size() < 10; ++i) askers.push_back(i);
    std::vector<double> ms(askers.size(), -1);
    {
      std::vector<std::thread> t;
      for (size_t k = 0; k < askers.size(); ++k) {
        t.emplace_back([&, k] {
          auto start = Clock::now();
          auto got = nodes[static_cast<size_t>(askers[k])]->GetMutable(key.public_key, kChurnTimeout);
          if (got.ok() && got->seq == 1) ms[k] = Millis(Clock::now() - start);
        });
      }
      ProbeTimes pt = ProbeLookup(*probe, pk, kChurnTimeout);
      for (auto& th : t) th.join();
      f.churn_probe_first_ms = pt.first_ms;
      f.churn_probe_end_ms = pt.end_ms;
    }
    for (double v : ms) {
      ++f.churn_lookups;
      if (v >= 0) f.churn_get_ms.push_back(v);
    }
    // Publishing a new version into the same DHT.
    Progress("node %d puts seq 2", o.nodes - 1);
    fields["version"] = "1.0.1";
    t0 = Clock::now();
    f.churn_put_ok = nodes.back()->PutMutable(key, fields, 2, kChurnTimeout).ok();
    f.churn_put = Clock::now() - t0;
  }
  Progress("closing the DHT nodes");
  return f;
}

// ---- Output. ----

void Print(const Options& o, const std::optional<InstallFigures>& inst, const std::optional<DhtFigures>& dht,
           double total_s) {
  unsigned cores = std::thread::hardware_concurrency();
  std::printf("\nmumba-p2p-bench: distribution between hosts on 127.0.0.1 (private DHT, loopback only)\n");
  std::printf("machine: %u cores; all data in the page cache; MB = 10^6 bytes; run took %.1f s\n\n", cores,
              total_s);
  std::vector<Row> rows;
  if (inst) {
    const InstallFigures& f = *inst;
    double mb = static_cast<double>(f.bundle_bytes) / 1e6;
    double rate = mb / Seconds(f.install);
    std::printf("(1) mumba install mumba://ADDR --yes --json on host B; host A published it (B bootstraps from A only)\n");
    std::printf("    bundle: hello + data/blob.bin of %llu MB random = %.1f MB; installed copy %s the published one\n",
                static_cast<unsigned long long>(o.megabytes), mb, f.identical ? "identical to" : "DIFFERENT from");
    std::printf("    phases from the CLI's JSON events (downloading events come every 200 ms) and host B's log\n\n");
    rows.push_back({Fmt("install %.0f MB: start to done (%.2f s)", mb, Seconds(f.install)), Fmt("%.0f MB/s", rate),
                    Fmt("sha256sum %.0f MB/s", f.sha256_rate), Fmt("%.2fx", rate / f.sha256_rate), ">= 200 MB/s",
                    rate >= 200 ? "yes" : "NO"});
    rows.push_back({"", "", Fmt("loopback TCP copy %.0f MB/s", f.tcp_rate), Fmt("%.2fx", rate / f.tcp_rate), "", ""});
    rows.push_back({"", "", Fmt("sha1sum %.0f MB/s", f.sha1_rate), Fmt("%.2fx", rate / f.sha1_rate), "", ""});
    double both = 1.0 / (1.0 / f.sha1_rate + 1.0 / f.sha256_rate);
    rows.push_back({"", "", Fmt("sha1+sha256, 1 core %.0f MB/s", both), Fmt("%.2fx", rate / both), "", ""});
    rows.push_back({"", "", "WebTorrent 70 MiB/s = 73 MB/s", Fmt("%.2fx", rate / 73.4), "", ""});
    rows.push_back({"", "", "Hyperdrive 42 MiB/s = 44 MB/s", Fmt("%.2fx", rate / 44.0), "", ""});
    rows.push_back({"", "", "libtorrent defaults ~95 MB/s", Fmt("%.2fx", rate / 95.0), "", ""});
    rows.push_back({"  start -> resolved (CLI + Resolve RPC)", Fmt("%.0f ms", Millis(f.resolve)), "", "", "", ""});
    rows.push_back({"  resolved -> a peer connected", Fmt("%.0f ms", Millis(f.first_peer)), "", "", "", ""});
    double after_peer = Seconds(f.download - f.first_peer);
    rows.push_back({Fmt("  a peer -> fetched, verified (%.2f s)", after_peer), Fmt("%.0f MB/s", mb / after_peer),
                    Fmt("sha1+sha256, 1 core %.0f MB/s", both), Fmt("%.2fx", mb / after_peer / both), "", ""});
    rows.push_back({"  fetched -> done: copy in + re-hash to seed", Fmt("%.0f ms", Millis(f.finish)), "", "", "", ""});
    if (f.reseed_ms) {
      rows.push_back({"    of which re-hash to seed (host B log)", Fmt("%.0f ms", *f.reseed_ms), "", "", "", ""});
    }
    rows.push_back({Fmt("publish on A: copy, hash, put (%s)", f.stored_in_dht ? "stored" : "NOT stored"),
                    Fmt("%.2f s", Seconds(f.publish)), Fmt("sha256sum %.2f s", mb / f.sha256_rate), "", "", ""});
    PrintRows(rows);
    std::printf("\n");
  }
  if (dht) {
    const DhtFigures& f = *dht;
    rows.clear();
    std::printf("(2) GetMutable in a private DHT of %d P2pNodes in this process, each told of all others\n", f.nodes);
    std::printf("    probe = a raw libtorrent session in the same DHT: when the value first arrives, when the lookup ends\n\n");
    rows.push_back({Fmt("%d nodes created and listening", f.nodes), Fmt("%.0f ms", Millis(f.create)), "", "", "", ""});
    rows.push_back({"DHT joined: every node knows >= 1", Fmt("%.0f ms", Millis(f.joined)), "", "", "", ""});
    rows.push_back({Fmt("DHT formed: every node knows >= %d", std::min(f.nodes - 1, 8)),
                    f.formed_ok ? Fmt("%.0f ms", Millis(f.formed)) : std::string("> 15 s"),
                    Fmt("(then %d..%d nodes known)", f.min_known, f.max_known), "", "", ""});
    rows.push_back({"PutMutable (until stored)", Fmt("%.1f ms", Millis(f.put)), "libtorrent ~5-6 ms", "", "", ""});
    double med = Percentile(f.get_ms, 0.5), p95 = Percentile(f.get_ms, 0.95);
    rows.push_back({Fmt("GetMutable median (%zu of %d found)", f.get_ms.size(), f.lookups), Fmt("%.2f ms", med),
                    "HyperDHT 0.7-0.9 ms", Fmt("%.2fx", med / 0.8), "<= 1 ms", med <= 1.0 ? "yes" : "NO"});
    rows.push_back({"", "", "libtorrent out of the box ~5 ms", Fmt("%.2fx", med / 5.0), "", ""});
    double probe_end = Percentile(f.end_ms, 0.5);
    rows.push_back({"", "", Fmt("probe: lookup end %.2f ms", probe_end), Fmt("%.2fx", med / std::max(probe_end, 1e-3)),
                    "", ""});
    rows.push_back({"GetMutable p95", Fmt("%.2f ms", p95), "", "", "", ""});
    rows.push_back({"GetMutable min / max",
                    Fmt("%.2f / %.1f ms", Percentile(f.get_ms, 0.0), Percentile(f.get_ms, 1.0)), "", "", "", ""});
    rows.push_back({Fmt("probe: first value, median (%zu/%d)", f.first_ms.size(), f.probe_lookups),
                    Fmt("%.2f ms", Percentile(f.first_ms, 0.5)), "", "", "", ""});
    rows.push_back({"probe: lookup end (authoritative), median", Fmt("%.2f ms", probe_end),
                    Fmt("p95 %.2f ms", Percentile(f.end_ms, 0.95)), "", "", ""});
    if (f.churn > 0) {
      rows.push_back({Fmt("with %d of %d nodes silent:", f.churn, f.nodes), "", "", "", "", ""});
      rows.push_back({Fmt("  GetMutable median (%zu of %d found)", f.churn_get_ms.size(), f.churn_lookups),
                      Fmt("%.0f ms", Percentile(f.churn_get_ms, 0.5)),
                      Fmt("min %.0f, max %.0f ms", Percentile(f.churn_get_ms, 0.0), Percentile(f.churn_get_ms, 1.0)),
                      "", "<= 1 ms", Percentile(f.churn_get_ms, 0.5) <= 1.0 ? "yes" : "NO"});
      auto opt_ms = [](const std::optional<double>& v) {
        return v ? Fmt("%.2f ms", *v) : Fmt("> %.0f s", Seconds(kChurnTimeout));
      };
      rows.push_back({"  probe: first value", opt_ms(f.churn_probe_first_ms), "", "", "", ""});
      rows.push_back({"  probe: lookup end (authoritative)", opt_ms(f.churn_probe_end_ms), "", "", "", ""});
      rows.push_back({"  PutMutable seq 2 (until stored)", Fmt("%.0f ms", Millis(f.churn_put)),
                      f.churn_put_ok ? "stored" : "NOT stored", "", "", ""});
    }
    PrintRows(rows);
  }
  std::fflush(stdout);
}

Options ParseOptions(int argc, char** argv) {
  Options o;
  Flags flags("usage: mumba-p2p-bench [--mb N] [--nodes N] [--lookups N] [--bundle DIR] "
              "[--churn N] [--skip-install] [--skip-dht] [--verbose]\n");
  flags.Add("--mb", &o.megabytes).Add("--nodes", &o.nodes).Add("--lookups", &o.lookups);
  flags.Add("--bundle", &o.bundle).Add("--churn", &o.churn);
  flags.Add("--skip-install", &o.skip_install).Add("--verbose", &o.verbose).Add("--skip-dht", &o.skip_dht);
  flags.Parse(argc, argv);
  if (o.nodes < 3 || o.lookups < 1 || o.megabytes < 1) Fail("--nodes >= 3, --lookups >= 1, --mb >= 1");
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  SetProgramName("mumba-p2p-bench");
  HandleStopSignals([] { Cleanup(); });

  int rc = 1;
  auto t0 = Clock::now();
  try {
    Options o = ParseOptions(argc, argv);
    g_bin = BinDir();
    {
      std::lock_guard lock(g_session.mu);
      g_session.root = MakeTempDir("/tmp/mpb-");
    }
    std::optional<InstallFigures> inst;
    std::optional<DhtFigures> dht;
    if (!o.skip_install) inst = BenchInstall(o);
    if (!o.skip_dht) dht = BenchDht(o);
    Print(o, inst, dht, Seconds(Clock::now() - t0));
    rc = 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mumba-p2p-bench: error: %s\n", e.what());
    for (const char* name : {"a", "b"}) {
      fs::path log = g_session.root / name / "logs" / "host.log";
      if (!g_session.root.empty() && fs::exists(log)) {
        std::fprintf(stderr, "mumba-p2p-bench: host %s's log ends with:\n%s", name, Tail(log, 8).c_str());
      }
    }
    rc = 1;
  }
  Cleanup();
  Progress("done in %.1f s; hosts stopped, %s removed", Seconds(Clock::now() - t0), g_session.root.c_str());
  return rc;
}
