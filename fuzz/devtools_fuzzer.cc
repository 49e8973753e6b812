// SPDX-License-Identifier: Apache-2.0
// Fuzzes the DevTools messages the host reads from Chromium (src/shell): what they
// carry comes from web pages (titles, URLs, console arguments, evaluation results,
// binding payloads), and a compromised renderer may send anything. The fuzzer plays
// the browser on the other end of a real CdpConnection: a socket pair stands for
// the pipe, and a child process that only waits stands for the browser process.
//
// The input is up to 64 messages separated by NUL bytes. Its first byte picks a
// client call (Runtime.evaluate, Target.getTargets, DOM reads, a screenshot, a
// navigation); for every command that call sends, the fuzzer writes the next
// message as it is (an event, a stray answer or garbage), then an answer to the
// command whose result (or error) is that message when it is JSON. The messages
// left over follow as they are. Nothing may crash, every call must return within
// its timeout, and every message must have been handled before the next input.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "fuzz_check.h"
#include "shell/base64.h"
#include "shell/cdp_connection.h"
#include "shell/dom.h"
#include "shell/json_fields.h"
#include "shell/page.h"
#include "shell/runtime.h"
#include "shell/target.h"

using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

constexpr size_t kMaxMessages = 64;
constexpr auto kCallTimeout = 500ms;
constexpr char kSession[] = "S1";

struct World {
  int browser_end = -1;  // Where the fuzzer reads commands and writes messages.
  mumba::shell::CdpConnection* cdp = nullptr;  // Never destroyed: it would signal the child.
  std::mutex mu;
  std::condition_variable cv;
  uint64_t syncs_sent = 0;
  uint64_t last_sync = 0;  // The number of the last Fuzz.sync event handled.
};

World& TheWorld() {
  static World* world = [] {
    auto* w = new World();
    int fds[2];
    FUZZ_CHECK(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
    const pid_t child = ::fork();
    FUZZ_CHECK(child >= 0);
    if (child == 0) {
      ::setpgid(0, 0);
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      for (;;) ::pause();
    }
    ::setpgid(child, child);
    const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, child, 0));
    FUZZ_CHECK(pidfd >= 0);
    FUZZ_CHECK(::fcntl(fds[1], F_SETFL, ::fcntl(fds[1], F_GETFL) | O_NONBLOCK) == 0);
    w->browser_end = fds[0];
    w->cdp = new mumba::shell::CdpConnection(mumba::shell::BrowserProcess{child, pidfd, fds[1]});
    w->cdp->Subscribe([w](const std::string& method, const json& params, const std::string& session) {
      // What the host's subscribers read of an event.
      (void)mumba::shell::StringField(params, "payload");
      (void)mumba::shell::Field(mumba::shell::Field(params, "targetInfo"), "url");
      const json& n = mumba::shell::Field(params, "n");
      if (method != "Fuzz.sync" || !n.is_number_unsigned()) return;
      std::lock_guard lock(w->mu);
      w->last_sync = n.get<uint64_t>();
      w->cv.notify_all();
    });
    return w;
  }();
  return *world;
}

void WriteMessage(int fd, std::string_view text) {
  std::string bytes(text);
  bytes.push_back('\0');
  size_t offset = 0;
  while (offset < bytes.size()) {
    ssize_t n = ::send(fd, bytes.data() + offset, bytes.size() - offset, MSG_NOSIGNAL);
    FUZZ_CHECK(n > 0 || errno == EINTR);
    if (n > 0) offset += static_cast<size_t>(n);
  }
}

// The next command the connection sent, or nothing within `wait`.
std::optional<json> ReadCommand(int fd, std::string& buffer, std::chrono::milliseconds wait) {
  for (;;) {
    if (auto nul = buffer.find('\0'); nul != std::string::npos) {
      json command = json::parse(buffer.substr(0, nul));
      buffer.erase(0, nul + 1);
      return command;
    }
    pollfd readable{fd, POLLIN, 0};
    if (::poll(&readable, 1, static_cast<int>(wait.count())) <= 0) return std::nullopt;
    char chunk[4096];
    ssize_t n = ::read(fd, chunk, sizeof chunk);
    FUZZ_CHECK(n > 0);
    buffer.append(chunk, static_cast<size_t>(n));
  }
}

// The client call input byte `pick` chooses, run against `cdp`.
void RunClientCall(mumba::shell::CdpConnection* cdp, uint8_t pick) {
  mumba::shell::RuntimeClient runtime(cdp, kSession);
  mumba::shell::DomClient dom(cdp, kSession);
  mumba::shell::TargetClient targets(cdp);
  mumba::shell::PageClient page(cdp, kSession);
  switch (pick % 8) {
    case 0: (void)runtime.Evaluate("1 + 1", kCallTimeout); break;
    case 1: (void)targets.GetTargets(); break;
    case 2: (void)targets.CreateTarget("about:blank"); break;
    case 3: (void)dom.QuerySelectorAll("p"); break;
    case 4: (void)dom.GetAttributes(1); break;
    case 5: (void)dom.GetText(1); break;
    case 6: (void)dom.GetCenter(1); break;
    case 7: (void)page.Navigate("http://hello.localhost:1/", kCallTimeout); break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  World& w = TheWorld();
  std::vector<std::string_view> messages;
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  while (!rest.empty() && messages.size() < kMaxMessages) {
    auto nul = rest.find('\0');
    messages.push_back(rest.substr(0, nul));
    rest = nul == std::string_view::npos ? std::string_view() : rest.substr(nul + 1);
  }

  const auto start = std::chrono::steady_clock::now();
  auto call = std::async(std::launch::async, RunClientCall, w.cdp, data[0]);
  std::string buffer;
  size_t next = 0;
  while (call.wait_for(0ms) != std::future_status::ready) {
    auto command = ReadCommand(w.browser_end, buffer, 20ms);
    if (!command) continue;
    json result = json::object();
    bool as_error = false;
    if (next < messages.size()) {
      WriteMessage(w.browser_end, messages[next]);
      json parsed = json::parse(messages[next], nullptr, /*allow_exceptions=*/false);
      if (!parsed.is_discarded()) {
        result = std::move(parsed);
        as_error = !messages[next].empty() && (messages[next].back() & 1);
      }
      ++next;
    }
    json answer = {{"id", (*command)["id"]}, {as_error ? "error" : "result", std::move(result)}};
    WriteMessage(w.browser_end, answer.dump());
  }
  call.get();
  // Several calls of a few hundred milliseconds each at most, never more.
  FUZZ_CHECK(std::chrono::steady_clock::now() - start < 10s);
  for (; next < messages.size(); ++next) WriteMessage(w.browser_end, messages[next]);
  // Stray commands (Runtime.releaseObject after a failure) need no answer.
  while (ReadCommand(w.browser_end, buffer, 0ms)) {
  }

  // Events are handled in order: once this one is, every message before it was.
  const uint64_t sync = ++w.syncs_sent + (uint64_t{1} << 40);
  WriteMessage(w.browser_end, json({{"method", "Fuzz.sync"}, {"params", {{"n", sync}}}}).dump());
  std::unique_lock lock(w.mu);
  FUZZ_CHECK(w.cv.wait_for(lock, 10s, [&] { return w.last_sync == sync; }));
  FUZZ_CHECK(w.cdp->alive());
  // Base64 is how DevTools sends binary data (screenshots).
  for (auto m : messages) (void)mumba::shell::Base64Decode(m);
  return 0;
}
