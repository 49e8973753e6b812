// SPDX-License-Identifier: Apache-2.0
// Internal to the gateway: the /_mumba/events WebSocket of one page, and the
// listeners of every app, to which Gateway::Emit sends.
#pragma once

#include <atomic>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include "gateway/gateway.h"
#include "gateway/gateway_budget.h"
#include "gateway/http_responses.h"

namespace mumba::gateway_internal {

namespace beast = boost::beast;

// One frame, shared by every page it goes to.
using Frame = std::shared_ptr<const std::string>;

// One page's events socket. Pages only listen: what they send is read and dropped.
// Its work runs on the connection's strand; Send and Close may be called from any
// thread.
class EventsSession : public std::enable_shared_from_this<EventsSession> {
 public:
  // Takes over the connection of an HTTP session whose request was the upgrade,
  // and its place in the gateway's budget. `limits` bounds its queue.
  EventsSession(beast::tcp_stream stream, Reservation slot, const GatewayLimits& limits);

  // Completes the WebSocket handshake for `req`. On success calls `on_open` with
  // this session, on its strand, then watches for the page going; on failure the
  // connection is dropped and `on_open` never runs.
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
  void ReadLoop();
  void WriteNext();

  beast::websocket::stream<beast::tcp_stream> ws_;
  Reservation slot_;
  const size_t max_queued_events_;
  const size_t max_queued_bytes_;
  beast::flat_buffer in_;
  // Strand state: the frames waiting, their bytes, and the one being written.
  std::deque<Frame> queue_;
  size_t queued_bytes_ = 0;
  Frame writing_;
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
