// SPDX-License-Identifier: Apache-2.0
// The host's HTTP/WebSocket gateway: every app at its own origin on 127.0.0.1.
//
//   GET  /...                          static files of the bundle's ui/ ("/" is the
//                                      manifest's ui entry), ETag and If-None-Match
//   ANY  <declared route>              the app's daemon answers (Routes.Stream: both
//                                      bodies stream, neither is held whole)
//   GET  /_mumba/mumba.js              the page's client module
//   POST /_mumba/call/<Service>/<Method>   JSON call of an exported method
//   GET  /_mumba/events (WebSocket)    events the daemon emits, as JSON text frames;
//                                      and the page's calls and small route requests,
//                                      many in flight, answered by id (page_frames.h)
//   GET  /_mumba/login?token=T&next=P  for an app whose secret guards its UI (home):
//                                      sets its cookie
//
// Requests whose Host is not <app>.localhost:<port> are refused (DNS rebinding).
// Everything but a GET or HEAD of a static file or of mumba.js needs the app's
// secret cookie (127.0.0.1 is open to every local process and user), and a page of
// one app cannot use another app's routes, calls or events.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include <grpcpp/channel.h>

#include "mumba/app/v1/routes.pb.h"
#include "mumba/status.h"

namespace mumba {

struct Manifest;

// The name of the cookie that carries an app's secret on the gateway at `port`:
// mumba_secret_<port>=<secret>. The host puts it in a window's browser profile
// through DevTools, so the secret never appears in a command line or a URL. The
// port is in the name because browsers send a host's cookies to every port: two
// hosts' gateways on one machine then never overwrite each other's cookie.
std::string SecretCookieName(int port);

// An app as the gateway needs it.
struct GatewayApp {
  std::string id;  // Canonical "mumba://<52>".
  std::string name;
  std::filesystem::path ui_dir;  // The bundle's ui/ folder (may not exist).
  std::string ui_entry;          // URL path "/" serves, relative to ui_dir; may be empty.
  std::shared_ptr<const Manifest> manifest;  // Its routes go to the backend's Route.
  // Without a manifest, paths under this prefix ("/api/") go to Route instead.
  std::string route_prefix;
  // The secret the app's windows hold as the cookie SecretCookieName(port). Calls,
  // routes, events, the rest of /_mumba/ and every request other than a GET or HEAD
  // need it; only static files and mumba.js are public. An app whose secret is
  // empty is refused all of those (the gateway fails closed).
  std::string secret;
  // When true, static files and mumba.js need the secret too, and
  // GET /_mumba/login?token=<secret>&next=/PATH sets the cookie (HttpOnly,
  // SameSite=Strict) before redirecting to PATH. For the host's home app, which
  // drives the whole host: even its page is the owner's alone.
  bool secret_guards_ui = false;
};

// What the gateway asks of the host. Implementations are thread-safe; callbacks may
// run on any thread, exactly once.
class GatewayBackend {
 public:
  virtual ~GatewayBackend() = default;
  // The app `label` (a name or a 52-char id) names; NOT_FOUND otherwise.
  virtual Expected<GatewayApp> FindApp(const std::string& label) = 0;
  // Has the app's daemon (started if needed) answer a declared route.
  virtual void Route(const std::string& app_id, mumba::app::v1::RouteRequest request,
                     std::function<void(Expected<mumba::app::v1::RouteResponse>)> done) = 0;
  // A channel to the app's daemon (started if needed), on which the gateway streams
  // route bodies (mumba.app.v1.Routes/Stream).
  virtual void DaemonChannel(const std::string& app_id,
                             std::function<void(Expected<std::shared_ptr<grpc::Channel>>)> done) = 0;
  // Calls an exported method ("pkg.Service/Method") with a JSON request; the reply is JSON.
  virtual void Call(const std::string& app_id, const std::string& method, std::string json,
                    std::function<void(Expected<std::string>)> done) = 0;
};

// The defaults of GatewayLimits. 127.0.0.1 is open to every local process, so
// each bound holds against a client that opens many connections, sends slowly or
// never reads: memory, descriptors and time stay bounded whatever it does.
inline constexpr int kGatewayMaxConnections = 512;
inline constexpr std::chrono::milliseconds kGatewayHeaderTimeout{10'000};
inline constexpr std::chrono::milliseconds kGatewayBodyTimeout{60'000};
inline constexpr std::chrono::milliseconds kGatewayIdleTimeout{60'000};
inline constexpr uint64_t kGatewayMaxBodyBytes = 8u << 20;
inline constexpr uint64_t kGatewayMaxBufferedBytes = 64u << 20;
inline constexpr size_t kGatewayMaxEventBytes = 1u << 20;
inline constexpr size_t kGatewayMaxQueuedEvents = 1024;
inline constexpr size_t kGatewayMaxQueuedEventBytes = 4u << 20;
inline constexpr size_t kGatewayMaxCallFrameBytes = 64u << 10;
inline constexpr int kGatewayMaxCallsInFlight = 64;

// What the gateway gives any one client, and all of them together.
struct GatewayLimits {
  // Open connections (WebSockets included). One more is answered 503 and closed;
  // those already open are unaffected.
  int max_connections = kGatewayMaxConnections;
  // From a request's first byte to the end of its header (slowloris).
  std::chrono::milliseconds header_timeout = kGatewayHeaderTimeout;
  // To read a body that is read whole, from the end of its header.
  std::chrono::milliseconds body_timeout = kGatewayBodyTimeout;
  // How long a connection may make no progress: waiting for the next request, a
  // client not reading its reply, and between the chunks of a streamed route's body.
  std::chrono::milliseconds idle_timeout = kGatewayIdleTimeout;
  // The largest body read whole (calls, routes of apps without a manifest); larger
  // is 413 from the header alone. Declared routes stream and have no such limit.
  uint64_t max_body_bytes = kGatewayMaxBodyBytes;
  // The bytes of bodies read whole held at once by all connections together; a
  // body that would go over is 503 from its header alone.
  uint64_t max_buffered_bytes = kGatewayMaxBufferedBytes;
  // The largest event Emit sends (its whole frame).
  size_t max_event_bytes = kGatewayMaxEventBytes;
  // What one page's events socket holds for a page that does not keep up, in
  // events and in bytes; the oldest go first.
  size_t max_queued_events = kGatewayMaxQueuedEvents;
  size_t max_queued_event_bytes = kGatewayMaxQueuedEventBytes;
  // The largest frame a page may send on its socket (a call or a small route);
  // larger closes the socket (WebSocket close code 1009). mumba.js sends larger
  // requests over HTTP.
  size_t max_call_frame_bytes = kGatewayMaxCallFrameBytes;
  // Calls and routes one page's socket may have unanswered at once; one more is
  // answered RESOURCE_EXHAUSTED at once. A page that keeps sending while as many
  // refusals wait to be written is not read until they are.
  int max_calls_in_flight = kGatewayMaxCallsInFlight;
};

struct GatewayOptions {
  int port = 0;  // On 127.0.0.1; 0 picks a free one.
  int threads = 2;
  GatewayBackend* backend = nullptr;  // Borrowed; must outlive the gateway.
  GatewayLimits limits;
};

class Gateway {
 public:
  virtual ~Gateway() = default;
  // Listens and serves on its own threads. UNAVAILABLE when the port is taken.
  static Expected<std::unique_ptr<Gateway>> Start(GatewayOptions options);

  virtual int port() const = 0;
  // Sends `{"event": name, "data": <json>}` to every events socket of the app's
  // pages. `json` must be valid JSON. Thread-safe; never blocks on a slow page.
  // RESOURCE_EXHAUSTED, and nothing sent, when the frame would be larger than
  // GatewayLimits::max_event_bytes.
  virtual Status Emit(const std::string& app_id, const std::string& name, const std::string& json) = 0;
  // How many pages listen for the app's events now.
  virtual int Listeners(const std::string& app_id) const = 0;
  // Closes every connection and joins the threads. Called by the destructor too.
  virtual void Stop() = 0;
};

// The text of /_mumba/mumba.js.
const std::string& MumbaJs();

}  // namespace mumba
