// SPDX-License-Identifier: Apache-2.0
// P2pNode against real libtorrent sessions: several nodes in this process on
// 127.0.0.1 forming a private DHT among themselves. Nothing leaves loopback: every
// node listens on 127.0.0.1 and joins only through the others.
#include "p2p/p2p_node.h"
#include "p2p/session_settings.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <thread>

#include <libtorrent/alert_types.hpp>
#include <libtorrent/bencode.hpp>
#include <libtorrent/kademlia/ed25519.hpp>
#include <libtorrent/kademlia/item.hpp>
#include <libtorrent/session.hpp>
#include <libtorrent/settings_pack.hpp>

#include "common/temp_dir.h"

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Steady = std::chrono::steady_clock;

namespace mumba {
namespace {

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }
double Millis(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// Figures worth reading in the test log, in one greppable form.
void Report(const std::string& what, double value, const char* unit) {
  std::printf("[ figure   ] %s: %.2f %s\n", what.c_str(), value, unit);
  std::fflush(stdout);
}

void WriteBytes(const fs::path& path, const std::string& bytes) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << bytes;
}

std::string RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (size_t i = 0; i + 8 <= n; i += 8) {
    uint64_t v = rng();
    std::memcpy(&s[i], &v, 8);
  }
  for (size_t i = n - n % 8; i < n; ++i) s[i] = static_cast<char>(rng());
  return s;
}

std::string ReadBytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Relative path -> (contents, owner-executable) of every regular file under dir.
std::map<std::string, std::pair<std::string, bool>> Snapshot(const fs::path& dir) {
  std::map<std::string, std::pair<std::string, bool>> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    bool exec = (e.status().permissions() & fs::perms::owner_exec) != fs::perms::none;
    out[e.path().lexically_relative(dir).generic_string()] = {ReadBytes(e.path()), exec};
  }
  return out;
}

// A bundle-like folder: nested folders, small files, a 5 MB one, an
// executable and an empty file.
void MakeBundle(const fs::path& dir) {
  WriteBytes(dir / "mumba.toml", "name = \"hello\"\nversion = \"1.0.0\"\n");
  WriteBytes(dir / "bin/hello", "#!/bin/sh\necho hello\n");
  fs::permissions(dir / "bin/hello", fs::perms::owner_exec, fs::perm_options::add);
  WriteBytes(dir / "ui/index.html", "<!doctype html><p>hi</p>\n");
  WriteBytes(dir / "ui/assets/deep/app.js", RandomBytes(70000, 1));
  WriteBytes(dir / "data/blob.bin", RandomBytes(5 * 1024 * 1024 + 123, 2));
  WriteBytes(dir / "data/empty", "");
}

template <typename Pred>
bool WaitFor(Pred pred, Clock::duration timeout) {
  auto deadline = Steady::now() + timeout;
  while (!pred()) {
    if (Steady::now() >= deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

// Creates a node with `options`; null (and a test failure) if it cannot start.
std::unique_ptr<P2pNode> CreateNode(P2pOptions options) {
  auto node = P2pNode::Create(std::move(options));
  EXPECT_TRUE(node.ok()) << node.status().message();
  return node.ok() ? std::move(node).value() : nullptr;
}

std::unique_ptr<P2pNode> MakeNode(std::vector<std::string> bootstrap = {}, fs::path state_dir = {}) {
  P2pOptions options;
  options.listen = "127.0.0.1:0";
  options.bootstrap = std::move(bootstrap);
  options.state_dir = std::move(state_dir);
  return CreateNode(std::move(options));
}

TEST(P2pNodeCreateTest, ListensOnTheGivenLoopbackAddress) {
  auto node = MakeNode();
  ASSERT_TRUE(node);
  P2pStatus st = node->Status();
  ASSERT_TRUE(st.listen.starts_with("127.0.0.1:")) << st.listen;
  int port = std::stoi(st.listen.substr(10));
  EXPECT_GT(port, 0);
  EXPECT_EQ(st.dht_nodes, 0);  // No bootstrap: no DHT traffic.
  EXPECT_EQ(st.torrents, 0);

  // The port is taken: the node says so rather than quietly using another.
  P2pOptions taken;
  taken.listen = st.listen;
  auto second = P2pNode::Create(taken);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), Code::kUnavailable) << second.status().message();
}

TEST(P2pNodeCreateTest, RefusesBadAddresses) {
  for (std::string listen : {"localhost:0", "127.0.0.1", "127.0.0.1:70000", ":0", "127.0.0.1:x", "::1:0"}) {
    P2pOptions options;
    options.listen = listen;
    auto node = P2pNode::Create(options);
    ASSERT_FALSE(node.ok()) << listen;
    EXPECT_EQ(node.status().code(), Code::kInvalidArgument) << listen;
  }
  P2pOptions options;
  options.listen = "127.0.0.1:0";
  options.bootstrap = {"127.0.0.1"};
  auto node = P2pNode::Create(options);
  ASSERT_FALSE(node.ok());
  EXPECT_EQ(node.status().code(), Code::kInvalidArgument);
}

TEST(P2pNodeCreateTest, AloneItStoresAndFindsNothingWithinTheTimeouts) {
  auto node = MakeNode();
  ASSERT_TRUE(node);
  KeyPair key = GenerateKeyPair();
  auto start = Steady::now();
  mumba::Status put = node->PutMutable(key, {{"name", "x"}}, 1, 500ms);
  EXPECT_EQ(put.code(), Code::kDeadlineExceeded) << put.message();
  auto got = node->GetMutable(key.public_key, 500ms);
  EXPECT_EQ(got.status().code(), Code::kNotFound);
  EXPECT_LT(Seconds(Steady::now() - start), 2.0);
}

TEST(P2pNodeCreateTest, RejoinsThroughTheNodesItKnewBefore) {
  TempDir tmp("p2p-state");
  fs::path state = tmp.path() / "p2p";
  auto a = MakeNode();
  ASSERT_TRUE(a);
  {
    auto b = MakeNode({a->Status().listen}, state);
    ASSERT_TRUE(b);
    ASSERT_TRUE(WaitFor([&] { return b->Status().dht_nodes >= 1; }, 3s));
  }
  ASSERT_TRUE(fs::exists(state / "dht_state"));
  EXPECT_EQ(fs::status(state / "dht_state").permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);

  // Told only of a dead loopback port, the restarted node still finds A through
  // the contacts it saved.
  auto b = MakeNode({"127.0.0.1:1"}, state);
  ASSERT_TRUE(b);
  EXPECT_TRUE(WaitFor([&] { return b->Status().dht_nodes >= 1; }, 3s));

  // With no bootstrap at all the saved contacts stay unused: no DHT traffic
  // until AddDhtNode.
  b.reset();
  b = MakeNode({}, state);
  ASSERT_TRUE(b);
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(b->Status().dht_nodes, 0);
}

TEST(P2pNodeSeedTest, SameFilesAndNameGiveSameHashesWhateverTheFolder) {
  TempDir tmp("p2p-seed");
  MakeBundle(tmp.path() / "alpha");
  fs::create_directories(tmp.path() / "elsewhere");
  fs::copy(tmp.path() / "alpha", tmp.path() / "elsewhere/beta", fs::copy_options::recursive);
  auto a = MakeNode();
  auto b = MakeNode();
  ASSERT_TRUE(a && b);

  auto ref = a->Seed(tmp.path() / "alpha", "bundle");
  ASSERT_TRUE(ref.ok()) << ref.status().message();
  EXPECT_EQ(ref->name, "bundle");
  EXPECT_EQ(ref->info_hash_v1.size(), 40u);
  EXPECT_EQ(ref->info_hash_v2.size(), 64u);
  EXPECT_EQ(ref->magnet, "magnet:?xt=urn:btih:" + ref->info_hash_v1 + "&xt=urn:btmh:1220" +
                             ref->info_hash_v2 + "&dn=bundle");
  uint64_t total = 0;
  for (const auto& [rel, file] : Snapshot(tmp.path() / "alpha")) total += file.first.size();
  EXPECT_EQ(ref->total_size, total);

  auto same = b->Seed(tmp.path() / "elsewhere/beta", "bundle");
  ASSERT_TRUE(same.ok()) << same.status().message();
  EXPECT_EQ(same->info_hash_v1, ref->info_hash_v1);
  EXPECT_EQ(same->info_hash_v2, ref->info_hash_v2);

  // Seeding again is a no-op.
  auto again = a->Seed(tmp.path() / "alpha", "bundle");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->info_hash_v1, ref->info_hash_v1);
  ASSERT_EQ(a->Seeding().size(), 1u);
  EXPECT_EQ(a->Seeding()[0].info_hash_v1, ref->info_hash_v1);
  P2pStatus st = a->Status();
  EXPECT_EQ(st.torrents, 1);
  EXPECT_EQ(st.seeding, 1);

  // The name, the contents and the executable bit are part of the identity.
  ASSERT_TRUE(b->StopSeeding(same->info_hash_v1).ok());
  EXPECT_TRUE(b->Seeding().empty());
  EXPECT_EQ(b->StopSeeding(same->info_hash_v1).code(), Code::kNotFound);
  auto renamed = b->Seed(tmp.path() / "elsewhere/beta", "other");
  ASSERT_TRUE(renamed.ok());
  EXPECT_NE(renamed->info_hash_v1, ref->info_hash_v1);
  ASSERT_TRUE(b->StopSeeding(renamed->info_hash_v1).ok());
  fs::permissions(tmp.path() / "elsewhere/beta/bin/hello", fs::perms::owner_exec, fs::perm_options::remove);
  auto not_exec = b->Seed(tmp.path() / "elsewhere/beta", "bundle");
  ASSERT_TRUE(not_exec.ok());
  EXPECT_NE(not_exec->info_hash_v1, ref->info_hash_v1);
  EXPECT_NE(not_exec->info_hash_v2, ref->info_hash_v2);
}

TEST(P2pNodeSeedTest, RefusesWhatATorrentCannotHold) {
  TempDir tmp("p2p-seed");
  auto node = MakeNode();
  ASSERT_TRUE(node);
  MakeBundle(tmp.path() / "b");
  fs::create_symlink("mumba.toml", tmp.path() / "b/link");
  auto linked = node->Seed(tmp.path() / "b", "bundle");
  ASSERT_FALSE(linked.ok());
  EXPECT_EQ(linked.status().code(), Code::kInvalidArgument);
  EXPECT_NE(linked.status().message().find("link"), std::string::npos) << linked.status().message();

  fs::create_directories(tmp.path() / "empty/sub");
  EXPECT_EQ(node->Seed(tmp.path() / "empty", "bundle").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(node->Seed(tmp.path() / "missing", "bundle").status().code(), Code::kInvalidArgument);
  fs::remove(tmp.path() / "b/link");
  for (const char* name : {"", ".", "..", "a/b"}) {
    EXPECT_EQ(node->Seed(tmp.path() / "b", name).status().code(), Code::kInvalidArgument) << name;
  }
  EXPECT_TRUE(node->Seeding().empty());
}

// Three nodes that bootstrapped only from one another.
class P2pNetworkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto start = Steady::now();
    a_ = MakeNode();
    ASSERT_TRUE(a_);
    b_ = MakeNode({a_->Status().listen});
    ASSERT_TRUE(b_);
    c_ = MakeNode({a_->Status().listen, b_->Status().listen});
    ASSERT_TRUE(c_);
    // Joins go both ways: a node counts one that only contacted it after its
    // next routing-table refresh, ~5 s later.
    ASSERT_TRUE(a_->AddDhtNode(b_->Status().listen).ok());
    ASSERT_TRUE(a_->AddDhtNode(c_->Status().listen).ok());
    ASSERT_TRUE(b_->AddDhtNode(c_->Status().listen).ok());
    bool formed = WaitFor(
        [&] {
          return a_->Status().dht_nodes >= 2 && b_->Status().dht_nodes >= 2 && c_->Status().dht_nodes >= 2;
        },
        5s);
    ASSERT_TRUE(formed) << "DHT nodes: " << a_->Status().dht_nodes << " " << b_->Status().dht_nodes << " "
                        << c_->Status().dht_nodes;
    Report("DHT of 3 nodes formed (create+join)", Millis(Steady::now() - start), "ms");
  }

  // A fourth node joined through A and B that downloads at most 500 kB/s.
  std::unique_ptr<P2pNode> SlowNode() {
    P2pOptions options;
    options.listen = "127.0.0.1:0";
    options.bootstrap = {a_->Status().listen, b_->Status().listen};
    options.download_rate_limit = 500 * 1000;
    return CreateNode(std::move(options));
  }

  // Seeds a bundle-like folder (MakeBundle) at A from tmp_/src.
  Expected<TorrentRef> SeedBundleAtA() {
    MakeBundle(tmp_.path() / "src");
    return a_->Seed(tmp_.path() / "src", "bundle");
  }

  std::unique_ptr<P2pNode> a_, b_, c_;
  TempDir tmp_{"p2p-net"};
};

TEST_F(P2pNetworkTest, FetchesByInfoHashesAloneAndFromWhoeverSeeds) {
  auto ref = SeedBundleAtA();
  ASSERT_TRUE(ref.ok()) << ref.status().message();

  // C knows only the hashes; it finds A through the DHT.
  int calls = 0, most_peers = 0;
  FetchProgress last;
  auto fetched =
      c_->Fetch(ref->info_hash_v1, ref->info_hash_v2, tmp_.path() / "c", 10s, {}, [&](const FetchProgress& p) {
        ++calls;
        last = p;
        return true;
      });
  ASSERT_TRUE(fetched.ok()) << fetched.status().message() << " (peers seen: " << most_peers << ")";
  EXPECT_EQ(*fetched, tmp_.path() / "c/bundle");
  EXPECT_EQ(Snapshot(*fetched), Snapshot(tmp_.path() / "src"));
  EXPECT_GE(calls, 1);
  EXPECT_EQ(last.done, last.total);
  // Only the folder is left behind: no staging, and the torrent left C's session.
  EXPECT_EQ(std::distance(fs::directory_iterator(tmp_.path() / "c"), {}), 1);
  EXPECT_EQ(c_->Status().torrents, 0);

  // B fetches too and seeds its copy: the same torrent.
  auto at_b = b_->Fetch(ref->info_hash_v1, ref->info_hash_v2, tmp_.path() / "b", 10s, {}, nullptr);
  ASSERT_TRUE(at_b.ok()) << at_b.status().message();
  auto b_ref = b_->Seed(*at_b, "bundle");
  ASSERT_TRUE(b_ref.ok()) << b_ref.status().message();
  EXPECT_EQ(b_ref->info_hash_v1, ref->info_hash_v1);
  EXPECT_EQ(b_ref->info_hash_v2, ref->info_hash_v2);

  // A goes away; C fetches again, now from B.
  a_.reset();
  auto start = Steady::now();
  auto again = c_->Fetch(ref->info_hash_v1, ref->info_hash_v2, tmp_.path() / "c2", 15s, {}, nullptr);
  ASSERT_TRUE(again.ok()) << again.status().message();
  Report("fetch from B once A is gone (5.2 MB)", Millis(Steady::now() - start), "ms");
  EXPECT_EQ(Snapshot(*again), Snapshot(tmp_.path() / "src"));
}

TEST_F(P2pNetworkTest, ATorrentOverItsLimitsIsStoppedAtItsMetadataAndLeavesNothing) {
  auto ref = SeedBundleAtA();
  ASSERT_TRUE(ref.ok()) << ref.status().message();

  // Announced one byte short of what the torrent holds.
  FetchLimits announced;
  announced.announced_bytes = ref->total_size - 1;
  uint64_t most = 0;
  auto r = c_->Fetch(ref->info_hash_v1, ref->info_hash_v2, tmp_.path() / "dest", 10s, announced,
                     [&](const FetchProgress& p) {
                       most = std::max(most, p.done);
                       return true;
                     });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kResourceExhausted);
  const std::string why(r.status().message());
  EXPECT_NE(why.find("holds " + std::to_string(ref->total_size) + " bytes"), std::string::npos) << why;
  EXPECT_NE(why.find("the " + std::to_string(ref->total_size - 1) + " bytes announced"), std::string::npos) << why;
  EXPECT_LT(most, ref->total_size);
  EXPECT_TRUE(fs::is_empty(tmp_.path() / "dest"));
  EXPECT_EQ(c_->Status().torrents, 0);

  // A ceiling below the torrent, or a file count, refuses it whatever was announced.
  FetchLimits ceiling;
  ceiling.announced_bytes = ref->total_size;
  ceiling.max_bytes = ref->total_size / 2;
  r = c_->Fetch(ref->info_hash_v1, ref->info_hash_v2, tmp_.path() / "dest", 10s, ceiling, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("ceiling of " + std::to_string(ref->total_size / 2) + " bytes"),
            std::string::npos)
      << r.status().message();
  FetchLimits files;
  files.max_files = 1;
  r = c_->Fetch(ref->info_hash_v1, ref->info_hash_v2, tmp_.path() / "dest", 10s, files, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("ceiling of 1 files"), std::string::npos) << r.status().message();
  EXPECT_TRUE(fs::is_empty(tmp_.path() / "dest"));

  // Within its limits, the same torrent arrives.
  FetchLimits exact;
  exact.announced_bytes = ref->total_size;
  auto ok = c_->Fetch(ref->info_hash_v1, ref->info_hash_v2, tmp_.path() / "ok", 10s, exact, nullptr);
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  EXPECT_EQ(Snapshot(*ok), Snapshot(tmp_.path() / "src"));
}

TEST(P2pSessionSettingsTest, APublicNodeKeepsLibtorrentsProtectionsAndOnlyLoopbackLiftsThem) {
  using sp = lt::settings_pack;
  const lt::settings_pack defaults = lt::default_settings();
  lt::settings_pack pub = SessionSettings("0.0.0.0:6881", /*loopback=*/false);
  // One connection per IP and the DHT's rate limits and IP restrictions, as
  // libtorrent ships them.
  for (int b : {sp::allow_multiple_connections_per_ip, sp::dht_restrict_routing_ips, sp::dht_restrict_search_ips,
                sp::enable_outgoing_utp, sp::seeding_outgoing_connections}) {
    EXPECT_FALSE(pub.has_val(b)) << lt::name_for_setting(b);
  }
  for (int i : {sp::dht_upload_rate_limit, sp::dht_block_ratelimit, sp::min_reconnect_time}) {
    EXPECT_FALSE(pub.has_val(i)) << lt::name_for_setting(i);
  }
  EXPECT_FALSE(defaults.get_bool(sp::allow_multiple_connections_per_ip));
  EXPECT_GT(defaults.get_int(sp::dht_upload_rate_limit), 0);
  EXPECT_FALSE(pub.get_bool(sp::enable_lsd));
  EXPECT_EQ(pub.get_str(sp::dht_bootstrap_nodes), "");

  lt::settings_pack loop = SessionSettings("127.0.0.1:0", /*loopback=*/true);
  EXPECT_TRUE(loop.get_bool(sp::allow_multiple_connections_per_ip));
  EXPECT_GT(loop.get_int(sp::dht_upload_rate_limit), defaults.get_int(sp::dht_upload_rate_limit));
  EXPECT_FALSE(loop.get_bool(sp::dht_restrict_routing_ips));
}

TEST_F(P2pNetworkTest, FetchOfAnUnknownTorrentTimesOutAndLeavesNothing) {
  std::string v1(40, 'a'), v2(64, 'b');
  auto start = Steady::now();
  auto r = c_->Fetch(v1, v2, tmp_.path() / "dest", 1500ms, {}, nullptr);
  auto took = Steady::now() - start;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kDeadlineExceeded);
  EXPECT_NE(r.status().message().find("no one served " + v1 + " within 1.5 s"), std::string::npos)
      << r.status().message();
  EXPECT_LT(Seconds(took), 4.0);
  EXPECT_TRUE(fs::is_empty(tmp_.path() / "dest"));
  EXPECT_EQ(c_->Status().torrents, 0);

  EXPECT_EQ(c_->Fetch("xyz", v2, tmp_.path() / "dest", 1s, {}, nullptr).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(c_->Fetch("", "", tmp_.path() / "dest", 1s, {}, nullptr).status().code(), Code::kInvalidArgument);
}

TEST_F(P2pNetworkTest, AnIncompleteFetchLeavesNothingBehind) {
  auto ref = SeedBundleAtA();
  ASSERT_TRUE(ref.ok()) << ref.status().message();
  // A node limited to 500 kB/s (the limit holds on loopback too) cannot get
  // 5.2 MB within 3 s.
  auto slow = SlowNode();
  ASSERT_TRUE(slow);
  FetchProgress last;
  auto r = slow->Fetch(ref->info_hash_v1, ref->info_hash_v2, tmp_.path() / "dest", 3s, {},
                       [&](const FetchProgress& p) {
                         last = p;
                         return true;
                       });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kDeadlineExceeded);
  EXPECT_NE(r.status().message().find("bytes within 3.0 s"), std::string::npos) << r.status().message();
  EXPECT_GT(last.done, 0u) << r.status().message() << " peers " << last.peers << " rate " << last.rate;
  EXPECT_LT(last.done, last.total);
  EXPECT_TRUE(fs::is_empty(tmp_.path() / "dest"));
  EXPECT_EQ(slow->Status().torrents, 0);
}

TEST_F(P2pNetworkTest, ALookupDoesNotWaitForSilentNodes) {
  KeyPair app = GenerateKeyPair();
  std::map<std::string, std::string> v1 = {{"name", "hello"}, {"version", "1.0.0"}};
  ASSERT_TRUE(a_->PutMutable(app, v1, 1, 5s).ok());
  // B vanishes without a word, as a host that loses its network does: a UDP socket
  // that never reads holds its port (a closed port would answer "unreachable").
  const std::string b_listen = b_->Status().listen;
  const int b_port = std::stoi(b_listen.substr(b_listen.rfind(':') + 1));
  b_.reset();
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(b_port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0) << std::strerror(errno);
  const auto start = Steady::now();
  auto got = c_->GetMutable(app.public_key, 20s);
  const double took = Seconds(Steady::now() - start);
  ::close(fd);
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(got->fields, v1);
  // The lookup itself waits for B until libtorrent gives up on it (15 s); the
  // answer comes shortly after A's item arrived.
  EXPECT_LT(took, 5.0);
  Report("BEP 44 get with a silent node", took * 1000, "ms");
}

TEST_F(P2pNetworkTest, AFetchStopsWhenItsCallerCancels) {
  auto ref = SeedBundleAtA();
  ASSERT_TRUE(ref.ok()) << ref.status().message();
  auto slow = SlowNode();
  ASSERT_TRUE(slow);
  const auto start = Steady::now();
  uint64_t done = 0;
  // The caller gives up once some bytes arrived: well before the 20 s timeout.
  auto r = slow->Fetch(ref->info_hash_v1, ref->info_hash_v2, tmp_.path() / "dest", 20s, {},
                       [&](const FetchProgress& p) {
                         done = p.done;
                         return p.done == 0;
                       });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kCancelled) << r.status().message();
  EXPECT_GT(done, 0u);
  EXPECT_LT(Seconds(Steady::now() - start), 15.0);
  EXPECT_TRUE(fs::is_empty(tmp_.path() / "dest"));
  EXPECT_EQ(slow->Status().torrents, 0);
}

TEST_F(P2pNetworkTest, CountPeersCountsTheSeedersTheDhtKnows) {
  auto ref = SeedBundleAtA();
  ASSERT_TRUE(ref.ok()) << ref.status().message();
  // B fetches a copy and seeds it too: two seeders.
  auto got = b_->Fetch(ref->info_hash_v1, ref->info_hash_v2, tmp_.path() / "b", 15s, {}, nullptr);
  ASSERT_TRUE(got.ok()) << got.status().message();
  ASSERT_TRUE(b_->Seed(*got, "bundle").ok());
  int n = 0;
  // Announces reach the DHT a moment after seeding starts.
  for (auto until = Steady::now() + 10s; Steady::now() < until && n < 2;) {
    auto counted = c_->CountPeers(ref->info_hash_v1, 3s);
    ASSERT_TRUE(counted.ok()) << counted.status().message();
    n = *counted;
  }
  EXPECT_EQ(n, 2);
  // No one announced these hashes.
  auto none = c_->CountPeers(std::string(40, 'a'), 2s);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, 0);
  EXPECT_EQ(c_->CountPeers("nothex", 1s).status().code(), Code::kInvalidArgument);
}

// A session that is not a P2pNode, playing a forger on the same private DHT.
class Forger {
 public:
  explicit Forger(const std::string& join) {
    lt::settings_pack s = SessionSettings("127.0.0.1:0", /*loopback=*/true);
    s.set_int(lt::settings_pack::alert_mask, lt::alert_category::status | lt::alert_category::dht);
    session_ = std::make_unique<lt::session>(lt::session_params(s));
    bool udp = WaitForAlert([](lt::alert* a) {
      auto* l = lt::alert_cast<lt::listen_succeeded_alert>(a);
      return l && l->socket_type == lt::socket_type_t::utp;
    });
    EXPECT_TRUE(udp);
    auto colon = join.rfind(':');
    session_->add_dht_node({join.substr(0, colon), std::stoi(join.substr(colon + 1))});
  }

  // Puts `value` under `victim`'s public key, signed with another key.
  int PutForged(const std::array<uint8_t, 32>& victim, int64_t seq) {
    auto [fake_pk, fake_sk] = lt::dht::ed25519_create_keypair(lt::dht::ed25519_create_seed());
    lt::dht::public_key pk(reinterpret_cast<const char*>(victim.data()));
    std::array<char, 32> key;
    std::memcpy(key.data(), victim.data(), 32);
    lt::entry value(lt::entry::dictionary_t);
    value["name"] = "evil";
    std::vector<char> encoded;
    lt::bencode(std::back_inserter(encoded), value);
    auto sig = lt::dht::sign_mutable_item(encoded, {}, lt::dht::sequence_number(seq), pk, fake_sk);
    session_->dht_put_item(key,
                           [=](lt::entry& e, std::array<char, 64>& s, std::int64_t& q, const std::string&) {
                             e = value;
                             s = sig.bytes;
                             q = seq;
                           });
    int stored = -1;
    WaitForAlert([&](lt::alert* a) {
      auto* p = lt::alert_cast<lt::dht_put_alert>(a);
      if (p) stored = p->num_success;
      return p != nullptr;
    });
    return stored;
  }

 private:
  template <typename Pred>
  bool WaitForAlert(Pred pred) {
    auto deadline = Steady::now() + 5s;
    while (Steady::now() < deadline) {
      session_->wait_for_alert(lt::milliseconds(100));
      std::vector<lt::alert*> alerts;
      session_->pop_alerts(&alerts);
      for (auto* a : alerts) {
        if (pred(a)) return true;
      }
    }
    return false;
  }

  std::unique_ptr<lt::session> session_;
};

TEST_F(P2pNetworkTest, MutableItemsTravelSignedAndNewestWins) {
  KeyPair app = GenerateKeyPair();
  std::string ih = RandomBytes(20, 3);
  ih[5] = '\0';  // Raw bytes survive, NULs included.
  std::map<std::string, std::string> v1 = {
      {"ih", ih}, {"v2", RandomBytes(32, 4)}, {"name", "hello"}, {"version", "1.0.0"}, {"size", "5243000"}};

  auto put_start = Steady::now();
  mumba::Status put = a_->PutMutable(app, v1, 1, 5s);
  auto put_took = Steady::now() - put_start;
  ASSERT_TRUE(put.ok()) << put.message();
  auto get_start = Steady::now();
  auto got = c_->GetMutable(app.public_key, 5s);
  auto get_took = Steady::now() - get_start;
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(got->seq, 1);
  EXPECT_EQ(got->public_key, app.public_key);
  EXPECT_EQ(got->fields, v1);
  Report("BEP 44 put (first, 3 nodes)", Millis(put_took), "ms");
  Report("BEP 44 get (3 nodes)", Millis(get_took), "ms");

  auto v2 = v1;
  v2["version"] = "1.0.1";
  auto cycle_start = Steady::now();
  ASSERT_TRUE(a_->PutMutable(app, v2, 2, 5s).ok());
  got = c_->GetMutable(app.public_key, 5s);
  Report("BEP 44 update+get cycle", Millis(Steady::now() - cycle_start), "ms");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->seq, 2);
  EXPECT_EQ(got->fields, v2);

  // An older sequence number cannot replace the newer item.
  mumba::Status stale = a_->PutMutable(app, v1, 1, 3s);
  EXPECT_EQ(stale.code(), Code::kFailedPrecondition) << stale.message();

  // A key pair whose halves do not belong together is refused before any traffic.
  KeyPair other = GenerateKeyPair();
  KeyPair mixed = app;
  mixed.secret_key = other.secret_key;
  EXPECT_EQ(a_->PutMutable(mixed, v1, 3, 1s).code(), Code::kInvalidArgument);

  // An item signed with another key is neither stored nor returned for app's key.
  Forger forger(b_->Status().listen);
  EXPECT_EQ(forger.PutForged(app.public_key, 9), 0);
  got = c_->GetMutable(app.public_key, 5s);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->seq, 2);
  EXPECT_EQ(got->fields, v2);

  // Another key's item stays under that key.
  ASSERT_TRUE(b_->PutMutable(other, {{"name", "other"}}, 5, 5s).ok());
  got = c_->GetMutable(app.public_key, 5s);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->fields.at("name"), "hello");
  got = c_->GetMutable(other.public_key, 5s);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->seq, 5);
  EXPECT_EQ(got->fields.at("name"), "other");

  // Steady-state latency over a few rounds.
  std::vector<double> puts, gets;
  for (int seq = 10; seq < 20; ++seq) {
    auto t0 = Steady::now();
    ASSERT_TRUE(a_->PutMutable(app, v2, seq, 5s).ok());
    auto t1 = Steady::now();
    auto g = c_->GetMutable(app.public_key, 5s);
    auto t2 = Steady::now();
    ASSERT_TRUE(g.ok());
    EXPECT_EQ(g->seq, seq);
    puts.push_back(Millis(t1 - t0));
    gets.push_back(Millis(t2 - t1));
  }
  std::sort(puts.begin(), puts.end());
  std::sort(gets.begin(), gets.end());
  Report("BEP 44 put median of 10", puts[5], "ms");
  Report("BEP 44 get median of 10", gets[5], "ms");
}

TEST_F(P2pNetworkTest, UnknownKeyIsNotFoundWithinTheTimeout) {
  KeyPair nobody = GenerateKeyPair();
  auto start = Steady::now();
  auto got = c_->GetMutable(nobody.public_key, 3s);
  auto took = Steady::now() - start;
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), Code::kNotFound);
  EXPECT_LT(Seconds(took), 3.5);
  Report("BEP 44 get of a missing key", Millis(took), "ms");
}

TEST_F(P2pNetworkTest, FiftyMegabyteFolderThroughput) {
  fs::path src = tmp_.path() / "big";
  for (int i = 0; i < 5; ++i)
    WriteBytes(src / ("part" + std::to_string(i)), RandomBytes(10 * 1000 * 1000, 10 + i));
  auto seed_start = Steady::now();
  auto ref = a_->Seed(src, "big");
  ASSERT_TRUE(ref.ok()) << ref.status().message();
  Report("hybrid torrent of 50 MB made and seeded", Millis(Steady::now() - seed_start), "ms");

  auto start = Steady::now();
  auto fetched = c_->Fetch(ref->info_hash_v1, ref->info_hash_v2, tmp_.path() / "dest", 15s, {}, nullptr);
  double secs = Seconds(Steady::now() - start);
  ASSERT_TRUE(fetched.ok()) << fetched.status().message();
  Report("fetch of a 50 MB folder by info-hashes", secs * 1000, "ms");
  Report("fetch rate", 50.0 / secs, "MB/s");
  EXPECT_EQ(Snapshot(*fetched), Snapshot(src));
}

}  // namespace
}  // namespace mumba
