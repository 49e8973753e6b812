// SPDX-License-Identifier: Apache-2.0
// Bounded versions of SQLite's instr, replace, trim, like, glob and printf; see
// sql_functions.h for why each, and what differs from the built-in.
#include "storage/sql_functions.h"

#include <string.h>  // memmem (glibc).

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace mumba::engine {
namespace {

constexpr int kFlags = SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS;

// Trim's sides, as SQLite passes them in the function's user data.
constexpr intptr_t kLeft = 1;
constexpr intptr_t kRight = 2;

int LengthLimit(sqlite3_context* context) {
  return sqlite3_limit(sqlite3_context_db_handle(context), SQLITE_LIMIT_LENGTH, -1);
}

void Refuse(sqlite3_context* context, const std::string& why) {
  sqlite3_result_error(context, why.c_str(), -1);
}

// The first `needle` in `haystack` at or after `from`, or npos. glibc's memmem is
// linear in what it is given, so it is given a window that starts small and
// doubles: a call costs about the distance to the match, however much text
// follows (ASan's memmem checks all it was given, which made replace quadratic).
size_t Find(std::string_view haystack, std::string_view needle, size_t from) {
  size_t window = std::max<size_t>(2 * needle.size(), 256);
  // The length check also keeps memmem from an empty blob's null pointer.
  while (from <= haystack.size() && haystack.size() - from >= needle.size()) {
    const size_t length = std::min(window, haystack.size() - from);
    const void* at = ::memmem(haystack.data() + from, length, needle.data(), needle.size());
    if (at != nullptr) return static_cast<size_t>(static_cast<const char*>(at) - haystack.data());
    if (from + length == haystack.size()) break;
    from += length - needle.size() + 1;  // The next window overlaps by all but one byte of a match.
    window *= 2;
  }
  return std::string_view::npos;
}

bool IsContinuation(unsigned char c) { return (c & 0xC0) == 0x80; }

// instr(X, Y): the 1-based position of the first Y in X, in characters unless
// both are blobs (then in bytes); 0 when absent, 1 for an empty Y, NULL if
// either is NULL. The built-in compares only where a character starts.
void Instr(sqlite3_context* context, int /*argc*/, sqlite3_value** argv) {
  const int haystack_type = sqlite3_value_type(argv[0]);
  const int needle_type = sqlite3_value_type(argv[1]);
  if (haystack_type == SQLITE_NULL || needle_type == SQLITE_NULL) return;
  const bool bytes = haystack_type == SQLITE_BLOB && needle_type == SQLITE_BLOB;
  const void* h = bytes ? sqlite3_value_blob(argv[0]) : sqlite3_value_text(argv[0]);
  const int h_size = sqlite3_value_bytes(argv[0]);
  const void* n = bytes ? sqlite3_value_blob(argv[1]) : sqlite3_value_text(argv[1]);
  const int n_size = sqlite3_value_bytes(argv[1]);
  if (n_size == 0) return sqlite3_result_int(context, 1);
  if (n == nullptr || (h_size > 0 && h == nullptr)) return sqlite3_result_error_nomem(context);
  const std::string_view haystack(static_cast<const char*>(h), static_cast<size_t>(h_size));
  const std::string_view needle(static_cast<const char*>(n), static_cast<size_t>(n_size));
  size_t at;
  if (!bytes && IsContinuation(static_cast<unsigned char>(needle[0]))) {
    // Only offset 0 can match: everywhere else the built-in tries, a character starts.
    at = haystack.substr(0, needle.size()) == needle ? 0 : std::string_view::npos;
  } else {
    at = Find(haystack, needle, 0);
  }
  if (at == std::string_view::npos) return sqlite3_result_int(context, 0);
  int64_t position = 1;
  if (bytes) {
    position += static_cast<int64_t>(at);
  } else {
    for (size_t i = 1; i <= at; ++i) position += IsContinuation(static_cast<unsigned char>(haystack[i])) ? 0 : 1;
  }
  sqlite3_result_int64(context, position);
}

// replace(X, Y, Z): X with every Y, left to right and not overlapping, replaced by
// Z, as text; X itself when Y is empty; NULL when any is NULL. SQLITE_TOOBIG,
// before anything is built, when the result would be over the length limit.
void Replace(sqlite3_context* context, int /*argc*/, sqlite3_value** argv) {
  const unsigned char* s = sqlite3_value_text(argv[0]);
  if (s == nullptr) return;
  const std::string_view str(reinterpret_cast<const char*>(s), static_cast<size_t>(sqlite3_value_bytes(argv[0])));
  const unsigned char* p = sqlite3_value_text(argv[1]);
  if (p == nullptr) return;
  if (p[0] == 0) return sqlite3_result_value(context, argv[0]);
  const std::string_view pattern(reinterpret_cast<const char*>(p), static_cast<size_t>(sqlite3_value_bytes(argv[1])));
  const unsigned char* r = sqlite3_value_text(argv[2]);
  if (r == nullptr) return;
  const std::string_view rep(reinterpret_cast<const char*>(r), static_cast<size_t>(sqlite3_value_bytes(argv[2])));

  int64_t matches = 0;
  for (size_t at = Find(str, pattern, 0); at != std::string_view::npos; at = Find(str, pattern, at + pattern.size())) {
    ++matches;
  }
  const int64_t size = static_cast<int64_t>(str.size()) +
                       matches * (static_cast<int64_t>(rep.size()) - static_cast<int64_t>(pattern.size()));
  if (size > LengthLimit(context)) return sqlite3_result_error_toobig(context);
  auto* out = static_cast<char*>(sqlite3_malloc64(static_cast<sqlite3_uint64>(size) + 1));
  if (out == nullptr) return sqlite3_result_error_nomem(context);
  size_t written = 0, from = 0;
  for (size_t at = Find(str, pattern, 0); at != std::string_view::npos; at = Find(str, pattern, from)) {
    str.copy(out + written, at - from, from);
    written += at - from;
    rep.copy(out + written, rep.size());
    written += rep.size();
    from = at + pattern.size();
  }
  str.copy(out + written, str.size() - from, from);
  written += str.size() - from;
  out[written] = 0;
  sqlite3_result_text64(context, out, written, sqlite3_free, SQLITE_UTF8);
}

// trim/ltrim/rtrim(X, Y): X without the characters of Y at its start, end or
// both, as the built-in splits Y into characters (a byte below 0xC0 alone, any
// other with the continuation bytes after it). A character repeated in Y is tried
// once: it could never match where its first copy did not.
void TrimSet(sqlite3_context* context, int /*argc*/, sqlite3_value** argv) {
  if (sqlite3_value_type(argv[0]) == SQLITE_NULL) return;
  const unsigned char* in = sqlite3_value_text(argv[0]);
  if (in == nullptr) return;
  size_t size = static_cast<size_t>(sqlite3_value_bytes(argv[0]));
  const unsigned char* set = sqlite3_value_text(argv[1]);
  if (set == nullptr) return;
  std::vector<std::string_view> chars;
  std::unordered_set<std::string_view> seen;
  for (const unsigned char* z = set; *z != 0;) {
    const unsigned char* start = z;
    if (*z++ >= 0xC0) {
      while (IsContinuation(*z)) ++z;
    }
    std::string_view c(reinterpret_cast<const char*>(start), static_cast<size_t>(z - start));
    if (seen.insert(c).second) chars.push_back(c);
  }
  const intptr_t sides = reinterpret_cast<intptr_t>(sqlite3_user_data(context));
  int64_t work = 0;
  // The character of the set at the start (or end) of [in, in + size), or npos.
  auto match = [&](bool at_end) -> size_t {
    for (std::string_view c : chars) {
      if (++work > kMaxTrimComparisons) return 0;
      const unsigned char* where = at_end ? in + size - c.size() : in;
      if (c.size() <= size && std::memcmp(where, c.data(), c.size()) == 0) return c.size();
    }
    return std::string_view::npos;
  };
  for (bool at_end : {false, true}) {
    if (!(sides & (at_end ? kRight : kLeft))) continue;
    while (size > 0) {
      const size_t len = match(at_end);
      if (work > kMaxTrimComparisons) {
        return Refuse(context, "trim(): a value of " + std::to_string(sqlite3_value_bytes(argv[0])) +
                                   " bytes and " + std::to_string(chars.size()) +
                                   " characters to strip are too much work for one call");
      }
      if (len == std::string_view::npos) break;
      if (!at_end) in += len;
      size -= len;
    }
  }
  sqlite3_result_text64(context, reinterpret_cast<const char*>(in), size, SQLITE_TRANSIENT, SQLITE_UTF8);
}

// like(Y, X[, E]) and glob(Y, X): whether X matches the pattern Y, as the built-ins
// answer it, unless matching could take too long. The built-in matcher backtracks
// from a wildcard at every byte of X and compares the rest of Y there.
void Match(sqlite3_context* context, int argc, sqlite3_value** argv) {
  const bool glob = argc == 2 && sqlite3_user_data(context) == nullptr;
  // Debian builds SQLite so that a blob matches no pattern and is no pattern.
  static const bool blobs_never_match = sqlite3_compileoption_used("LIKE_DOESNT_MATCH_BLOBS") != 0;
  if (blobs_never_match &&
      (sqlite3_value_type(argv[0]) == SQLITE_BLOB || sqlite3_value_type(argv[1]) == SQLITE_BLOB)) {
    return sqlite3_result_int(context, 0);
  }
  const int pattern_bytes = sqlite3_value_bytes(argv[0]);
  if (pattern_bytes > sqlite3_limit(sqlite3_context_db_handle(context), SQLITE_LIMIT_LIKE_PATTERN_LENGTH, -1)) {
    return Refuse(context, "LIKE or GLOB pattern too complex");
  }
  const unsigned char* pattern = sqlite3_value_text(argv[0]);
  const unsigned char* text = sqlite3_value_text(argv[1]);
  if (pattern == nullptr || text == nullptr) return;
  const std::string_view p(reinterpret_cast<const char*>(pattern));
  const size_t wildcard = p.find(glob ? '*' : '%');
  if (wildcard != std::string_view::npos) {
    const int64_t work = static_cast<int64_t>(sqlite3_value_bytes(argv[1])) * static_cast<int64_t>(p.size() - wildcard);
    if (work > kMaxFunctionWork) {
      return Refuse(context, std::string(glob ? "GLOB" : "LIKE") + ": a value of " +
                                 std::to_string(sqlite3_value_bytes(argv[1])) + " bytes against a pattern with " +
                                 std::to_string(p.size() - wildcard) +
                                 " bytes from its first wildcard on is too much work for one call (their product "
                                 "may be at most " + std::to_string(kMaxFunctionWork) + "; instr() finds text fast)");
    }
  }
  if (argc == 3) {
    // An ESCAPE of '%' or '_' turns that wildcard off, which sqlite3_strlike cannot.
    return static_cast<SqlFunctions*>(sqlite3_user_data(context))->RunBuiltin(context, "like", argc, argv);
  }
  const char* pz = reinterpret_cast<const char*>(pattern);
  const char* tz = reinterpret_cast<const char*>(text);
  sqlite3_result_int(context, (glob ? sqlite3_strglob(pz, tz) : sqlite3_strlike(pz, tz, 0)) == 0);
}

int64_t IntArg(sqlite3_value** argv, int argc, int* next) {
  return *next < argc ? sqlite3_value_int64(argv[(*next)++]) : 0;
}

// The sum of the repeat counts of printf's %c conversions in `format`, whose
// arguments are argv[1..argc).
int64_t CharRepeats(const char* format, int argc, sqlite3_value** argv) {
  int next = 1;
  int64_t total = 0;
  static constexpr std::string_view kTypes = "dsgzqQwcouxXfeEGinpr%";
  for (const char* f = format; *f != 0; ++f) {
    if (*f != '%') continue;
    char c = *++f;
    if (c == 0) break;
    int64_t precision = -1;
    bool done = false;
    do {
      switch (c) {
        case '-': case '+': case ' ': case '#': case '!': case '0': case ',':
          break;
        case 'l':
          c = *++f;
          if (c == 'l') c = *++f;
          done = true;
          break;
        case '1': case '2': case '3': case '4': case '5': case '6': case '7': case '8': case '9':
          while ((c = *++f) >= '0' && c <= '9') {
          }
          if (c != '.' && c != 'l') {
            done = true;
          } else {
            --f;
          }
          break;
        case '*':
          (void)IntArg(argv, argc, &next);
          if ((c = f[1]) != '.' && c != 'l') {
            c = *++f;
            done = true;
          }
          break;
        case '.': {
          c = *++f;
          if (c == '*') {
            const int p = static_cast<int>(IntArg(argv, argc, &next));
            precision = p < 0 ? (p >= -2147483647 ? -int64_t{p} : -1) : p;
            c = *++f;
          } else {
            unsigned px = 0;
            while (c >= '0' && c <= '9') {
              px = px * 10 + static_cast<unsigned>(c - '0');
              c = *++f;
            }
            precision = px & 0x7fffffff;
          }
          if (c == 'l') {
            --f;
          } else {
            done = true;
          }
          break;
        }
        default:
          done = true;
          break;
      }
    } while (!done && (c = *++f) != 0);
    if (c == 0 || kTypes.find(c) == std::string_view::npos) break;  // The built-in stops here.
    if (c == '%' || c == 'n') continue;
    (void)IntArg(argv, argc, &next);  // Every other conversion takes one argument.
    if (c == 'c' && precision > 1) total += precision;
  }
  return total;
}

void Printf(sqlite3_context* context, int argc, sqlite3_value** argv) {
  if (argc < 1) return;
  const unsigned char* format = sqlite3_value_text(argv[0]);
  if (format == nullptr) return;
  if (CharRepeats(reinterpret_cast<const char*>(format), argc, argv) > LengthLimit(context)) {
    return sqlite3_result_error_toobig(context);
  }
  static_cast<SqlFunctions*>(sqlite3_user_data(context))->RunBuiltin(context, "printf", argc, argv);
}

}  // namespace

Expected<std::unique_ptr<SqlFunctions>> SqlFunctions::Install(sqlite3* db) {
  std::unique_ptr<SqlFunctions> f(new SqlFunctions());
  if (sqlite3_open_v2(":memory:", &f->builtins_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr) != SQLITE_OK) {
    return Internal("cannot open SQLite in memory for printf and like");
  }
  struct Registration {
    const char* name;
    int args;
    void* data;
    void (*fn)(sqlite3_context*, int, sqlite3_value**);
  };
  const Registration registrations[] = {
      {"instr", 2, nullptr, Instr},
      {"replace", 3, nullptr, Replace},
      {"trim", 2, reinterpret_cast<void*>(kLeft | kRight), TrimSet},
      {"ltrim", 2, reinterpret_cast<void*>(kLeft), TrimSet},
      {"rtrim", 2, reinterpret_cast<void*>(kRight), TrimSet},
      {"like", 2, f.get(), Match},
      {"like", 3, f.get(), Match},
      {"glob", 2, nullptr, Match},
      {"printf", -1, f.get(), Printf},
      {"format", -1, f.get(), Printf},
  };
  for (const auto& r : registrations) {
    if (int rc = sqlite3_create_function_v2(db, r.name, r.args, kFlags, r.data, r.fn, nullptr, nullptr, nullptr);
        rc != SQLITE_OK) {
      return Internal(std::string("cannot register the bounded ") + r.name + "(): " + sqlite3_errstr(rc));
    }
  }
  return f;
}

SqlFunctions::~SqlFunctions() {
  for (auto& [key, stmt] : statements_) sqlite3_finalize(stmt);
  sqlite3_close_v2(builtins_);
}

void SqlFunctions::RunBuiltin(sqlite3_context* context, const char* name, int argc, sqlite3_value** argv) {
  if (argc > kMaxArgs) return Refuse(context, std::string(name) + "(): too many arguments");
  sqlite3_stmt*& stmt = statements_[{name, argc}];
  if (stmt == nullptr) {
    std::string sql = std::string("SELECT ") + name + "(";
    for (int i = 1; i <= argc; ++i) sql += (i > 1 ? ",?" : "?") + std::to_string(i);
    sql += ")";
    if (sqlite3_prepare_v3(builtins_, sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr) != SQLITE_OK) {
      return Refuse(context, std::string(name) + "(): " + sqlite3_errmsg(builtins_));
    }
  }
  // The same caps as the caller's connection: no result longer than one there.
  sqlite3* caller = sqlite3_context_db_handle(context);
  for (int limit : {SQLITE_LIMIT_LENGTH, SQLITE_LIMIT_LIKE_PATTERN_LENGTH}) {
    sqlite3_limit(builtins_, limit, sqlite3_limit(caller, limit, -1));
  }
  for (int i = 0; i < argc; ++i) sqlite3_bind_value(stmt, i + 1, argv[i]);
  if (int rc = sqlite3_step(stmt); rc == SQLITE_ROW) {
    sqlite3_result_value(context, sqlite3_column_value(stmt, 0));
  } else {
    sqlite3_result_error(context, sqlite3_errmsg(builtins_), -1);
    sqlite3_result_error_code(context, rc);
  }
  sqlite3_reset(stmt);
  sqlite3_clear_bindings(stmt);
}

}  // namespace mumba::engine
