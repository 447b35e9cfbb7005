// Google Benchmark: what topology hiding (proxy::TopologyHiding, issue 14 item 4) adds per
// message to and from a hidden peer: an AES-SIV seal or open of a Call-ID (every message), of
// a Contact token (messages with a Contact, and in-dialog requests from the peer), and the
// whole rewrite of a typical INVITE on its way out.
#include <benchmark/benchmark.h>

#include <string>

#include "proxy/topology_hiding.hpp"
#include "sip/parser.hpp"

namespace {

using sipws::IpAddress;
using sipws::ListenPoint;
using sipws::Protocol;
using sipws::proxy::TopologyHiding;

const std::string kCallId = "a84b4c76e66710-Zm9vYmFy@pc33.atlanta.example.com";  // 49 bytes
const std::string kSecret = "bench-route-secret-0123456789abcdef";

TopologyHiding make() {
  return TopologyHiding(kSecret, {boost::asio::ip::make_address("192.0.2.9")});
}

/// An inside Call-ID masked on its way out (seal).
void BM_TopologyHidingMaskCallId(benchmark::State& state) {
  const TopologyHiding th = make();
  for (auto _ : state) benchmark::DoNotOptimize(th.flip_call_id(kCallId));
}
BENCHMARK(BM_TopologyHidingMaskCallId);

/// A masked Call-ID unmasked on its way back in (open).
void BM_TopologyHidingUnmaskCallId(benchmark::State& state) {
  const TopologyHiding th = make();
  const std::string masked = th.flip_call_id(kCallId);
  for (auto _ : state) benchmark::DoNotOptimize(th.flip_call_id(masked));
}
BENCHMARK(BM_TopologyHidingUnmaskCallId);

/// A Contact token opened (an in-dialog request from the hidden peer).
void BM_TopologyHidingOpenContactToken(benchmark::State& state) {
  const TopologyHiding th = make();
  const std::string user = th.contact_user({"sip:h7kjh12s@abcdefgh.invalid;transport=ws;ob", {}});
  for (auto _ : state) benchmark::DoNotOptimize(th.inside_target(user));
}
BENCHMARK(BM_TopologyHidingOpenContactToken);

/// A browser's INVITE (as forwarded: our Via and Record-Route on top) hidden: Vias cut, the
/// Contact sealed, the Call-ID masked. The copy of the message is inside the loop.
void BM_TopologyHidingHideInvite(benchmark::State& state) {
  const TopologyHiding th = make();
  const std::string text =
      "INVITE sip:95551234@192.0.2.9:5060;user=phone SIP/2.0\r\n"
      "Via: SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bK-sw1-abc.0;rport\r\n"
      "Via: SIP/2.0/WSS abcdefgh.invalid;branch=z9hG4bK5566778;received=203.0.113.7;rport=52000\r\n"
      "Record-Route: <sip:198.51.100.1:5060;lr;sw=0123456789abcdef>\r\n"
      "Record-Route: <sip:sw-f7.0123@198.51.100.1:8443;transport=ws;lr;sw=0123456789abcdef>\r\n"
      "Max-Forwards: 69\r\n"
      "To: <sip:95551234@example.com>\r\n"
      "From: \"Alice\" <sip:alice@example.com>;tag=8rfbv5g4ks\r\n"
      "Call-ID: " +
      kCallId +
      "\r\n"
      "CSeq: 1 INVITE\r\n"
      "Contact: <sip:h7kjh12s@abcdefgh.invalid;transport=ws;ob>;+sip.ice;"
      "+sip.instance=\"<urn:uuid:00000000-0000-4000-8000-000000000001>\"\r\n"
      "Content-Length: 0\r\n\r\n";
  const auto parsed = sipws::sip::parse(text);
  if (!parsed) {
    state.SkipWithError("the INVITE does not parse");
    return;
  }
  const ListenPoint out{
      Protocol::Udp, {boost::asio::ip::make_address("198.51.100.1"), 5060}, "198.51.100.1"};
  const TopologyHiding::IsOwn is_own = [](const sipws::sip::Uri& u) {
    return u.host == "198.51.100.1";
  };
  const bool hide = state.range(0) != 0;
  for (auto _ : state) {
    sipws::sip::Message m = *parsed;
    if (hide) th.hide_request(m, out, is_own, nullptr);
    benchmark::DoNotOptimize(m);
  }
}
/// Arg 0: the copy alone (the baseline to subtract); arg 1: copy and hide.
BENCHMARK(BM_TopologyHidingHideInvite)->Arg(0)->Arg(1);

}  // namespace
