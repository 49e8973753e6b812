// SPDX-License-Identifier: Apache-2.0
// mumba doctor [--json]: runs the checks of doctor_checks.h against this machine
// and the host of $MUMBA_HOME (asked, never started), prints each finding with what
// to do about it, and exits 1 when an essential one failed.
#include <cstdio>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "cli/cli.h"
#include "cli/doctor_checks.h"
#include "cli/options.h"

namespace fs = std::filesystem;

namespace mumba::cli {
namespace hv1 = mumba::host::v1;
namespace {

// How long doctor waits for the DHT of a host whose node has no nodes yet.
constexpr auto kDhtGrace = std::chrono::seconds(5);

std::optional<RunningHost> AskHost(const HomeLayout& layout) {
  if (!HostAnswers(layout, std::chrono::milliseconds(1000))) return std::nullopt;
  auto stub = HostStub(layout);
  RunningHost host;
  {
    grpc::ClientContext c;
    c.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    if (!stub->HostStatus(&c, {}, &host.status).ok()) return std::nullopt;
  }
  grpc::ClientContext c;
  c.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  hv1::ListResponse list;
  if (stub->List(&c, {}, &list).ok()) host.apps.assign(list.apps().begin(), list.apps().end());
  return host;
}

// The DHT nodes the running host joined through: its --bootstrap, else the
// config's, else the public routers.
std::vector<std::string> HostBootstrap(const RunningHost& host, const DoctorConfig& config) {
  std::ifstream in("/proc/" + std::to_string(host.status.pid()) + "/cmdline", std::ios::binary);
  std::vector<std::string> args;
  for (std::string arg; std::getline(in, arg, '\0');) args.push_back(arg);
  for (size_t i = 0; i + 1 < args.size(); ++i) {
    if (args[i] != "--bootstrap") continue;
    std::vector<std::string> nodes;
    std::stringstream list(args[i + 1]);
    for (std::string node; std::getline(list, node, ',');) {
      if (!node.empty()) nodes.push_back(node);
    }
    return nodes;
  }
  if (!config.bootstrap.empty()) return config.bootstrap;
  return {"the public Mainline DHT routers"};
}

std::vector<DoctorCheck> RunChecks(const HomeLayout& layout) {
  const DoctorConfig config = LoadDoctorConfig(layout.config());
  std::optional<RunningHost> host = AskHost(layout);
  std::vector<DoctorCheck> checks;
  checks.push_back(CheckHost(host, layout));
  checks.push_back(CheckConfig(config, layout));
  checks.push_back(CheckRuntime());
  checks.push_back(CheckAppRuntimes(host));
  checks.push_back(CheckSandboxWorks(config));
  checks.push_back(CheckChromium());
  checks.push_back(CheckGatewayPort(config, host, layout));
  checks.push_back(CheckP2pPort(config, host));
  if (host) {
    auto dht = CheckDht(*host, HostBootstrap(*host, config));
    // A node that has just started gets a few seconds to find its first nodes.
    const auto deadline = std::chrono::steady_clock::now() + kDhtGrace;
    while (dht && dht->status != CheckStatus::kOk && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
      if (auto again = AskHost(layout)) {
        host = std::move(again);
        dht = CheckDht(*host, HostBootstrap(*host, config));
      }
    }
    if (dht) checks.push_back(*dht);
  }
  uint64_t free_bytes = 0;
  checks.push_back(CheckDisk(layout, &free_bytes));
  checks.push_back(CheckQuotas(host, free_bytes));
  checks.push_back(CheckBuildTools());
  checks.push_back(CheckAutostart(layout));
  return checks;
}

int Doctor(const Context& ctx, const DoctorOptions& o) {
  const std::vector<DoctorCheck> checks = RunChecks(ctx.Layout());
  int failed = 0;
  for (const auto& c : checks) failed += c.status == CheckStatus::kFail;
  if (o.json) {
    nlohmann::json out = {{"ok", failed == 0}, {"home", ctx.Home().string()}, {"checks", nlohmann::json::array()}};
    for (const auto& c : checks) {
      out["checks"].push_back(
          {{"name", c.name}, {"status", StatusName(c.status)}, {"message", c.message}, {"fix", c.fix}});
    }
    std::printf("%s\n", out.dump().c_str());
  } else {
    for (const auto& c : checks) {
      const char* label = c.status == CheckStatus::kOk ? "ok  " : c.status == CheckStatus::kWarn ? "WARN" : "FAIL";
      std::printf("%s  %-13s %s\n", label, c.name.c_str(), c.message.c_str());
      if (!c.fix.empty()) std::printf("      %-13s -> %s\n", "", c.fix.c_str());
    }
    if (failed > 0) {
      std::printf("\n%d essential check%s failed: Mumba cannot work fully until %s fixed\n", failed,
                  failed == 1 ? "" : "s", failed == 1 ? "it is" : "they are");
    }
  }
  return failed > 0 ? 1 : 0;
}

}  // namespace

void AddDoctorCommand(CLI::App& app, Context& ctx) {
  AddCommand<DoctorOptions>(
      app, "doctor",
      "Check what a working platform needs (Chromium, bubblewrap and user namespaces, the gateway and p2p "
      "ports, the DHT, disk space and quotas, runtime libraries, the tools that build apps) and say what to "
      "do about each miss. Does not start the host; exit code 1 when something essential misses",
      [&ctx](DoctorOptions& o) { return Doctor(ctx, o); });
}

}  // namespace mumba::cli
