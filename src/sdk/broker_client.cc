// SPDX-License-Identifier: Apache-2.0
#include "broker_client.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstring>

#include "common/packet_socket.h"
#include "mumba/app/v1/broker.pb.h"

namespace mumba::sdk_internal {

namespace av1 = mumba::app::v1;

Expected<std::unique_ptr<BrokerClient>> BrokerClient::Open(const std::string& socket) {
  if (socket.empty()) {
    return Unavailable("connections to other apps need the host: run this app with `mumba start`");
  }
  struct sockaddr_un addr {};
  addr.sun_family = AF_UNIX;
  if (socket.size() >= sizeof(addr.sun_path)) return InvalidArgument("broker socket path too long: " + socket);
  std::memcpy(addr.sun_path, socket.c_str(), socket.size() + 1);
  UniqueFd fd(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  if (!fd || ::connect(fd.get(), reinterpret_cast<struct sockaddr*>(&addr), sizeof(addr)) != 0) {
    return Unavailable("cannot reach the host's broker at " + socket + ": " + std::strerror(errno));
  }
  return std::unique_ptr<BrokerClient>(new BrokerClient(std::move(fd)));
}

BrokerClient::BrokerClient(UniqueFd fd) : fd_(std::move(fd)) {
  reader_ = std::thread([this] { ReadLoop(); });
}

BrokerClient::~BrokerClient() {
  ::shutdown(fd_.get(), SHUT_RDWR);
  reader_.join();
}

Expected<BrokeredConnection> BrokerClient::Connect(std::string_view target, std::chrono::milliseconds timeout) {
  av1::BrokerRequest req;
  uint64_t id;
  {
    std::lock_guard lock(mu_);
    if (closed_) return Unavailable("the host's broker closed the connection");
    id = next_id_++;
    pending_[id];
  }
  req.mutable_connect()->set_id(id);
  req.mutable_connect()->set_target(std::string(target));
  std::string bytes;
  req.SerializeToString(&bytes);
  Status sent = SendPacket(fd_.get(), bytes);
  std::unique_lock lock(mu_);
  if (!sent.ok()) {
    pending_.erase(id);
    return sent;
  }
  bool answered = cv_.wait_for(lock, timeout, [&] { return closed_ || pending_[id].has_value(); });
  auto node = pending_.extract(id);
  if (node.mapped().has_value()) return std::move(*node.mapped());
  if (!answered) return DeadlineExceeded("the host did not answer a connection to " + std::string(target));
  return Unavailable("the host's broker closed the connection");
}

Status BrokerClient::Listen(std::function<void(BrokeredConnection)> on_incoming) {
  {
    std::lock_guard lock(mu_);
    on_incoming_ = std::move(on_incoming);
  }
  av1::BrokerRequest req;
  req.mutable_listen();
  std::string bytes;
  req.SerializeToString(&bytes);
  return SendPacket(fd_.get(), bytes);
}

void BrokerClient::ReadLoop() {
  for (;;) {
    auto packet = RecvPacket(fd_.get());
    if (!packet.ok()) {
      if (packet.status().code() == Code::kInvalidArgument) continue;  // Dropped whole.
      break;
    }
    // gRPC's event loop needs non-blocking descriptors; the host sends them so,
    // and this holds whatever it sent.
    if (packet->fd) ::fcntl(packet->fd.get(), F_SETFL, ::fcntl(packet->fd.get(), F_GETFL) | O_NONBLOCK);
    av1::BrokerReply reply;
    if (!reply.ParseFromString(packet->bytes)) continue;
    if (reply.has_incoming()) {
      const auto& in = reply.incoming();
      if (!packet->fd) continue;
      BrokeredConnection c{std::move(packet->fd), in.caller_id(), in.caller_name(),
                           {in.services().begin(), in.services().end()}, ""};
      std::function<void(BrokeredConnection)> fn;
      {
        std::lock_guard lock(mu_);
        fn = on_incoming_;
      }
      if (fn) fn(std::move(c));
    } else if (reply.has_connect()) {
      const auto& r = reply.connect();
      Expected<BrokeredConnection> result = Internal("no reply");
      if (r.code() != 0) {
        result = Status(static_cast<Code>(r.code()), r.message());
      } else if (!packet->fd) {
        result = Internal("the host's reply carried no connection");
      } else {
        result = BrokeredConnection{std::move(packet->fd), r.callee_id(), r.callee_name(),
                                    {r.services().begin(), r.services().end()}, r.message()};
      }
      std::lock_guard lock(mu_);
      // A reply nobody waits for any more (timed out) is dropped with its descriptor.
      if (auto it = pending_.find(r.id()); it != pending_.end()) it->second.emplace(std::move(result));
      cv_.notify_all();
    }
  }
  std::lock_guard lock(mu_);
  closed_ = true;
  cv_.notify_all();
}

}  // namespace mumba::sdk_internal
