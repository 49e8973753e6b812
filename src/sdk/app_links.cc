// SPDX-License-Identifier: Apache-2.0
// App::Connect and App::Fetch: the caller's side of the broker.
#include <fcntl.h>

#include <algorithm>
#include <cstdio>

#include <grpcpp/create_channel_posix.h>
#include <grpcpp/grpcpp.h>

#include "app_impl.h"
#include "common/grpc_status.h"
#include "common/hung_up.h"
#include "mumba/app/v1/routes.grpc.pb.h"

namespace mumba {

namespace av1 = mumba::app::v1;

namespace {

// How long the host may take to hand out a connection (it may start the other app).
constexpr auto kConnectTimeout = std::chrono::seconds(30);

}  // namespace

namespace sdk_internal {

// A channel on the caller's end of a brokered connection.
std::shared_ptr<grpc::Channel> ChannelOn(BrokeredConnection& conn) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(32 << 20);
  args.SetMaxSendMessageSize(32 << 20);
  // The authority names nothing (the socket is already connected); it only has to
  // be a valid one, which an address with "://" is not.
  return grpc::CreateCustomInsecureChannelFromFd("mumba-app", conn.fd.Release(), args);
}

bool KeptChannel::Broken() const {
  return !watch || HungUp(watch.get());
}

KeptChannel KeepChannelOn(BrokeredConnection& conn) {
  KeptChannel kept;
  kept.watch = UniqueFd(::fcntl(conn.fd.get(), F_DUPFD_CLOEXEC, 0));
  kept.channel = ChannelOn(conn);
  return kept;
}

}  // namespace sdk_internal

Expected<std::shared_ptr<grpc::Channel>> App::Connect(std::string_view target) {
  MUMBA_ASSIGN_OR_RETURN(sdk_internal::BrokerClient * broker, impl_->Broker());
  MUMBA_ASSIGN_OR_RETURN(sdk_internal::BrokeredConnection conn, broker->Connect(target, kConnectTimeout));
  if (!conn.note.empty()) std::fprintf(stderr, "%s: %s\n", impl_->name.c_str(), conn.note.c_str());
  return sdk_internal::ChannelOn(conn);
}

Expected<RouteResponse> App::Fetch(std::string_view url, std::string_view method, std::string body) {
  // "name://path?query" or "mumba://<id>/path?query".
  size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos || scheme_end == 0) {
    return InvalidArgument("fetch: '" + std::string(url) + "' is not app://path or mumba://<id>/path");
  }
  std::string target(url.substr(0, scheme_end));
  std::string_view rest = url.substr(scheme_end + 3);
  if (target == "mumba") {
    size_t slash = rest.find('/');
    target = "mumba://" + std::string(rest.substr(0, slash));
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
  }
  size_t q = rest.find('?');
  av1::RouteRequest req;
  req.set_method(std::string(method));
  req.set_path("/" + std::string(rest.substr(0, q)));
  if (q != std::string_view::npos) req.set_query(std::string(rest.substr(q + 1)));
  req.set_body(std::move(body));
  // One connection per app fetched from, made again once it broke.
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::shared_ptr<grpc::Channel> channel;
    {
      std::lock_guard lock(impl_->broker_mu);
      auto it = impl_->fetch_channels.find(target);
      if (it != impl_->fetch_channels.end() && !it->second.Broken()) channel = it->second.channel;
    }
    if (!channel) {
      MUMBA_ASSIGN_OR_RETURN(sdk_internal::BrokerClient * broker, impl_->Broker());
      MUMBA_ASSIGN_OR_RETURN(sdk_internal::BrokeredConnection conn, broker->Connect(target, kConnectTimeout));
      // A grant of some services of an app is no grant of its routes.
      if (std::find(conn.services.begin(), conn.services.end(), "mumba.app.v1.Routes") == conn.services.end()) {
        return PermissionDenied("no grant to fetch the routes of " + conn.peer_name +
                                " (that takes a grant of the whole app: [permissions] call = [\"" + conn.peer_id +
                                "\"])");
      }
      auto kept = sdk_internal::KeepChannelOn(conn);
      channel = kept.channel;
      std::lock_guard lock(impl_->broker_mu);
      impl_->fetch_channels[target] = std::move(kept);
    }
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + sdk_internal::kCallTimeout);
    av1::RouteResponse resp;
    grpc::Status st = av1::Routes::NewStub(channel)->Handle(&ctx, req, &resp);
    if (st.error_code() == grpc::StatusCode::UNAVAILABLE && attempt == 0) {
      std::lock_guard lock(impl_->broker_mu);
      impl_->fetch_channels.erase(target);
      continue;
    }
    if (!st.ok()) return FromGrpc(st);
    RouteResponse out;
    out.status = resp.status() == 0 ? 200 : resp.status();
    for (const auto& h : resp.headers()) out.headers.emplace_back(h.name(), h.value());
    out.body = std::move(*resp.mutable_body());
    return out;
  }
  return Unavailable("fetch: " + target + " is not reachable");
}

}  // namespace mumba
