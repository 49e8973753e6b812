// SPDX-License-Identifier: Apache-2.0
// mumba node | peers: this host's node identity, and the other nodes that run an app.
#include <cstdio>
#include <ctime>

#include "cli/cli.h"
#include "cli/options.h"

namespace mumba::cli {
namespace hv1 = mumba::host::v1;
namespace av1 = mumba::app::v1;

namespace {

int ShowNode(const Context& ctx, const NodeOptions& o) {
  hv1::HostStatusResponse resp;
  if (int rc = Unary(ctx, &hv1::Control::Stub::HostStatus, {}, &resp)) return rc;
  if (o.json) {
    std::printf("{\"node\":\"%s\",\"peer_listen\":\"%s\"}\n", resp.node_id().c_str(), resp.peer_listen().c_str());
    return 0;
  }
  if (resp.node_id().empty()) {
    std::printf("this host runs no peer network (see its log for why)\n");
    return 0;
  }
  std::printf("node   %s\nlinks  %s\n", resp.node_id().c_str(),
              resp.peer_listen().empty() ? "not listening (no app runs with peers)" : resp.peer_listen().c_str());
  return 0;
}

int ShowPeers(const Context& ctx, const PeersOptions& o) {
  hv1::AppRef ref;
  ref.set_app(o.app);
  av1::ListPeersResponse resp;
  if (int rc = Unary(ctx, &hv1::Control::Stub::Peers, ref, &resp)) return rc;
  if (o.json) {
    std::printf("%s\n", ToJson(resp).c_str());
    return 0;
  }
  if (resp.peers().empty()) {
    std::printf("no other node runs %s now (peers are found while the app runs with its peers grant)\n",
                o.app.c_str());
    return 0;
  }
  std::printf("%-52s  %-21s  %s\n", "NODE", "ENDPOINT", "LAST SEEN");
  for (const auto& p : resp.peers()) {
    std::time_t t = static_cast<std::time_t>(p.last_seen_unix_ms() / 1000);
    char when[32];
    std::strftime(when, sizeof when, "%H:%M:%S", std::localtime(&t));
    std::printf("%-52s  %-21s  %s\n", p.node().c_str(), p.endpoint().c_str(), when);
  }
  return 0;
}

}  // namespace

void AddPeerCommands(CLI::App& app, Context& ctx) {
  AddCommand<NodeOptions>(app, "node", "Show this host's node id (its key for links to other hosts) and where links are taken",
                          [&ctx](NodeOptions& o) { return ShowNode(ctx, o); });
  AddCommand<PeersOptions>(app, "peers",
                           "List the other nodes that run an app now, as this host found them in the DHT and "
                           "proved them by their node keys",
                           [&ctx](PeersOptions& o) { return ShowPeers(ctx, o); });
}

}  // namespace mumba::cli
