// SPDX-License-Identifier: Apache-2.0
#include "gateway/route_relay.h"

#include <boost/asio.hpp>

#include "common/grpc_status.h"
#include "mumba/app/v1/routes.grpc.pb.h"

namespace mumba::gateway_internal {
bool IsFramingHeader(std::string name) {
  for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return name == "connection" || name == "transfer-encoding" || name == "content-length" ||
         name == "keep-alive" || name == "upgrade" || name == "server";
}

namespace {

namespace net = boost::asio;
namespace av1 = mumba::app::v1;

constexpr size_t kChunkBytes = 64 * 1024;
// Uploads have no size limit of their own here: they stream.
constexpr uint64_t kMaxStreamedBody = uint64_t{1} << 40;

// Both directions run at once: the gRPC reactor's callbacks hand work to the
// connection's strand, where every Beast operation happens. Two holds keep the
// call open while the strand may still start a write (W) or a read (R).
class Relay final : public grpc::ClientBidiReactor<av1::RouteStreamRequest, av1::RouteStreamResponse>,
                    public std::enable_shared_from_this<Relay> {
 public:
  Relay(RelayConnection conn, http::request_parser<http::empty_body>&& header, av1::RouteRequest head,
        std::shared_ptr<grpc::Channel> channel)
      : conn_(std::move(conn)), parser_(std::move(header)), head_(std::move(head)), channel_(std::move(channel)),
        stub_(av1::Routes::NewStub(channel_)) {}

  void Start() {
    self_ = shared_from_this();
    keep_alive_ = parser_.get().keep_alive();
    parser_.body_limit(kMaxStreamedBody);
    stub_->async()->Stream(&ctx_, this);
    *out_.mutable_head() = head_;
    AddMultipleHolds(2);
    if (parser_.is_done()) {
      // No body (a GET): the head goes with the half-close, one message.
      writes_ended_ = true;
      upload_complete_ = true;
      last_write_ = true;
      StartWriteLast(&out_, grpc::WriteOptions());
    } else {
      StartWrite(&out_);
    }
    StartRead(&in_);
    StartCall();
  }

  // ---- Upload: HTTP body -> gRPC data. ----
  void OnWriteDone(bool ok) override {
    if (last_write_) {
      RemoveHold();  // W: that was the only write.
      return;
    }
    if (!ok) {
      // The daemon ended the call before taking the whole body: the rest of it is
      // never read, so the connection cannot carry another request.
      OnStrand([this] {
        upload_complete_ = false;
        EndWrites(false);
      });
      return;
    }
    OnStrand([this] { ReadBody(); });
  }

  void ReadBody() {
    if (parser_.is_done()) return EndWrites(true);
    parser_.get().body().data = chunk_;
    parser_.get().body().size = sizeof chunk_;
    conn_.stream->expires_after(conn_.idle_timeout);
    http::async_read(*conn_.stream, *conn_.buffer, parser_, [this, self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec == http::error::need_buffer) ec = {};
      if (ec) {
        aborted_ = true;
        ctx_.TryCancel();
        return EndWrites(false);
      }
      size_t n = sizeof chunk_ - parser_.get().body().size;
      if (n == 0) return ReadBody();
      out_.set_data(chunk_, n);
      StartWrite(&out_);
    });
  }

  void EndWrites(bool complete) {
    if (writes_ended_) return;
    writes_ended_ = true;
    upload_complete_ = complete;
    if (complete) {
      StartWritesDone();  // Releases hold W when done.
    } else {
      RemoveHold();
    }
  }

  void OnWritesDoneDone(bool) override { RemoveHold(); }

  // ---- Download: gRPC head/data -> HTTP head and chunks. ----
  void OnReadDone(bool ok) override {
    if (!ok) {
      RemoveHold();  // R: the daemon has said all it will.
      return;
    }
    OnStrand([this] {
      if (aborted_) return Abort();
      if (!head_sent_) return SendHead();
      SendChunk();
    });
  }

  void SendHead() {
    if (in_.part_case() == av1::RouteStreamResponse::kHead && !in_.head().body().empty() && !whole_) {
      // A reply known whole travels in its head: it goes out with a Content-Length,
      // in one write, once the call has ended (the read below finds the end).
      whole_ = std::make_unique<av1::RouteResponse>(std::move(*in_.mutable_head()));
      StartRead(&in_);
      return;
    }
    head_sent_ = true;
    if (whole_) {
      // More came after all: stream the head, then the body so far with this chunk.
      std::string first = std::move(*whole_->mutable_body());
      if (in_.part_case() == av1::RouteStreamResponse::kData) first += in_.data();
      in_.set_data(std::move(first));
    }
    const av1::RouteResponse* h = whole_ ? whole_.get() : in_.part_case() == av1::RouteStreamResponse::kHead ? &in_.head() : nullptr;
    SetReplyHead(res_, h);
    res_.chunked(true);
    res_.keep_alive(keep_alive_);
    res_.body().data = nullptr;
    res_.body().more = true;
    sr_.emplace(res_);
    conn_.stream->expires_after(conn_.idle_timeout);
    const bool data_too = in_.part_case() == av1::RouteStreamResponse::kData;
    http::async_write_header(*conn_.stream, *sr_, [this, self = shared_from_this(), data_too](beast::error_code ec, size_t) {
      if (ec) return Abort();
      if (data_too) return SendChunk();
      StartRead(&in_);
    });
  }

  void SendChunk() {
    if (in_.part_case() != av1::RouteStreamResponse::kData || in_.data().empty()) {
      StartRead(&in_);
      return;
    }
    res_.body().data = in_.mutable_data()->data();
    res_.body().size = in_.data().size();
    res_.body().more = true;
    conn_.stream->expires_after(conn_.idle_timeout);
    http::async_write(*conn_.stream, *sr_, [this, self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec == http::error::need_buffer) ec = {};
      if (ec) return Abort();
      StartRead(&in_);
    });
  }

  // The client went away: cancel the call. The read started here fails at once,
  // and its OnReadDone releases hold R.
  void Abort() {
    aborted_ = true;
    ctx_.TryCancel();
    StartRead(&in_);
  }

  // ---- The end. ----
  // The last callback. From here only the work queued on the strand holds the relay:
  // the reference moves into it, so that a gateway stopped with that work still
  // queued frees the relay (and the connection's socket) as it drops the work.
  void OnDone(const grpc::Status& status) override {
    net::post(conn_.stream->get_executor(), [self = std::move(self_), status] { self->Finish(status); });
  }

  void Finish(const grpc::Status& status) {
    if (!head_sent_ && whole_ && status.ok() && !aborted_) return SendWhole();
    if (!head_sent_) {
      Status st = status.ok() ? Internal("the app ended the route without an answer") : FromGrpc(status);
      if (aborted_) {
        conn_.done(false);
      } else {
        // The request body may be partly unread: the error closes the connection.
        conn_.fail(st);
      }
      return;
    }
    if (aborted_ || !status.ok()) {
      // A reply cut short: only closing the connection tells the client.
      conn_.done(false);
      return;
    }
    res_.body().data = nullptr;
    res_.body().more = false;
    conn_.stream->expires_after(conn_.idle_timeout);
    http::async_write(*conn_.stream, *sr_, [this, self = shared_from_this()](beast::error_code ec, size_t) {
      conn_.done(!ec && keep_alive_ && upload_complete_);
    });
  }

 private:
  template <typename F>
  void OnStrand(F&& f) {
    net::post(conn_.stream->get_executor(), [self = shared_from_this(), f = std::forward<F>(f)]() mutable { f(); });
  }

  RelayConnection conn_;
  http::request_parser<http::buffer_body> parser_;
  av1::RouteRequest head_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<av1::Routes::Stub> stub_;
  grpc::ClientContext ctx_;
  av1::RouteStreamRequest out_;
  av1::RouteStreamResponse in_;
  char chunk_[kChunkBytes];
  http::response<http::buffer_body> res_;
  std::optional<http::response_serializer<http::buffer_body>> sr_;
  std::shared_ptr<Relay> self_;  // From Start until OnDone, which hands it to the strand.
  // Strand state.
  bool keep_alive_ = true;
  bool head_sent_ = false;
  bool writes_ended_ = false;
  bool upload_complete_ = false;
  bool aborted_ = false;
  bool last_write_ = false;  // Set before the call starts, read on gRPC threads after.
  std::unique_ptr<av1::RouteResponse> whole_;  // A reply that came whole, until the call ends.
  http::response<http::string_body> whole_res_;

  void SendWhole() {
    SetReplyHead(whole_res_, whole_.get());
    whole_res_.keep_alive(keep_alive_);
    whole_res_.body() = std::move(*whole_->mutable_body());
    whole_res_.prepare_payload();
    conn_.stream->expires_after(conn_.idle_timeout);
    http::async_write(*conn_.stream, whole_res_, [this, self = shared_from_this()](beast::error_code ec, size_t) {
      conn_.done(!ec && keep_alive_ && upload_complete_);
    });
  }
};

}  // namespace

void RelayRoute(RelayConnection connection, http::request_parser<http::empty_body>&& header,
                av1::RouteRequest head, std::shared_ptr<grpc::Channel> channel) {
  auto relay = std::make_shared<Relay>(std::move(connection), std::move(header), std::move(head), std::move(channel));
  relay->Start();
}

}  // namespace mumba::gateway_internal
