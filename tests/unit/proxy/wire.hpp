#pragma once
// The proxy tests' wire: an in-memory sip::txn::Sender that records (parsed) every message the
// proxy core and the transaction layer send, and can fail sends on demand.

#include <gtest/gtest.h>

#include <deque>
#include <memory>
#include <optional>
#include <string>

#include "common/net.hpp"
#include "sip/parser.hpp"
#include "sip/txn/transaction_layer.hpp"

namespace sipws::proxy::test {

struct Sent {
  Destination dest;
  sip::Message msg;
};

class Wire final : public sip::txn::Sender {
 public:
  bool send(const Destination& dest, std::shared_ptr<const std::string> bytes) override {
    auto m = sip::parse(bytes);
    EXPECT_TRUE(m.has_value()) << *bytes;
    if (m) sent.push_back({dest, std::move(*m)});
    if (fail_all) return false;
    return !(fail_to && dest.endpoint.address == *fail_to);
  }
  /// Removes and returns the oldest sent message; fails the test if none.
  Sent pop() {
    EXPECT_FALSE(sent.empty());
    if (sent.empty()) return {};
    Sent s = std::move(sent.front());
    sent.pop_front();
    return s;
  }
  /// The next request sent, skipping the ACKs the transaction layer generates.
  Sent pop_request() {
    while (!sent.empty() && sent.front().msg.is_request() &&
           sent.front().msg.method() == sip::Method::Ack) {
      sent.pop_front();
    }
    return pop();
  }
  std::deque<Sent> sent;
  bool fail_all = false;             ///< every send fails (transport error)
  std::optional<IpAddress> fail_to;  ///< sends to this address fail
};

}  // namespace sipws::proxy::test
