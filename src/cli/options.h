// SPDX-License-Identifier: Apache-2.0
// options: the arguments of every mumba subcommand, one struct each, declared
// where the struct is. AddCommand (cli.h) gives each subcommand a fresh instance
// of its struct, which calls Bind to declare its positionals and flags on the
// subcommand; the command then runs on the values CLI11 filled in. The help text
// of `mumba ... --help` is the third argument of each add_option and add_flag.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace mumba::cli {

// ---- mumba host start | status (host_commands.cc) ----

// The arguments of `mumba host start`.
struct HostStartOptions {
  std::string listen;
  std::string bootstrap;
  CLI::Option* bootstrap_option = nullptr;  // To tell --bootstrap '' from no --bootstrap.

  void Bind(CLI::App* cmd) {
    cmd->add_option("--listen", listen,
                    "Where BitTorrent and the DHT listen, IP:PORT (default: [p2p] listen in "
                    "config.toml, else 0.0.0.0:6881)");
    bootstrap_option = cmd->add_option("--bootstrap", bootstrap,
                                       "DHT nodes to join through, HOST:PORT,... ('' for none; default: [p2p] "
                                       "bootstrap in config.toml, else the public Mainline DHT routers)");
  }
};

// The arguments of `mumba host status`.
struct HostStatusOptions {
  bool json = false;

  void Bind(CLI::App* cmd) { cmd->add_flag("--json", json, "Machine-readable output"); }
};

// ---- mumba build (build_command.cc) ----

// The arguments of `mumba build`.
struct BuildOptions {
  std::string dir;
  std::string build_dir;

  void Bind(CLI::App* cmd) {
    cmd->add_option("DIR", dir, "App folder (has mumba.toml and CMakeLists.txt)")->required();
    cmd->add_option("--build-dir", build_dir, "Where to build (default: DIR/build)");
  }
};

// ---- mumba new (new_command.cc) ----

// The arguments of `mumba new`.
struct NewOptions {
  std::string name;
  std::string dir;

  void Bind(CLI::App* cmd) {
    cmd->add_option("NAME", name, "App name: a lowercase DNS label, e.g. notes")->required();
    cmd->add_option("--dir", dir, "Folder to create (default: ./NAME)");
  }
};

// ---- mumba install | uninstall | list | start | stop | restart | status | logs (app_commands.cc) ----

// The arguments of `mumba install`.
struct InstallOptions {
  std::string source;
  bool yes = false;
  bool json = false;
  int timeout_s = 0;

  void Bind(CLI::App* cmd) {
    cmd->add_option("SOURCE", source,
                    "mumba://ADDRESS, app folder (has CMakeLists.txt) or bundle folder (has bin/)")
        ->required();
    cmd->add_flag("-y,--yes", yes,
                  "Say yes without asking: to installing from the network, and to what the app asks for "
                  "(the network, other apps to call; see mumba permissions)");
    cmd->add_flag("--json", json, "Progress of a network install as JSON lines");
    cmd->add_option("--timeout", timeout_s,
                    "Give up a network install after this many seconds (default: 20 s to find "
                    "the address, then no limit while it downloads)")
        ->default_val(0);
  }
};

// The arguments of `mumba uninstall`.
struct UninstallOptions {
  std::string app;
  bool purge = false;

  void Bind(CLI::App* cmd) {
    cmd->add_option("APP", app, "App name or id")->required();
    cmd->add_flag("--purge", purge, "Also delete the app's data");
  }
};

// The arguments of `mumba list`.
struct ListOptions {
  bool json = false;
  std::string implements;

  void Bind(CLI::App* cmd) {
    cmd->add_flag("--json", json, "Machine-readable output");
    cmd->add_option("--implements", implements, "Only apps that export this service (e.g. mail.v1.Mailer)");
  }
};

// The arguments of `mumba dev`.
struct DevOptions {
  std::string dir;
  bool yes = false;
  bool headless = false;
  bool no_window = false;

  void Bind(CLI::App* cmd) {
    cmd->add_option("APP_DIR", dir, "The app's folder (has CMakeLists.txt and mumba.toml)")->required();
    cmd->add_flag("-y,--yes", yes, "Grant what the app asks for without asking");
    cmd->add_flag("--headless", headless, "Open its window headless");
    cmd->add_flag("--no-window", no_window, "Open no window");
  }
};

// The arguments of `mumba permissions`.
struct PermissionsOptions {
  std::string app;
  std::vector<std::string> revoke;
  std::vector<std::string> grant;
  bool json = false;

  void Bind(CLI::App* cmd) {
    cmd->add_option("APP", app, "App name or id")->required();
    cmd->add_option("--revoke", revoke,
                    "Take back an ask: network, peers, or what it may call (mumba://ID, mumba://ID/pkg.Service, "
                    "pkg.Service); open channels under it close at once");
    cmd->add_option("--grant", grant, "Grant an ask the app's manifest declares (again)");
    cmd->add_flag("--json", json, "Machine-readable output");
  }
};

// The arguments of `mumba start | stop | restart`.
struct AppOptions {
  std::string app;

  void Bind(CLI::App* cmd) { cmd->add_option("APP", app, "App name or id")->required(); }
};

// The arguments of `mumba status`.
struct StatusOptions {
  std::string app;
  bool json = false;

  void Bind(CLI::App* cmd) {
    cmd->add_option("APP", app, "App name or id")->required();
    cmd->add_flag("--json", json, "Machine-readable output");
  }
};

// The arguments of `mumba node`.
struct NodeOptions {
  bool json = false;
  void Bind(CLI::App* cmd) { cmd->add_flag("--json", json, "Machine-readable output"); }
};

// The arguments of `mumba peers`.
struct PeersOptions {
  std::string app;
  bool json = false;
  void Bind(CLI::App* cmd) {
    cmd->add_option("APP", app, "App name or id")->required();
    cmd->add_flag("--json", json, "Machine-readable output");
  }
};

// The arguments of `mumba share` and `mumba unshare`.
struct ShareOptions {
  std::string app;
  std::string kind;
  std::string db;
  bool json = false;
  void Bind(CLI::App* cmd) {
    cmd->add_option("APP", app, "App name or id")->required();
    cmd->add_option("KIND", kind, "Which store: kv, sql or files")
        ->required()
        ->check(CLI::IsMember({"kv", "sql", "files"}));
    cmd->add_option("DB", db, "The database's name (kv and sql; default main)");
    cmd->add_flag("--json", json, "Machine-readable output");
  }
};

// The arguments of `mumba shares`.
struct SharesOptions {
  std::string app;
  bool json = false;
  void Bind(CLI::App* cmd) {
    cmd->add_option("APP", app, "Only this app's shares (name or id)");
    cmd->add_flag("--json", json, "Machine-readable output");
  }
};

// The arguments of `mumba follow` and `mumba unfollow`.
struct FollowOptions {
  std::string address;
  std::string app;
  bool json = false;
  void Bind(CLI::App* cmd) {
    cmd->add_option("ADDRESS", address, "The share's address, mumba://...")->required();
    cmd->add_option("--app", app, "The app that follows it (name or id); without, the owner does");
    cmd->add_flag("--json", json, "Machine-readable output");
  }
};

// The arguments of `mumba follows`.
struct FollowsOptions {
  std::string app;
  bool json = false;
  void Bind(CLI::App* cmd) {
    cmd->add_option("APP", app, "Only this app's follows (name or id); without, every one");
    cmd->add_flag("--json", json, "Machine-readable output");
  }
};

// The arguments of `mumba logs`.
struct LogsOptions {
  std::string app;
  bool follow = false;
  int lines = 100;

  void Bind(CLI::App* cmd) {
    cmd->add_option("APP", app, "App name or id")->required();
    cmd->add_flag("-f,--follow", follow, "Keep printing new output until interrupted");
    cmd->add_option("-n,--lines", lines, "How many of the last lines to print (0 = all)")->default_val(100);
  }
};

// ---- mumba call | route (call_commands.cc) ----

// The arguments of `mumba call`.
struct CallOptions {
  std::string app;
  std::string method;
  std::string json = "{}";
  bool lines = false;

  void Bind(CLI::App* cmd) {
    cmd->add_option("APP", app, "App name or id")->required();
    cmd->add_option("METHOD", method, "package.Service/Method, e.g. hello.v1.Greeter/SayHello")->required();
    auto* json_option =
        cmd->add_option("JSON", json, "The request message as JSON ('-' reads stdin)")->default_val("{}");
    cmd->add_flag("--lines", lines,
                  "Many calls: one JSON request per line of stdin, one JSON reply per line of stdout, in "
                  "order (blank lines skipped); stops at the first failed call, naming its line. Calls "
                  "the daemon directly, for scripts that make many calls")
        ->excludes(json_option);
  }
};

// The arguments of `mumba route`.
struct RouteOptions {
  std::string url;
  std::string method = "GET";
  CLI::Option* method_option = nullptr;  // To tell -X GET from no -X at all.
  std::string data;
  std::vector<std::string> headers;
  bool include = false;

  void Bind(CLI::App* cmd) {
    cmd->add_option("URL", url, "APP://path?query, or mumba://<id>/path?query")->required();
    method_option = cmd->add_option("-X,--method", method, "Request method")->default_val("GET");
    cmd->add_option("-d,--data", data, "Request body ('@FILE' reads a file; implies POST unless -X)");
    cmd->add_option("-H,--header", headers, "Request header 'Name: value' (repeatable)");
    cmd->add_flag("-i,--include", include, "Print the status line and headers first");
  }
};

// ---- mumba kv | sql | files (storage_commands.cc) ----

// The arguments of `mumba kv APP [--db DB]`, shared by its subcommands.
struct KvStoreOptions {
  std::string app;
  std::string db = "main";

  void Bind(CLI::App* cmd) {
    cmd->add_option("APP", app, "App name or id")->required();
    cmd->add_option("--db", db, "Database name")->default_val("main");
  }
};

// The arguments of `mumba kv ... get`.
struct KvGetOptions {
  std::string key;

  void Bind(CLI::App* cmd) { cmd->add_option("KEY", key, "The key")->required(); }
};

// The arguments of `mumba kv ... put`.
struct KvPutOptions {
  std::string key;
  std::string value;

  void Bind(CLI::App* cmd) {
    cmd->add_option("KEY", key, "The key")->required();
    cmd->add_option("VALUE", value, "The value")->required();
  }
};

// The arguments of `mumba kv ... del`.
struct KvDelOptions {
  std::string key;

  void Bind(CLI::App* cmd) { cmd->add_option("KEY", key, "The key")->required(); }
};

// The arguments of `mumba kv ... scan`.
struct KvScanOptions {
  std::string prefix;
  uint32_t limit = 0;
  bool json = false;

  void Bind(CLI::App* cmd) {
    cmd->add_option("PREFIX", prefix, "Only keys starting with PREFIX");
    cmd->add_option("-n,--limit", limit, "At most this many (default: all)");
    cmd->add_flag("--json", json, "One JSON object per line: {\"key\":...,\"value\":...}");
  }
};

// The arguments of `mumba sql`.
struct SqlOptions {
  std::string app;
  std::string db;
  std::string sql;
  std::vector<std::string> params;
  bool json = false;

  void Bind(CLI::App* cmd) {
    cmd->add_option("APP", app, "App name or id")->required();
    cmd->add_option("DB", db, "Database name, e.g. main")->required();
    cmd->add_option("SQL", sql, "Statements ('-' reads stdin); several run in one transaction")->required();
    cmd->add_option("-p,--param", params,
                    "Value for the next ? (repeatable): integers and decimals bind as numbers, "
                    "NULL as null, anything else as text");
    cmd->add_flag("--json", json, "One JSON object per statement: columns, rows, changes");
  }
};

// The arguments of `mumba files APP`, shared by its subcommands.
struct FilesStoreOptions {
  std::string app;

  void Bind(CLI::App* cmd) { cmd->add_option("APP", app, "App name or id")->required(); }
};

// The arguments of `mumba files ... ls`.
struct FilesListOptions {
  std::string dir;

  void Bind(CLI::App* cmd) { cmd->add_option("DIR", dir, "Folder, e.g. photos/2026"); }
};

// The arguments of `mumba files ... put`.
struct FilesPutOptions {
  std::string local_path;
  std::string app_path;

  void Bind(CLI::App* cmd) {
    cmd->add_option("LOCAL_PATH", local_path, "The file to copy")->required();
    cmd->add_option("APP_PATH", app_path, "Where it goes in the app's files")->required();
  }
};

// The arguments of `mumba files ... get`.
struct FilesGetOptions {
  std::string app_path;
  std::string local_path;

  void Bind(CLI::App* cmd) {
    cmd->add_option("APP_PATH", app_path, "The app's file")->required();
    cmd->add_option("LOCAL_PATH", local_path, "Where to write it")->required();
  }
};

// The arguments of `mumba files ... rm`.
struct FilesRemoveOptions {
  std::string path;

  void Bind(CLI::App* cmd) { cmd->add_option("APP_PATH", path, "The app's file or folder")->required(); }
};

// The arguments of `mumba files ... mv`.
struct FilesMoveOptions {
  std::string from;
  std::string to;

  void Bind(CLI::App* cmd) {
    cmd->add_option("FROM", from, "Current path")->required();
    cmd->add_option("TO", to, "New path")->required();
  }
};

// ---- mumba keys export | import | protect | unprotect (keys_command.cc) ----

// The help of every --passphrase-file option: the passphrase never comes from
// argv or the environment, which other processes can read in /proc.
inline constexpr const char* kPassphraseFileHelp =
    "Read the key's passphrase from the first line of FILE (keep it 0600) instead of asking on the "
    "terminal; for scripts. A passphrase is never taken from the command line or the environment";

// The arguments of `mumba keys export`.
struct KeysExportOptions {
  std::string address;
  std::string file;
  std::string passphrase_file;

  void Bind(CLI::App* cmd) {
    cmd->add_option("ADDRESS", address, "mumba://... (an app id)")->required();
    cmd->add_option("FILE", file, "Write it to FILE (mode 0600) instead of stdout");
    cmd->add_option("--passphrase-file", passphrase_file, kPassphraseFileHelp);
  }
};

// The arguments of `mumba keys protect` and `mumba keys unprotect`.
struct KeysProtectOptions {
  std::string address;
  std::string passphrase_file;

  void Bind(CLI::App* cmd) {
    cmd->add_option("ADDRESS", address, "mumba://... (an app id whose key is here)")->required();
    cmd->add_option("--passphrase-file", passphrase_file, kPassphraseFileHelp);
  }
};

// The arguments of `mumba keys import`.
struct KeysImportOptions {
  std::string file;

  void Bind(CLI::App* cmd) { cmd->add_option("FILE", file, "The exported key ('-' or nothing: stdin)"); }
};

// ---- mumba publish | info | update | rollback (p2p_commands.cc) ----

// The arguments of `mumba publish`.
struct PublishOptions {
  std::string target;
  bool json = false;
  bool magnet = false;
  std::string passphrase_file;

  void Bind(CLI::App* cmd) {
    cmd->add_option("APP", target, "An installed app (name or id), or an app or bundle folder")->required();
    cmd->add_option("--passphrase-file", passphrase_file, kPassphraseFileHelp);
    cmd->add_flag("--json", json, "Print address, info_hash, seq, version, magnet as JSON");
    cmd->add_flag("--magnet", magnet, "Print only the magnet URI (for any BitTorrent client)");
  }
};

// The arguments of `mumba info`.
struct InfoOptions {
  std::string address;
  bool json = false;
  int timeout_s = 20;

  void Bind(CLI::App* cmd) {
    cmd->add_option("ADDRESS", address, "mumba://...")->required();
    cmd->add_flag("--json", json, "Machine-readable output");
    cmd->add_option("--timeout", timeout_s, "Seconds to look in the DHT")->default_val(20);
  }
};

// The arguments of `mumba update`.
struct UpdateOptions {
  std::string app;
  bool json = false;
  bool yes = false;

  void Bind(CLI::App* cmd) {
    cmd->add_option("APP", app, "App name or id (default: every app from the network)");
    cmd->add_flag("--json", json, "Events as JSON lines");
    cmd->add_flag("-y,--yes", yes,
                  "Apply a version that asks for more than the installed one (network, calls, "
                  "exports) without asking");
  }
};

// The arguments of `mumba rollback`.
struct RollbackOptions {
  std::string app;

  void Bind(CLI::App* cmd) { cmd->add_option("APP", app, "App name or id")->required(); }
};

// ---- mumba launch | windows | close | gateway-session | shim (window_commands.cc) ----

// The arguments of `mumba launch`.
struct LaunchOptions {
  std::string app;
  std::string path;
  bool headless = false;
  bool wait = false;
  bool json = false;

  void Bind(CLI::App* cmd) {
    cmd->add_option("APP", app, "App name or id, or `home` for the host's own home app")->required();
    cmd->add_option("PATH", path, "A page of the app, e.g. /settings.html (default: its UI entry)");
    cmd->add_flag("--headless", headless, "No visible window, even with a display");
    cmd->add_flag("--wait", wait, "Stay until the window closes; Ctrl-C closes it");
    cmd->add_flag("--json", json, "Machine-readable output");
  }
};

// The arguments of `mumba windows`.
struct WindowsOptions {
  std::string app;
  bool json = false;

  void Bind(CLI::App* cmd) {
    cmd->add_option("APP", app, "Only this app's windows");
    cmd->add_flag("--json", json, "Machine-readable output");
  }
};

// The arguments of `mumba close`.
struct CloseOptions {
  std::string window;

  void Bind(CLI::App* cmd) {
    cmd->add_option("WINDOW", window, "A window id, or an app name or id")->required();
  }
};

// The arguments of `mumba gateway-session`.
struct GatewaySessionOptions {
  std::string app;
  bool json = false;

  void Bind(CLI::App* cmd) {
    cmd->add_option("APP", app, "App name or id, or `home` for the host's own home app")->required();
    cmd->add_flag("--json", json, "Machine-readable output: {origin, cookie_name, secret}");
  }
};

// The arguments of `mumba shim`.
struct ShimOptions {
  std::string app;
  bool remove = false;

  void Bind(CLI::App* cmd) {
    cmd->add_option("APP", app, "App name or id")->required();
    cmd->add_flag("--remove", remove, "Remove the launcher and the .desktop entry instead");
  }
};

// ---- mumba host enable (host_service.cc) ----

// The arguments of `mumba host enable`.
struct HostEnableOptions {
  bool build_tree = false;

  void Bind(CLI::App* cmd) {
    cmd->add_flag("--build-tree", build_tree,
                  "Let the unit start the mumba-host of a build tree (for Mumba's own developers: it "
                  "stops working when the checkout moves or is cleaned)");
  }
};

// ---- mumba doctor (doctor_command.cc) ----

// The arguments of `mumba doctor`.
struct DoctorOptions {
  bool json = false;

  void Bind(CLI::App* cmd) {
    cmd->add_flag("--json", json,
                  "One JSON object: {\"ok\": bool, \"checks\": [{\"name\", \"status\" (ok|warn|fail), "
                  "\"message\", \"fix\"}]}; a fail is an essential miss and makes the exit code 1");
  }
};

}  // namespace mumba::cli
