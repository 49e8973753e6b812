// SPDX-License-Identifier: Apache-2.0
#include "sandbox/seccomp_filter.h"

#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>

#include <seccomp.h>

#include "platform/unique_fd.h"

namespace mumba {
namespace {

// Refused whatever their arguments.
constexpr const char* kRefused[] = {
    "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd",
    "mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen", "fsconfig",
    "fsmount", "fspick", "mount_setattr",
    "unshare", "setns",
    "keyctl", "add_key", "request_key",
    "bpf", "perf_event_open", "userfaultfd", "fanotify_init",
    // Its operations run in the kernel's workers, where this filter never looks.
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load",
    "reboot", "swapon", "swapoff", "syslog", "acct", "quotactl", "vhangup",
    "settimeofday", "clock_settime", "clock_adjtime", "adjtimex",
    "open_by_handle_at", "name_to_handle_at", "lookup_dcookie", "iopl", "ioperm", "uselib",
};

constexpr uint64_t kNamespaceFlags[] = {CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET,
                                        CLONE_NEWIPC, CLONE_NEWUTS, CLONE_NEWCGROUP};

struct Context {
  scmp_filter_ctx ctx = nullptr;
  ~Context() {
    if (ctx) seccomp_release(ctx);
  }
};

Status Step(int rc, const std::string& what) {
  if (rc == 0) return Status::Ok();
  return Internal("cannot build the seccomp filter (" + what + "): " + std::strerror(-rc));
}

Expected<std::string> Build() {
  Context c;
  c.ctx = seccomp_init(SCMP_ACT_ALLOW);
  if (!c.ctx) return Internal("cannot build the seccomp filter (seccomp_init)");
  // Another architecture's numbers (e.g. the 32-bit ones on x86-64) could reach
  // what this list refuses under other names: such calls end the process.
  MUMBA_TRY(Step(seccomp_attr_set(c.ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS), "bad arch"));
  const uint32_t eperm = SCMP_ACT_ERRNO(EPERM);
  for (const char* name : kRefused) {
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR) continue;  // Not a call of this architecture.
    MUMBA_TRY(Step(seccomp_rule_add(c.ctx, eperm, nr, 0), name));
  }
  for (uint64_t flag : kNamespaceFlags) {
    MUMBA_TRY(Step(seccomp_rule_add(c.ctx, eperm, SCMP_SYS(clone), 1, SCMP_A0_64(SCMP_CMP_MASKED_EQ, flag, flag)),
                   "clone"));
  }
  // clone3 passes its flags in memory, which a filter cannot read: ENOSYS makes
  // the C library use clone, whose flags are checked above.
  MUMBA_TRY(Step(seccomp_rule_add(c.ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0), "clone3"));
  for (uint64_t request : {uint64_t{TIOCSTI}, uint64_t{TIOCLINUX}}) {
    MUMBA_TRY(Step(seccomp_rule_add(c.ctx, eperm, SCMP_SYS(ioctl), 1,
                                    SCMP_A1_64(SCMP_CMP_MASKED_EQ, 0xffffffffu, request)),
                   "ioctl"));
  }
  UniqueFd out(::memfd_create("mumba-seccomp", MFD_CLOEXEC));
  if (!out) return Internal("cannot build the seccomp filter (memfd_create)");
  MUMBA_TRY(Step(seccomp_export_bpf(c.ctx, out.get()), "export"));
  std::string program;
  ::lseek(out.get(), 0, SEEK_SET);
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(out.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Internal("cannot build the seccomp filter (read)");
    if (n == 0) break;
    program.append(buf, static_cast<size_t>(n));
  }
  return program;
}

}  // namespace

Expected<std::string> SeccompProgram() {
  static std::once_flag once;
  static Expected<std::string>* program = nullptr;
  std::call_once(once, [] { program = new Expected<std::string>(Build()); });
  return *program;
}

}  // namespace mumba
