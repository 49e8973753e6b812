// SPDX-License-Identifier: Apache-2.0
#include "gateway/events_session.h"

#include <algorithm>

#include <boost/asio.hpp>

namespace mumba::gateway_internal {
namespace {

namespace net = boost::asio;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;

}  // namespace

EventsSession::EventsSession(beast::tcp_stream stream, Reservation slot, const GatewayLimits& limits)
    : ws_(std::move(stream)),
      slot_(std::move(slot)),
      max_queued_events_(std::max<size_t>(1, limits.max_queued_events)),
      max_queued_bytes_(limits.max_queued_event_bytes) {}

void EventsSession::Accept(Request req, std::function<void(std::shared_ptr<EventsSession>)> on_open) {
  beast::get_lowest_layer(ws_).expires_never();
  ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
  ws_.async_accept(req, [self = shared_from_this(), on_open = std::move(on_open)](beast::error_code ec) {
    if (ec) return;
    on_open(self);
    self->ReadLoop();
  });
}

void EventsSession::Send(Frame frame) {
  net::post(ws_.get_executor(), [self = shared_from_this(), frame = std::move(frame)]() mutable {
    if (self->closed_) return;
    // The oldest waiting frames make room; the one being written stays whole.
    while (!self->queue_.empty() && (self->queue_.size() >= self->max_queued_events_ ||
                                     self->queued_bytes_ + frame->size() > self->max_queued_bytes_)) {
      self->queued_bytes_ -= self->queue_.front()->size();
      self->queue_.pop_front();
    }
    self->queued_bytes_ += frame->size();
    self->queue_.push_back(std::move(frame));
    if (!self->writing_) self->WriteNext();
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
  writing_ = std::move(queue_.front());
  queue_.pop_front();
  queued_bytes_ -= writing_->size();
  ws_.text(true);
  ws_.async_write(net::buffer(*writing_), [self = shared_from_this()](beast::error_code ec, size_t) {
    self->writing_.reset();
    if (ec) {
      self->closed_ = true;
      self->queue_.clear();
      self->queued_bytes_ = 0;
      return;
    }
    if (!self->queue_.empty()) self->WriteNext();
  });
}

void EventListeners::Add(const std::string& app_id, std::weak_ptr<EventsSession> session) {
  std::lock_guard lock(mu_);
  sessions_.emplace(app_id, std::move(session));
}

void EventListeners::Send(const std::string& app_id, Frame frame) {
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
