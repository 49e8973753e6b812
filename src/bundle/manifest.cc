// SPDX-License-Identifier: Apache-2.0
#include "bundle/manifest.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <set>
#include <sstream>

#include <toml++/toml.h>

#include "common/keys.h"
#include "platform/errno_status.h"
#include "platform/unique_fd.h"

namespace mumba {
namespace {

// Caps on what a manifest may hold, checked before a value is looked at or quoted
// in a message. Each is far above what a real app needs.
constexpr size_t kMaxIdChars = 128;  // "mumba://" and 52 base32 characters.
constexpr size_t kMaxNameChars = 255;  // Then the DNS-label check allows 63.
constexpr size_t kMaxVersionChars = 255;
constexpr size_t kMaxDescriptionChars = 1000;
constexpr size_t kMaxPathChars = 1024;  // icon, daemon.command, ui.entry, routes.path.
constexpr size_t kMaxArgChars = 4096;   // Each of daemon.args.
constexpr size_t kMaxWordChars = 255;   // Methods, service and database names, kinds, readers.
constexpr size_t kMaxCallChars = 512;   // "address/package.Service".
constexpr size_t kMaxListItems = 256;
constexpr int64_t kMaxPeerCallRate = 100000;  // exports.peers.calls_per_second.   // Every list and every array of tables.
// How much of an unknown key a message quotes.
constexpr size_t kMaxQuotedKeyChars = 64;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAsciiLetter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

class ManifestReader {
 public:
  explicit ManifestReader(std::string_view file) : file_(file) {}

  Status Error(const toml::node* node, std::string_view field, const std::string& what) const {
    std::ostringstream out;
    out << file_;
    if (node && node->source().begin.line > 0) out << ":" << node->source().begin.line;
    out << ": " << field << ": " << what;
    return InvalidArgument(out.str());
  }

  Status CheckKeys(const toml::table& table, std::string_view where,
                   std::initializer_list<std::string_view> allowed) const {
    for (auto&& [key, node] : table) {
      if (std::find(allowed.begin(), allowed.end(), key.str()) == allowed.end()) {
        std::string name(key.str().substr(0, kMaxQuotedKeyChars));
        if (key.str().size() > kMaxQuotedKeyChars) name += "...";
        std::string field = where.empty() ? name : std::string(where) + "." + name;
        std::string list;
        for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
        return Error(&node, field, "unknown key (allowed here: " + list + ")");
      }
    }
    return Status();
  }

  // Reads an optional string of at most `max_chars` bytes; `out` is left alone
  // when absent.
  Status String(const toml::table& t, std::string_view key, std::string_view field,
                std::string& out, bool required, size_t max_chars) const {
    const toml::node* n = t.get(key);
    if (!n) return required ? Error(&t, field, "missing (required)") : Status();
    if (!n->is_string()) return Error(n, field, "must be a string");
    MUMBA_TRY(Length(n, field, n->as_string()->get(), max_chars));
    out = n->as_string()->get();
    return Status();
  }

  // Reads an optional list of at most kMaxListItems strings of at most
  // `max_chars` bytes each.
  Status StringList(const toml::table& t, std::string_view key, std::string_view field,
                    std::vector<std::string>& out, size_t max_chars) const {
    const toml::node* n = t.get(key);
    if (!n) return Status();
    const toml::array* arr = n->as_array();
    if (!arr) return Error(n, field, "must be an array of strings");
    MUMBA_TRY(Count(n, field, arr->size()));
    for (auto&& item : *arr) {
      if (!item.is_string()) return Error(&item, field, "must be an array of strings");
      MUMBA_TRY(Length(&item, field, item.as_string()->get(), max_chars));
      out.push_back(item.as_string()->get());
    }
    return Status();
  }

  Status Length(const toml::node* n, std::string_view field, std::string_view value,
                size_t max_chars) const {
    if (value.size() <= max_chars) return Status();
    return Error(n, field, "longer than " + std::to_string(max_chars) + " characters");
  }

  Status Count(const toml::node* n, std::string_view field, size_t count) const {
    if (count <= kMaxListItems) return Status();
    return Error(n, field, "more than " + std::to_string(kMaxListItems) + " entries");
  }

  Status Bool(const toml::table& t, std::string_view key, std::string_view field,
              bool& out) const {
    const toml::node* n = t.get(key);
    if (!n) return Status();
    if (!n->is_boolean()) return Error(n, field, "must be true or false");
    out = n->as_boolean()->get();
    return Status();
  }

  const toml::table* SubTable(const toml::table& t, std::string_view key, Status& st,
                              bool required) const {
    const toml::node* n = t.get(key);
    if (!n) {
      if (required) st = Error(&t, key, "missing section [" + std::string(key) + "]");
      return nullptr;
    }
    if (!n->is_table()) {
      st = Error(n, key, "must be a table ([" + std::string(key) + "])");
      return nullptr;
    }
    return n->as_table();
  }

  const toml::node* Node(const toml::table& t, std::string_view key) const { return t.get(key); }

 private:
  std::string file_;
};

bool IsRoutePath(std::string_view p) {
  if (p.empty() || p[0] != '/') return false;
  if (p.find_first_of("?# \t\r\n") != std::string_view::npos) return false;
  auto star = p.find('*');
  if (star != std::string_view::npos && (star != p.size() - 1 || p[star - 1] != '/')) return false;
  return true;
}

// Consumes a semver number at `pos`: "0" or [1-9][0-9]*.
bool ConsumeNumber(std::string_view v, size_t& pos) {
  if (pos >= v.size() || !IsDigit(v[pos])) return false;
  if (v[pos++] == '0') return true;
  while (pos < v.size() && IsDigit(v[pos])) ++pos;
  return true;
}

// Consumes one or more non-empty identifiers of [0-9A-Za-z-] joined by '.', up to
// a '+' or the end; false at any other character.
bool ConsumeIdentifiers(std::string_view v, size_t& pos) {
  size_t part = 0;
  for (; pos < v.size() && v[pos] != '+'; ++pos) {
    char c = v[pos];
    if (c == '.') {
      if (part == 0) return false;
      part = 0;
    } else if (IsDigit(c) || IsAsciiLetter(c) || c == '-') {
      ++part;
    } else {
      return false;
    }
  }
  return part > 0;
}

}  // namespace

bool RouteDecl::Matches(std::string_view method, std::string_view request_path) const {
  if (!methods.empty() && std::find(methods.begin(), methods.end(), method) == methods.end()) {
    return false;
  }
  if (path.ends_with("/*")) {
    std::string_view prefix(path.data(), path.size() - 1);  // keeps the '/'
    return request_path.starts_with(prefix) ||
           request_path == std::string_view(path.data(), path.size() - 2);
  }
  return request_path == path;
}

const RouteDecl* Manifest::FindRoute(std::string_view method, std::string_view path) const {
  for (const auto& r : routes) {
    if (r.Matches(method, path)) return &r;
  }
  return nullptr;
}

bool IsValidAppName(std::string_view name) {
  if (name.empty() || name.size() > 63) return false;
  if (name.front() == '-' || name.back() == '-') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

bool IsValidSemver(std::string_view v) {
  size_t pos = 0;
  for (int part = 0; part < 3; ++part) {
    if (part > 0 && (pos >= v.size() || v[pos++] != '.')) return false;
    if (!ConsumeNumber(v, pos)) return false;
  }
  if (pos < v.size() && v[pos] == '-' && !ConsumeIdentifiers(v, ++pos)) return false;
  if (pos < v.size() && v[pos] == '+' && !ConsumeIdentifiers(v, ++pos)) return false;
  return pos == v.size();
}

bool IsValidServiceName(std::string_view name) {
  size_t dots = 0;
  size_t part = 0;  // Characters in the identifier being read.
  for (char c : name) {
    if (c == '.') {
      if (part == 0) return false;
      ++dots;
      part = 0;
      continue;
    }
    bool ok = IsAsciiLetter(c) || c == '_' || (part > 0 && IsDigit(c));
    if (!ok) return false;
    ++part;
  }
  return dots > 0 && part > 0;
}

bool IsValidDatabaseName(std::string_view name) {
  if (name.empty() || name.size() > 63) return false;
  if (!(IsDigit(name[0]) || (name[0] >= 'a' && name[0] <= 'z'))) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return IsDigit(c) || (c >= 'a' && c <= 'z') || c == '_' || c == '-';
  });
}

bool IsSafeRelativePath(std::string_view p) {
  if (p.empty() || p.front() == '/' || p.find('\\') != std::string_view::npos) return false;
  if (p.find('\0') != std::string_view::npos) return false;
  size_t start = 0;
  while (start <= p.size()) {
    size_t end = p.find('/', start);
    if (end == std::string_view::npos) end = p.size();
    std::string_view part = p.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") return false;
    start = end + 1;
  }
  return true;
}

Expected<Manifest> ParseManifest(std::string_view text, std::string_view file_name,
                                 std::string_view expected_id) {
  ManifestReader r(file_name);
  if (text.size() > kMaxManifestBytes) {
    return InvalidArgument(std::string(file_name) + ": larger than " + std::to_string(kMaxManifestBytes) +
                           " bytes");
  }
  toml::table root;
  try {
    root = toml::parse(text, file_name);
  } catch (const toml::parse_error& e) {
    std::ostringstream out;
    out << file_name << ":" << e.source().begin.line << ": not valid TOML: " << e.description();
    return InvalidArgument(out.str());
  }

  // The id first: a download that is not the app it was asked for is refused
  // before anything else in it is looked at.
  Manifest m;
  MUMBA_TRY(r.String(root, "id", "id", m.id, true, kMaxIdChars));
  auto id = NormalizeAddress(m.id);
  if (!id.ok()) return r.Error(root.get("id"), "id", id.status().message());
  m.id = *id;
  if (!expected_id.empty() && m.id != expected_id) {
    Status wrong = r.Error(root.get("id"), "id",
                           "refused: this bundle says it is app " + m.id + ", not " + std::string(expected_id));
    return Status(Code::kPermissionDenied, wrong.message());
  }
  MUMBA_TRY(r.CheckKeys(root, "", {"id", "name", "version", "description", "icon", "daemon",
                                   "ui", "routes", "exports", "permissions", "storage", "runtime"}));

  MUMBA_TRY(r.String(root, "name", "name", m.name, true, kMaxNameChars));
  if (!IsValidAppName(m.name)) {
    return r.Error(root.get("name"), "name",
                   "'" + m.name + "' must be a lowercase DNS label (a-z, 0-9 and '-', 1-63 "
                   "characters, not starting or ending with '-')");
  }
  if (m.name == "mumba" || m.name == "home") {
    return r.Error(root.get("name"), "name", "'" + m.name + "' is reserved by the host");
  }
  MUMBA_TRY(r.String(root, "version", "version", m.version, true, kMaxVersionChars));
  if (!IsValidSemver(m.version)) {
    return r.Error(root.get("version"), "version",
                   "'" + m.version + "' is not a semantic version (MAJOR.MINOR.PATCH)");
  }
  MUMBA_TRY(r.String(root, "description", "description", m.description, false, kMaxDescriptionChars));
  MUMBA_TRY(r.String(root, "icon", "icon", m.icon, false, kMaxPathChars));
  if (!m.icon.empty() && !IsSafeRelativePath(m.icon)) {
    return r.Error(root.get("icon"), "icon", "'" + m.icon + "' must be a relative path inside the bundle");
  }

  Status st;
  const toml::table* daemon = r.SubTable(root, "daemon", st, true);
  if (!daemon) return st;
  MUMBA_TRY(r.CheckKeys(*daemon, "daemon", {"command", "args"}));
  MUMBA_TRY(r.String(*daemon, "command", "daemon.command", m.daemon_command, true, kMaxPathChars));
  if (!IsSafeRelativePath(m.daemon_command)) {
    return r.Error(daemon->get("command"), "daemon.command",
                   "'" + m.daemon_command + "' must be a relative path inside the bundle (e.g. bin/" +
                       m.name + ")");
  }
  MUMBA_TRY(r.StringList(*daemon, "args", "daemon.args", m.daemon_args, kMaxArgChars));

  if (const toml::table* ui = r.SubTable(root, "ui", st, false)) {
    MUMBA_TRY(r.CheckKeys(*ui, "ui", {"entry"}));
    MUMBA_TRY(r.String(*ui, "entry", "ui.entry", m.ui_entry, true, kMaxPathChars));
    if (!IsSafeRelativePath(m.ui_entry)) {
      return r.Error(ui->get("entry"), "ui.entry",
                     "'" + m.ui_entry + "' must be a relative path inside the bundle");
    }
  }
  MUMBA_TRY(st);

  if (const toml::node* routes = root.get("routes")) {
    const toml::array* arr = routes->as_array();
    // An empty array is "no routes"; toml++ does not count it as an array of tables.
    if (!arr || (!arr->empty() && !arr->is_array_of_tables())) {
      return r.Error(routes, "routes", "must be an array of tables ([[routes]])");
    }
    MUMBA_TRY(r.Count(routes, "routes", arr->size()));
    for (auto&& item : *arr) {
      const toml::table& t = *item.as_table();
      MUMBA_TRY(r.CheckKeys(t, "routes", {"path", "methods"}));
      RouteDecl route;
      MUMBA_TRY(r.String(t, "path", "routes.path", route.path, true, kMaxPathChars));
      if (!IsRoutePath(route.path)) {
        return r.Error(t.get("path"), "routes.path",
                       "'" + route.path + "' must start with '/' and may end in '/*'");
      }
      MUMBA_TRY(r.StringList(t, "methods", "routes.methods", route.methods, kMaxWordChars));
      static const std::set<std::string> kMethods = {"GET", "HEAD", "POST", "PUT",
                                                     "PATCH", "DELETE", "OPTIONS"};
      for (const auto& method : route.methods) {
        if (!kMethods.count(method)) {
          return r.Error(t.get("methods"), "routes.methods", "'" + method + "' is not an HTTP method");
        }
      }
      m.routes.push_back(std::move(route));
    }
  }

  if (const toml::table* ex = r.SubTable(root, "exports", st, false)) {
    MUMBA_TRY(r.CheckKeys(*ex, "exports", {"services", "stores", "peers"}));
    MUMBA_TRY(r.StringList(*ex, "services", "exports.services", m.services, kMaxWordChars));
    for (const auto& s : m.services) {
      if (!IsValidServiceName(s)) {
        return r.Error(ex->get("services"), "exports.services",
                       "'" + s + "' is not a fully qualified service name (package.Service)");
      }
    }
    if (const toml::node* stores = ex->get("stores")) {
      const toml::array* arr = stores->as_array();
      if (!arr || !arr->is_array_of_tables()) {
        return r.Error(stores, "exports.stores", "must be an array of tables ([[exports.stores]])");
      }
      MUMBA_TRY(r.Count(stores, "exports.stores", arr->size()));
      for (auto&& item : *arr) {
        const toml::table& t = *item.as_table();
        MUMBA_TRY(r.CheckKeys(t, "exports.stores", {"kind", "db", "readers"}));
        StoreExportDecl e;
        MUMBA_TRY(r.String(t, "kind", "exports.stores.kind", e.kind, true, kMaxWordChars));
        if (e.kind != "kv" && e.kind != "sql" && e.kind != "files") {
          return r.Error(t.get("kind"), "exports.stores.kind", "'" + e.kind + "' must be kv, sql or files");
        }
        MUMBA_TRY(r.String(t, "db", "exports.stores.db", e.db, e.kind != "files", kMaxWordChars));
        if (e.kind != "files" && !IsValidDatabaseName(e.db)) {
          return r.Error(t.get("db"), "exports.stores.db", "'" + e.db + "' must be 1-63 of a-z, 0-9, '_' and '-'");
        }
        MUMBA_TRY(r.StringList(t, "readers", "exports.stores.readers", e.readers, kMaxWordChars));
        for (auto& reader : e.readers) {
          auto address = NormalizeAddress(reader);
          if (!address.ok()) {
            return r.Error(t.get("readers"), "exports.stores.readers",
                           "'" + reader + "' is not an app id (mumba://...): " + address.status().message());
          }
          reader = *address;
        }
        m.store_exports.push_back(std::move(e));
      }
    }
    if (const toml::node* peers = ex->get("peers")) {
      const toml::array* arr = peers->as_array();
      if (!arr || !arr->is_array_of_tables()) {
        return r.Error(peers, "exports.peers", "must be an array of tables ([[exports.peers]])");
      }
      MUMBA_TRY(r.Count(peers, "exports.peers", arr->size()));
      for (auto&& item : *arr) {
        const toml::table& t = *item.as_table();
        MUMBA_TRY(r.CheckKeys(t, "exports.peers", {"service", "calls_per_second"}));
        PeerExportDecl e;
        MUMBA_TRY(r.String(t, "service", "exports.peers.service", e.service, true, kMaxWordChars));
        if (!IsValidServiceName(e.service)) {
          return r.Error(t.get("service"), "exports.peers.service",
                         "'" + e.service + "' is not a fully qualified service name (package.Service)");
        }
        if (const toml::node* rate = t.get("calls_per_second")) {
          if (!rate->is_integer() || rate->as_integer()->get() < 1 || rate->as_integer()->get() > kMaxPeerCallRate) {
            return r.Error(rate, "exports.peers.calls_per_second",
                           "must be an integer from 1 to " + std::to_string(kMaxPeerCallRate));
          }
          e.calls_per_second = static_cast<int>(rate->as_integer()->get());
        }
        m.peer_exports.push_back(std::move(e));
      }
    }
  }
  MUMBA_TRY(st);

  if (const toml::table* p = r.SubTable(root, "permissions", st, false)) {
    MUMBA_TRY(r.CheckKeys(*p, "permissions", {"call", "network", "peers"}));
    MUMBA_TRY(r.StringList(*p, "call", "permissions.call", m.permissions.call, kMaxCallChars));
    // An entry that names no address would never match a callee, so a typo would
    // silently grant nothing: refuse it, and keep the address in canonical form.
    for (auto& entry : m.permissions.call) {
      std::string_view e = entry;
      // A bare service name is an interface: any app that exports it. No address
      // holds a '.', so the two never mix.
      if (!e.starts_with(kAddressScheme) && e.find('/') == std::string_view::npos &&
          e.find('.') != std::string_view::npos) {
        if (IsValidServiceName(e)) continue;
        return r.Error(p->get("call"), "permissions.call", "'" + entry + "' is not a service name (package.Service)");
      }
      size_t key_start = e.starts_with(kAddressScheme) ? kAddressScheme.size() : 0;
      size_t slash = e.find('/', key_start);
      auto address = NormalizeAddress(e.substr(0, slash));
      bool service_ok = slash == std::string_view::npos || IsValidServiceName(e.substr(slash + 1));
      if (!address.ok() || !service_ok) {
        return r.Error(p->get("call"), "permissions.call",
                       "'" + entry + "' must be an app address (mumba://...) or " +
                           "address/package.Service");
      }
      std::string canonical = *address;
      if (slash != std::string_view::npos) canonical += e.substr(slash);
      entry = std::move(canonical);
    }
    MUMBA_TRY(r.Bool(*p, "network", "permissions.network", m.permissions.network));
    MUMBA_TRY(r.Bool(*p, "peers", "permissions.peers", m.permissions.peers));
  }
  MUMBA_TRY(st);
  // Serving other nodes is a peer capability the owner grants with the rest.
  if (!m.peer_exports.empty() && !m.permissions.peers) {
    return r.Error(root.get("exports"), "exports.peers", "needs peers = true under [permissions]");
  }

  if (const toml::table* rt = r.SubTable(root, "runtime", st, false)) {
    MUMBA_TRY(r.CheckKeys(*rt, "runtime", {"grpc", "protobuf"}));
    MUMBA_TRY(r.String(*rt, "grpc", "runtime.grpc", m.runtime.grpc, false, kMaxWordChars));
    MUMBA_TRY(r.String(*rt, "protobuf", "runtime.protobuf", m.runtime.protobuf, false, kMaxWordChars));
  }
  MUMBA_TRY(st);

  if (const toml::table* s = r.SubTable(root, "storage", st, false)) {
    MUMBA_TRY(r.CheckKeys(*s, "storage", {"kv", "sql", "schema_version"}));
    MUMBA_TRY(r.StringList(*s, "kv", "storage.kv", m.storage.kv, kMaxWordChars));
    MUMBA_TRY(r.StringList(*s, "sql", "storage.sql", m.storage.sql, kMaxWordChars));
    for (const auto* list : {&m.storage.kv, &m.storage.sql}) {
      for (const auto& n : *list) {
        if (!IsValidDatabaseName(n)) {
          return r.Error(s, list == &m.storage.kv ? "storage.kv" : "storage.sql",
                         "'" + n + "' must be 1-63 of a-z, 0-9, '_' and '-'");
        }
      }
    }
    if (const toml::node* v = s->get("schema_version")) {
      if (!v->is_integer() || v->as_integer()->get() < 0) {
        return r.Error(v, "storage.schema_version", "must be a non-negative integer");
      }
      m.storage.schema_version = static_cast<int>(v->as_integer()->get());
    }
  }
  MUMBA_TRY(st);
  return m;
}

Expected<Manifest> LoadManifest(const std::filesystem::path& bundle_dir, std::string_view expected_id) {
  const std::filesystem::path file = bundle_dir / "mumba.toml";
  const std::string missing = file.string() + ": missing (a bundle needs a mumba.toml manifest)";
  // Non-blocking, so a FIFO planted in its place cannot hang the open.
  UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (!fd) return errno == ENOENT ? InvalidArgument(missing) : ErrnoStatus(errno, "read " + file.string());
  struct stat info {};
  if (::fstat(fd.get(), &info) != 0) return ErrnoStatus(errno, "read " + file.string());
  if (!S_ISREG(info.st_mode)) return InvalidArgument(file.string() + ": not a regular file");
  // Reads at most one buffer past the limit, whatever the size claims: enough to refuse.
  std::string text;
  char buffer[16384];
  while (text.size() <= kMaxManifestBytes) {
    ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus(errno, "read " + file.string());
    if (n == 0) break;
    text.append(buffer, static_cast<size_t>(n));
  }
  return ParseManifest(text, file.string(), expected_id);
}

std::vector<std::string> WiderAsks(const Manifest& offered, const Manifest& installed) {
  auto had = [](const std::vector<std::string>& list, const std::string& x) {
    return std::find(list.begin(), list.end(), x) != list.end();
  };
  std::vector<std::string> out;
  if (offered.permissions.network && !installed.permissions.network) out.push_back("the network");
  if (offered.permissions.peers && !installed.permissions.peers) out.push_back("peer calls");
  for (const auto& target : offered.permissions.call) {
    if (!had(installed.permissions.call, target)) out.push_back("to call " + target);
  }
  for (const auto& service : offered.services) {
    if (!had(installed.services, service)) out.push_back("to export " + service + " to other apps");
  }
  for (const auto& e : offered.peer_exports) {
    bool before = false;
    for (const auto& old : installed.peer_exports) before = before || old.service == e.service;
    if (!before) out.push_back("to let other nodes call " + e.service);
  }
  for (const auto& e : offered.store_exports) {
    for (const auto& reader : e.readers) {
      bool before = false;
      for (const auto& old : installed.store_exports) {
        before = before || (old.kind == e.kind && old.db == e.db && had(old.readers, reader));
      }
      if (!before) {
        out.push_back("to let " + reader + " read its " + e.kind + (e.db.empty() ? "" : " '" + e.db + "'"));
      }
    }
  }
  return out;
}

}  // namespace mumba
