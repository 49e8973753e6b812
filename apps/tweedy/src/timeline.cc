// SPDX-License-Identifier: Apache-2.0
// The timeline, merged from this node's feed, the replicas of the feeds it follows
// and the posts pushed live, and the round that watches the replicas: when one
// changes, the feed's author's node is read from it (so that its pushes are taken),
// live posts it now holds are dropped, and the pages are told ("timeline").
#include <algorithm>
#include <set>
#include <utility>

#include "tweedy.h"
#include "util.h"

namespace tweedy {

namespace {

constexpr char kSelectPosts[] = "SELECT id, author_node, text, created_ms FROM posts ORDER BY created_ms DESC LIMIT ?";

void AddRows(const mumba::SqlResult& rows, const std::string& author, const char* via,
             std::vector<tv1::Post>* out) {
  for (const auto& row : rows.rows) {
    tv1::Post p;
    p.set_author(author);
    p.set_id(Int(row[0]));
    p.set_author_node(Text(row[1]));
    p.set_text(Text(row[2]));
    p.set_created_ms(Int(row[3]));
    p.set_via(via);
    out->push_back(std::move(p));
  }
}

}  // namespace

mumba::Expected<tv1::TimelineReply> Tweedy::Timeline(int limit) {
  const int64_t n = limit > 0 ? std::min(limit, 1000) : 100;
  std::vector<tv1::Post> all;
  auto own = posts_.Execute(kSelectPosts, {n});
  if (!own.ok()) return own.status();
  AddRows(*own, Feed(), "own", &all);
  auto follows = state_.Execute("SELECT address FROM follows");
  if (!follows.ok()) return follows.status();
  for (const auto& row : follows->rows) {
    // Before its first snapshot arrived a replica is NOT_FOUND: it shows nothing yet.
    auto replica = app_.Sql(Text(row[0])).Execute(kSelectPosts, {n});
    if (replica.ok()) AddRows(*replica, Text(row[0]), "replica", &all);
  }
  // Pushed posts last, so that a post both pushed and replicated shows as replicated.
  auto live = state_.Execute(
      "SELECT l.id, l.author_node, l.text, l.created_ms, l.author FROM live l"
      " JOIN follows f ON f.address = l.author ORDER BY l.created_ms DESC LIMIT ?",
      {n});
  if (live.ok()) {
    for (const auto& row : live->rows) {
      mumba::SqlResult one;
      one.rows.push_back(row);
      AddRows(one, Text(row[4]), "live", &all);
    }
  }
  // One per (author, id), the first seen kept; then newest first.
  std::set<std::pair<std::string, int64_t>> seen;
  std::erase_if(all, [&](const tv1::Post& p) { return !seen.insert({p.author(), p.id()}).second; });
  std::stable_sort(all.begin(), all.end(), [](const tv1::Post& a, const tv1::Post& b) {
    if (a.created_ms() != b.created_ms()) return a.created_ms() > b.created_ms();
    if (a.author() != b.author()) return a.author() > b.author();
    return a.id() > b.id();
  });
  if (static_cast<int64_t>(all.size()) > n) all.resize(n);
  tv1::TimelineReply reply;
  for (auto& p : all) *reply.add_posts() = std::move(p);
  return reply;
}

void Tweedy::PollFollows() {
  auto follows = app_.Follows();
  if (!follows.ok()) return;
  for (const auto& f : *follows) {
    bool changed = false;
    {
      std::lock_guard lock(mu_);
      FollowState& state = follows_[f.address];
      changed = state.seq != f.seq;
      state = FollowState{f.seq, f.updated_unix_ms, f.error};
    }
    if (!changed || f.seq <= 0) continue;
    mumba::Sql replica = app_.Sql(f.address);
    tv1::Followed event;
    event.set_address(f.address);
    event.set_seq(f.seq);
    event.set_updated_unix_ms(f.updated_unix_ms);
    if (auto meta = replica.Execute("SELECT value FROM meta WHERE key = 'node'"); meta.ok() && !meta->rows.empty()) {
      event.set_node(Text(meta->rows[0][0]));
    }
    bool newly_bound = false;
    bool live_peer = false;
    if (!event.node().empty()) {
      std::lock_guard lock(mu_);
      newly_bound = bound_[f.address] != event.node();
      bound_[f.address] = event.node();
      live_peer = greeted_.contains(event.node());
    }
    if (newly_bound) {
      (void)state_.Execute("UPDATE follows SET node = ? WHERE address = ?", {event.node(), f.address});
    }
    if (auto max = replica.Execute("SELECT MAX(id), COUNT(*) FROM posts"); max.ok() && !max->rows.empty()) {
      event.set_posts(Int(max->rows[0][1]));
      (void)state_.Execute("DELETE FROM live WHERE author = ? AND id <= ?", {f.address, Int(max->rows[0][0])});
    }
    EmitJson("timeline", event);
    // A node just bound may already be a peer, greeted before its feed was known.
    if (newly_bound && live_peer) CatchUp(f.address, event.node());
  }
}

}  // namespace tweedy
