// SPDX-License-Identifier: Apache-2.0
// The app manifest, mumba.toml. Example:
//
//   id = "mumba://<52 base32 chars>"
//   name = "hello"
//   version = "0.1.0"
//   description = "Says hello"
//   [daemon]
//   command = "bin/hello"
//   [ui]
//   entry = "ui/index.html"
//   [[routes]]
//   path = "/greet"
//   methods = ["GET"]
//   [exports]
//   services = ["hello.v1.Greeter"]
//   [[exports.peers]]                  # called by the same app on other nodes
//   service = "hello.v1.Greeter"
//   calls_per_second = 100             # per calling node (default 100)
//
// Unknown keys are errors, so a typo never silently drops a setting.
//
// A manifest is untrusted text: anyone whose address a user installs writes it. So
// the file's size is capped before it is parsed, every string's length and every
// list's size are capped before the string is looked at, and the checks on a
// string's content are hand-written scans, linear and without recursion (never
// std::regex, whose libstdc++ matcher recurses once per character).
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "mumba/status.h"

namespace mumba {

struct RouteDecl {
  std::string path;                  // "/greet", or a prefix "/api/*".
  std::vector<std::string> methods;  // Upper case; empty means any method.

  bool Matches(std::string_view method, std::string_view request_path) const;
};

struct Permissions {
  // What it may call: an app ("mumba://<id>": all it exports), one service of an
  // app ("mumba://<id>/pkg.Service") or an interface ("pkg.Service": any app that
  // exports it). Addresses are canonical.
  std::vector<std::string> call;
  bool network = false;
  bool peers = false;
};

// The shared libraries a bundle's daemon was built against, as `mumba build`
// records them in the bundle's manifest ([runtime] grpc = "1.51", protobuf =
// "3.21"): a daemon built for other ones would not start. Empty when not recorded
// (a bundle assembled by hand).
struct RuntimeDecl {
  std::string grpc;
  std::string protobuf;
  bool empty() const { return grpc.empty() && protobuf.empty(); }
  bool operator==(const RuntimeDecl&) const = default;
};

struct StorageDecl {
  std::vector<std::string> kv;
  std::vector<std::string> sql;
  int schema_version = 0;
};

// A store the app lets other apps read (never write): [[exports.stores]].
struct StoreExportDecl {
  std::string kind;  // "kv", "sql" or "files".
  std::string db;    // The database name; empty for files.
  std::vector<std::string> readers;  // App ids ("mumba://...") allowed to read it.
};

// A service the same app on other nodes may call: [[exports.peers]]. The receiving
// host checks it (and the rate) before the daemon sees a call.
struct PeerExportDecl {
  std::string service;        // "package.Service".
  int calls_per_second = 100;  // Per calling node, with a burst of as many.
};

struct Manifest {
  std::string id;  // Canonical "mumba://<52>".
  std::string name;
  std::string version;
  std::string description;
  std::string daemon_command;  // Relative to the bundle root.
  std::vector<std::string> daemon_args;
  std::string ui_entry;  // Relative to the bundle root; may be empty.
  std::string icon;      // Relative to the bundle root; may be empty.
  std::vector<RouteDecl> routes;
  std::vector<std::string> services;  // Fully qualified, e.g. "hello.v1.Greeter".
  std::vector<StoreExportDecl> store_exports;
  std::vector<PeerExportDecl> peer_exports;  // Needs permissions.peers.
  Permissions permissions;
  StorageDecl storage;
  RuntimeDecl runtime;

  // The declared route that serves (method, path), or nullptr.
  const RouteDecl* FindRoute(std::string_view method, std::string_view path) const;
};

// What `offered` asks for that `installed` (an earlier version of the same app)
// did not, one line each: "the network", "peer calls", "to call <target>", "to
// export <service> to other apps", "to let <reader> read its <kind> '<db>'". Empty
// when it asks for nothing more. An update that widens waits for the owner's yes.
std::vector<std::string> WiderAsks(const Manifest& offered, const Manifest& installed);

// The largest mumba.toml accepted, in bytes; a real one is well under 4 KiB.
inline constexpr size_t kMaxManifestBytes = 64 * 1024;

// Parses manifest text. `file_name` is used in messages: "mumba.toml:4: name: ...".
// Every error is INVALID_ARGUMENT naming the field, except that when `expected_id`
// is given (an address, as a download names it), an `id` that is not that app is
// PERMISSION_DENIED ("... says it is app <id>"), checked right after the TOML is
// read and before any other field. Text longer than kMaxManifestBytes is refused
// before it is parsed.
Expected<Manifest> ParseManifest(std::string_view text, std::string_view file_name,
                                 std::string_view expected_id = {});

// Reads and parses <bundle_dir>/mumba.toml (following a symlink, as before the
// bundle's tree is checked). INVALID_ARGUMENT when it is missing, not a regular
// file or larger than kMaxManifestBytes (nothing past that is read); otherwise the
// errors of ParseManifest, or of reading the file.
Expected<Manifest> LoadManifest(const std::filesystem::path& bundle_dir,
                                std::string_view expected_id = {});

// A lowercase DNS label: 1-63 of [a-z0-9-], not starting or ending with '-'.
bool IsValidAppName(std::string_view name);

// MAJOR.MINOR.PATCH with optional -prerelease and +build parts.
bool IsValidSemver(std::string_view version);

// A relative path with no "..", no empty or "." parts and no backslashes.
bool IsSafeRelativePath(std::string_view path);

// A fully qualified protobuf service name: two or more identifiers
// ([A-Za-z_][A-Za-z0-9_]*) joined by '.', e.g. "hello.v1.Greeter".
bool IsValidServiceName(std::string_view name);

// A database name a manifest may declare or export: 1-63 of [a-z0-9_-], starting
// with a letter or digit.
bool IsValidDatabaseName(std::string_view name);

}  // namespace mumba
