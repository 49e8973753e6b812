// SPDX-License-Identifier: Apache-2.0
// Internal to the gateway: what all connections share and may not exceed together,
// the open connections and the bytes of request bodies held whole, as reservations
// that give their share back when they go.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "gateway/gateway.h"

namespace mumba::gateway_internal {

// A share of one of the budget's counters, given back by the destructor or by
// Release. Movable; an empty one holds nothing. Not thread-safe itself.
class Reservation {
 public:
  Reservation() = default;
  Reservation(std::shared_ptr<std::atomic<uint64_t>> counter, uint64_t amount)
      : counter_(std::move(counter)), amount_(amount) {}
  Reservation(Reservation&& other) noexcept = default;
  Reservation& operator=(Reservation&& other) noexcept;
  ~Reservation() { Release(); }

  // True when it holds a share (possibly of 0 bytes).
  explicit operator bool() const { return counter_ != nullptr; }
  // Gives the share back now; later calls do nothing.
  void Release();

 private:
  std::shared_ptr<std::atomic<uint64_t>> counter_;
  uint64_t amount_ = 0;
};

// Thread-safe. Reservations may outlive the budget.
class GatewayBudget {
 public:
  explicit GatewayBudget(const GatewayLimits& limits) : limits_(limits) {}

  const GatewayLimits& limits() const { return limits_; }

  // A connection's place among the max_connections open at once, held as long as
  // the connection is open; empty when they are all taken.
  Reservation TakeConnection() const;
  // A place among the few connections over max_connections that are being
  // answered 503 at once; empty when there are already that many (the next is
  // closed without an answer).
  Reservation TakeRefusal() const;
  // Room for a body of `bytes` read whole, held until its request is answered;
  // empty when max_buffered_bytes would be exceeded. Zero bytes always fit.
  Reservation ReserveBody(uint64_t bytes) const;

  // How many connections are open, and how many body bytes are held, now.
  uint64_t connections() const { return *connections_; }
  uint64_t buffered_bytes() const { return *buffered_; }

 private:
  static Reservation Take(const std::shared_ptr<std::atomic<uint64_t>>& counter, uint64_t amount, uint64_t cap);

  const GatewayLimits limits_;
  const std::shared_ptr<std::atomic<uint64_t>> connections_ = std::make_shared<std::atomic<uint64_t>>(0);
  const std::shared_ptr<std::atomic<uint64_t>> buffered_ = std::make_shared<std::atomic<uint64_t>>(0);
  const std::shared_ptr<std::atomic<uint64_t>> refusing_ = std::make_shared<std::atomic<uint64_t>>(0);
};

}  // namespace mumba::gateway_internal
