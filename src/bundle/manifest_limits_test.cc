// SPDX-License-Identifier: Apache-2.0
// A manifest is untrusted text (anyone whose address a user installs writes it), so
// its size and every field's length are capped before anything looks at them, and
// a field of any length gets a clear INVALID_ARGUMENT, never a crash. The field
// checks are hand-written; this file also holds them to exactly the language the
// regular expressions they replaced accepted, by comparing the two on every short
// string over an alphabet that covers each character class.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <regex>
#include <string>
#include <vector>

#include "bundle/manifest.h"

namespace mumba {
namespace {

constexpr const char* kAddress = "mumba://onyo2dloppshki2aljfvcquct7fqvmfhtzfdbwkzerbfymogzwna";

// A valid manifest with `extra` lines placed at the top level (before any table)
// and `tail` appended at the end.
std::string Manifest(const std::string& version = "1.0.0", const std::string& extra = "",
                     const std::string& tail = "") {
  return std::string("id = \"") + kAddress + "\"\nname = \"hello\"\nversion = \"" + version + "\"\n" + extra +
         "[daemon]\ncommand = \"bin/hello\"\n" + tail;
}

void ExpectRefused(const std::string& text, const std::string& field, const std::string& detail) {
  auto m = ParseManifest(text, "mumba.toml");
  ASSERT_FALSE(m.ok()) << field;
  EXPECT_EQ(m.status().code(), Code::kInvalidArgument) << m.status().message();
  EXPECT_NE(m.status().message().find(field), std::string::npos) << m.status().message().substr(0, 300);
  EXPECT_NE(m.status().message().find(detail), std::string::npos) << m.status().message().substr(0, 300);
  // The message quotes at most a bounded prefix of what it refuses.
  EXPECT_LT(m.status().message().size(), 600u) << m.status().message().substr(0, 200);
}

TEST(ManifestLimitsTest, HugeVersionIsRefusedNotACrash) {
  // std::regex recursed once per character: this overflowed the stack. Now the
  // file's size is refused before the TOML is parsed...
  ExpectRefused(Manifest("1.0.0-" + std::string(100000, 'a')), "mumba.toml", "larger than 65536 bytes");
  // ...and a field under that size is refused by its length before its content.
  ExpectRefused(Manifest("1.0.0-" + std::string(50000, 'a')), "version", "longer than 255 characters");
  ExpectRefused(Manifest(std::string(50000, '1') + ".0.0"), "version", "longer than 255 characters");
  EXPECT_TRUE(ParseManifest(Manifest("1.0.0-" + std::string(249, 'a')), "mumba.toml").ok());
  ExpectRefused(Manifest("1.0.0-" + std::string(250, 'a')), "version", "longer than 255 characters");
}

TEST(ManifestLimitsTest, EveryLongFieldIsRefusedByName) {
  const std::string huge(50000, 'a');
  ExpectRefused(Manifest("1.0.0", "description = \"" + huge + "\"\n"), "description", "longer than");
  ExpectRefused(Manifest("1.0.0", "icon = \"" + huge + "\"\n"), "icon", "longer than");
  ExpectRefused(std::string("id = \"mumba://") + huge + "\"\nname = \"x\"\nversion = \"1.0.0\"\n", "id",
                "longer than");
  ExpectRefused(std::string("id = \"") + kAddress + "\"\nname = \"" + huge + "\"\nversion = \"1.0.0\"\n", "name",
                "longer than");
  ExpectRefused(std::string("id = \"") + kAddress + "\"\nname = \"x\"\nversion = \"1.0.0\"\n[daemon]\ncommand = \"" +
                    huge + "\"\n",
                "daemon.command", "longer than");
  ExpectRefused(Manifest("1.0.0", "", "args = [\"" + huge + "\"]\n"), "daemon.args", "longer than");
  ExpectRefused(Manifest("1.0.0", "", "[ui]\nentry = \"" + huge + "\"\n"), "ui.entry", "longer than");
  ExpectRefused(Manifest("1.0.0", "", "[[routes]]\npath = \"/" + huge + "\"\n"), "routes.path", "longer than");
  ExpectRefused(Manifest("1.0.0", "", "[[routes]]\npath = \"/a\"\nmethods = [\"" + huge + "\"]\n"),
                "routes.methods", "longer than");
  // Service names: "a.a.a...." is what the old regex choked on.
  std::string dotted;
  for (int i = 0; i < 25000; ++i) dotted += i == 0 ? "a" : ".a";
  ExpectRefused(Manifest("1.0.0", "", "[exports]\nservices = [\"" + dotted + "\"]\n"), "exports.services",
                "longer than");
  ExpectRefused(Manifest("1.0.0", "", "[permissions]\ncall = [\"" + std::string(kAddress) + "/" + dotted + "\"]\n"),
                "permissions.call", "longer than");
  ExpectRefused(Manifest("1.0.0", "", "[storage]\nsql = [\"" + huge + "\"]\n"), "storage.sql", "longer than");
  ExpectRefused(Manifest("1.0.0", "", "[[exports.stores]]\nkind = \"kv\"\ndb = \"" + huge + "\"\n"),
                "exports.stores.db", "longer than");
  ExpectRefused(Manifest("1.0.0", "", "[[exports.stores]]\nkind = \"" + huge + "\"\ndb = \"x\"\n"),
                "exports.stores.kind", "longer than");
  ExpectRefused(Manifest("1.0.0", "", "[[exports.stores]]\nkind = \"kv\"\ndb = \"x\"\nreaders = [\"" + huge + "\"]\n"),
                "exports.stores.readers", "longer than");
  // An unknown key is quoted only in part.
  ExpectRefused(Manifest("1.0.0", huge + " = 1\n"), "aaaa...", "unknown key");
}

TEST(ManifestLimitsTest, ListsHaveALimit) {
  std::string args = "args = [";
  for (int i = 0; i < 1000; ++i) args += "\"a\",";
  args += "]\n";
  ExpectRefused(Manifest("1.0.0", "", args), "daemon.args", "more than");
  std::string routes;
  for (int i = 0; i < 1000; ++i) routes += "[[routes]]\npath = \"/r" + std::to_string(i) + "\"\n";
  ExpectRefused(Manifest("1.0.0", "", routes), "routes", "more than");
}

TEST(ManifestLimitsTest, OversizedFileIsRefusedBeforeParsing) {
  // Not valid TOML past the limit: the size is what is refused, not the syntax.
  std::string text = Manifest() + "# " + std::string(kMaxManifestBytes, 'x') + "\n[[[";
  auto m = ParseManifest(text, "mumba.toml");
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(m.status().message().rfind("mumba.toml: larger than", 0), 0u) << m.status().message();

  char pattern[] = "/tmp/manifest_limits_test.XXXXXX";
  ASSERT_NE(mkdtemp(pattern), nullptr);
  std::filesystem::path dir = pattern;
  {
    std::ofstream out(dir / "mumba.toml", std::ios::binary);
    out << text;
  }
  auto loaded = LoadManifest(dir);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), Code::kInvalidArgument);
  EXPECT_NE(loaded.status().message().find("larger than"), std::string::npos) << loaded.status().message();
  // Something other than a regular file is refused without reading it.
  std::filesystem::remove(dir / "mumba.toml");
  std::filesystem::create_symlink("/dev/zero", dir / "mumba.toml");
  loaded = LoadManifest(dir);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), Code::kInvalidArgument);
  std::filesystem::remove_all(dir);
}

TEST(ManifestLimitsTest, ExpectedIdIsCheckedBeforeTheRest) {
  const std::string other = "mumba://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
  // The rest of this manifest is invalid: the id mismatch is what is reported.
  std::string text = std::string("id = \"") + kAddress + "\"\nname = \"Bad Name\"\n";
  auto m = ParseManifest(text, "mumba.toml", other);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), Code::kPermissionDenied) << m.status().message();
  EXPECT_NE(m.status().message().find(kAddress), std::string::npos) << m.status().message();
  // The same id passes on to the other checks.
  m = ParseManifest(text, "mumba.toml", kAddress);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), Code::kInvalidArgument) << m.status().message();
  EXPECT_TRUE(ParseManifest(Manifest(), "mumba.toml", kAddress).ok());
}

// Every string of length 0..max_length over `alphabet`.
void ForEachString(const std::string& alphabet, size_t max_length, const std::function<void(const std::string&)>& fn) {
  std::vector<std::string> level = {""};
  fn("");
  for (size_t length = 1; length <= max_length; ++length) {
    std::vector<std::string> next;
    next.reserve(level.size() * alphabet.size());
    for (const auto& prefix : level) {
      for (char c : alphabet) {
        next.push_back(prefix + c);
        fn(next.back());
      }
    }
    level.swap(next);
  }
}

// Compares `check` with `re` on every short string over `alphabet` and on random
// longer ones (still short enough for std::regex).
void ExpectSameLanguage(const char* what, const std::string& pattern, const std::function<bool(std::string_view)>& check,
                        const std::string& alphabet, size_t exhaustive_length) {
  const std::regex re(pattern);
  size_t accepted = 0;
  auto compare = [&](const std::string& s) {
    bool want = std::regex_match(s, re);
    accepted += want ? 1 : 0;
    ASSERT_EQ(check(s), want) << what << ": '" << s << "'";
  };
  ForEachString(alphabet, exhaustive_length, compare);
  std::mt19937 rng(7);
  for (int i = 0; i < 200000; ++i) {
    std::string s(std::uniform_int_distribution<size_t>(0, 24)(rng), ' ');
    for (char& c : s) c = alphabet[std::uniform_int_distribution<size_t>(0, alphabet.size() - 1)(rng)];
    compare(s);
  }
  EXPECT_GT(accepted, 0u) << what << ": the comparison saw no accepted string";
}

TEST(ManifestLimitsTest, SemverCheckAcceptsWhatTheRegexDid) {
  ExpectSameLanguage("semver",
                     R"((0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?)"
                     R"((\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?)",
                     IsValidSemver, "019aZ.-+_", 7);
}

TEST(ManifestLimitsTest, ServiceNameCheckAcceptsWhatTheRegexDid) {
  ExpectSameLanguage("service", R"([A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+)", IsValidServiceName,
                     "aZ_9.-/", 7);
}

TEST(ManifestLimitsTest, StoreNameCheckAcceptsWhatTheRegexDid) {
  ExpectSameLanguage("store", R"([a-z0-9][a-z0-9_-]{0,62})", IsValidDatabaseName, "az09_-A.", 6);
  EXPECT_TRUE(IsValidDatabaseName(std::string(63, 'a')));
  EXPECT_FALSE(IsValidDatabaseName(std::string(64, 'a')));
}

}  // namespace
}  // namespace mumba
