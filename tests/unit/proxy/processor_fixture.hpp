#pragma once
// Shared pieces of the tests of single request processors: a request parsed by the real
// parser, the context the chain would give a processor, sipws on 127.0.0.1:5060 (loopback.hpp).

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "common/counters.hpp"
#include "loopback.hpp"
#include "proxy/request_context.hpp"
#include "sip/parser.hpp"

namespace sipws::proxy::test {

/// A request from 127.0.0.1:5062 over UDP: `method` to `ruri`, with `extra` header lines
/// (each ending in CRLF) after the mandatory ones. `to_tag` makes it in-dialog.
inline sip::Message request(const std::string& method, const std::string& ruri,
                            const std::string& extra = "", const std::string& to_tag = "") {
  const std::string text = method + " " + ruri +
                           " SIP/2.0\r\n"
                           "Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bKt1\r\n"
                           "Max-Forwards: 70\r\n"
                           "From: <sip:alice@localhost>;tag=a1\r\n"
                           "To: <sip:bob@localhost>" +
                           (to_tag.empty() ? "" : ";tag=" + to_tag) +
                           "\r\n"
                           "Call-ID: c1@test\r\n"
                           "CSeq: 1 " +
                           method + "\r\n" + extra + "Content-Length: 0\r\n\r\n";
  auto m = sip::parse(std::make_shared<const std::string>(text));
  EXPECT_TRUE(m.has_value()) << text;
  return m ? std::move(*m) : sip::Message{};
}

inline Source udp_source(FlowId flow = kNoFlow) {
  return {Protocol::Udp, {ip("127.0.0.1"), 5062}, {ip("127.0.0.1"), 5060}, flow};
}

/// The context a processor sees for `req` (server transaction 1).
inline std::unique_ptr<RequestContext> context(const sip::Message& req,
                                               const Source& src = udp_source()) {
  return std::make_unique<RequestContext>(req, src, 1);
}

inline std::uint64_t counter(std::string_view name) { return counters().get(name).value(); }

}  // namespace sipws::proxy::test
