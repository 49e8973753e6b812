// SPDX-License-Identifier: Apache-2.0
// mumba publish | info | update | rollback, and install mumba://ADDRESS.
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <iostream>

#include <nlohmann/json.hpp>

#include "bundle/manifest.h"
#include "broker/grants.h"
#include "cli/cli.h"
#include "cli/options.h"
#include "cli/passphrase.h"
#include "common/keys.h"
#include "mumba/host/v1/distribution.grpc.pb.h"

namespace mumba::cli {
namespace hv1 = mumba::host::v1;

namespace {

std::string Size(uint64_t n) {
  char buf[32];
  if (n >= (1u << 20)) std::snprintf(buf, sizeof buf, "%.1f MB", n / 1e6);
  else if (n >= 1000) std::snprintf(buf, sizeof buf, "%.1f kB", n / 1e3);
  else std::snprintf(buf, sizeof buf, "%" PRIu64 " B", n);
  return buf;
}

const char* PhaseName(hv1::InstallEvent::Phase p) {
  switch (p) {
    case hv1::InstallEvent::RESOLVING: return "resolving";
    case hv1::InstallEvent::RESOLVED: return "resolved";
    case hv1::InstallEvent::DOWNLOADING: return "downloading";
    case hv1::InstallEvent::INSTALLING: return "installing";
    case hv1::InstallEvent::DONE: return "done";
    case hv1::InstallEvent::UP_TO_DATE: return "up_to_date";
    default: return "?";
  }
}


// Shows install events: a progress bar on a terminal, plain lines otherwise, or
// JSON lines for programs.
class EventPrinter {
 public:
  // `show_found`: say what the address resolved to (callers that said it already
  // pass false).
  EventPrinter(bool json, bool show_found) : json_(json), tty_(isatty(2)), show_found_(show_found) {}

  void Show(const hv1::InstallEvent& e) {
    if (json_) {
      nlohmann::json j{{"phase", PhaseName(e.phase())}};
      if (!e.item().address().empty()) {
        j["address"] = e.item().address();
        j["name"] = e.item().name();
        j["version"] = e.item().version();
        j["seq"] = e.item().seq();
        j["size"] = e.item().size();
      }
      if (e.phase() == hv1::InstallEvent::DOWNLOADING) {
        j["done"] = e.done();
        j["total"] = e.total();
        j["peers"] = e.peers();
        j["rate"] = e.rate();
      }
      if (!e.app().id().empty()) j["state"] = e.app().state();
      std::printf("%s\n", j.dump().c_str());
      std::fflush(stdout);
      return;
    }
    if (e.phase() == hv1::InstallEvent::DOWNLOADING) {
      if (tty_) {
        double eta = e.rate() > 0 && e.total() > e.done() ? (e.total() - e.done()) / e.rate() : 0;
        std::fprintf(stderr, "\r  %s / %s  %s/s  %d peer%s  ETA %.0f s   ", Size(e.done()).c_str(),
                     Size(e.total()).c_str(), Size(static_cast<uint64_t>(e.rate())).c_str(), e.peers(),
                     e.peers() == 1 ? "" : "s", eta);
        bar_ = true;
      } else {
        // A line per quarter, so logs stay short.
        int quarter = e.total() ? static_cast<int>(4 * e.done() / e.total()) : 0;
        if (quarter > last_quarter_) {
          last_quarter_ = quarter;
          std::fprintf(stderr, "downloaded %s of %s (%d peers)\n", Size(e.done()).c_str(),
                       Size(e.total()).c_str(), e.peers());
        }
      }
      return;
    }
    EndBar();
    if (show_found_ && e.phase() == hv1::InstallEvent::RESOLVED && !e.item().name().empty()) {
      std::fprintf(stderr, "found %s %s (seq %" PRId64 ", %s)\n", e.item().name().c_str(),
                   e.item().version().c_str(), static_cast<int64_t>(e.item().seq()),
                   Size(e.item().size()).c_str());
    }
    if (e.phase() == hv1::InstallEvent::INSTALLING) std::fprintf(stderr, "verified; installing\n");
  }

  void EndBar() {
    if (bar_) std::fprintf(stderr, "\n");
    bar_ = false;
  }

 private:
  bool json_;
  bool tty_;
  bool show_found_;
  bool bar_ = false;
  int last_quarter_ = 0;
};

// Shows a stream of install events as they come; returns how the stream ended,
// with the last event in `*last`.
grpc::Status Follow(grpc::ClientReader<hv1::InstallEvent>* reader, EventPrinter printer,
                    hv1::InstallEvent* last) {
  hv1::InstallEvent e;
  while (reader->Read(&e)) {
    printer.Show(e);
    *last = e;
  }
  printer.EndBar();
  return reader->Finish();
}

}  // namespace

int InstallFromNetwork(const Context& ctx, const std::string& address, bool yes, bool json,
                       int timeout_s) {
  auto stub = Connect<hv1::Distribution>(ctx);
  if (!stub.ok()) return Fail(stub.status());
  hv1::ResolveResponse item;
  {
    if (!json) std::fprintf(stderr, "resolving %s in the DHT...\n", address.c_str());
    hv1::ResolveRequest req;
    req.set_address(address);
    req.set_timeout_ms((timeout_s > 0 ? timeout_s : 20) * 1000);
    if (int rc = Unary(**stub, &hv1::Distribution::Stub::Resolve, req, &item)) return rc;
  }
  if (!json) {
    std::printf("%s %s, %s, published by %s (seq %" PRId64 ")\n", item.name().c_str(),
                item.version().c_str(), Size(item.size()).c_str(), item.publisher().c_str(),
                static_cast<int64_t>(item.seq()));
  }
  if (!yes && isatty(0) && isatty(2) && !AskYes("Install it? [y/N] ")) {
    std::fprintf(stderr, "not installed\n");
    return 1;
  }
  hv1::FetchRequest req;
  req.set_address(address);
  req.set_min_seq(item.seq());  // Never less than what was shown.
  req.set_accept_asks(yes);
  if (timeout_s > 0) req.set_timeout_ms(timeout_s * 1000);
  hv1::InstallEvent last;
  auto fetch = [&] {
    grpc::ClientContext c;
    auto reader = (*stub)->Fetch(&c, req);
    return Follow(reader.get(), EventPrinter(json, /*show_found=*/false), &last);
  };
  grpc::Status s = fetch();
  // What the app asks for is known once its manifest is here; the owner says yes
  // to it, and the bundle is fetched again (from peers that still have it).
  if (!s.ok() && s.error_code() == grpc::StatusCode::FAILED_PRECONDITION &&
      s.error_message().find(kAsksFor) != std::string::npos) {
    std::fprintf(stderr, "%s\n", s.error_message().c_str());
    if (!AskYes("Grant it and install? [y/N] ")) {
      std::fprintf(stderr, "not installed (mumba install --yes grants it without asking)\n");
      return 1;
    }
    req.set_accept_asks(true);
    s = fetch();
  }
  if (!s.ok()) return Fail(s);
  if (!json) {
    std::printf("installed %s %s (%s)\n", last.app().name().c_str(), last.app().version().c_str(),
                last.app().id().c_str());
    PrintSandbox(last.app());
  }
  return 0;
}

namespace {

// The address `req` publishes under: the id in the bundle's manifest, or the
// installed app's. Empty when it cannot be known here; the host then says why.
std::string PublishedAddress(const Context& ctx, const hv1::PublishRequest& req) {
  if (!req.bundle_dir().empty()) {
    auto manifest = LoadManifest(req.bundle_dir());
    return manifest.ok() ? manifest->id : std::string();
  }
  auto stub = Connect<hv1::Control>(ctx);
  if (!stub.ok()) return {};
  grpc::ClientContext c;
  hv1::AppRef ref;
  ref.set_app(req.app());
  hv1::AppInfo info;
  return (*stub)->Status(&c, ref, &info).ok() ? info.id() : std::string();
}

int Publish(const Context& ctx, const PublishOptions& o) {
  hv1::PublishRequest req;
  std::filesystem::path dir = std::filesystem::absolute(o.target).lexically_normal();
  if (o.target.find('/') != std::string::npos && std::filesystem::is_directory(dir)) {
    std::filesystem::path bundle = dir;
    if (std::filesystem::exists(dir / "CMakeLists.txt")) {
      auto built = BuildApp(dir, dir / "build", true);
      if (!built.ok()) return Fail(built.status());
      bundle = *built;
    }
    req.set_bundle_dir(bundle.string());
  } else {
    req.set_app(o.target);
  }
  // The host opens the key, so a protected key's passphrase goes along in the
  // request, over the owner's socket; it is wiped here once the host has answered.
  auto passphrase = PassphraseFor(ctx.Layout().keys_dir(), PublishedAddress(ctx, req), o.passphrase_file);
  if (!passphrase.ok()) return Fail(passphrase.status());
  req.mutable_passphrase()->assign(passphrase->view().data(), passphrase->view().size());
  passphrase->Clear();
  hv1::PublishResponse resp;
  int rc = Unary(ctx, &hv1::Distribution::Stub::Publish, req, &resp);
  WipeString(*req.mutable_passphrase());
  if (rc) return rc;
  if (o.json) {
    nlohmann::json j{{"address", resp.address()}, {"name", resp.name()},
                     {"version", resp.version()}, {"seq", resp.seq()},
                     {"info_hash", resp.info_hash()}, {"info_hash_v2", resp.info_hash_v2()},
                     {"magnet", resp.magnet()}, {"size", resp.size()},
                     {"stored_in_dht", resp.stored_in_dht()}};
    std::printf("%s\n", j.dump().c_str());
  } else if (o.magnet) {
    std::printf("%s\n", resp.magnet().c_str());
  } else {
    std::printf("%s\n", resp.address().c_str());
    std::fprintf(stderr, "published %s %s (seq %" PRId64 ", %s)%s\n", resp.name().c_str(),
                 resp.version().c_str(), static_cast<int64_t>(resp.seq()), Size(resp.size()).c_str(),
                 resp.stored_in_dht() ? "" : "; no DHT node has stored it yet (is --bootstrap set?)");
  }
  return 0;
}

int Info(const Context& ctx, const InfoOptions& o) {
  hv1::ResolveRequest req;
  req.set_address(o.address);
  req.set_timeout_ms(o.timeout_s * 1000);
  req.set_count_seeders(true);
  hv1::ResolveResponse resp;
  if (int rc = Unary(ctx, &hv1::Distribution::Stub::Resolve, req, &resp)) return rc;
  if (o.json) {
    std::printf("%s\n", ToJson(resp).c_str());
    return 0;
  }
  std::printf("%s %s\n", resp.name().c_str(), resp.version().c_str());
  std::printf("  address     %s\n", resp.address().c_str());
  std::printf("  publisher   %s\n", resp.publisher().c_str());
  std::printf("  size        %s\n", Size(resp.size()).c_str());
  std::printf("  seq         %" PRId64 "\n", static_cast<int64_t>(resp.seq()));
  if (resp.seeders() >= 0) std::printf("  seeders     %d\n", resp.seeders());
  std::printf("  info-hash   %s\n", resp.info_hash().c_str());
  std::printf("  magnet      %s\n", resp.magnet().c_str());
  return 0;
}

int Update(const Context& ctx, const UpdateOptions& o) {
  std::vector<std::string> apps;
  if (!o.app.empty()) {
    apps.push_back(o.app);
  } else {
    hv1::ListResponse list;
    if (int rc = Unary(ctx, &hv1::Control::Stub::List, {}, &list)) return rc;
    for (const auto& a : list.apps()) apps.push_back(a.id());
  }
  auto stub = Connect<hv1::Distribution>(ctx);
  if (!stub.ok()) return Fail(stub.status());
  int rc = 0;
  for (const auto& a : apps) {
    auto update = [&](bool accept_wider, hv1::InstallEvent* last) {
      grpc::ClientContext c;
      hv1::UpdateRequest req;
      req.set_app(a);
      req.set_accept_wider(accept_wider);
      auto reader = (*stub)->Update(&c, req);
      return Follow(reader.get(), EventPrinter(o.json, /*show_found=*/true), last);
    };
    hv1::InstallEvent last;
    auto s = update(o.yes, &last);
    // A version that asks for more than the installed one waits for the owner's yes.
    if (!s.ok() && s.error_code() == grpc::StatusCode::FAILED_PRECONDITION &&
        s.error_message().find(" asks for more than ") != std::string::npos) {
      std::fprintf(stderr, "%s\n", s.error_message().c_str());
      if (AskYes("Update to it? [y/N] ")) s = update(true, &last);
      else s = grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "not updated (--yes accepts it)");
    }
    if (!s.ok()) {
      // Updating everything skips apps that never came from the network.
      if (o.app.empty() && s.error_code() == grpc::StatusCode::FAILED_PRECONDITION &&
          s.error_message().find("was not installed from the network") != std::string::npos) {
        continue;
      }
      rc = Fail(s);
      continue;
    }
    if (o.json) continue;
    if (last.phase() == hv1::InstallEvent::UP_TO_DATE) {
      std::printf("%s %s is up to date\n", last.app().name().c_str(), last.app().version().c_str());
    } else {
      std::printf("updated %s to %s\n", last.app().name().c_str(), last.app().version().c_str());
    }
  }
  return rc;
}

int Rollback(const Context& ctx, const RollbackOptions& o) {
  hv1::AppRef ref;
  ref.set_app(o.app);
  hv1::RollbackResponse resp;
  if (int rc = Unary(ctx, &hv1::Distribution::Stub::Rollback, ref, &resp)) return rc;
  std::printf("rolled %s back from %s to %s\n", resp.app().name().c_str(), resp.from_version().c_str(),
              resp.app().version().c_str());
  return 0;
}

}  // namespace

void AddP2pCommands(CLI::App& app, Context& ctx) {
  AddCommand<PublishOptions>(app, "publish",
                             "Publish an app over BitTorrent under its permanent address: seed its bundle and "
                             "sign a new DHT item pointing at it (needs the app's key: mumba keys; a protected key asks for "
                             "its passphrase, or takes --passphrase-file)",
                             [&ctx](PublishOptions& o) { return Publish(ctx, o); });
  AddCommand<InfoOptions>(app, "info", "Show what an address points at, without installing",
                          [&ctx](InfoOptions& o) { return Info(ctx, o); });
  AddCommand<UpdateOptions>(app, "update", "Install the newest published version of apps installed from the network",
                            [&ctx](UpdateOptions& o) { return Update(ctx, o); });
  AddCommand<RollbackOptions>(app, "rollback", "Go back to the version installed before this one",
                              [&ctx](RollbackOptions& o) { return Rollback(ctx, o); });
}

}  // namespace mumba::cli
