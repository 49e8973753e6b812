// SPDX-License-Identifier: Apache-2.0
#include "gateway/events_session.h"

#include <boost/asio.hpp>

namespace mumba::gateway_internal {
namespace {

namespace net = boost::asio;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;

constexpr size_t kMaxQueuedEvents = 1024;  // Per page; older events are dropped beyond it.

}  // namespace

EventsSession::EventsSession(beast::tcp_stream stream) : ws_(std::move(stream)) {}

void EventsSession::Accept(Request req, std::function<void(std::shared_ptr<EventsSession>)> on_open) {
  beast::get_lowest_layer(ws_).expires_never();
  ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
  ws_.async_accept(req, [self = shared_from_this(), on_open = std::move(on_open)](beast::error_code ec) {
    if (ec) return;
    on_open(self);
    self->ReadLoop();
  });
}

void EventsSession::Send(std::string text) {
  net::post(ws_.get_executor(), [self = shared_from_this(), text = std::move(text)]() mutable {
    if (self->closed_) return;
    if (self->queue_.size() >= kMaxQueuedEvents) self->queue_.pop_front();
    self->queue_.push_back(std::move(text));
    if (self->queue_.size() == 1) self->WriteNext();
  });
}

void EventsSession::Close() {
  net::post(ws_.get_executor(), [self = shared_from_this()] {
    if (self->closed_) return;
    self->closed_ = true;
    beast::error_code ec;
    beast::get_lowest_layer(self->ws_).socket().shutdown(tcp::socket::shutdown_both, ec);
    beast::get_lowest_layer(self->ws_).close();
  });
}

void EventsSession::ReadLoop() {
  // Pages send nothing; reading notices when they go.
  ws_.async_read(in_, [self = shared_from_this()](beast::error_code ec, size_t) {
    if (ec) {
      self->closed_ = true;
      return;
    }
    self->in_.clear();
    self->ReadLoop();
  });
}

void EventsSession::WriteNext() {
  ws_.text(true);
  ws_.async_write(net::buffer(queue_.front()), [self = shared_from_this()](beast::error_code ec, size_t) {
    if (ec) {
      self->closed_ = true;
      self->queue_.clear();
      return;
    }
    self->queue_.pop_front();
    if (!self->queue_.empty()) self->WriteNext();
  });
}

void EventListeners::Add(const std::string& app_id, std::weak_ptr<EventsSession> session) {
  std::lock_guard lock(mu_);
  sessions_.emplace(app_id, std::move(session));
}

void EventListeners::Send(const std::string& app_id, const std::string& frame) {
  std::lock_guard lock(mu_);
  auto [begin, end] = sessions_.equal_range(app_id);
  for (auto it = begin; it != end;) {
    auto s = it->second.lock();
    if (!s || s->closed()) {
      it = sessions_.erase(it);
      continue;
    }
    s->Send(frame);
    ++it;
  }
}

int EventListeners::Count(const std::string& app_id) const {
  std::lock_guard lock(mu_);
  int n = 0;
  auto [begin, end] = sessions_.equal_range(app_id);
  for (auto it = begin; it != end; ++it) {
    auto s = it->second.lock();
    if (s && !s->closed()) ++n;
  }
  return n;
}

void EventListeners::CloseAll() {
  std::lock_guard lock(mu_);
  for (auto& [id, w] : sessions_) {
    if (auto s = w.lock()) s->Close();
  }
  sessions_.clear();
}

}  // namespace mumba::gateway_internal
