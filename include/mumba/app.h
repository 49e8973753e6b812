// SPDX-License-Identifier: Apache-2.0
// The Mumba C++ SDK: an app daemon in a few lines.
//
//   int main(int argc, char** argv) {
//     mumba::App app(argc, argv);
//     GreeterImpl greeter;                       // a generated gRPC service
//     app.AddService(&greeter);
//     app.Route("GET", "/greet", [](const mumba::RouteRequest& r) {
//       return mumba::RouteResponse::Text("Hello, " + r.Param("name") + "!");
//     });
//     return app.Run();
//   }
//
// Under the host, the daemon serves on the unix socket in MUMBA_APP_SOCKET. Started
// by hand it serves on --socket PATH, or on /tmp/<program>-<uid>.sock, and says so.
// The app's storage (App::Kv, App::Sql, App::Files) is described in storage.h.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mumba/storage.h"
#include "mumba/ui.h"

namespace grpc {
class Channel;
class ServerContext;
class Service;
class Status;
}

namespace mumba {

// A request for one of the app's routes, e.g. hello://greet?name=Ann arrives as
// method "GET", path "/greet", query "name=Ann".
struct RouteRequest {
  std::string method;
  std::string path;
  std::string query;  // Still URL-encoded.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // The app that fetched the route with App::Fetch ("mumba://..."), as the host
  // vouches for it; "" when the request came through the host (a page of this
  // app, the owner's `mumba route`).
  std::string caller;

  // The URL-decoded value of query parameter `name`, or "" if absent.
  std::string Param(std::string_view name) const;
  // The first header called `name` (case-insensitive), or "".
  std::string Header(std::string_view name) const;
};

struct RouteResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  static RouteResponse Text(std::string body, int status = 200);
  static RouteResponse Json(std::string json, int status = 200);
};

using RouteHandler = std::function<RouteResponse(const RouteRequest&)>;

// The body of a streamed route's request, read in chunks as it arrives.
//
//   std::string chunk;
//   while (body.Read(&chunk)) Save(chunk);
//   if (!body.status().ok()) return Discard();  // The upload was cut off.
class RouteBodyReader {
 public:
  virtual ~RouteBodyReader() = default;
  // Puts the next chunk of the body (up to about 64 KiB) in `chunk`; false at the
  // end of the body, or when the caller went away (status() tells which).
  virtual bool Read(std::string* chunk) = 0;
  // Why Read returned false: OK when the whole body arrived, CANCELLED when the
  // caller went away before sending all of it (what was read is then only part of
  // the body). OK while Read still returns chunks.
  virtual Status status() const { return Status(); }
};

// Where a streamed route's reply goes: its head once, then its body in chunks.
class RouteResponseWriter {
 public:
  virtual ~RouteResponseWriter() = default;
  // Sends the status and headers. Call it at most once, before Write; a handler that
  // writes without it answers 200 with no headers.
  virtual bool WriteHead(int status, const std::vector<std::pair<std::string, std::string>>& headers) = 0;
  // Sends one chunk of the body; false when the caller went away (stop writing).
  virtual bool Write(std::string_view chunk) = 0;
};

// The reply of a gRPC service method for `status`: the same code and message, and
// grpc::Status::OK for OK, so a method of a service given to App::AddService can
// end with
//   return mumba::ToGrpcStatus(SaveNote(request->text()));
// Include <grpcpp/grpcpp.h> (as every service implementation does) to use it.
grpc::Status ToGrpcStatus(const Status& status);

// Handles a route whose bodies stream; `head.body` is always empty.
using StreamRouteHandler =
    std::function<void(const RouteRequest& head, RouteBodyReader& body, RouteResponseWriter& reply)>;

// Who made a call: another app of this host, as the host vouches for it (never as
// the call claims), or nobody for a call that came through the host itself (the
// owner's `mumba call`, this app's own pages).
struct Caller {
  std::string id;    // "mumba://..."; "" when the call came through the host.
  std::string name;  // The calling app's name; "" likewise.
};

// The caller of the call `context` belongs to, in any method of a service given to
// App::AddService. Thread-safe.
Caller CallerOf(const grpc::ServerContext& context);

// Another node that runs this app, as this node's host found it (in the DHT) and
// proved it (by the node key its link holds).
struct Peer {
  std::string node;                // The node id: 52 base32 characters.
  std::string endpoint;            // "IP:PORT" where its host takes links.
  int64_t last_seen_unix_ms = 0;   // When its host last answered this one.
};

// The node that made the call `context` belongs to, in a method of a service listed
// under [[exports.peers]] in mumba.toml: its id, as its host's link proved it; ""
// for a call from this node (the host, a page, another app). Thread-safe.
std::string PeerOf(const grpc::ServerContext& context);

// Arrivals and departures of peers (App::WatchPeers) until destroyed.
class PeerWatch {
 public:
  // Stops the watch: once it returns, the callback is not called again.
  ~PeerWatch();
  PeerWatch(const PeerWatch&) = delete;
  PeerWatch& operator=(const PeerWatch&) = delete;

 private:
  friend class App;
  struct Impl;
  explicit PeerWatch(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// A store of this app published to other nodes (App::Share).
enum class StoreKind { kKv, kSql, kFiles };
struct ShareInfo {
  std::string address;    // "mumba://...": the share's own address, the same for every snapshot.
  StoreKind kind = StoreKind::kSql;
  std::string db;         // The database's name; "" for the file tree.
  int64_t seq = 0;        // The snapshot's sequence number, 1 for the first.
  uint64_t bytes = 0;     // The snapshot's size.
  uint64_t new_bytes = 0; // Bytes of it that the previous snapshot did not hold.
};

// Someone's share this app follows (App::Follow): a read-only replica, kept
// current by the host while the publisher, or anyone who holds the snapshot,
// is online.
struct FollowInfo {
  std::string address;
  StoreKind kind = StoreKind::kSql;  // Meaningful once seq > 0.
  std::string db;                    // The publisher's name for the database.
  int64_t seq = 0;                   // The snapshot held; 0 until the first arrived.
  uint64_t bytes = 0;
  int64_t updated_unix_ms = 0;       // When the replica last changed.
  std::string error;                 // Why the last update failed; "" if it did not.
};

class App {
 public:
  // Reads the environment the host provides and the command line (--socket PATH,
  // --help). Blocks SIGTERM/SIGINT in the calling thread so Run can wait for them:
  // construct the App before starting threads of your own.
  App(int argc, char** argv);
  ~App();
  App(const App&) = delete;
  App& operator=(const App&) = delete;

  // Serves `service` (borrowed; it must outlive Run). Call before Run.
  void AddService(grpc::Service* service);

  // Answers requests for `path` ("/greet", or a prefix "/files/*") with `method`
  // ("GET", ... or "*" for any). Handlers may run on several threads at once.
  // Paths nobody handles get 404. Call before Run.
  void Route(std::string method, std::string path, RouteHandler handler);
  // Like Route, for bodies too large to hold whole (uploads, downloads, media): the
  // handler reads the request body and writes the reply in chunks, and pages reach it
  // through the gateway without either being buffered. Call before Run.
  void StreamRoute(std::string method, std::string path, StreamRouteHandler handler);

  // Serves until SIGTERM or SIGINT (or Shutdown), then finishes the calls in
  // flight and returns 0. Returns non-zero, with a message on stderr, if it
  // cannot listen.
  int Run();

  // Makes Run return. Thread-safe; may be called from a handler.
  void Shutdown();

  // "mumba://..." under the host; "" when started by hand.
  const std::string& id() const;
  const std::string& name() const;
  // Where the app may keep files (MUMBA_APP_DATA, or ./data by hand).
  const std::filesystem::path& data_dir() const;
  // The unix socket the daemon serves on.
  const std::filesystem::path& socket() const;

  // Handles to the app's storage, kept by the host (see mumba/storage.h): the
  // key-value database `db`, the SQL database `db` and the file tree. With `app`
  // (another app's name or id) they reach that app's store instead, read-only,
  // which works only where its manifest exports that store to this app. A share
  // this app follows (Follow) is read the same way, read-only, with its address in
  // place of `db` (Kv, Sql) or of `app` (Files).
  // Databases are created by their first write. Never fails: calls on a handle
  // report errors, and when the app was started by hand (no MUMBA_HOST_SOCKET)
  // every call returns UNAVAILABLE. All handles share one connection to the host,
  // made on first use. Thread-safe; may be called before, during or after Run.
  mumba::Kv Kv(std::string db = "main", std::string app = "");
  mumba::Sql Sql(std::string db = "main", std::string app = "");
  mumba::Files Files(std::string app = "");

  // A channel to another app's services, which the host hands out: `target` is an
  // app's address ("mumba://..."), its name, or a service name ("mail.v1.Mailer":
  // an app that implements it). The host checks what the owner granted this app
  // ([permissions] call in mumba.toml, said yes to at install) and what the other
  // app exports, starts it if it is stopped, and gives each side one end of a
  // direct connection: calls then go from daemon to daemon, and the other app's
  // handlers see this app as the caller (CallerOf). Only the services this app may
  // call are served on it; others answer UNIMPLEMENTED. When several granted apps
  // implement a service, the first by name is picked and stderr says which.
  // PERMISSION_DENIED without a grant (nothing reaches the other app), NOT_FOUND
  // when no installed app is the target, FAILED_PRECONDITION when it does not take
  // connections (not built with this SDK), UNAVAILABLE when started by hand or
  // when it cannot start. The channel does not reconnect: when its calls fail with
  // UNAVAILABLE (the other app restarted, or the owner revoked the grant), call
  // Connect again. Thread-safe.
  Expected<std::shared_ptr<grpc::Channel>> Connect(std::string_view target);
  // Fetches another app's route: "hello://greet?name=Ann" (by name) or
  // "mumba://<id>/greet?name=Ann", with `method` and `body`. Needs a grant of the
  // whole app (routes are not part of an interface); errors as for Connect, and
  // INVALID_ARGUMENT for a URL of neither form. The reply's status is HTTP's (404
  // for a path the other app does not handle). Connections are kept per app and
  // made again when they break. Thread-safe.
  Expected<RouteResponse> Fetch(std::string_view url, std::string_view method = "GET", std::string body = "");

  // Other nodes that run this app (needs [permissions] peers = true, granted at
  // install). Peers lists the live ones now; none while no other node announces
  // the app in the DHT (only apps with [[exports.peers]] announce). WatchPeers
  // calls `fn` with each peer known now (arrived = true), then with each arrival
  // and departure, on a thread of its own, until the PeerWatch is destroyed. A
  // peer leaves when its host stopped answering ([p2p] peer_expiry_ms). Both
  // UNAVAILABLE when started by hand.
  Expected<std::vector<Peer>> Peers();
  // This node's own id: what PeerOf says of this node on the other nodes, as the
  // host's links prove it. UNAVAILABLE when started by hand or while the host runs
  // no peer network.
  Expected<std::string> NodeId();
  Expected<std::unique_ptr<PeerWatch>> WatchPeers(std::function<void(const Peer& peer, bool arrived)> fn);
  // A channel to this same app on node `node` (a Peer's node id). It runs on a
  // connection this node's host tunnels over its authenticated link to that node's
  // host, which lets through only services listed under [[exports.peers]], within
  // their rate (calls end PERMISSION_DENIED for a service not exported to peers,
  // RESOURCE_EXHAUSTED over the rate); the handler there sees this node as PeerOf.
  // The connection is made here: PERMISSION_DENIED without the peers grant,
  // NOT_FOUND for a node that is not a live peer, UNAVAILABLE when it cannot be
  // reached, INVALID_ARGUMENT for a malformed node id, UNAVAILABLE when started by
  // hand, or the other node's refusal. One channel is kept per node; once its
  // connection broke (calls end UNAVAILABLE) the next PeerChannel makes a new one.
  // Thread-safe.
  Expected<std::shared_ptr<grpc::Channel>> PeerChannel(std::string_view node);

  // Stores shared with other nodes, and theirs followed (needs [permissions]
  // peers = true, granted at install; PERMISSION_DENIED without). Share publishes a
  // consistent snapshot of this app's key-value database `db`, SQL database `db` or
  // file tree under an address of its own, and seeds it; sharing again publishes a
  // newer snapshot under the same address, and followers that hold the older one
  // fetch only what changed. NOT_FOUND for a database never written. Unshare stops
  // seeding it (NOT_FOUND if not shared). Follow starts keeping a replica of the
  // share at `address` and returns at once (seq 0 until the first snapshot arrived);
  // read it with Kv(address), Sql(address) or Files(address), read-only; it counts
  // against this app's quota. Unfollow deletes the replica. UNAVAILABLE when
  // started by hand. Thread-safe.
  Expected<ShareInfo> Share(StoreKind kind, std::string db = "main");
  Status Unshare(StoreKind kind, std::string db = "main");
  Expected<std::vector<ShareInfo>> Shares();
  Expected<FollowInfo> Follow(std::string_view address);
  Status Unfollow(std::string_view address);
  Expected<std::vector<FollowInfo>> Follows();

  // Sends event `name` with `json` (any JSON value; "" means null) to every page of
  // this app that listens with mumba.on(name, fn) in mumba.js. Returns how many pages
  // were listening; INVALID_ARGUMENT for an empty name or data that is not JSON,
  // UNAVAILABLE when started by hand. Thread-safe; does not wait for the pages.
  Expected<int> Emit(std::string_view name, std::string_view json = "");

  // The app's open windows (see mumba/ui.h); OpenWindow opens another on `path`
  // of the app's origin and returns once it has loaded. OnPageEvent calls `fn` for
  // the events of every window of the app until the subscription is destroyed.
  Expected<std::vector<mumba::Window>> Windows();
  Expected<mumba::Window> OpenWindow(std::string_view path = "/");
  Expected<std::unique_ptr<mumba::EventSubscription>> OnPageEvent(std::function<void(const mumba::PageEvent&)> fn);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mumba
