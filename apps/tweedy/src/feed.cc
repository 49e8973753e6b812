// SPDX-License-Identifier: Apache-2.0
// tweedy between nodes: the Feed calls it answers (Hello, Push, Since) and makes
// (greeting each new peer, pushing each new post, catching up with a followed node
// that comes back). A pushed post is kept only from the node that the followed
// feed's own replica names: the replica is signed by the feed's key, and the node
// that calls is proved by the hosts' link, so no node can post as another feed.
#include <algorithm>
#include <chrono>
#include <iostream>

#include <grpcpp/grpcpp.h>

#include "tweedy.h"
#include "util.h"

namespace tweedy {

namespace {

// A peer that does not answer within this is tried again next round.
constexpr std::chrono::seconds kPeerDeadline{2};
constexpr size_t kNodeIdLength = 52;

std::unique_ptr<grpc::ClientContext> PeerContext() {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + kPeerDeadline);
  return ctx;
}

}  // namespace

std::shared_ptr<tv1::Feed::Stub> Tweedy::FeedOf(const std::string& node) {
  // The SDK keeps one channel per node, and makes it again once its connection
  // broke; making it may take a round trip to that node, so no lock is held here.
  auto channel = app_.PeerChannel(node);
  if (!channel.ok()) return nullptr;
  return tv1::Feed::NewStub(*channel);
}

tv1::HelloReply Tweedy::Hello(const std::string& node) {
  tv1::HelloReply reply;
  reply.set_feed(Feed());
  reply.set_your_node(node);
  return reply;
}

mumba::Status Tweedy::Keep(const std::string& node, tv1::Post post) {
  if (post.author().empty() || post.id() <= 0 || post.text().empty() || post.text().size() > kMaxPostBytes) {
    return mumba::InvalidArgument("a post needs an author, an id and 1 to 1120 bytes of text");
  }
  {
    std::lock_guard lock(mu_);
    auto bound = bound_.find(post.author());
    if (node.empty() || bound == bound_.end() || bound->second != node) {
      ++live_refused_;
      return mumba::PermissionDenied("not a feed followed here, or not its author's node");
    }
  }
  post.set_author_node(node);
  post.set_via("live");
  auto kept = state_.Execute(
      "INSERT OR IGNORE INTO live (author, id, author_node, text, created_ms) VALUES (?, ?, ?, ?, ?)",
      {post.author(), post.id(), post.author_node(), post.text(), post.created_ms()});
  if (!kept.ok()) return kept.status();
  if (kept->changes > 0) {
    {
      std::lock_guard lock(mu_);
      ++live_accepted_;
    }
    EmitJson("post", post);
  }
  return mumba::Status();
}

mumba::Expected<tv1::SinceReply> Tweedy::Since(int64_t after_id, int limit) {
  limit = limit > 0 ? std::min(limit, 1000) : 100;
  auto rows = posts_.Execute(
      "SELECT id, author_node, text, created_ms FROM posts WHERE id > ? ORDER BY id LIMIT ?",
      {after_id, int64_t{limit}});
  if (!rows.ok()) return rows.status();
  const std::string feed = Feed();
  tv1::SinceReply reply;
  for (const auto& row : rows->rows) {
    auto* p = reply.add_posts();
    p->set_author(feed);
    p->set_id(Int(row[0]));
    p->set_author_node(Text(row[1]));
    p->set_text(Text(row[2]));
    p->set_created_ms(Int(row[3]));
  }
  return reply;
}

void Tweedy::PushPending() {
  std::vector<tv1::Post> posts;
  std::vector<mumba::Peer> peers;
  {
    std::lock_guard lock(mu_);
    posts.swap(to_push_);
    peers = peers_;
  }
  if (posts.empty()) return;
  // Peers as the last round saw them, refreshed first: a node that arrived since
  // then gets the post too.
  if (auto now = app_.Peers(); now.ok()) peers = *now;
  for (const auto& peer : peers) {
    auto stub = FeedOf(peer.node);
    if (!stub) continue;
    for (const auto& post : posts) {
      tv1::PushReply reply;
      // A peer that does not follow this feed refuses it; either way nothing is
      // left to do, and a follower that missed it catches up with Since or the
      // replica.
      (void)stub->Push(PeerContext().get(), post, &reply);
    }
  }
}

void Tweedy::GreetPeers() {
  auto peers = app_.Peers();
  if (!peers.ok()) return;
  std::vector<mumba::Peer> fresh;
  {
    std::lock_guard lock(mu_);
    peers_ = *peers;
    std::set<std::string> live;
    for (const auto& p : peers_) {
      live.insert(p.node);
      if (!greeted_.contains(p.node)) fresh.push_back(p);
    }
    // A node that left is greeted again when it comes back, and caught up with.
    std::erase_if(greeted_, [&](const std::string& n) { return !live.contains(n); });
  }
  for (const auto& peer : fresh) {
    auto stub = FeedOf(peer.node);
    if (!stub) continue;
    tv1::HelloRequest req;
    req.set_feed(Feed());
    tv1::HelloReply reply;
    if (!stub->Hello(PeerContext().get(), req, &reply).ok()) continue;
    LearnOwnNode(reply.your_node(), /*from_host=*/false);
    std::vector<std::string> feeds;
    {
      std::lock_guard lock(mu_);
      greeted_.insert(peer.node);
      for (const auto& [address, node] : bound_) {
        if (node == peer.node) feeds.push_back(address);
      }
    }
    for (const auto& address : feeds) CatchUp(address, peer.node);
  }
}

void Tweedy::LearnOwnNode(const std::string& node, bool from_host) {
  if (node.size() != kNodeIdLength) return;
  {
    std::lock_guard lock(mu_);
    if (node_ == node) {
      node_from_host_ = node_from_host_ || from_host;
      return;
    }
    // What the host says wins over anything a peer said, in this run or before;
    // a peer's word is taken only while the host's is missing.
    if (!node_.empty() && (node_from_host_ || !from_host)) {
      // Kept as first learnt: a peer that names this node otherwise is wrong, or
      // lies to have this feed vouch for it.
      std::cerr << "tweedy: a peer says this node is " << node << ", not " << node_ << "; kept " << node_ << "\n";
      return;
    }
    node_ = node;
    node_from_host_ = from_host;
  }
  // The feed names its author's node, for followers to know whose pushes to take;
  // posts written before it was known (or under a node a peer named) get it too.
  auto named = posts_.Transaction({{"INSERT OR REPLACE INTO meta (key, value) VALUES ('node', ?)", {node}},
                                   {"UPDATE posts SET author_node = ? WHERE author_node <> ?", {node, node}}});
  if (!named.ok()) std::cerr << "tweedy: cannot name this node in the feed: " << named.status().message() << "\n";
  (void)state_.Execute("INSERT OR REPLACE INTO me (key, value) VALUES ('node', ?)", {node});
  {
    std::lock_guard lock(mu_);
    share_pending_ = true;
  }
  EmitJson("me", Me());
}

void Tweedy::CatchUp(const std::string& address, const std::string& node) {
  int64_t after = 0;
  if (auto max = app_.Sql(address).Execute("SELECT MAX(id) FROM posts"); max.ok() && !max->rows.empty()) {
    after = Int(max->rows[0][0]);
  }
  if (auto max = state_.Execute("SELECT MAX(id) FROM live WHERE author = ?", {address});
      max.ok() && !max->rows.empty()) {
    after = std::max(after, Int(max->rows[0][0]));
  }
  auto stub = FeedOf(node);
  if (!stub) return;
  tv1::SinceRequest req;
  req.set_after_id(after);
  tv1::SinceReply reply;
  if (!stub->Since(PeerContext().get(), req, &reply).ok()) return;
  for (auto& post : *reply.mutable_posts()) {
    // The node answers for the feed the replica bound it to, and for no other.
    if (post.author() != address) continue;
    (void)Keep(node, post);
  }
}

}  // namespace tweedy
