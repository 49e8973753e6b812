// SPDX-License-Identifier: Apache-2.0
// The app's one connection to the host (MUMBA_HOST_SOCKET): storage, events and
// automation, shared by every handle of the app, and the one way the SDK makes a
// unary request on it (Call). Internal to the SDK.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "mumba/status.h"
#include "mumba/ui.h"
#include "mumba/app/v1/peers.grpc.pb.h"
#include "mumba/app/v1/shares.grpc.pb.h"
#include "mumba/storage/v1/storage.grpc.pb.h"
#include "mumba/ui/v1/automation.grpc.pb.h"
#include "mumba/ui/v1/events.grpc.pb.h"

namespace mumba::sdk_internal {

// Immutable once made, so handles share it across threads without locks (gRPC
// channels and stubs are thread-safe).
struct HostConnection {
  // A channel to `socket`; with an empty `socket` (started by hand) there is no
  // channel and every call answers Unreachable().
  static std::shared_ptr<const HostConnection> Connect(const std::string& socket);

  // OK when calls can be made; UNAVAILABLE when started by hand.
  Status Usable() const;
  // The Status of a failed call, with a word on where the host was looked for
  // when it could not be reached.
  Status FromGrpc(const grpc::Status& status) const;

  // Runs one unary call, `method` of `stub` (one of the stubs below), with the
  // SDK's deadline (kCallTimeout). OK with `resp` filled in; else UNAVAILABLE when
  // started by hand, or the call's Status as FromGrpc makes it. Every unary
  // request of the SDK goes through here, so they all share one deadline and one
  // error mapping.
  template <typename Stub, typename Method, typename Request, typename Response>
  Status Call(const std::unique_ptr<Stub>& stub, Method method, const Request& req, Response* resp) const;

  std::string socket;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<mumba::storage::v1::Kv::Stub> kv;
  std::unique_ptr<mumba::storage::v1::Sql::Stub> sql;
  std::unique_ptr<mumba::storage::v1::Files::Stub> files;
  std::unique_ptr<mumba::ui::v1::Events::Stub> events;
  std::unique_ptr<mumba::ui::v1::Automation::Stub> automation;
  std::unique_ptr<mumba::app::v1::Peers::Stub> peers;
  std::unique_ptr<mumba::app::v1::Shares::Stub> shares;
};

// Makes page-event subscriptions for App and Window.
struct UiAccess {
  static Expected<std::unique_ptr<EventSubscription>> Subscribe(const std::shared_ptr<const HostConnection>& host,
                                                                const std::string& window,
                                                                std::function<void(const PageEvent&)> fn);
};

// How long a single (non-streaming) request may take.
inline constexpr std::chrono::seconds kCallTimeout{60};

template <typename Stub, typename Method, typename Request, typename Response>
Status HostConnection::Call(const std::unique_ptr<Stub>& stub, Method method, const Request& req,
                            Response* resp) const {
  MUMBA_TRY(Usable());
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + kCallTimeout);
  return FromGrpc(((*stub).*method)(&ctx, req, resp));
}

}  // namespace mumba::sdk_internal
