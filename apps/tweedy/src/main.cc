// SPDX-License-Identifier: Apache-2.0
// The tweedy daemon: a microblog with no server. Its pages call tweedy.v1.Tweedy
// (post, follow, read the timeline) and listen for the "post", "timeline" and "me"
// events; tweedy on other nodes calls tweedy.v1.Feed, which only they can reach
// ([[exports.peers]]). All the work is in Tweedy (tweedy.h); these services only
// translate.
#include <grpcpp/grpcpp.h>
#include <mumba/app.h>

#include "tweedy.h"

namespace {

namespace tv1 = tweedy::v1;

template <typename T, typename Out>
grpc::Status Answer(mumba::Expected<T> result, Out* out) {
  if (!result.ok()) return mumba::ToGrpcStatus(result.status());
  *out = std::move(*result);
  return grpc::Status::OK;
}

class TweedyService final : public tv1::Tweedy::Service {
 public:
  explicit TweedyService(tweedy::Tweedy& t) : t_(t) {}

  grpc::Status Post(grpc::ServerContext*, const tv1::PostRequest* req, tv1::Post* resp) override {
    return Answer(t_.Write(req->text()), resp);
  }
  grpc::Status Timeline(grpc::ServerContext*, const tv1::TimelineRequest* req, tv1::TimelineReply* resp) override {
    return Answer(t_.Timeline(req->limit()), resp);
  }
  grpc::Status Follow(grpc::ServerContext*, const tv1::FollowRequest* req, tv1::Followed* resp) override {
    return Answer(t_.Follow(req->address()), resp);
  }
  grpc::Status Unfollow(grpc::ServerContext*, const tv1::FollowRequest* req, tv1::UnfollowReply*) override {
    return mumba::ToGrpcStatus(t_.Unfollow(req->address()));
  }
  grpc::Status Following(grpc::ServerContext*, const tv1::FollowingRequest*, tv1::FollowingReply* resp) override {
    return Answer(t_.Following(), resp);
  }
  grpc::Status Me(grpc::ServerContext*, const tv1::MeRequest*, tv1::MeReply* resp) override {
    *resp = t_.Me();
    return grpc::Status::OK;
  }

 private:
  tweedy::Tweedy& t_;
};

// Reached only from tweedy on other nodes: PeerOf names the calling node.
class FeedService final : public tv1::Feed::Service {
 public:
  explicit FeedService(tweedy::Tweedy& t) : t_(t) {}

  grpc::Status Hello(grpc::ServerContext* ctx, const tv1::HelloRequest*, tv1::HelloReply* resp) override {
    *resp = t_.Hello(mumba::PeerOf(*ctx));
    return grpc::Status::OK;
  }
  grpc::Status Push(grpc::ServerContext* ctx, const tv1::Post* req, tv1::PushReply* resp) override {
    mumba::Status kept = t_.Keep(mumba::PeerOf(*ctx), *req);
    resp->set_kept(kept.ok());
    return mumba::ToGrpcStatus(kept);
  }
  grpc::Status Since(grpc::ServerContext*, const tv1::SinceRequest* req, tv1::SinceReply* resp) override {
    return Answer(t_.Since(req->after_id(), req->limit()), resp);
  }

 private:
  tweedy::Tweedy& t_;
};

}  // namespace

int main(int argc, char** argv) {
  mumba::App app(argc, argv);
  tweedy::Tweedy t(app);
  TweedyService pages(t);
  FeedService peers(t);
  app.AddService(&pages);
  app.AddService(&peers);
  t.Start();
  int rc = app.Run();
  t.Stop();
  return rc;
}
