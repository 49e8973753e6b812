// SPDX-License-Identifier: Apache-2.0
// mumba share | unshare | shares | follow | unfollow | follows: an app's stores
// published to other nodes, and other nodes' stores followed as read-only replicas
// (mumba.host.v1.OwnerShares on host.sock).
#include <cstdio>
#include <ctime>

#include "cli/cli.h"
#include "cli/options.h"
#include "mumba/host/v1/shares.grpc.pb.h"

namespace mumba::cli {
namespace hv1 = mumba::host::v1;
namespace av1 = mumba::app::v1;

namespace {

av1::StoreKind KindOf(const std::string& kind) {
  if (kind == "kv") return av1::KV;
  if (kind == "files") return av1::FILES;
  return av1::SQL;
}

const char* KindText(av1::StoreKind kind) {
  switch (kind) {
    case av1::KV: return "kv";
    case av1::SQL: return "sql";
    case av1::FILES: return "files";
    default: return "-";
  }
}

hv1::OwnerShareRequest ShareRequestOf(const ShareOptions& o) {
  hv1::OwnerShareRequest req;
  req.set_app(o.app);
  req.set_kind(KindOf(o.kind));
  req.set_db(o.db);
  return req;
}

int Share(const Context& ctx, const ShareOptions& o) {
  hv1::ShareRecordView resp;
  if (int rc = Unary(ctx, &hv1::OwnerShares::Stub::Share, ShareRequestOf(o), &resp)) return rc;
  if (o.json) {
    std::printf("%s\n", ToJson(resp).c_str());
    return 0;
  }
  const auto& s = resp.share();
  std::printf("shared %s %s of %s as %s\nseq %lld, %llu bytes (%llu new since the last snapshot)%s\n",
              KindText(s.kind()), s.db().empty() ? "tree" : s.db().c_str(), resp.app_name().c_str(),
              s.address().c_str(), static_cast<long long>(s.seq()), static_cast<unsigned long long>(s.bytes()),
              static_cast<unsigned long long>(s.new_bytes()),
              s.stored_in_dht() ? "" : "\nno DHT node took the item yet: share again once the node has joined the DHT");
  std::printf("others follow it with: mumba follow %s\n", s.address().c_str());
  return 0;
}

int Unshare(const Context& ctx, const ShareOptions& o) {
  hv1::OwnerSharesEmpty resp;
  if (int rc = Unary(ctx, &hv1::OwnerShares::Stub::Unshare, ShareRequestOf(o), &resp)) return rc;
  if (!o.json) std::printf("no longer seeding that store (sharing it again keeps its address)\n");
  return 0;
}

int ListShares(const Context& ctx, const SharesOptions& o) {
  hv1::OwnerListSharesRequest req;
  req.set_app(o.app);
  hv1::OwnerListSharesResponse resp;
  if (int rc = Unary(ctx, &hv1::OwnerShares::Stub::ListShares, req, &resp)) return rc;
  if (o.json) {
    std::printf("%s\n", ToJson(resp).c_str());
    return 0;
  }
  if (resp.shares().empty()) {
    std::printf("nothing is shared (mumba share APP kv|sql|files [DB])\n");
    return 0;
  }
  std::printf("%-16s %-5s %-12s %5s %12s  %s\n", "APP", "KIND", "DB", "SEQ", "BYTES", "ADDRESS");
  for (const auto& v : resp.shares()) {
    const auto& s = v.share();
    std::printf("%-16s %-5s %-12s %5lld %12llu  %s\n", v.app_name().c_str(), KindText(s.kind()),
                s.db().empty() ? "-" : s.db().c_str(), static_cast<long long>(s.seq()),
                static_cast<unsigned long long>(s.bytes()), s.address().c_str());
  }
  return 0;
}

hv1::OwnerFollowRequest FollowRequestOf(const FollowOptions& o) {
  hv1::OwnerFollowRequest req;
  req.set_address(o.address);
  req.set_app(o.app);
  return req;
}

int Follow(const Context& ctx, const FollowOptions& o) {
  hv1::FollowView resp;
  if (int rc = Unary(ctx, &hv1::OwnerShares::Stub::Follow, FollowRequestOf(o), &resp)) return rc;
  if (o.json) {
    std::printf("%s\n", ToJson(resp).c_str());
    return 0;
  }
  const auto& f = resp.follow();
  std::printf("following %s%s%s\n", f.address().c_str(), resp.app_name().empty() ? "" : " for ",
              resp.app_name().c_str());
  if (f.seq() == 0) {
    std::printf("its first snapshot arrives in the background: mumba follows shows when\n");
  }
  return 0;
}

int Unfollow(const Context& ctx, const FollowOptions& o) {
  hv1::OwnerSharesEmpty resp;
  if (int rc = Unary(ctx, &hv1::OwnerShares::Stub::Unfollow, FollowRequestOf(o), &resp)) return rc;
  if (!o.json) std::printf("stopped following %s; its replica is deleted\n", o.address.c_str());
  return 0;
}

int ListFollows(const Context& ctx, const FollowsOptions& o) {
  hv1::OwnerListFollowsRequest req;
  req.set_app(o.app);
  hv1::OwnerListFollowsResponse resp;
  if (int rc = Unary(ctx, &hv1::OwnerShares::Stub::ListFollows, req, &resp)) return rc;
  if (o.json) {
    std::printf("%s\n", ToJson(resp).c_str());
    return 0;
  }
  if (resp.follows().empty()) {
    std::printf("nothing is followed (mumba follow mumba://... [--app APP])\n");
    return 0;
  }
  std::printf("%-16s %-5s %-12s %5s %12s %-8s  %s\n", "FOR", "KIND", "DB", "SEQ", "BYTES", "UPDATED", "ADDRESS");
  for (const auto& v : resp.follows()) {
    const auto& f = v.follow();
    char when[16] = "-";
    if (f.updated_unix_ms() > 0) {
      std::time_t t = static_cast<std::time_t>(f.updated_unix_ms() / 1000);
      std::strftime(when, sizeof when, "%H:%M:%S", std::localtime(&t));
    }
    std::printf("%-16s %-5s %-12s %5lld %12llu %-8s  %s\n", v.app().empty() ? "(owner)" : v.app_name().c_str(),
                KindText(f.kind()), f.db().empty() ? "-" : f.db().c_str(), static_cast<long long>(f.seq()),
                static_cast<unsigned long long>(f.bytes()), when, f.address().c_str());
    if (!f.error().empty()) std::printf("  last update failed: %s\n", f.error().c_str());
  }
  return 0;
}

}  // namespace

void AddShareCommands(CLI::App& app, Context& ctx) {
  AddCommand<ShareOptions>(app, "share",
                           "Publish a snapshot of an app's kv, sql or files store under an address of its own "
                           "(again: a newer snapshot, same address; followers fetch only what changed)",
                           [&ctx](ShareOptions& o) { return Share(ctx, o); });
  AddCommand<ShareOptions>(app, "unshare", "Stop seeding a shared store (its address is kept for the next share)",
                           [&ctx](ShareOptions& o) { return Unshare(ctx, o); });
  AddCommand<SharesOptions>(app, "shares", "List the stores this host shares",
                            [&ctx](SharesOptions& o) { return ListShares(ctx, o); });
  AddCommand<FollowOptions>(app, "follow",
                            "Keep a read-only replica of a share current, and seed it (read it with "
                            "mumba kv/sql/files ADDRESS, or from the app with --app)",
                            [&ctx](FollowOptions& o) { return Follow(ctx, o); });
  AddCommand<FollowOptions>(app, "unfollow", "Stop following a share and delete its replica",
                            [&ctx](FollowOptions& o) { return Unfollow(ctx, o); });
  AddCommand<FollowsOptions>(app, "follows", "List the shares followed here, with the snapshot each holds",
                             [&ctx](FollowsOptions& o) { return ListFollows(ctx, o); });
}

}  // namespace mumba::cli
