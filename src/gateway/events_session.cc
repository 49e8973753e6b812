// SPDX-License-Identifier: Apache-2.0
#include "gateway/events_session.h"

#include <algorithm>

#include <boost/asio.hpp>

#include "gateway/page_frames.h"

namespace mumba::gateway_internal {
namespace {

namespace net = boost::asio;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;

}  // namespace

EventsSession::EventsSession(beast::tcp_stream stream, Reservation slot, const GatewayBudget* budget,
                             SocketCalls calls)
    : ws_(std::move(stream)),
      slot_(std::move(slot)),
      budget_(budget),
      calls_(std::move(calls)),
      max_queued_events_(std::max<size_t>(1, budget->limits().max_queued_events)),
      max_queued_bytes_(budget->limits().max_queued_event_bytes),
      max_in_flight_(static_cast<size_t>(std::max(1, budget->limits().max_calls_in_flight))) {}

void EventsSession::Accept(Request req, std::function<void(std::shared_ptr<EventsSession>)> on_open) {
  beast::get_lowest_layer(ws_).expires_never();
  ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
  ws_.read_message_max(budget_->limits().max_call_frame_bytes);
  bool hello = false;
  for (auto offered : http::token_list(req[http::field::sec_websocket_protocol])) {
    hello |= std::string_view(offered.data(), offered.size()) == kPageSocketProtocol;
  }
  if (hello) {
    ws_.set_option(websocket::stream_base::decorator([](websocket::response_type& res) {
      res.set(http::field::sec_websocket_protocol, std::string(kPageSocketProtocol));
    }));
  }
  ws_.async_accept(req, [self = shared_from_this(), hello, on_open = std::move(on_open)](beast::error_code ec) {
    if (ec) return;
    if (hello) self->Push({std::make_shared<const std::string>(HelloFrame(self->budget_->limits())), false, false, {}});
    on_open(self);
    self->MaybeRead();
  });
}

void EventsSession::Send(Frame frame) {
  net::post(ws_.get_executor(), [self = shared_from_this(), frame = std::move(frame)]() mutable {
    if (self->closed_) return;
    self->Push({std::move(frame), false, false, {}});
  });
}

void EventsSession::Push(Outgoing out) {
  if (!out.answer) {
    // The oldest waiting events make room; answers and the frame being written stay.
    for (auto it = queue_.begin(); it != queue_.end() && (queued_events_ >= max_queued_events_ ||
                                                          queued_bytes_ + out.frame->size() > max_queued_bytes_);) {
      if (it->answer) {
        ++it;
        continue;
      }
      --queued_events_;
      queued_bytes_ -= it->frame->size();
      it = queue_.erase(it);
    }
    ++queued_events_;
    queued_bytes_ += out.frame->size();
  }
  queue_.push_back(std::move(out));
  if (!writing_) WriteNext();
}

void EventsSession::Close() {
  net::post(ws_.get_executor(), [self = shared_from_this()] { self->Shut(); });
}

void EventsSession::Shut() {
  if (closed_) return;
  closed_ = true;
  beast::error_code ec;
  beast::get_lowest_layer(ws_).socket().shutdown(tcp::socket::shutdown_both, ec);
  beast::get_lowest_layer(ws_).close();
}

void EventsSession::MaybeRead() {
  // A page that sends more while as many answers wait for it to read them is not
  // read until they are written.
  if (reading_ || closed_ || unanswered_ >= 2 * max_in_flight_) return;
  reading_ = true;
  ws_.async_read(in_, [self = shared_from_this()](beast::error_code ec, size_t) {
    self->reading_ = false;
    if (ec) {
      // The page went, or sent a frame over max_call_frame_bytes (Beast then
      // closes with 1009).
      self->closed_ = true;
      return;
    }
    self->OnFrame();
  });
}

void EventsSession::OnFrame() {
  std::string frame = beast::buffers_to_string(in_.data());
  in_.clear();
  ParsedPageFrame parsed = ParsePageFrame(frame);
  if (!parsed.id) {
    // Nothing to answer to: the page does not speak the protocol.
    ws_.async_close(websocket::close_reason(websocket::close_code::policy_error, "malformed frame"),
                    [self = shared_from_this()](beast::error_code) { self->Shut(); });
    return;
  }
  const uint64_t id = *parsed.id;
  ++unanswered_;
  auto refuse = [&](const Status& st) { Answer(id, ErrorFrame(id, st), false); };
  if (unanswered_ > max_in_flight_) {
    refuse(ResourceExhausted("this page has " + std::to_string(max_in_flight_) +
                             " requests in flight on its socket already; wait for their answers"));
  } else if (!parsed.request.ok()) {
    refuse(parsed.request.status());
  } else if (Reservation held = budget_->ReserveBody(frame.size()); !held) {
    refuse(Unavailable("the gateway holds too many requests now; try again"));
  } else if (auto app = calls_.Recheck(); !app.ok()) {
    // The app went or its secret changed: the page has to reload, and over HTTP
    // its cookie is checked again.
    return Shut();
  } else {
    // The request's bytes stay held until its answer is here.
    auto request_bytes = std::make_shared<Reservation>(std::move(held));
    calls_.Answer(*app, std::move(*parsed.request),
                  [self = shared_from_this(), id, request_bytes](std::string answer, bool binary) mutable {
                    net::post(self->ws_.get_executor(), [self, id, answer = std::move(answer), binary,
                                                         request_bytes = std::move(request_bytes)]() mutable {
                      request_bytes->Release();
                      self->Answer(id, std::move(answer), binary);
                    });
                  });
  }
  MaybeRead();
}

void EventsSession::Answer(uint64_t id, std::string frame, bool binary) {
  if (closed_) return;
  Reservation bytes = budget_->ReserveBody(frame.size());
  if (!bytes) {
    // Held whole until the page reads it, an answer must fit in what the gateway
    // holds; the request has run all the same.
    frame = ErrorFrame(id, ResourceExhausted("the answer of " + std::to_string(frame.size()) +
                                             " bytes does not fit in what the gateway holds now"));
    binary = false;
  }
  Push({std::make_shared<const std::string>(std::move(frame)), binary, true, std::move(bytes)});
}

void EventsSession::WriteNext() {
  writing_ = std::move(queue_.front());
  queue_.pop_front();
  if (writing_->answer) {
    // Answered from here on: the page, which counts a request until its answer
    // arrives, never counts fewer than the gateway does.
    --unanswered_;
  } else {
    --queued_events_;
    queued_bytes_ -= writing_->frame->size();
  }
  ws_.binary(writing_->binary);
  ws_.async_write(net::buffer(*writing_->frame), [self = shared_from_this()](beast::error_code ec, size_t) {
    self->writing_.reset();
    if (!ec) self->MaybeRead();
    if (ec) {
      self->closed_ = true;
      for (const auto& q : self->queue_) self->unanswered_ -= q.answer ? 1 : 0;
      self->queue_.clear();
      self->queued_events_ = 0;
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
