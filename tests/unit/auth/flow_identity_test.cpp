// FlowIdentityProcessor: a flow whose WebSocket handshake proved an identity may only speak as
// that identity (From; for REGISTER also To).

#include "auth/flow_identity.hpp"

#include <gtest/gtest.h>

#include <map>

#include "common/counters.hpp"
#include "sip/parser.hpp"

namespace sipws::auth {
namespace {

using proxy::Action;
using proxy::RequestContext;

constexpr FlowId kAliceFlow = 7;
constexpr FlowId kPlainFlow = 8;

sip::Message parse(const std::string& text) {
  auto m = sip::parse(text);
  if (!m) {
    ADD_FAILURE() << "parse failed: " << m.error().reason << "\n" << text;
    return {};
  }
  return std::move(m.value());
}

sip::Message request(const std::string& method, const std::string& from, const std::string& to) {
  return parse(method + " sip:" + to +
               " SIP/2.0\r\n"
               "Via: SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bKnashds8\r\n"
               "Max-Forwards: 70\r\n"
               "To: <sip:" +
               to + ">\r\nFrom: \"Someone\" <sip:" + from +
               ">;tag=9fxced76sl\r\n"
               "Call-ID: 38482762982201885\r\n"
               "CSeq: 1 " +
               method + "\r\nContent-Length: 0\r\n\r\n");
}

class FlowIdentityTest : public ::testing::Test {
 protected:
  FlowIdentityProcessor proc_{[this](FlowId id) {
    auto it = identities_.find(id);
    return it == identities_.end() ? std::string() : it->second;
  }};
  std::map<FlowId, std::string> identities_{{kAliceFlow, "alice@example.com"}};

  /// Runs the processor on `msg` as received on `flow`; keeps the context for inspection.
  Action run(const sip::Message& msg, FlowId flow = kAliceFlow) {
    Source src;
    src.protocol = Protocol::Wss;
    src.flow = flow;
    ctx_.emplace(msg, src, sip::txn::ServerTxnId{});
    return proc_.process(*ctx_);
  }
  std::optional<RequestContext> ctx_;
};

TEST_F(FlowIdentityTest, MatchingFromPassesAndSetsTheIdentity) {
  EXPECT_EQ(run(request("INVITE", "alice@example.com", "bob@example.com")), Action::Continue);
  EXPECT_FALSE(ctx_->response());
  EXPECT_EQ(ctx_->identity(), "alice@example.com");
  // Host case-insensitive, user after %-unescaping (RFC 3261 s.19.1.4).
  EXPECT_EQ(run(request("MESSAGE", "al%69ce@EXAMPLE.com", "bob@example.com")), Action::Continue);
  EXPECT_EQ(ctx_->identity(), "alice@example.com");
}

TEST_F(FlowIdentityTest, MismatchingFromIsForbiddenNamingIt) {
  const auto before = counters().get("flow_identity_mismatch").value();
  for (const std::string from :
       {"mallory@example.com", "alice@evil.example", "Alice@example.com"}) {
    EXPECT_EQ(run(request("INVITE", from, "bob@example.com")), Action::Respond) << from;
    ASSERT_TRUE(ctx_->response()) << from;
    EXPECT_EQ(ctx_->response()->status(), 403);
    EXPECT_EQ(ctx_->response()->reason(), "Forbidden - From does not match the WebSocket identity");
    EXPECT_TRUE(ctx_->identity().empty());
  }
  EXPECT_EQ(counters().get("flow_identity_mismatch").value(), before + 3);
}

TEST_F(FlowIdentityTest, RegisterNeedsToAndFromOfTheIdentity) {
  EXPECT_EQ(run(request("REGISTER", "alice@example.com", "alice@example.com")), Action::Continue);
  EXPECT_EQ(ctx_->identity(), "alice@example.com");

  EXPECT_EQ(run(request("REGISTER", "alice@example.com", "bob@example.com")), Action::Respond);
  ASSERT_TRUE(ctx_->response());
  EXPECT_EQ(ctx_->response()->status(), 403);
  EXPECT_EQ(ctx_->response()->reason(), "Forbidden - To does not match the WebSocket identity");

  EXPECT_EQ(run(request("REGISTER", "bob@example.com", "bob@example.com")), Action::Respond);
  ASSERT_TRUE(ctx_->response());
  EXPECT_EQ(ctx_->response()->reason(), "Forbidden - From does not match the WebSocket identity");
}

TEST_F(FlowIdentityTest, FlowsWithoutIdentityAndUdpPassUntouched) {
  EXPECT_EQ(run(request("REGISTER", "bob@example.com", "bob@example.com"), kPlainFlow),
            Action::Continue);
  EXPECT_FALSE(ctx_->response());
  EXPECT_TRUE(ctx_->identity().empty());
  EXPECT_EQ(run(request("INVITE", "bob@example.com", "alice@example.com"), kNoFlow),
            Action::Continue);
  EXPECT_TRUE(ctx_->identity().empty());
}

TEST_F(FlowIdentityTest, AckAndCancelPass) {
  EXPECT_EQ(run(request("CANCEL", "mallory@example.com", "bob@example.com")), Action::Continue);
  EXPECT_FALSE(ctx_->response());
  EXPECT_EQ(run(request("ACK", "mallory@example.com", "bob@example.com")), Action::Continue);
  EXPECT_FALSE(ctx_->response());
}

TEST_F(FlowIdentityTest, TelOrNonSipFromIsForbidden) {
  const auto msg = parse(
      "INVITE sip:bob@example.com SIP/2.0\r\n"
      "Via: SIP/2.0/WSS x.invalid;branch=z9hG4bK1\r\nMax-Forwards: 70\r\n"
      "To: <sip:bob@example.com>\r\nFrom: <tel:+15551234>;tag=1\r\nCall-ID: c1\r\n"
      "CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(run(msg), Action::Respond);
  ASSERT_TRUE(ctx_->response());
  EXPECT_EQ(ctx_->response()->status(), 403);
}

}  // namespace
}  // namespace sipws::auth
