// SPDX-License-Identifier: Apache-2.0
// Bounded versions of the SQLite built-in functions whose one call could run for
// minutes or hours: the call deadline (CallDeadline) is checked between SQLite's
// steps, never inside a function, so one call must end quickly by itself.
//
// With values capped at 16 MiB (SQLITE_LIMIT_LENGTH), SQLite 3.40's own versions
// are quadratic or linear in a count the caller picks:
//   instr(X, Y), replace(X, Y, Z)  compare Y at every byte of X: |X| x |Y|;
//   trim/ltrim/rtrim(X, Y)         try every character of Y at every step: |X| x |Y|;
//   X LIKE Y, X GLOB Y, like(), glob()  |X| x |Y| (Y up to 1000 bytes) once Y
//                                  has a wildcard followed by more pattern;
//   printf/format('%.*c', N, c)    appends c N times, N up to 2^31, even once the
//                                  result is past the cap.
// Each is registered over the built-in of the same name on every store connection
// (sqlite3_create_function on a connection takes precedence over a built-in):
//   instr and replace search with glibc's memmem (two-way, linear) and give the
//     built-ins' results; replace checks its result's length before building it;
//   trim with a character set drops repeated characters of the set and stops
//     after kMaxTrimComparisons comparisons with an error;
//   like and glob refuse, before matching, a value and pattern whose product
//     (counted from the pattern's first wildcard) is over kMaxFunctionWork, then
//     match with sqlite3_strlike/sqlite3_strglob, the built-ins' own matcher (like
//     with ESCAPE runs the built-in, as printf does);
//   printf and format refuse, before formatting, when their %c repeats add up to
//     more than a value may hold, then run the built-in itself on a private
//     in-memory connection that has no overrides.
// Results are the built-ins' in everything else; refusals are SQLite errors
// (SQLITE_TOOBIG or SQLITE_ERROR with a message naming the function), which the
// store reports as INVALID_ARGUMENT. Overriding like() costs the LIKE prefix
// optimization, which needs a case-insensitive index that no app can ask for.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "mumba/status.h"

namespace mumba::engine {

// The most work one call of like or glob may ask for, as the value's length times
// the pattern's from its first wildcard: about a second at worst (5 ns a unit).
inline constexpr int64_t kMaxFunctionWork = int64_t{1} << 28;
// The most characters of its set one call of trim may try: a quarter of a second.
inline constexpr int64_t kMaxTrimComparisons = int64_t{1} << 26;

// The bounded functions of one connection, and what they need while it lives.
// Used only on the thread that uses the connection; destroyed after it closes.
class SqlFunctions {
 public:
  // Registers the bounded functions on `db`. INTERNAL when SQLite refuses one or
  // the private connection cannot be opened.
  static Expected<std::unique_ptr<SqlFunctions>> Install(sqlite3* db);
  ~SqlFunctions();
  SqlFunctions(const SqlFunctions&) = delete;
  SqlFunctions& operator=(const SqlFunctions&) = delete;

  // Runs SQLite's own function `name` (a string literal) on `argc` arguments on the
  // private connection, with the caller's length limits, and hands its result or
  // its error to `context`. For the overrides' use, once they checked the cost.
  void RunBuiltin(sqlite3_context* context, const char* name, int argc, sqlite3_value** argv);

 private:
  static constexpr int kMaxArgs = 127;  // SQLITE_MAX_FUNCTION_ARG's default.
  SqlFunctions() = default;

  sqlite3* builtins_ = nullptr;  // In memory, with SQLite's own functions only.
  // "SELECT name(?1, ...)" by name and argument count, prepared on first use.
  std::map<std::pair<std::string, int>, sqlite3_stmt*> statements_;
};

}  // namespace mumba::engine
