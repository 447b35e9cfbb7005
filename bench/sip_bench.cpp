// Google Benchmark: parse, serialize and parse+serialize of a typical INVITE (with SDP) and
// REGISTER, and proxy-style mutation (push Via, decrement Max-Forwards, serialize).
#include <benchmark/benchmark.h>

#include <memory>
#include <string>

#include "sip/parser.hpp"

namespace {

using namespace sipws::sip;

const std::string kSdp =
    "v=0\r\n"
    "o=- 4858949279164564873 2 IN IP4 127.0.0.1\r\n"
    "s=-\r\n"
    "c=IN IP4 192.0.2.101\r\n"
    "t=0 0\r\n"
    "m=audio 49172 RTP/AVP 0 8 101\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n"
    "a=fmtp:101 0-16\r\n"
    "a=ptime:20\r\n"
    "a=sendrecv\r\n";

const std::string kInvite =
    "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"
    "Via: SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bK56sdasks;rport\r\n"
    "Max-Forwards: 70\r\n"
    "Route: <sip:proxy.example.com;transport=ws;lr>\r\n"
    "To: Bob <sip:bob@biloxi.example.com>\r\n"
    "From: \"Alice\" <sip:alice@atlanta.example.com>;tag=9fxced76sl\r\n"
    "Call-ID: 3848276298220188511@atlanta.example.com\r\n"
    "CSeq: 314159 INVITE\r\n"
    "Contact: <sip:alice@df7jal23ls0d.invalid;transport=ws;ob>\r\n"
    "Allow: INVITE, ACK, CANCEL, BYE, UPDATE, MESSAGE, OPTIONS, REFER, INFO, NOTIFY\r\n"
    "Supported: path, gruu, outbound\r\n"
    "User-Agent: JsSIP 3.10.0\r\n"
    "Content-Type: application/sdp\r\n"
    "Content-Length: " +
    std::to_string(kSdp.size()) + "\r\n\r\n" + kSdp;

const std::string kRegister =
    "REGISTER sip:example.com SIP/2.0\r\n"
    "Via: SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bK2q9sk4;rport\r\n"
    "Max-Forwards: 70\r\n"
    "To: <sip:alice@example.com>\r\n"
    "From: <sip:alice@example.com>;tag=2qjs8fh4nt\r\n"
    "Call-ID: 0bp3k5e7g1b8qv2mpk3q\r\n"
    "CSeq: 42 REGISTER\r\n"
    "Contact: <sip:alice@df7jal23ls0d.invalid;transport=ws>;+sip.ice;reg-id=1;"
    "+sip.instance=\"<urn:uuid:5ab2a4ee-d8e5-4ac4-9d31-5c2f3b07a9a4>\";expires=600\r\n"
    "Expires: 600\r\n"
    "Allow: INVITE, ACK, CANCEL, BYE, UPDATE, MESSAGE, OPTIONS, REFER, INFO, NOTIFY\r\n"
    "Supported: path, gruu, outbound\r\n"
    "User-Agent: JsSIP 3.10.0\r\n"
    "Content-Length: 0\r\n\r\n";

void parse_bench(benchmark::State& state, const std::string& text) {
  const auto buf = std::make_shared<const std::string>(text);
  for (auto _ : state) {
    auto m = parse(buf);
    benchmark::DoNotOptimize(m);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}

void serialize_bench(benchmark::State& state, const std::string& text) {
  const auto m = parse(text);
  if (!m) {
    state.SkipWithError("parse failed");
    return;
  }
  for (auto _ : state) {
    auto s = m->serialize();
    benchmark::DoNotOptimize(s);
  }
}

void round_trip_bench(benchmark::State& state, const std::string& text) {
  const auto buf = std::make_shared<const std::string>(text);
  for (auto _ : state) {
    auto m = parse(buf);
    auto s = m->serialize();
    benchmark::DoNotOptimize(s);
  }
}

void proxy_forward_bench(benchmark::State& state, const std::string& text) {
  const auto buf = std::make_shared<const std::string>(text);
  for (auto _ : state) {
    auto m = parse(buf);
    m->set(HeaderId::MaxForwards, std::to_string(*m->max_forwards() - 1));
    m->push_front(HeaderId::Via, "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKproxy1");
    m->push_front(HeaderId::RecordRoute, "<sip:192.0.2.1;lr>");
    auto s = m->serialize_shared();
    benchmark::DoNotOptimize(s);
  }
}

BENCHMARK_CAPTURE(parse_bench, invite, kInvite);
BENCHMARK_CAPTURE(parse_bench, register, kRegister);
BENCHMARK_CAPTURE(serialize_bench, invite, kInvite);
BENCHMARK_CAPTURE(serialize_bench, register, kRegister);
BENCHMARK_CAPTURE(round_trip_bench, invite, kInvite);
BENCHMARK_CAPTURE(round_trip_bench, register, kRegister);
BENCHMARK_CAPTURE(proxy_forward_bench, invite, kInvite);

}  // namespace

BENCHMARK_MAIN();
