// SPDX-License-Identifier: Apache-2.0
// The seccomp filter every app daemon runs under: the system calls a daemon never
// needs, and that would let it reach past its sandbox, fail with EPERM.
#pragma once

#include <string>

#include "mumba/status.h"

namespace mumba {

// The compiled BPF program (what `bwrap --seccomp FD` reads), built once with
// libseccomp and then shared. Refused with EPERM: tracing and reading other
// processes' memory (ptrace, process_vm_*, pidfd_getfd), mounting and changing
// root (mount, umount2, pivot_root, chroot, the new mount API), new namespaces
// (unshare, setns, clone with a CLONE_NEW* flag; clone3 says ENOSYS so the C
// library falls back to clone, which can be checked), the kernel's keyring, BPF,
// perf events, io_uring (whose operations this filter never sees), modules, kexec,
// reboot, swap, the system clock, quotas, file
// handles, userfaultfd, io ports, and the terminal ioctls TIOCSTI and TIOCLINUX
// (typing into the owner's terminal). Calls of another architecture than the
// host's kill the process, so the 32-bit numbers cannot be used to get around it.
// INTERNAL when libseccomp refuses (it names the step).
Expected<std::string> SeccompProgram();

}  // namespace mumba
