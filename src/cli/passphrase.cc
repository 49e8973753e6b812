// SPDX-License-Identifier: Apache-2.0
#include "cli/passphrase.h"

#include <fcntl.h>
#include <signal.h>
#include <termios.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "platform/errno_status.h"
#include "platform/unique_fd.h"

namespace mumba::cli {
namespace {

// The terminal whose echo is off, for the signal handler that turns it back on.
int g_tty = -1;
struct termios g_saved {};
// Not SIGTSTP: a stopped job's terminal is the shell's to restore, and echo turned
// on here would stay on when the job resumes mid-question.
constexpr std::array<int, 4> kSignals = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};

void RestoreAndReraise(int sig) {
  if (g_tty >= 0) ::tcsetattr(g_tty, TCSAFLUSH, &g_saved);
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

// Reads bytes from `fd` up to a newline or the end into `out`. INVALID_ARGUMENT
// when the line is longer than a passphrase may be (the rest is still consumed,
// so a terminal is left clean).
Status ReadLine(int fd, Passphrase& out, const std::string& what) {
  bool too_long = false;
  for (;;) {
    char c = 0;
    ssize_t n = ::read(fd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus(errno, "cannot read " + what);
    if (n == 0 || c == '\n') break;
    if (!out.Append(c)) too_long = true;
  }
  if (!out.empty() && out.view().back() == '\r') out.PopBack();
  if (too_long) {
    out.Clear();
    return InvalidArgument("a passphrase has at most " + std::to_string(kMaxPassphraseBytes) + " bytes");
  }
  return Status();
}

Expected<Passphrase> FromFile(const std::string& file) {
  UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return ErrnoStatus(errno, "cannot read the passphrase file " + file);
  Passphrase p;
  MUMBA_TRY(ReadLine(fd.get(), p, file));
  if (p.empty()) return InvalidArgument("the first line of " + file + " is empty: it holds no passphrase");
  return p;
}

// Asks once on the terminal `tty` with echo off.
Status AskOnce(int tty, const std::string& prompt, Passphrase& out) {
  struct termios off = g_saved;
  off.c_lflag &= ~static_cast<tcflag_t>(ECHO);
  off.c_lflag |= ECHONL;  // The user still sees the line end.
  std::array<struct sigaction, kSignals.size()> old{};
  struct sigaction restore {};
  restore.sa_handler = RestoreAndReraise;
  for (size_t i = 0; i < kSignals.size(); ++i) {
    ::sigaction(kSignals[i], &restore, &old[i]);
    // A signal the parent chose to ignore stays ignored (as nohup expects).
    if (old[i].sa_handler == SIG_IGN) ::sigaction(kSignals[i], &old[i], nullptr);
  }
  g_tty = tty;
  ::tcsetattr(tty, TCSAFLUSH, &off);
  // The prompt comes only once echo is off: what is typed as soon as it shows must
  // not appear on the screen.
  (void)!::write(tty, prompt.data(), prompt.size());
  Status st = ReadLine(tty, out, "the terminal");
  ::tcsetattr(tty, TCSAFLUSH, &g_saved);
  g_tty = -1;
  for (size_t i = 0; i < kSignals.size(); ++i) ::sigaction(kSignals[i], &old[i], nullptr);
  return st;
}

Expected<Passphrase> FromTerminal(const std::string& prompt, bool confirm) {
  UniqueFd tty(::open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!tty || ::tcgetattr(tty.get(), &g_saved) != 0) {
    return FailedPrecondition("no terminal to ask for the passphrase on: give --passphrase-file FILE");
  }
  Passphrase first;
  MUMBA_TRY(AskOnce(tty.get(), prompt, first));
  if (first.empty()) return InvalidArgument("no passphrase was typed");
  if (!confirm) return first;
  Passphrase again;
  MUMBA_TRY(AskOnce(tty.get(), "Again: ", again));
  if (first.view() != again.view()) return InvalidArgument("the two passphrases differ; nothing was changed");
  return first;
}

}  // namespace

Expected<Passphrase> ReadPassphrase(const std::string& file, const std::string& prompt, bool confirm) {
  if (!file.empty()) return FromFile(file);
  // Only a person at a terminal is asked; a script without --passphrase-file is
  // told what to give rather than left waiting on a terminal it may not own.
  if (!::isatty(0)) {
    return FailedPrecondition("a passphrase is needed and stdin is not a terminal to ask on: "
                              "give --passphrase-file FILE");
  }
  return FromTerminal(prompt, confirm);
}

Expected<Passphrase> PassphraseFor(const std::filesystem::path& keys_dir, const std::string& address,
                                   const std::string& file) {
  auto is_protected = IsKeyProtected(keys_dir, address);
  if (!is_protected.ok() || !*is_protected) return Passphrase();
  return ReadPassphrase(file, "Passphrase of the key of " + address + ": ", false);
}

}  // namespace mumba::cli
