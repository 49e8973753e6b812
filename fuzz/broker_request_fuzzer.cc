// SPDX-License-Identifier: Apache-2.0
// Fuzzes what a daemon sends the broker (proto/mumba/app/v1/broker.proto) and the
// decision it leads to: DecideConnection (src/broker/grants.h) against three
// installed apps, with the caller's grants taken from the input. Any installed app
// writes these bytes, and wants a connection it was not granted.
//
// The input is a BrokerRequest as the host reads it off a packet. Its target is
// decided with the grants its first bytes pick. Beyond not crashing: a connection
// is handed out only to an installed app other than the caller, only with services
// that app exports (or its routes), each one the grants allow; without any grant of
// the callee the answer is PERMISSION_DENIED or NOT_FOUND, never a connection.
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "broker/grants.h"
#include "fuzz_check.h"
#include "mumba/app/v1/broker.pb.h"

namespace {

const std::string kHello = "mumba://arjuenkjhs3sd3im55zspf2cxboadfjgb4hwpwefwvc7obep66aa";
const std::string kHowdy = "mumba://cgl6mtbpxouc22wgfpeaqzoda2zupc7ntep2bwqtdvrkq3cgbzjq";
const std::string kBook = "mumba://onyo2dloppshki2aljfvcquct7fqvmfhtzfdbwkzerbfymogzwna";

const std::vector<mumba::Callee>& Apps() {
  static const auto* apps = new std::vector<mumba::Callee>{
      {kHello, "hello", {"hello.v1.Greeter", "hello.v1.Admin"}, true},
      {kHowdy, "howdy", {"hello.v1.Greeter"}, false},
      {kBook, "guestbook", {"guestbook.v1.Book"}, true},
  };
  return *apps;
}

// Every ask a grant could be, one bit each.
const std::vector<std::string>& Asks() {
  static const auto* asks = new std::vector<std::string>{
      "network", "call:" + kHello, "call:" + kHello + "/hello.v1.Greeter", "call:hello.v1.Greeter",
      "call:" + kHowdy, "call:guestbook.v1.Book", "call:" + kBook, "call:hello.v1.Admin"};
  return *asks;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  std::set<std::string> granted;
  for (size_t i = 0; i < Asks().size(); ++i) {
    if (data[0] & (1u << i)) granted.insert(Asks()[i]);
  }
  mumba::app::v1::BrokerRequest req;
  if (!req.ParseFromArray(data + 1, static_cast<int>(size - 1)) || !req.has_connect()) return 0;
  const std::string& target = req.connect().target();
  // The caller is the guestbook: it may not connect to itself.
  auto d = mumba::DecideConnection(target, kBook, granted, Apps());
  if (!d.ok()) {
    auto code = d.status().code();
    FUZZ_CHECK_SAYING(code == mumba::Code::kPermissionDenied || code == mumba::Code::kNotFound ||
                          code == mumba::Code::kInvalidArgument || code == mumba::Code::kFailedPrecondition,
                      d.status().message().c_str());
    return 0;
  }
  const mumba::Callee& callee = d->callee;
  FUZZ_CHECK(callee.id != kBook);
  bool installed = false;
  for (const auto& app : Apps()) installed = installed || app.id == callee.id;
  FUZZ_CHECK(installed);
  FUZZ_CHECK(!d->services.empty());
  const auto allowed = mumba::AllowedServices(granted, callee);
  for (const auto& s : d->services) {
    bool exported = s == mumba::kRoutesService ? callee.routes : false;
    for (const auto& e : callee.services) exported = exported || e == s;
    FUZZ_CHECK_SAYING(exported, s.c_str());
    bool in_allowed = false;
    for (const auto& a : allowed) in_allowed = in_allowed || a == s;
    FUZZ_CHECK_SAYING(in_allowed, s.c_str());
  }
  return 0;
}
