// SPDX-License-Identifier: Apache-2.0
// One node's tweedy: its own feed (the SQL database "posts", shared under an
// address of its own), the feeds it follows (replicas the host keeps, read with
// App::Sql(address)), the posts that followed nodes pushed live, and the two
// threads that keep all of it moving: the worker shares the feed again after each
// post, greets new peers and tells the pages when a replica changed; the pusher
// sends each new post to the live peers. The gRPC services in main.cc are thin
// shells over this class.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <mumba/app.h>

#include "tweedy/v1/tweedy.grpc.pb.h"

namespace tweedy {

namespace tv1 = ::tweedy::v1;

// What the pages show while the host cannot share or follow stores.
inline constexpr char kSharingUnavailable[] = "feed sharing not available";
// The longest post, in bytes of UTF-8: 280 characters of any script.
inline constexpr size_t kMaxPostBytes = 1120;

class Tweedy {
 public:
  // Borrows `app`, which must outlive this object.
  explicit Tweedy(mumba::App& app);
  // Stops the threads (Stop) if they still run.
  ~Tweedy();
  Tweedy(const Tweedy&) = delete;
  Tweedy& operator=(const Tweedy&) = delete;

  // Makes the state tables and starts the threads that share the feed and push.
  // Errors are logged, never fatal: a node whose host cannot share still posts and
  // reads its own feed. Call once, before App::Run.
  void Start();
  // Ends the threads; once it returns, nothing more is shared or pushed.
  void Stop();

  // ---- What this node's pages and owner ask (tweedy.v1.Tweedy) ----

  // Writes a post to the feed, tells the pages ("post") and has the threads push
  // it to the live peers (once the feed has an address) and share the feed again. INVALID_ARGUMENT for an empty or
  // too long text; the storage's error when it cannot be written.
  mumba::Expected<tv1::Post> Write(const std::string& text);
  // This node's posts, every followed replica's and the live ones not yet in a
  // replica, one per (author, id), newest first, at most `limit`. A replica that
  // cannot be read (not arrived yet) is left out; an error only when the node's own
  // feed cannot be read.
  mumba::Expected<tv1::TimelineReply> Timeline(int limit);
  // Follows the feed at `address` and remembers it. INVALID_ARGUMENT for something
  // that is no address or for this node's own feed; the host's error, prefixed
  // with kSharingUnavailable when it does not serve shares (UNIMPLEMENTED).
  mumba::Expected<tv1::Followed> Follow(const std::string& address);
  // Stops following `address`, forgetting its replica and its live posts. OK when
  // it was not followed.
  mumba::Status Unfollow(const std::string& address);
  // The feeds followed, with how far their replicas are.
  mumba::Expected<tv1::FollowingReply> Following();
  // The feed's address, this node's id and the counters the pages show.
  tv1::MeReply Me();

  // ---- What tweedy on other nodes asks (tweedy.v1.Feed); `node` is PeerOf ----

  // This node's feed address, and the calling node's id as the link proved it (so
  // that a daemon learns its own). Never fails.
  tv1::HelloReply Hello(const std::string& node);
  // Keeps a post pushed by `node`: only one of a followed feed whose replica names
  // `node` as its author's node. PERMISSION_DENIED otherwise (and for a call from
  // this node, node ""); INVALID_ARGUMENT for a malformed post.
  mumba::Status Keep(const std::string& node, tv1::Post post);
  // This node's own posts after `after_id`, oldest first, at most `limit`.
  mumba::Expected<tv1::SinceReply> Since(int64_t after_id, int limit);

 private:
  struct FollowState {
    int64_t seq = 0;
    int64_t updated_unix_ms = 0;
    std::string error;
  };

  // The worker's rounds, and the pusher's: pushing has a thread of its own so that
  // a slow share (a snapshot, a DHT put) never holds a live post back.
  void Work();
  void PushLoop();
  // The steps of a round: sharing the feed when a post (or a newly learnt node id)
  // asks for it, greeting new peers, looking at the replicas. PushPending is the
  // pusher's. Failures are left for the next round; a share's is logged once.
  void ShareFeed();
  void GreetPeers();
  void PollFollows();
  void PushPending();
  // The node id the feed's posts and meta carry, learnt from a peer's Hello.
  // Takes `node` as this node's id: from the host (App::NodeId), which wins, or
  // from a peer's Hello reply while the host has not said.
  void LearnOwnNode(const std::string& node, bool from_host);
  // Posts `node` wrote for followed feed `address` after the newest one held.
  void CatchUp(const std::string& address, const std::string& node);
  // A stub for tweedy on `node`; nullptr when no connection to it can be made.
  std::shared_ptr<tv1::Feed::Stub> FeedOf(const std::string& node);
  // Sends `message` to the pages as event `event`, with the field names of replies.
  void EmitJson(const char* event, const google::protobuf::Message& message);
  // feed_, under the lock.
  std::string Feed();

  mumba::App& app_;
  mumba::Sql posts_;
  mumba::Sql state_;

  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  bool share_pending_ = true;
  int64_t last_share_attempt_ms_ = 0;
  std::string feed_;        // This node's feed address, once shared.
  int64_t feed_seq_ = 0;
  std::string feed_error_;  // Why it is not shared; "" when it is.
  std::string node_;        // This node's id: as the host says, else as the first peer that answered saw it.
  bool node_from_host_ = false;
  std::vector<tv1::Post> to_push_;
  std::set<std::string> greeted_;                       // Live peers that answered Hello.
  std::map<std::string, FollowState> follows_;          // By address, as the host last reported.
  std::map<std::string, std::string> bound_;            // Followed address -> its author's node.
  std::vector<mumba::Peer> peers_;
  int64_t live_accepted_ = 0;
  int64_t live_refused_ = 0;
  std::thread worker_;
  std::thread pusher_;
};

}  // namespace tweedy
