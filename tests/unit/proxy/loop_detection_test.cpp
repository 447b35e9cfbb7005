// loop-detection (RFC 3261 s.16.3 step 4).

#include "proxy/loop_detection.hpp"

#include <gtest/gtest.h>

#include "processor_fixture.hpp"
#include "proxy/routing.hpp"

namespace sipws::proxy {
namespace {

using test::context;
using test::counter;
using test::request;

/// `req` as it comes back after sipws forwarded it (our Via, with the loop hash of `hashed`,
/// under the Via of the proxy that sent it back).
sip::Message returned(sip::Message req, const sip::Message& hashed,
                      const std::string& our_host = "127.0.0.1:5060") {
  req.push_front(sip::HeaderId::Via,
                 "SIP/2.0/UDP " + our_host + ";branch=" + make_branch(loop_hash(hashed)));
  req.push_front(sip::HeaderId::Via, "SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bKup1");
  return req;
}

TEST(LoopDetection, OurViaWithTheSameHashGets482AndIsCounted) {
  test::LoopbackNetwork net;
  LoopDetectionProcessor p(net);
  const auto req = request("INVITE", "sip:bob@192.0.2.7");
  const auto before = counter("proxy_loops_detected");
  auto ctx = context(returned(req, req));
  ASSERT_EQ(p.process(*ctx), Action::Respond);
  EXPECT_EQ(ctx->response()->status(), 482);
  EXPECT_EQ(ctx->response()->reason(), "Loop Detected");
  EXPECT_EQ(counter("proxy_loops_detected"), before + 1);
}

TEST(LoopDetection, ASpiralWithAnotherRequestUriContinues) {
  test::LoopbackNetwork net;
  LoopDetectionProcessor p(net);
  const auto first = request("INVITE", "sip:bob@192.0.2.7");
  auto ctx = context(returned(request("INVITE", "sip:carol@192.0.2.8"), first));
  EXPECT_EQ(p.process(*ctx), Action::Continue);
  EXPECT_FALSE(ctx->response());
}

TEST(LoopDetection, TheSameHashInAnotherProxysViaContinues) {
  test::LoopbackNetwork net;
  LoopDetectionProcessor p(net);
  const auto req = request("INVITE", "sip:bob@192.0.2.7");
  auto ctx = context(returned(req, req, "192.0.2.9:5060"));
  EXPECT_EQ(p.process(*ctx), Action::Continue);
}

}  // namespace
}  // namespace sipws::proxy
