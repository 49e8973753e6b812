// SPDX-License-Identifier: Apache-2.0
// Parsing of mumba.toml: a full good manifest, and for each kind of mistake an
// error that names the file, the line and the field, because that message is all
// an app author sees when an install is refused.
#include "bundle/manifest.h"

#include <gtest/gtest.h>

#include <cctype>
#include <string>
#include <vector>

namespace mumba {
namespace {

constexpr const char* kAddress = "mumba://onyo2dloppshki2aljfvcquct7fqvmfhtzfdbwkzerbfymogzwna";
constexpr const char* kKey = "onyo2dloppshki2aljfvcquct7fqvmfhtzfdbwkzerbfymogzwna";

// Every field set. Tests replace single lines by number, so keep the numbering in
// the comments true when editing.
std::vector<std::string> GoodLines() {
  return {
      std::string("id = \"") + kAddress + "\"",  // 1
      "name = \"hello\"",                         // 2
      "version = \"1.2.3-beta.1+build.5\"",       // 3
      "description = \"Says hello\"",             // 4
      "icon = \"ui/icon.png\"",                   // 5
      "",                                         // 6
      "[daemon]",                                 // 7
      "command = \"bin/hello\"",                  // 8
      "args = [\"--verbose\", \"--port=0\"]",     // 9
      "",                                         // 10
      "[ui]",                                     // 11
      "entry = \"ui/index.html\"",                // 12
      "",                                         // 13
      "[[routes]]",                               // 14
      "path = \"/greet\"",                        // 15
      "methods = [\"GET\", \"POST\"]",            // 16
      "",                                         // 17
      "[[routes]]",                               // 18
      "path = \"/api/*\"",                        // 19
      "",                                         // 20
      "[exports]",                                // 21
      "services = [\"hello.v1.Greeter\"]",        // 22
      "",                                         // 23
      "[permissions]",                            // 24
      std::string("call = [\"") + kAddress + "\", \"" + kAddress + "/other.v1.Api\"]",  // 25
      "network = true",                           // 26
      "peers = false",                            // 27
      "",                                         // 28
      "[storage]",                                // 29
      "kv = [\"settings\"]",                      // 30
      "sql = [\"main\", \"cache_2\"]",            // 31
      "schema_version = 3",                       // 32
  };
}

std::string Join(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

std::string Good() { return Join(GoodLines()); }

// The good manifest with line `n` (1-based) replaced by `text`.
std::string WithLine(int n, const std::string& text) {
  auto lines = GoodLines();
  lines.at(n - 1) = text;
  return Join(lines);
}

// The good manifest with `text` inserted before line `n`, which it shifts down.
std::string Inserted(int n, const std::string& text) {
  auto lines = GoodLines();
  lines.insert(lines.begin() + (n - 1), text);
  return Join(lines);
}

// Checks that parsing fails with "mumba.toml:<line>: <field>: ..." and, when
// given, that the message mentions `detail`.
void ExpectError(const std::string& text, int line, const std::string& field,
                 const std::string& detail = "") {
  auto m = ParseManifest(text, "mumba.toml");
  ASSERT_FALSE(m.ok()) << "accepted:\n" << text;
  EXPECT_EQ(m.status().code(), Code::kInvalidArgument);
  const std::string msg = m.status().message();
  std::string prefix = "mumba.toml:" + std::to_string(line) + ": " + field + ": ";
  EXPECT_EQ(msg.rfind(prefix, 0), 0u) << "expected prefix '" << prefix << "', got: " << msg;
  if (!detail.empty()) {
    EXPECT_NE(msg.find(detail), std::string::npos) << msg;
  }
}

TEST(ManifestTest, ParsesEveryField) {
  auto m = ParseManifest(Good(), "mumba.toml");
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(m->id, kAddress);
  EXPECT_EQ(m->name, "hello");
  EXPECT_EQ(m->version, "1.2.3-beta.1+build.5");
  EXPECT_EQ(m->description, "Says hello");
  EXPECT_EQ(m->icon, "ui/icon.png");
  EXPECT_EQ(m->daemon_command, "bin/hello");
  EXPECT_EQ(m->daemon_args, (std::vector<std::string>{"--verbose", "--port=0"}));
  EXPECT_EQ(m->ui_entry, "ui/index.html");
  ASSERT_EQ(m->routes.size(), 2u);
  EXPECT_EQ(m->routes[0].path, "/greet");
  EXPECT_EQ(m->routes[0].methods, (std::vector<std::string>{"GET", "POST"}));
  EXPECT_EQ(m->routes[1].path, "/api/*");
  EXPECT_TRUE(m->routes[1].methods.empty());
  EXPECT_EQ(m->services, (std::vector<std::string>{"hello.v1.Greeter"}));
  EXPECT_EQ(m->permissions.call,
            (std::vector<std::string>{kAddress, std::string(kAddress) + "/other.v1.Api"}));
  EXPECT_TRUE(m->permissions.network);
  EXPECT_FALSE(m->permissions.peers);
  EXPECT_EQ(m->storage.kv, (std::vector<std::string>{"settings"}));
  EXPECT_EQ(m->storage.sql, (std::vector<std::string>{"main", "cache_2"}));
  EXPECT_EQ(m->storage.schema_version, 3);
}

TEST(ManifestTest, MinimalManifestGetsDefaults) {
  std::string text = std::string("id = \"") + kAddress +
                     "\"\nname = \"min\"\nversion = \"0.1.0\"\n[daemon]\ncommand = \"bin/min\"\n";
  auto m = ParseManifest(text, "mumba.toml");
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(m->description, "");
  EXPECT_EQ(m->ui_entry, "");
  EXPECT_EQ(m->icon, "");
  EXPECT_TRUE(m->daemon_args.empty());
  EXPECT_TRUE(m->routes.empty());
  EXPECT_TRUE(m->services.empty());
  EXPECT_TRUE(m->permissions.call.empty());
  EXPECT_FALSE(m->permissions.network);
  EXPECT_FALSE(m->permissions.peers);
  EXPECT_EQ(m->storage.schema_version, 0);
}

TEST(ManifestTest, IdIsStoredInCanonicalForm) {
  std::string upper = kKey;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (const std::string& form : {std::string(kKey), "mumba://" + upper}) {
    auto m = ParseManifest(WithLine(1, "id = \"" + form + "\""), "mumba.toml");
    ASSERT_TRUE(m.ok()) << form << ": " << m.status().message();
    EXPECT_EQ(m->id, kAddress);
  }
}

TEST(ManifestTest, MissingRequiredFields) {
  // A missing top-level key has no line of its own; the error still names the
  // file and the field.
  for (auto [line, field] : {std::pair{1, "id"}, {2, "name"}, {3, "version"}}) {
    auto m = ParseManifest(WithLine(line, ""), "mumba.toml");
    ASSERT_FALSE(m.ok()) << field;
    EXPECT_NE(m.status().message().find(std::string(field) + ": missing"), std::string::npos)
        << m.status().message();
    EXPECT_EQ(m.status().message().rfind("mumba.toml", 0), 0u) << m.status().message();
  }
  ExpectError(WithLine(8, ""), 7, "daemon.command", "missing");
  ExpectError(WithLine(12, ""), 11, "ui.entry", "missing");
  ExpectError(WithLine(15, ""), 14, "routes.path", "missing");
}

TEST(ManifestTest, MissingDaemonSectionIsRefused) {
  auto lines = GoodLines();
  lines[6] = lines[7] = lines[8] = "";  // [daemon], command, args.
  auto m = ParseManifest(Join(lines), "mumba.toml");
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("daemon: missing section [daemon]"), std::string::npos)
      << m.status().message();
}

TEST(ManifestTest, NameMustBeLowercaseDnsLabel) {
  for (const char* bad : {"Hello", "hel_lo", "hel.lo", "-hello", "hello-", "hel lo", ""}) {
    ExpectError(WithLine(2, std::string("name = \"") + bad + "\""), 2, "name", "DNS label");
  }
  ExpectError(WithLine(2, "name = \"" + std::string(64, 'a') + "\""), 2, "name");
  EXPECT_TRUE(ParseManifest(WithLine(2, "name = \"" + std::string(63, 'a') + "\""), "m").ok());
  EXPECT_TRUE(ParseManifest(WithLine(2, "name = \"my-app2\""), "m").ok());
  EXPECT_TRUE(ParseManifest(WithLine(2, "name = \"7\""), "m").ok());
}

TEST(ManifestTest, ReservedNamesAreRefused) {
  ExpectError(WithLine(2, "name = \"mumba\""), 2, "name", "reserved");
  ExpectError(WithLine(2, "name = \"home\""), 2, "name", "reserved");
}

TEST(ManifestTest, VersionMustBeSemver) {
  for (const char* bad : {"1", "1.0", "v1.0.0", "01.0.0", "1.02.0", "1.0.0-", "1.0.0+",
                          "1.0.0-a..b", "1.0.0.0", " 1.0.0", ""}) {
    ExpectError(WithLine(3, std::string("version = \"") + bad + "\""), 3, "version",
                "semantic version");
  }
  for (const char* good :
       {"0.0.0", "10.20.30", "1.0.0-rc.1", "1.0.0+20240101", "1.0.0-x-y.7+b.1"}) {
    EXPECT_TRUE(ParseManifest(WithLine(3, std::string("version = \"") + good + "\""), "m").ok())
        << good;
  }
}

TEST(ManifestTest, IdMustBeAnAddress) {
  ExpectError(WithLine(1, "id = \"hello\""), 1, "id", "52");
  ExpectError(WithLine(1, "id = \"mumba://\""), 1, "id");
  ExpectError(WithLine(1, "id = \"mumba://" + std::string(kKey).substr(1) + "\""), 1, "id");
  // '1' and '8' are not in the base32 alphabet.
  std::string bad = kKey;
  bad[10] = '1';
  ExpectError(WithLine(1, "id = \"mumba://" + bad + "\""), 1, "id", "base32");
  // The last character carries 1 bit of key and 4 bits that must be zero.
  std::string trailing = kKey;
  trailing.back() = 'b';
  ExpectError(WithLine(1, "id = \"mumba://" + trailing + "\""), 1, "id", "trailing");
  ExpectError(WithLine(1, "id = \"https://" + std::string(kKey) + "\""), 1, "id");
}

TEST(ManifestTest, UnknownKeysAreRefusedWhereverTheyAre) {
  ExpectError(Inserted(5, "nmae = \"typo\""), 5, "nmae", "unknown key");
  ExpectError(Inserted(9, "cmd = \"bin/x\""), 9, "daemon.cmd", "unknown key");
  ExpectError(Inserted(13, "entri = \"x\""), 13, "ui.entri", "unknown key");
  ExpectError(Inserted(17, "method = \"GET\""), 17, "routes.method", "unknown key");
  ExpectError(Inserted(23, "service = \"a.B\""), 23, "exports.service", "unknown key");
  ExpectError(Inserted(28, "files = true"), 28, "permissions.files", "unknown key");
  ExpectError(Inserted(33, "blobs = [\"x\"]"), 33, "storage.blobs", "unknown key");
  // A sub-table is an unknown key of its parent.
  ExpectError(Inserted(10, "[daemon.env]"), 10, "daemon.env", "unknown key");
  // The message lists what is allowed, so the typo is easy to fix.
  auto m = ParseManifest(Inserted(9, "cmd = \"bin/x\""), "mumba.toml");
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("command, args"), std::string::npos) << m.status().message();
}

TEST(ManifestTest, WrongTypesAreRefused) {
  ExpectError(WithLine(1, "id = 7"), 1, "id", "must be a string");
  ExpectError(WithLine(2, "name = [\"hello\"]"), 2, "name", "must be a string");
  ExpectError(WithLine(3, "version = 1.0"), 3, "version", "must be a string");
  ExpectError(WithLine(4, "description = false"), 4, "description", "must be a string");
  ExpectError(WithLine(8, "command = [\"bin/hello\"]"), 8, "daemon.command", "must be a string");
  ExpectError(WithLine(9, "args = \"--verbose\""), 9, "daemon.args", "array of strings");
  ExpectError(WithLine(9, "args = [\"--verbose\", 3]"), 9, "daemon.args", "array of strings");
  ExpectError(WithLine(16, "methods = \"GET\""), 16, "routes.methods", "array of strings");
  ExpectError(WithLine(22, "services = \"hello.v1.Greeter\""), 22, "exports.services");
  ExpectError(WithLine(26, "network = \"yes\""), 26, "permissions.network", "true or false");
  ExpectError(WithLine(27, "peers = 1"), 27, "permissions.peers", "true or false");
  ExpectError(WithLine(30, "kv = \"settings\""), 30, "storage.kv", "array of strings");
  ExpectError(WithLine(32, "schema_version = \"3\""), 32, "storage.schema_version");
  ExpectError(WithLine(32, "schema_version = -1"), 32, "storage.schema_version", "non-negative");
  ExpectError(WithLine(32, "schema_version = 1.5"), 32, "storage.schema_version");
}

TEST(ManifestTest, SectionsOfTheWrongShapeAreRefused) {
  // Line 6 is the last top-level line; each case drops the real section so the
  // TOML itself stays valid.
  auto daemon = GoodLines();
  daemon[5] = "daemon = \"bin/hello\"";
  daemon[6] = daemon[7] = daemon[8] = "";
  ExpectError(Join(daemon), 6, "daemon", "must be a table");

  auto ui = GoodLines();
  ui[5] = "ui = \"ui/index.html\"";
  ui[10] = ui[11] = "";
  ExpectError(Join(ui), 6, "ui", "must be a table");

  for (const char* value : {"\"/greet\"", "[\"/greet\"]", "[{ path = \"/greet\" }, 1]"}) {
    auto routes = GoodLines();
    routes[5] = std::string("routes = ") + value;
    for (int i = 13; i <= 18; ++i) routes[i] = "";
    ExpectError(Join(routes), 6, "routes", "array of tables");
  }
}

TEST(ManifestTest, EmptyListsMeanNone) {
  auto lines = GoodLines();
  lines[5] = "routes = []";
  for (int i = 13; i <= 18; ++i) lines[i] = "";
  lines[21] = "services = []";
  lines[24] = "call = []";
  lines[8] = "args = []";
  auto m = ParseManifest(Join(lines), "mumba.toml");
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_TRUE(m->routes.empty());
  EXPECT_TRUE(m->services.empty());
  EXPECT_TRUE(m->permissions.call.empty());
  EXPECT_TRUE(m->daemon_args.empty());
}

TEST(ManifestTest, RoutePathsAreChecked) {
  for (const char* bad : {"greet", "", "/gr eet", "/greet?x=1", "/greet#top", "/api*",
                          "/*/x", "/a/*/b", "/a**"}) {
    ExpectError(WithLine(15, std::string("path = \"") + bad + "\""), 15, "routes.path",
                "must start with '/'");
  }
  for (const char* good : {"/", "/*", "/a/b-c_d.e", "/api/v1/*"}) {
    EXPECT_TRUE(ParseManifest(WithLine(15, std::string("path = \"") + good + "\""), "m").ok())
        << good;
  }
}

TEST(ManifestTest, RouteMethodsMustBeUpperCaseHttpMethods) {
  ExpectError(WithLine(16, "methods = [\"GET\", \"get\"]"), 16, "routes.methods", "'get'");
  ExpectError(WithLine(16, "methods = [\"FETCH\"]"), 16, "routes.methods", "HTTP method");
  EXPECT_TRUE(ParseManifest(
                  WithLine(16, "methods = [\"GET\", \"HEAD\", \"POST\", \"PUT\", \"PATCH\", "
                               "\"DELETE\", \"OPTIONS\"]"),
                  "m")
                  .ok());
}

TEST(ManifestTest, DaemonCommandMustStayInsideTheBundle) {
  for (const char* bad : {"/usr/bin/hello", "../hello", "bin/../../hello", "bin/../hello",
                          "./bin/hello", "bin//hello", "bin/", "bin\\\\hello", ""}) {
    ExpectError(WithLine(8, std::string("command = \"") + bad + "\""), 8, "daemon.command",
                "inside the bundle");
  }
  EXPECT_TRUE(ParseManifest(WithLine(8, "command = \"hello\""), "m").ok());
  EXPECT_TRUE(ParseManifest(WithLine(8, "command = \"bin/linux/hello.sh\""), "m").ok());
}

TEST(ManifestTest, UiEntryAndIconMustStayInsideTheBundle) {
  ExpectError(WithLine(12, "entry = \"/etc/passwd\""), 12, "ui.entry", "inside the bundle");
  ExpectError(WithLine(12, "entry = \"ui/../../x.html\""), 12, "ui.entry");
  ExpectError(WithLine(5, "icon = \"/icon.png\""), 5, "icon", "inside the bundle");
  ExpectError(WithLine(5, "icon = \"../icon.png\""), 5, "icon");
}

TEST(ManifestTest, ExportedServicesMustBeFullyQualified) {
  ExpectError(WithLine(22, "services = [\"Greeter\"]"), 22, "exports.services", "'Greeter'");
  ExpectError(WithLine(22, "services = [\"hello.v1.\"]"), 22, "exports.services");
  ExpectError(WithLine(22, "services = [\"hello/v1.Greeter\"]"), 22, "exports.services");
  ExpectError(WithLine(22, "services = [\"1hello.Greeter\"]"), 22, "exports.services");
}

TEST(ManifestTest, PeerExportsNameServicesAndNeedThePeersPermission) {
  auto with_peers = [](const std::string& table, const std::string& peers_line) {
    auto lines = GoodLines();
    lines[22] = table;  // Line 23: the table's header on 23, its keys below.
    lines[26] = peers_line;
    return Join(lines);
  };
  auto m = ParseManifest(with_peers("[[exports.peers]]\nservice = \"hello.v1.Greeter\"\ncalls_per_second = 5\n"
                                    "[[exports.peers]]\nservice = \"hello.v1.Sync\"",
                                    "peers = true"),
                         "mumba.toml");
  ASSERT_TRUE(m.ok()) << m.status().message();
  ASSERT_EQ(m->peer_exports.size(), 2u);
  EXPECT_EQ(m->peer_exports[0].service, "hello.v1.Greeter");
  EXPECT_EQ(m->peer_exports[0].calls_per_second, 5);
  EXPECT_EQ(m->peer_exports[1].service, "hello.v1.Sync");
  EXPECT_EQ(m->peer_exports[1].calls_per_second, 100);

  // Serving other nodes is asked for like calling them.
  ExpectError(with_peers("[[exports.peers]]\nservice = \"hello.v1.Greeter\"", "peers = false"), 21,
              "exports.peers", "peers = true");
  ExpectError(with_peers("[[exports.peers]]\nservice = \"Greeter\"", "peers = true"), 24, "exports.peers.service",
              "'Greeter'");
  ExpectError(with_peers("[[exports.peers]]\nrate = 3", "peers = true"), 24, "exports.peers.rate", "unknown key");
  ExpectError(with_peers("[[exports.peers]]\nservice = \"a.B\"\ncalls_per_second = 0", "peers = true"), 25,
              "exports.peers.calls_per_second");
  ExpectError(with_peers("[[exports.peers]]\nservice = \"a.B\"\ncalls_per_second = \"9\"", "peers = true"), 25,
              "exports.peers.calls_per_second");
  ExpectError(with_peers("peers = 3", "peers = true"), 23, "exports.peers", "array of tables");
}

TEST(ManifestTest, StoreNamesAreChecked) {
  // The error points at the [storage] table.
  ExpectError(WithLine(30, "kv = [\"Settings\"]"), 29, "storage.kv", "'Settings'");
  ExpectError(WithLine(31, "sql = [\"main\", \"../db\"]"), 29, "storage.sql", "'../db'");
  ExpectError(WithLine(31, "sql = [\"\"]"), 29, "storage.sql");
  ExpectError(WithLine(31, "sql = [\"_x\"]"), 29, "storage.sql");
  ExpectError(WithLine(30, "kv = [\"" + std::string(64, 'k') + "\"]"), 29, "storage.kv");
}

TEST(ManifestTest, PermissionsCallMustNameAddresses) {
  // An entry that is not an address (or address/package.Service) would never
  // match a callee: refuse it rather than silently grant nothing.
  ExpectError(WithLine(25, "call = [\"hello\"]"), 25, "permissions.call", "'hello'");
  ExpectError(WithLine(25, "call = [\"mumba://short\"]"), 25, "permissions.call");
  ExpectError(WithLine(25, std::string("call = [\"") + kAddress + "/Greeter\"]"), 25,
              "permissions.call");
  ExpectError(WithLine(25, "call = [3]"), 25, "permissions.call", "array of strings");
  // The bare key is accepted and stored in canonical form.
  auto m = ParseManifest(WithLine(25, std::string("call = [\"") + kKey + "/a.B\"]"), "mumba.toml");
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(m->permissions.call, (std::vector<std::string>{std::string(kAddress) + "/a.B"}));
}

TEST(ManifestTest, PermissionsCallTakesInterfaces) {
  // A bare service name asks for any app that implements it.
  auto m = ParseManifest(WithLine(25, "call = [\"mail.v1.Mailer\"]"), "mumba.toml");
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(m->permissions.call, (std::vector<std::string>{"mail.v1.Mailer"}));
  ExpectError(WithLine(25, "call = [\"mail.v1.\"]"), 25, "permissions.call", "not a service name");
  ExpectError(WithLine(25, "call = [\"mail..Mailer\"]"), 25, "permissions.call");
}

TEST(ManifestTest, DescriptionHasALimit) {
  EXPECT_TRUE(
      ParseManifest(WithLine(4, "description = \"" + std::string(1000, 'd') + "\""), "m").ok());
  ExpectError(WithLine(4, "description = \"" + std::string(1001, 'd') + "\""), 4, "description",
              "1000");
}

TEST(ManifestTest, InvalidTomlNamesTheLine) {
  auto m = ParseManifest(WithLine(4, "description = \"unterminated"), "apps/x/mumba.toml");
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().message().rfind("apps/x/mumba.toml:4: not valid TOML", 0), 0u)
      << m.status().message();
  // A key given twice is a TOML error too, never "last one wins".
  auto dup = ParseManifest(Inserted(4, "name = \"other\""), "mumba.toml");
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.status().message().rfind("mumba.toml:4: not valid TOML", 0), 0u)
      << dup.status().message();
}

TEST(ManifestTest, EmptyFileIsRefused) {
  auto m = ParseManifest("", "mumba.toml");
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("id: missing"), std::string::npos) << m.status().message();
}

TEST(ManifestTest, FileNameAppearsInMessages) {
  auto m = ParseManifest(WithLine(2, "name = \"Bad\""), "/home/ann/apps/x/mumba.toml");
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().message().rfind("/home/ann/apps/x/mumba.toml:2: name: ", 0), 0u)
      << m.status().message();
}

TEST(ManifestTest, SafeRelativePath) {
  for (const char* good : {"a", "bin/hello", "a/b/c.d", "..a", "a..", ".hidden/x"}) {
    EXPECT_TRUE(IsSafeRelativePath(good)) << good;
  }
  for (const char* bad : {"", "/", "/a", "a/", "a//b", ".", "..", "./a", "a/./b", "a/..",
                          "a/../b", "a\\b"}) {
    EXPECT_FALSE(IsSafeRelativePath(bad)) << bad;
  }
  EXPECT_FALSE(IsSafeRelativePath(std::string_view("a\0b", 3)));
}

TEST(RouteDeclTest, ExactPathAndMethods) {
  RouteDecl r{"/greet", {"GET"}};
  EXPECT_TRUE(r.Matches("GET", "/greet"));
  EXPECT_FALSE(r.Matches("POST", "/greet"));
  EXPECT_FALSE(r.Matches("GET", "/greet/"));
  EXPECT_FALSE(r.Matches("GET", "/greeting"));
  RouteDecl any{"/greet", {}};
  EXPECT_TRUE(any.Matches("DELETE", "/greet"));
}

TEST(RouteDeclTest, PrefixRoute) {
  RouteDecl r{"/api/*", {}};
  EXPECT_TRUE(r.Matches("GET", "/api"));
  EXPECT_TRUE(r.Matches("GET", "/api/"));
  EXPECT_TRUE(r.Matches("GET", "/api/v1/users"));
  EXPECT_FALSE(r.Matches("GET", "/apix"));
  EXPECT_FALSE(r.Matches("GET", "/ap"));
  RouteDecl all{"/*", {}};
  EXPECT_TRUE(all.Matches("GET", "/"));
  EXPECT_TRUE(all.Matches("GET", "/anything/at/all"));
}

TEST(RouteDeclTest, FindRouteReturnsTheFirstMatch) {
  auto m = ParseManifest(Good(), "mumba.toml");
  ASSERT_TRUE(m.ok()) << m.status().message();
  ASSERT_NE(m->FindRoute("POST", "/greet"), nullptr);
  EXPECT_EQ(m->FindRoute("POST", "/greet")->path, "/greet");
  EXPECT_EQ(m->FindRoute("PUT", "/greet"), nullptr);
  ASSERT_NE(m->FindRoute("PUT", "/api/x"), nullptr);
  EXPECT_EQ(m->FindRoute("PUT", "/api/x")->path, "/api/*");
  EXPECT_EQ(m->FindRoute("GET", "/other"), nullptr);
}

TEST(ManifestTest, LoadManifestReadsTheBundleFile) {
  auto missing = LoadManifest("/nonexistent-mumba-bundle");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("/nonexistent-mumba-bundle/mumba.toml"),
            std::string::npos)
      << missing.status().message();
}

}  // namespace
}  // namespace mumba

namespace mumba {
namespace {

// What an update asks for beyond the installed version: each widening is named,
// nothing else is.
TEST(WiderAsksTest, NamesEachNewPermissionAndNothingElse) {
  Manifest installed = *ParseManifest(WithLine(26, "network = false"), "mumba.toml");
  Manifest same = installed;
  same.version = "9.9.9";
  same.description = "changed";
  EXPECT_TRUE(WiderAsks(same, installed).empty());

  Manifest wider = installed;
  wider.permissions.network = true;
  wider.permissions.peers = true;
  wider.permissions.call.push_back("mumba://other/x.v1.Api");
  wider.services.push_back("hello.v1.Admin");
  wider.store_exports.push_back({"kv", "settings", {"mumba://reader"}});
  wider.peer_exports.push_back({"hello.v1.Sync", 10});
  EXPECT_EQ(WiderAsks(wider, installed),
            (std::vector<std::string>{"the network", "peer calls", "to call mumba://other/x.v1.Api",
                                      "to export hello.v1.Admin to other apps",
                                      "to let other nodes call hello.v1.Sync",
                                      "to let mumba://reader read its kv 'settings'"}));
  // Asking for less is never a widening.
  EXPECT_TRUE(WiderAsks(installed, wider).empty());
}

}  // namespace
}  // namespace mumba
