// SPDX-License-Identifier: Apache-2.0
// What every fuzzer here shares: FUZZ_CHECK, which turns a broken promise of the
// code under test into a crash the fuzzer records, with the input that caused it.
#pragma once

#include <cstdio>
#include <cstdlib>

// Aborts with the failed condition when `cond` is false. Unlike assert it stays on
// in every build type, since a fuzzer exists to find exactly these.
#define FUZZ_CHECK(cond)                                                             \
  do {                                                                               \
    if (!(cond)) {                                                                   \
      std::fprintf(stderr, "%s:%d: FUZZ_CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                  \
    }                                                                                \
  } while (0)
