// SPDX-License-Identifier: Apache-2.0
#include "raw_session.h"

#include <libtorrent/alert_types.hpp>

#include <chrono>

#include "bench_util.h"

namespace mumba::bench {

void JoinLoopbackDht(lt::session& session, const std::vector<std::string>& nodes) {
  bool listening = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  std::vector<lt::alert*> alerts;
  while (!listening && std::chrono::steady_clock::now() < deadline) {
    session.wait_for_alert(lt::milliseconds(50));
    session.pop_alerts(&alerts);
    for (lt::alert* a : alerts) {
      auto* l = lt::alert_cast<lt::listen_succeeded_alert>(a);
      if (l && l->socket_type == lt::socket_type_t::utp) listening = true;
    }
  }
  if (!listening) Fail("the probe session did not listen within 10 s");
  for (const auto& addr : nodes) session.add_dht_node({"127.0.0.1", std::stoi(addr.substr(addr.rfind(':') + 1))});
}

}  // namespace mumba::bench
