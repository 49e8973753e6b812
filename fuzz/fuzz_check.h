// SPDX-License-Identifier: Apache-2.0
// What every fuzzer here shares: FUZZ_CHECK, which turns a broken promise of the
// code under test into a crash the fuzzer records, with the input that caused it.
#pragma once

#include <cstdio>
#include <cstdlib>

// Aborts with the failed condition when `cond` is false. Unlike assert it stays on
// in every build type, since a fuzzer exists to find exactly these.
#define FUZZ_CHECK(cond) FUZZ_CHECK_SAYING(cond, "")

// FUZZ_CHECK that also prints `what` (a C string, e.g. a Status's message) on failure.
#define FUZZ_CHECK_SAYING(cond, what)                                                             \
  do {                                                                               \
    if (!(cond)) {                                                                   \
      std::fprintf(stderr, "%s:%d: FUZZ_CHECK failed: %s %s\n", __FILE__, __LINE__, #cond, what); \
      std::abort();                                                                  \
    }                                                                                \
  } while (0)
