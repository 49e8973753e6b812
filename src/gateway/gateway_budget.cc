// SPDX-License-Identifier: Apache-2.0
#include "gateway/gateway_budget.h"

#include <algorithm>

namespace mumba::gateway_internal {
namespace {

// Connections over the cap answered at once; each lingers a moment at most.
constexpr uint64_t kMaxRefusing = 64;

}  // namespace

Reservation& Reservation::operator=(Reservation&& other) noexcept {
  if (this != &other) {
    Release();
    counter_ = std::move(other.counter_);
    amount_ = other.amount_;
    other.counter_ = nullptr;
  }
  return *this;
}

void Reservation::Release() {
  if (counter_) counter_->fetch_sub(amount_);
  counter_ = nullptr;
  amount_ = 0;
}

Reservation GatewayBudget::Take(const std::shared_ptr<std::atomic<uint64_t>>& counter, uint64_t amount,
                                uint64_t cap) {
  uint64_t now = counter->load();
  do {
    if (amount > 0 && (amount > cap || now > cap - amount)) return {};
  } while (!counter->compare_exchange_weak(now, now + amount));
  return Reservation(counter, amount);
}

Reservation GatewayBudget::TakeConnection() const {
  return Take(connections_, 1, static_cast<uint64_t>(std::max(0, limits_.max_connections)));
}

Reservation GatewayBudget::TakeRefusal() const { return Take(refusing_, 1, kMaxRefusing); }

Reservation GatewayBudget::ReserveBody(uint64_t bytes) const {
  return Take(buffered_, bytes, limits_.max_buffered_bytes);
}

}  // namespace mumba::gateway_internal
