// SPDX-License-Identifier: Apache-2.0
// tweedy's own feed and its follows: writing posts, sharing the feed, following
// and unfollowing feeds, and the worker that runs the rounds (see tweedy.h).
#include "tweedy.h"

#include <chrono>
#include <iostream>

#include <google/protobuf/util/json_util.h>

#include "util.h"

namespace tweedy {

namespace {

// How often the worker looks at peers and replicas when nothing wakes it.
constexpr std::chrono::milliseconds kRound{700};
// How long a feed that could not be shared waits before the next attempt.
constexpr int64_t kShareRetryMs = 5000;

// The state database's tables, made at start: the feeds followed (node: the
// author's node as the replica names it) and the posts pushed live.
constexpr char kStateSchema[] =
    "CREATE TABLE IF NOT EXISTS follows (address TEXT PRIMARY KEY, node TEXT NOT NULL DEFAULT '',"
    " added_ms INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS live (author TEXT NOT NULL, id INTEGER NOT NULL, author_node TEXT NOT NULL,"
    " text TEXT NOT NULL, created_ms INTEGER NOT NULL, PRIMARY KEY (author, id));"
    "CREATE TABLE IF NOT EXISTS me (key TEXT PRIMARY KEY, value TEXT NOT NULL)";

}  // namespace

Tweedy::Tweedy(mumba::App& app) : app_(app), posts_(app.Sql("posts")), state_(app.Sql("state")) {}

Tweedy::~Tweedy() { Stop(); }

void Tweedy::Start() {
  if (auto made = state_.Execute(kStateSchema); !made.ok()) {
    std::cerr << "tweedy: cannot make the state tables: " << made.status().message() << "\n";
  }
  // The feed's address and this node's id from earlier runs, so that Me shows them
  // before the first share and Hello of this run.
  if (auto rows = state_.Execute("SELECT key, value FROM me"); rows.ok()) {
    std::lock_guard lock(mu_);
    for (const auto& row : rows->rows) {
      if (Text(row[0]) == "feed") feed_ = Text(row[1]);
      if (Text(row[0]) == "node") node_ = Text(row[1]);
    }
  }
  if (auto rows = state_.Execute("SELECT address, node FROM follows"); rows.ok()) {
    std::lock_guard lock(mu_);
    for (const auto& row : rows->rows) {
      if (!Text(row[1]).empty()) bound_[Text(row[0])] = Text(row[1]);
    }
  }
  // The host says which node this is (its links prove it to the others): the
  // feed names it, so followers take this node's pushes as the feed's.
  if (auto node = app_.NodeId(); node.ok()) {
    LearnOwnNode(*node, /*from_host=*/true);
  } else {
    std::cerr << "tweedy: the host does not say this node's id (" << node.status().message()
              << "); learning it from the first peer that answers\n";
  }
  worker_ = std::thread([this] { Work(); });
  pusher_ = std::thread([this] { PushLoop(); });
}

void Tweedy::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (worker_.joinable()) worker_.join();
  if (pusher_.joinable()) pusher_.join();
}

void Tweedy::Work() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    lock.unlock();
    ShareFeed();
    GreetPeers();
    PollFollows();
    lock.lock();
    // A post wakes it to share at once; a host that refused to share is asked
    // again only after kShareRetryMs (ShareFeed), so it does not wake it.
    wake_.wait_for(lock, kRound, [this] { return stopping_ || (share_pending_ && feed_error_.empty()); });
  }
}

void Tweedy::PushLoop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    wake_.wait(lock, [this] { return stopping_ || !to_push_.empty(); });
    if (stopping_) break;
    lock.unlock();
    PushPending();
    lock.lock();
  }
}

std::string Tweedy::Feed() {
  std::lock_guard lock(mu_);
  return feed_;
}

void Tweedy::ShareFeed() {
  {
    std::lock_guard lock(mu_);
    const int64_t now = NowMs();
    if (!share_pending_) return;
    // A host that could not share is asked again only now and then, not per post.
    if (!feed_error_.empty() && now - last_share_attempt_ms_ < kShareRetryMs) return;
    share_pending_ = false;
    last_share_attempt_ms_ = now;
  }
  auto shared = app_.Share(mumba::StoreKind::kSql, "posts");
  std::string error;
  if (!shared.ok()) {
    error = std::string(kSharingUnavailable) + ": " + shared.status().message();
  }
  bool changed_address = false;
  {
    std::lock_guard lock(mu_);
    if (error != feed_error_ && !error.empty()) std::cerr << "tweedy: " << error << "\n";
    if (error.empty() && !feed_error_.empty()) std::cerr << "tweedy: the feed is shared again\n";
    feed_error_ = error;
    if (!shared.ok()) share_pending_ = true;
    if (shared.ok()) {
      changed_address = feed_ != shared->address;
      feed_ = shared->address;
      feed_seq_ = shared->seq;
    }
  }
  if (changed_address) {
    (void)state_.Execute("INSERT OR REPLACE INTO me (key, value) VALUES ('feed', ?)", {shared->address});
    EmitJson("me", Me());
  }
}

mumba::Expected<tv1::Post> Tweedy::Write(const std::string& text) {
  if (text.empty() || text.size() > kMaxPostBytes) {
    return mumba::InvalidArgument("a post is 1 to 1120 bytes of text");
  }
  std::string node;
  {
    std::lock_guard lock(mu_);
    node = node_;
  }
  tv1::Post post;
  post.set_author_node(node);
  post.set_text(text);
  post.set_created_ms(NowMs());
  auto saved = posts_.Execute("INSERT INTO posts (author_node, text, created_ms) VALUES (?, ?, ?)",
                              {post.author_node(), post.text(), post.created_ms()});
  if (!saved.ok()) return saved.status();
  post.set_id(saved->last_insert_rowid);
  post.set_via("own");
  {
    std::lock_guard lock(mu_);
    post.set_author(feed_);
    share_pending_ = true;
    // A post pushed before the feed has an address could be taken for nobody's.
    if (!feed_.empty()) to_push_.push_back(post);
  }
  wake_.notify_all();
  EmitJson("post", post);
  return post;
}

mumba::Expected<tv1::Followed> Tweedy::Follow(const std::string& address) {
  if (address.rfind("mumba://", 0) != 0 || address.size() > 200) {
    return mumba::InvalidArgument("a feed's address starts with mumba://");
  }
  if (address == Feed()) {
    return mumba::InvalidArgument("this is your own feed");
  }
  auto followed = app_.Follow(address);
  if (!followed.ok()) {
    if (followed.status().code() == mumba::Code::kUnimplemented) {
      std::cerr << "tweedy: " << kSharingUnavailable << ": " << followed.status().message() << "\n";
      return mumba::Status(followed.status().code(),
                           std::string(kSharingUnavailable) + ": " + followed.status().message());
    }
    return followed.status();
  }
  auto saved = state_.Execute("INSERT OR IGNORE INTO follows (address, added_ms) VALUES (?, ?)",
                              {address, NowMs()});
  if (!saved.ok()) return saved.status();
  tv1::Followed out;
  out.set_address(address);
  out.set_seq(followed->seq);
  out.set_updated_unix_ms(followed->updated_unix_ms);
  out.set_error(followed->error);
  EmitJson("timeline", out);
  return out;
}

mumba::Status Tweedy::Unfollow(const std::string& address) {
  mumba::Status gone = app_.Unfollow(address);
  if (!gone.ok() && gone.code() != mumba::Code::kNotFound) return gone;
  auto deleted = state_.Transaction({{"DELETE FROM follows WHERE address = ?", {address}},
                                     {"DELETE FROM live WHERE author = ?", {address}}});
  if (!deleted.ok()) return deleted.status();
  {
    std::lock_guard lock(mu_);
    follows_.erase(address);
    bound_.erase(address);
  }
  tv1::Followed out;
  out.set_address(address);
  EmitJson("timeline", out);
  return mumba::Status();
}

mumba::Expected<tv1::FollowingReply> Tweedy::Following() {
  auto rows = state_.Execute("SELECT address, node FROM follows ORDER BY added_ms");
  if (!rows.ok()) return rows.status();
  tv1::FollowingReply reply;
  for (const auto& row : rows->rows) {
    auto* f = reply.add_follows();
    f->set_address(Text(row[0]));
    f->set_node(Text(row[1]));
    {
      std::lock_guard lock(mu_);
      if (auto it = follows_.find(f->address()); it != follows_.end()) {
        f->set_seq(it->second.seq);
        f->set_updated_unix_ms(it->second.updated_unix_ms);
        f->set_error(it->second.error);
      }
    }
    if (f->seq() > 0) {
      auto count = app_.Sql(f->address()).Execute("SELECT COUNT(*) FROM posts");
      if (count.ok() && !count->rows.empty()) f->set_posts(Int(count->rows[0][0]));
    }
  }
  return reply;
}

tv1::MeReply Tweedy::Me() {
  std::lock_guard lock(mu_);
  tv1::MeReply me;
  // A feed shared once keeps its address even while sharing it again fails.
  me.set_feed(feed_);
  me.set_feed_error(feed_error_);
  me.set_seq(feed_seq_);
  me.set_node(node_);
  me.set_peers(static_cast<int64_t>(peers_.size()));
  me.set_live_accepted(live_accepted_);
  me.set_live_refused(live_refused_);
  return me;
}

void Tweedy::EmitJson(const char* event, const google::protobuf::Message& message) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  // Field names as the host prints replies to pages (snake_case), so that a page
  // reads an event and a reply alike.
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  if (google::protobuf::util::MessageToJsonString(message, &json, options).ok()) (void)app_.Emit(event, json);
}

}  // namespace tweedy
