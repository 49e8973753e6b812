// SPDX-License-Identifier: Apache-2.0
// Internal to the gateway: the /_mumba/events WebSocket of one page, and the
// listeners of every app, to which Gateway::Emit sends. Down the socket go the
// app's events; up it come the page's calls and small route requests
// (page_frames.h), many in flight at once, each answered by its id.
#pragma once

#include <atomic>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include "gateway/gateway.h"
#include "gateway/gateway_budget.h"
#include "gateway/http_responses.h"
#include "gateway/socket_calls.h"

namespace mumba::gateway_internal {

namespace beast = boost::beast;

// One frame, shared by every page it goes to.
using Frame = std::shared_ptr<const std::string>;

// One page's socket. Its work runs on the connection's strand; Send and Close may
// be called from any thread.
//
// What a page may hold (GatewayLimits): frames up to max_call_frame_bytes (a larger
// one closes the socket with 1009); max_calls_in_flight requests unanswered, past
// which a request is answered RESOURCE_EXHAUSTED at once; and while as many
// answers again wait to be written to a page that does not read them, nothing
// more is read from it. Each request's bytes and its answer's are held in the
// gateway's budget of buffered bytes until the answer is written (UNAVAILABLE and
// RESOURCE_EXHAUSTED when it is full). Answers are never dropped; events are.
class EventsSession : public std::enable_shared_from_this<EventsSession> {
 public:
  // Takes over the connection of an HTTP session whose request was the upgrade,
  // and its place in the gateway's budget (`budget`, borrowed, outlives the
  // session), whose limits bound its queue and the page's requests; `calls`
  // answers them.
  EventsSession(beast::tcp_stream stream, Reservation slot, const GatewayBudget* budget, SocketCalls calls);

  // Completes the WebSocket handshake for `req`, naming kPageSocketProtocol when
  // the page offered it (and then sending HelloFrame first). On success calls
  // `on_open` with this session, on its strand, then reads the page's requests;
  // on failure the connection is dropped and `on_open` never runs.
  void Accept(Request req, std::function<void(std::shared_ptr<EventsSession>)> on_open);
  // Queues one text frame. A page that does not keep up loses its oldest frames
  // beyond the queue's limits (max_queued_events, max_queued_event_bytes); a
  // closed session drops the frame.
  void Send(Frame frame);
  // Closes the connection; later Sends are dropped.
  void Close();
  // True once the page went, a write failed, or Close ran.
  bool closed() const { return closed_; }

 private:
  // A frame waiting to be written: an event (droppable) or an answer, which holds
  // its place among the requests in flight and its bytes in the budget.
  struct Outgoing {
    Frame frame;
    bool binary = false;
    bool answer = false;
    Reservation held;
  };

  // Reads the next frame unless a read is on, the session is closed or the page
  // has as many answers waiting to be written as it may (2 x max_calls_in_flight).
  void MaybeRead();
  // Handles the frame just read, on the strand.
  void OnFrame();
  // Queues `frame`, the answer to request `id`, on the strand; its bytes are held
  // in the budget until it is written (an error answers instead when they do not fit).
  void Answer(uint64_t id, std::string frame, bool binary);
  void Push(Outgoing out);
  void WriteNext();
  void Shut();

  beast::websocket::stream<beast::tcp_stream> ws_;
  Reservation slot_;
  const GatewayBudget* budget_;
  const SocketCalls calls_;
  const size_t max_queued_events_;
  const size_t max_queued_bytes_;
  const size_t max_in_flight_;
  beast::flat_buffer in_;
  // Strand state: the frames waiting, the events' count and bytes among them, the
  // one being written, the requests whose answers are not being written yet, and
  // whether a read is on.
  std::deque<Outgoing> queue_;
  size_t queued_events_ = 0;
  size_t queued_bytes_ = 0;
  std::optional<Outgoing> writing_;
  size_t unanswered_ = 0;
  bool reading_ = false;
  std::atomic<bool> closed_{false};
};

// The open events sockets of every app, by app id. Thread-safe. Holds sessions
// weakly: one that went is forgotten the next time its app is looked at.
class EventListeners {
 public:
  // Adds `session` to the listeners of `app_id`.
  void Add(const std::string& app_id, std::weak_ptr<EventsSession> session);
  // Sends the text frame `frame` to every open listener of `app_id`; never blocks
  // on a slow page.
  void Send(const std::string& app_id, Frame frame);
  // How many listeners of `app_id` are open now.
  int Count(const std::string& app_id) const;
  // Closes every listener and forgets them all.
  void CloseAll();

 private:
  mutable std::mutex mu_;
  std::multimap<std::string, std::weak_ptr<EventsSession>> sessions_;
};

}  // namespace mumba::gateway_internal
