// SPDX-License-Identifier: Apache-2.0
// The app's connection to the host; see host_connection.h.
#include "host_connection.h"

#include "common/grpc_status.h"
#include "common/unix_channel.h"

namespace mumba::sdk_internal {

namespace {
constexpr char kNoHost[] = "storage needs the host: run this app with `mumba start`";
}

std::shared_ptr<const HostConnection> HostConnection::Connect(const std::string& socket) {
  auto c = std::make_shared<HostConnection>();
  c->socket = socket;
  if (socket.empty()) return c;
  // The host may restart: back quickly once its socket answers again. As large
  // as the host accepts: a KV value may be 16 MiB.
  c->channel = UnixChannel(socket, 20, 200, 32 << 20);
  c->kv = mumba::storage::v1::Kv::NewStub(c->channel);
  c->sql = mumba::storage::v1::Sql::NewStub(c->channel);
  c->files = mumba::storage::v1::Files::NewStub(c->channel);
  c->events = mumba::ui::v1::Events::NewStub(c->channel);
  c->automation = mumba::ui::v1::Automation::NewStub(c->channel);
  c->peers = mumba::app::v1::Peers::NewStub(c->channel);
  c->shares = mumba::app::v1::Shares::NewStub(c->channel);
  return c;
}

Status HostConnection::Usable() const {
  if (!channel) return Unavailable(kNoHost);
  return Status();
}

Status HostConnection::FromGrpc(const grpc::Status& s) const {
  Status status = mumba::FromGrpc(s);
  if (status.code() == Code::kUnavailable) {
    return Unavailable("cannot reach the host at unix:" + socket + ": " + status.message());
  }
  return status;
}

}  // namespace mumba::sdk_internal
