// SPDX-License-Identifier: Apache-2.0
#include "broker/generic_proxy.h"

#include <grpcpp/generic/generic_stub.h>

#include <algorithm>
#include <mutex>

namespace mumba {
namespace {

// Two reactors in one object: the server side (the caller's call) and `up_`, the
// call to the far side. Every transition happens under `mu_`, because the two
// sides' callbacks run on different gRPC threads. Two holds keep the far call open
// while this side may still start an operation on it: W while the caller may send
// more requests, R while a response is on its way to the caller (the next read of
// the far side is started when it has been written).
class Proxy final : public grpc::ServerGenericBidiReactor {
 public:
  Proxy(grpc::GenericCallbackServerContext* ctx, std::shared_ptr<grpc::Channel> channel, const Metadata& metadata,
        std::chrono::milliseconds max_time)
      : stub_(std::move(channel)), up_(this) {
    for (const auto& [key, value] : metadata) up_ctx_.AddMetadata(key, value);
    up_ctx_.set_deadline(std::min(ctx->deadline(), std::chrono::system_clock::now() + max_time));
    stub_.PrepareBidiStreamingCall(&up_ctx_, ctx->method(), grpc::StubOptions(), &up_);
    std::lock_guard lock(mu_);
    up_.AddMultipleHolds(2);
    up_.StartRead(&response_);
    up_.StartCall();
    StartRead(&request_);
  }

  // ---- The caller's side. ----
  void OnReadDone(bool ok) override {
    std::lock_guard lock(mu_);
    if (!ok) {
      // The caller has sent all it will (or is gone): tell the far side.
      if (hold_w_) up_.StartWritesDone();
      ReleaseW();
      return;
    }
    if (!hold_w_) return;  // The far side ended first: the request goes nowhere.
    up_.StartWrite(&request_);
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard lock(mu_);
    if (!ok) {
      // The caller is gone: nothing more it could be told.
      up_ctx_.TryCancel();
      ReleaseR();
      return;
    }
    up_.StartRead(&response_);
  }

  void OnCancel() override { up_ctx_.TryCancel(); }

  void OnDone() override { Done(&server_done_); }

 private:
  class Upstream final : public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
   public:
    explicit Upstream(Proxy* p) : p_(p) {}
    void OnWriteDone(bool ok) override { p_->UpWriteDone(ok); }
    void OnReadDone(bool ok) override { p_->UpReadDone(ok); }
    void OnDone(const grpc::Status& s) override { p_->UpDone(s); }

   private:
    Proxy* p_;
  };

  // ---- The far side. ----
  void UpWriteDone(bool ok) {
    std::lock_guard lock(mu_);
    if (!ok) {
      ReleaseW();  // The far call has ended; its status comes in UpDone.
      return;
    }
    if (hold_w_) StartRead(&request_);
  }

  void UpReadDone(bool ok) {
    std::lock_guard lock(mu_);
    if (!ok) {
      // The far side has said all it will: its status follows once nothing holds
      // the call, so stop sending it requests too.
      ReleaseW();
      ReleaseR();
      return;
    }
    StartWrite(&response_);
  }

  void UpDone(const grpc::Status& status) {
    {
      std::lock_guard lock(mu_);
      Finish(status);
    }
    Done(&up_done_);
  }

  void ReleaseW() {
    if (!hold_w_) return;
    hold_w_ = false;
    up_.RemoveHold();
  }
  void ReleaseR() {
    if (!hold_r_) return;
    hold_r_ = false;
    up_.RemoveHold();
  }

  void Done(bool* side) {
    bool both;
    {
      std::lock_guard lock(mu_);
      *side = true;
      both = server_done_ && up_done_;
    }
    if (both) delete this;
  }

  std::recursive_mutex mu_;  // Recursive in case gRPC runs a reaction inline.
  grpc::GenericStub stub_;
  grpc::ClientContext up_ctx_;
  Upstream up_;
  grpc::ByteBuffer request_;
  grpc::ByteBuffer response_;
  bool hold_w_ = true;
  bool hold_r_ = true;
  bool server_done_ = false;
  bool up_done_ = false;
};

// A unary call: the request goes up with its half-close (StartWriteLast) once it
// is read, and the response comes back with the status (StartWriteAndFinish) once
// the far call is done. The far call starts only when the request is in, so a
// caller that never sends one costs no call upstream.
class UnaryProxy final : public grpc::ServerGenericBidiReactor {
 public:
  UnaryProxy(grpc::GenericCallbackServerContext* ctx, std::shared_ptr<grpc::Channel> channel,
             const Metadata& metadata, std::chrono::milliseconds max_time)
      : stub_(std::move(channel)), up_(this) {
    for (const auto& [key, value] : metadata) up_ctx_.AddMetadata(key, value);
    up_ctx_.set_deadline(std::min(ctx->deadline(), std::chrono::system_clock::now() + max_time));
    // The headers go out with the request, in one write.
    up_ctx_.set_initial_metadata_corked(true);
    method_ = ctx->method();
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    std::unique_lock lock(mu_);
    if (!ok) {
      // Gone (or no request at all): nothing was started upstream.
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "the call ended before its request"));
      return;
    }
    if (cancelled_) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "the caller cancelled"));
      return;
    }
    up_started_ = true;
    stub_.PrepareBidiStreamingCall(&up_ctx_, method_, grpc::StubOptions(), &up_);
    up_.StartWriteLast(&request_, grpc::WriteOptions());
    up_.StartRead(&response_);
    up_.StartCall();
  }

  void OnWriteDone(bool) override {}

  void OnCancel() override {
    std::lock_guard lock(mu_);
    cancelled_ = true;
    if (up_started_) up_ctx_.TryCancel();
  }

  void OnDone() override {
    bool both;
    {
      std::lock_guard lock(mu_);
      server_done_ = true;
      both = !up_started_ || up_done_;
    }
    if (both) delete this;
  }

 private:
  class Upstream final : public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
   public:
    explicit Upstream(UnaryProxy* p) : p_(p) {}
    void OnReadDone(bool ok) override { p_->got_response_ = ok; }
    void OnDone(const grpc::Status& s) override { p_->UpDone(s); }

   private:
    UnaryProxy* p_;
  };

  void UpDone(const grpc::Status& status) {
    bool both;
    {
      std::lock_guard lock(mu_);
      if (got_response_ && status.ok()) {
        StartWriteAndFinish(&response_, grpc::WriteOptions(), status);
      } else {
        Finish(status);
      }
      up_done_ = true;
      both = server_done_;
    }
    if (both) delete this;
  }

  std::recursive_mutex mu_;
  grpc::GenericStub stub_;
  grpc::ClientContext up_ctx_;
  Upstream up_;
  std::string method_;
  grpc::ByteBuffer request_;
  grpc::ByteBuffer response_;
  bool got_response_ = false;  // Written by the far side's read, before its OnDone.
  bool up_started_ = false;
  bool up_done_ = false;
  bool server_done_ = false;
  bool cancelled_ = false;
};

class Refusal final : public grpc::ServerGenericBidiReactor {
 public:
  explicit Refusal(const grpc::Status& status) { Finish(status); }
  void OnDone() override { delete this; }
};

}  // namespace

grpc::ServerGenericBidiReactor* ProxyCall(grpc::GenericCallbackServerContext* ctx, std::shared_ptr<grpc::Channel> channel,
                                          Metadata metadata, std::chrono::milliseconds max_time, bool unary) {
  if (unary) return new UnaryProxy(ctx, std::move(channel), metadata, max_time);
  return new Proxy(ctx, std::move(channel), metadata, max_time);
}

grpc::ServerGenericBidiReactor* RefuseCall(grpc::Status status) { return new Refusal(status); }

}  // namespace mumba
