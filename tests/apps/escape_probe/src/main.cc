// SPDX-License-Identifier: Apache-2.0
// escape-probe: a hostile app. Each route tries one way out of the daemon's sandbox
// and answers one JSON object,
//   {"attempt": NAME, "target": WHAT, "ok": true|false, "errno": "EPERM"|"", "detail": TEXT, ...}
// where "ok" says the attempt worked: an escape, unless the route is one of the
// things an app may do. Host paths and pids come from the test, which knows the
// host's side; the probe itself assumes nothing about where it runs.
//
//   GET /probe/read?path=P              open and read P                        + "bytes"
//   GET /probe/write?path=P&text=T      create or replace the file P holding T
//   GET /probe/list?path=P              the names in the folder P              + "entries"
//   GET /probe/connect?path=P           connect to the unix socket P ("@NAME": the abstract
//                                       socket NAME) and send an HTTP/2 preface + "answered" (bytes back)
//   GET /probe/replace?path=P           unlink P and bind a socket of ours in its place
//   GET /probe/hijack?target=P          put a symlink to P where its own socket was, then
//                                       cut the connections made to it, so that whoever
//                                       reconnects (the host) may follow the link to P
//   GET /probe/kill?pid=N&sig=S         kill(N, S)
//   GET /probe/procs                    every process in /proc                 + "procs": [{"pid","comm"}]
//   GET /probe/ptrace?pid=N             PTRACE_ATTACH to N (detached at once when it works)
//   GET /probe/traceme                  PTRACE_TRACEME, in a child
//   GET /probe/mount                    a tmpfs on DATA/mnt (unmounted at once when it works)
//   GET /probe/unshare                  unshare(CLONE_NEWUSER), in a child
//   GET /probe/keyctl                   the id of the session keyring
//   GET /probe/tcp?host=H&port=N        a TCP connection to H:N
//   GET /probe/http?port=N&host=H&path=P&body=B
//                                       POST B to http://127.0.0.1:N/P with Host: H; "ok" when
//                                       the answer is 2xx                      + "status", "body"
//   GET /probe/escapee?name=M           a child that calls setsid, forks, names itself M (its
//                                       comm), ignores SIGTERM/SIGHUP/SIGINT and sleeps
//                                                                              + "pid" (as the probe sees it)
//   GET /probe/fds                      its open descriptors                   + "fds": [{"fd","target","dir"}]
//   GET /probe/kv?key=K&value=V         put then get K in its own Kv store through the SDK
//   GET /probe/env                      its environment, cwd, pid and uid      + "env", "cwd", "pid", "uid"
//
// mumba.toml also declares /greet, which nothing here handles: an answer to it
// comes from another app's daemon (hello's), reached through /probe/hijack.
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/keyctl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cerrno>
#include <climits>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <mumba/app.h>

extern char** environ;

namespace {

using mumba::RouteRequest;
using mumba::RouteResponse;

std::string Quote(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c >= 0x80) {
          // Bytes, not text: a name read from /proc or a folder need not be UTF-8.
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

std::string ErrnoName(int err) {
  if (err == 0) return "";
  const char* name = strerrorname_np(err);
  return name ? name : std::to_string(err);
}

// What one attempt did. `extra` holds more members, each starting with a comma.
struct Outcome {
  Outcome(std::string attempt, std::string target) : attempt(std::move(attempt)), target(std::move(target)) {}

  std::string attempt;
  std::string target;
  bool ok = false;
  int err = 0;
  std::string detail;
  std::string extra;
};

RouteResponse Answer(const Outcome& o) {
  std::string detail = o.detail;
  if (detail.empty() && o.err != 0) detail = std::strerror(o.err);
  return RouteResponse::Json("{\"attempt\":" + Quote(o.attempt) + ",\"target\":" + Quote(o.target) +
                             ",\"ok\":" + (o.ok ? "true" : "false") + ",\"errno\":" + Quote(ErrnoName(o.err)) +
                             ",\"detail\":" + Quote(detail) + o.extra + "}");
}

Outcome Read(const std::string& path) {
  Outcome o{"read", path};
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    o.err = errno;
    return o;
  }
  // Bounded: a probe reads enough to prove it could, never a whole disk.
  constexpr size_t kMax = 16 << 20;
  char buf[65536];
  size_t total = 0;
  ssize_t n = 0;
  while (total < kMax && (n = ::read(fd, buf, sizeof buf)) > 0) total += static_cast<size_t>(n);
  if (n < 0) {
    o.err = errno;
  } else {
    o.ok = true;
  }
  ::close(fd);
  o.detail = std::to_string(total) + " bytes";
  o.extra = ",\"bytes\":" + std::to_string(total);
  return o;
}

Outcome Write(const std::string& path, const std::string& text) {
  Outcome o{"write", path};
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    o.err = errno;
    return o;
  }
  ssize_t n = ::write(fd, text.data(), text.size());
  if (n < 0) {
    o.err = errno;
  } else {
    o.ok = static_cast<size_t>(n) == text.size();
    o.detail = std::to_string(n) + " bytes written";
  }
  ::close(fd);
  return o;
}

Outcome List(const std::string& path) {
  Outcome o{"list", path};
  DIR* dir = ::opendir(path.c_str());
  if (!dir) {
    o.err = errno;
    return o;
  }
  std::vector<std::string> names;
  while (dirent* e = ::readdir(dir)) {
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) names.push_back(e->d_name);
  }
  ::closedir(dir);
  std::sort(names.begin(), names.end());
  o.ok = true;
  o.detail = std::to_string(names.size()) + " entries";
  o.extra = ",\"entries\":[";
  for (size_t i = 0; i < names.size(); ++i) o.extra += (i ? "," : "") + Quote(names[i]);
  o.extra += "]";
  return o;
}

// The address of the unix socket at `path`, or of the abstract socket NAME for
// "@NAME"; false when it does not fit.
bool UnixAddress(const std::string& path, sockaddr_un* addr, socklen_t* len) {
  *addr = {};
  addr->sun_family = AF_UNIX;
  if (path.size() >= sizeof addr->sun_path) return false;
  std::memcpy(addr->sun_path, path.data(), path.size());
  *len = sizeof *addr;
  if (path.starts_with('@')) {
    addr->sun_path[0] = '\0';
    *len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size());
  }
  return true;
}

Outcome Connect(const std::string& path) {
  Outcome o{"connect", path};
  sockaddr_un addr;
  socklen_t len = 0;
  if (!UnixAddress(path, &addr, &len)) {
    o.err = ENAMETOOLONG;
    return o;
  }
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    o.err = errno;
    return o;
  }
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0) {
    o.err = errno;
    ::close(fd);
    return o;
  }
  o.ok = true;
  // The HTTP/2 client preface and an empty SETTINGS frame: a gRPC server answers
  // with its own SETTINGS, and a server that refuses the caller closes instead.
  static const char kPreface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\4\0\0\0\0\0";
  timeval timeout{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  ssize_t answered = 0;
  if (::send(fd, kPreface, sizeof kPreface - 1, MSG_NOSIGNAL) > 0) {
    char buf[64];
    answered = std::max<ssize_t>(0, ::recv(fd, buf, sizeof buf, 0));
  }
  ::close(fd);
  o.detail = "connected; " + std::to_string(answered) + " bytes answered";
  o.extra = ",\"answered\":" + std::to_string(answered);
  return o;
}

Outcome Replace(const std::string& path) {
  Outcome o{"replace", path};
  int unlink_err = ::unlink(path.c_str()) == 0 ? 0 : errno;
  sockaddr_un addr;
  socklen_t len = 0;
  if (!UnixAddress(path, &addr, &len)) {
    o.err = ENAMETOOLONG;
    return o;
  }
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    o.err = errno;
    return o;
  }
  int bind_err = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), len) == 0 ? 0 : errno;
  if (bind_err == 0) ::listen(fd, 1);
  // The socket file stays behind: that is the attack, a path that no longer leads
  // to the app that made it.
  ::close(fd);
  o.ok = bind_err == 0;
  o.err = unlink_err != 0 ? unlink_err : bind_err;
  o.detail = std::string(unlink_err == 0 ? "unlinked" : "could not unlink") + "; " +
             (bind_err == 0 ? "bound ours" : "could not bind");
  return o;
}

// Cuts every connection accepted on the app's socket, a moment after the answer
// to this request has left: the host's channel then reconnects by the path.
void DropAcceptedConnections() {
  std::thread([] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    DIR* dir = ::opendir("/proc/self/fd");
    if (!dir) return;
    while (dirent* e = ::readdir(dir)) {
      int fd = std::atoi(e->d_name);
      sockaddr_un local{};
      socklen_t len = sizeof local;
      int listening = 0;
      socklen_t flag_len = sizeof listening;
      if (fd <= 2 || fd == ::dirfd(dir) || ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) != 0 ||
          local.sun_family != AF_UNIX ||
          ::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &flag_len) != 0 || listening) {
        continue;
      }
      // An accepted socket carries the listener's path as its own name; the
      // daemon's connection to its host socket has none.
      if (len > offsetof(sockaddr_un, sun_path) && local.sun_path[0] != '\0') ::shutdown(fd, SHUT_RDWR);
    }
    ::closedir(dir);
  }).detach();
}

Outcome Hijack(const std::string& socket, const std::string& target) {
  Outcome o{"hijack", target};
  // The host may have moved the socket away already: then there is nothing to unlink.
  if (::unlink(socket.c_str()) != 0 && errno != ENOENT) {
    o.err = errno;
    o.detail = "cannot unlink " + socket;
    return o;
  }
  if (::symlink(target.c_str(), socket.c_str()) != 0) {
    o.err = errno;
    o.detail = "cannot link " + socket;
    return o;
  }
  DropAcceptedConnections();
  o.ok = true;
  o.detail = socket + " now leads to " + target;
  return o;
}

Outcome Kill(int pid, int sig) {
  Outcome o{"kill", std::to_string(pid) + " signal " + std::to_string(sig)};
  o.ok = ::kill(pid, sig) == 0;
  if (!o.ok) o.err = errno;
  return o;
}

std::string CommOf(const std::string& pid) {
  std::string comm;
  if (FILE* f = std::fopen(("/proc/" + pid + "/comm").c_str(), "re")) {
    char buf[64] = {};
    if (std::fgets(buf, sizeof buf, f)) comm = buf;
    std::fclose(f);
  }
  if (!comm.empty() && comm.back() == '\n') comm.pop_back();
  return comm;
}

Outcome Procs() {
  Outcome o{"procs", "/proc"};
  DIR* dir = ::opendir("/proc");
  if (!dir) {
    o.err = errno;
    return o;
  }
  std::string list;
  int count = 0;
  while (dirent* e = ::readdir(dir)) {
    std::string name = e->d_name;
    if (name.empty() || !std::all_of(name.begin(), name.end(), ::isdigit)) continue;
    list += std::string(count++ ? "," : "") + "{\"pid\":" + name + ",\"comm\":" + Quote(CommOf(name)) + "}";
  }
  ::closedir(dir);
  o.ok = true;
  o.detail = std::to_string(count) + " processes seen";
  o.extra = ",\"procs\":[" + list + "]";
  return o;
}

Outcome PtraceAttach(int pid) {
  Outcome o{"ptrace-attach", std::to_string(pid)};
  if (::ptrace(PTRACE_ATTACH, pid, nullptr, nullptr) != 0) {
    o.err = errno;
    return o;
  }
  // Attached: let the target go again at once, so the probe harms nothing.
  int status = 0;
  ::waitpid(pid, &status, __WALL);
  ::ptrace(PTRACE_DETACH, pid, nullptr, nullptr);
  o.ok = true;
  o.detail = "attached and detached";
  return o;
}

// Runs `fn` in a forked child and reports how it went: 0 when fn returned 0, the
// errno it returned otherwise. Some calls must be made by a single-threaded
// process (unshare of a user namespace), and some would change the daemon itself
// (PTRACE_TRACEME); a child does both safely. `fn` may use only async-signal-safe
// calls, since the daemon has other threads.
template <typename Fn>
Outcome InChild(std::string attempt, std::string target, Fn fn) {
  Outcome o{std::move(attempt), std::move(target)};
  pid_t pid = ::fork();
  if (pid < 0) {
    o.err = errno;
    return o;
  }
  if (pid == 0) ::_exit(fn());
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (WIFSIGNALED(status)) {
    o.detail = "the child was killed by signal " + std::to_string(WTERMSIG(status));
    return o;
  }
  o.err = WEXITSTATUS(status);
  o.ok = o.err == 0;
  return o;
}

Outcome Mount(const std::filesystem::path& data_dir) {
  std::string dir = (data_dir / "mnt").string();
  ::mkdir(dir.c_str(), 0700);
  const char* where = dir.c_str();
  return InChild("mount", dir, [where] {
    if (::mount("probe", where, "tmpfs", 0, "size=64k") != 0) return errno;
    ::umount2(where, MNT_DETACH);
    return 0;
  });
}

Outcome Keyctl() {
  Outcome o{"keyctl", "session keyring"};
  long id = ::syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0);
  o.ok = id >= 0;
  if (!o.ok) o.err = errno;
  return o;
}

Outcome Tcp(const std::string& host, int port) {
  Outcome o{"tcp", host + ":" + std::to_string(port)};
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    o.err = EINVAL;
    return o;
  }
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    o.err = errno;
    return o;
  }
  int err = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 ? 0 : errno;
  if (err == EINPROGRESS) {
    pollfd p{fd, POLLOUT, 0};
    if (::poll(&p, 1, 3000) == 1) {
      socklen_t len = sizeof err;
      ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    } else {
      err = ETIMEDOUT;
    }
  }
  ::close(fd);
  o.ok = err == 0;
  o.err = err;
  if (o.ok) o.detail = "connected";
  return o;
}

// One HTTP/1.1 request on 127.0.0.1, as any local process could send it: no
// cookie, no Origin. Reads at most 64 KiB of the answer, for at most 3 s.
Outcome Http(int port, const std::string& host, const std::string& path, const std::string& body) {
  Outcome o{"http", host + path};
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    o.err = errno;
    return o;
  }
  timeval timeout{3, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    o.err = errno;
    ::close(fd);
    return o;
  }
  std::string request = "POST " + path + " HTTP/1.1\r\nHost: " + host +
                        "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
                        "\r\nConnection: close\r\n\r\n" + body;
  std::string answer;
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size())) {
    char buf[4096];
    ssize_t n = 0;
    while (answer.size() < 65536 && (n = ::recv(fd, buf, sizeof buf, 0)) > 0) {
      answer.append(buf, static_cast<size_t>(n));
    }
  }
  ::close(fd);
  int status = 0;
  if (answer.starts_with("HTTP/1.")) status = std::atoi(answer.c_str() + answer.find(' ') + 1);
  auto split = answer.find("\r\n\r\n");
  std::string content = split == std::string::npos ? "" : answer.substr(split + 4);
  o.ok = status >= 200 && status < 300;
  o.detail = "answered " + std::to_string(status);
  o.extra = ",\"status\":" + std::to_string(status) + ",\"body\":" + Quote(content);
  return o;
}

// The escapee: a grandchild in a session of its own, the way a daemon detaches
// itself, which only the end of the whole sandbox can stop.
Outcome Escapee(const std::string& name) {
  Outcome o{"escapee", name};
  char comm[16] = {};
  std::strncpy(comm, name.c_str(), sizeof comm - 1);
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    o.err = errno;
    return o;
  }
  pid_t middle = ::fork();
  if (middle < 0) {
    o.err = errno;
    ::close(fds[0]);
    ::close(fds[1]);
    return o;
  }
  if (middle == 0) {
    ::setsid();
    pid_t pid = ::fork();
    if (pid == 0) {
      struct sigaction ignore = {};
      ignore.sa_handler = SIG_IGN;
      for (int sig : {SIGTERM, SIGHUP, SIGINT}) ::sigaction(sig, &ignore, nullptr);
      ::prctl(PR_SET_NAME, comm, 0, 0, 0);
      pid_t self = ::getpid();
      if (::write(fds[1], &self, sizeof self) != sizeof self) ::_exit(1);
      ::close_range(3, UINT_MAX, 0);
      for (;;) ::pause();
    }
    ::_exit(pid > 0 ? 0 : 1);
  }
  ::close(fds[1]);
  int status = 0;
  ::waitpid(middle, &status, 0);
  pid_t pid = 0;
  ssize_t n = ::read(fds[0], &pid, sizeof pid);
  ::close(fds[0]);
  o.ok = n == sizeof pid && pid > 0;
  if (!o.ok) o.detail = "the escapee did not start";
  o.extra = ",\"pid\":" + std::to_string(o.ok ? pid : 0);
  return o;
}

// A descriptor inherited from the host that leads outside (above all a folder,
// from which openat reaches anything below it) would undo the mount namespace.
Outcome Fds() {
  Outcome o{"fds", "/proc/self/fd"};
  DIR* dir = ::opendir("/proc/self/fd");
  if (!dir) {
    o.err = errno;
    return o;
  }
  int own = ::dirfd(dir);
  std::string list;
  int count = 0;
  while (dirent* e = ::readdir(dir)) {
    if (!std::isdigit(static_cast<unsigned char>(e->d_name[0]))) continue;
    int fd = std::atoi(e->d_name);
    if (fd == own) continue;
    char target[PATH_MAX] = {};
    ssize_t n = ::readlink(("/proc/self/fd/" + std::string(e->d_name)).c_str(), target, sizeof target - 1);
    struct stat st{};
    bool is_dir = ::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
    list += std::string(count++ ? "," : "") + "{\"fd\":" + std::to_string(fd) +
            ",\"target\":" + Quote(n > 0 ? std::string(target, static_cast<size_t>(n)) : "") +
            ",\"dir\":" + (is_dir ? "true" : "false") + "}";
  }
  ::closedir(dir);
  o.ok = true;
  o.detail = std::to_string(count) + " descriptors";
  o.extra = ",\"fds\":[" + list + "]";
  return o;
}

Outcome KvRoundTrip(mumba::App& app, const std::string& key, const std::string& value) {
  Outcome o{"kv", key};
  mumba::Status put = app.Kv().Put(key, value);
  if (!put.ok()) {
    o.detail = "put: " + put.message();
    return o;
  }
  auto got = app.Kv().Get(key);
  if (!got.ok()) {
    o.detail = "get: " + got.status().message();
    return o;
  }
  o.ok = got->has_value() && **got == value;
  o.detail = o.ok ? "put and read back" : "read back something else";
  return o;
}

Outcome Environment() {
  Outcome o{"env", "self"};
  std::string env;
  for (char** e = environ; *e; ++e) {
    std::string entry = *e;
    auto eq = entry.find('=');
    if (eq == std::string::npos) continue;
    env += std::string(env.empty() ? "" : ",") + Quote(entry.substr(0, eq)) + ":" + Quote(entry.substr(eq + 1));
  }
  char cwd[PATH_MAX] = {};
  if (!::getcwd(cwd, sizeof cwd)) o.err = errno;
  o.ok = true;
  o.extra = ",\"env\":{" + env + "},\"cwd\":" + Quote(cwd) + ",\"pid\":" + std::to_string(::getpid()) +
            ",\"uid\":" + std::to_string(::getuid());
  return o;
}

int IntParam(const RouteRequest& r, std::string_view name, int fallback) {
  std::string v = r.Param(name);
  return v.empty() ? fallback : std::atoi(v.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  mumba::App app(argc, argv);
  auto route = [&app](const char* path, auto attempt) {
    app.Route("*", path, [attempt](const RouteRequest& r) { return Answer(attempt(r)); });
  };
  route("/probe/read", [](const RouteRequest& r) { return Read(r.Param("path")); });
  route("/probe/write", [](const RouteRequest& r) { return Write(r.Param("path"), r.Param("text")); });
  route("/probe/list", [](const RouteRequest& r) { return List(r.Param("path")); });
  route("/probe/connect", [](const RouteRequest& r) { return Connect(r.Param("path")); });
  route("/probe/replace", [](const RouteRequest& r) { return Replace(r.Param("path")); });
  route("/probe/hijack", [&app](const RouteRequest& r) {
    return Hijack(app.socket().string(), r.Param("target"));
  });
  route("/probe/kill", [](const RouteRequest& r) { return Kill(IntParam(r, "pid", 0), IntParam(r, "sig", 0)); });
  route("/probe/procs", [](const RouteRequest&) { return Procs(); });
  route("/probe/ptrace", [](const RouteRequest& r) { return PtraceAttach(IntParam(r, "pid", 0)); });
  route("/probe/traceme", [](const RouteRequest&) {
    return InChild("ptrace-traceme", "parent",
                   [] { return ::ptrace(PTRACE_TRACEME, 0, nullptr, nullptr) == 0 ? 0 : errno; });
  });
  route("/probe/mount", [&app](const RouteRequest&) { return Mount(app.data_dir()); });
  route("/probe/unshare", [](const RouteRequest&) {
    return InChild("unshare", "CLONE_NEWUSER", [] { return ::unshare(CLONE_NEWUSER) == 0 ? 0 : errno; });
  });
  route("/probe/keyctl", [](const RouteRequest&) { return Keyctl(); });
  route("/probe/tcp", [](const RouteRequest& r) { return Tcp(r.Param("host"), IntParam(r, "port", 0)); });
  route("/probe/http", [](const RouteRequest& r) {
    return Http(IntParam(r, "port", 0), r.Param("host"), r.Param("path"), r.Param("body"));
  });
  route("/probe/escapee", [](const RouteRequest& r) { return Escapee(r.Param("name")); });
  route("/probe/fds", [](const RouteRequest&) { return Fds(); });
  route("/probe/kv", [&app](const RouteRequest& r) { return KvRoundTrip(app, r.Param("key"), r.Param("value")); });
  route("/probe/env", [](const RouteRequest&) { return Environment(); });
  return app.Run();
}
