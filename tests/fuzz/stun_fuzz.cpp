// libFuzzer target for what a peer can send to a media port before DTLS (RFC 7983 s.7): the
// demultiplexer (bridge::classify), the STUN parser and accessors (RFC 5389, RFC 8445 s.16.1)
// and the ICE-lite responder (bridge::IceLiteAgent::on_stun), as MediaSession runs them.
//
// The first byte picks the mode:
//   bit 0 clear: the rest is one datagram as received;
//   bit 0 set:   the rest is a list of attributes (type, length, value: clipped to what is
//                left) built into a Binding request that then gets the right USERNAME (bit 1),
//                MESSAGE-INTEGRITY keyed with the agent's pwd (bit 2; a wrong key with bit 3)
//                and FINGERPRINT (unless bit 4), so that the fuzzer reaches the checks behind
//                the credentials;
//   bit 5: the agent knows the peer's ufrag (set_remote); bits 6-7: the source address family
//   (IPv4, IPv6, IPv4-mapped IPv6).
// Properties checked: a parsed message's type bits, attributes and values re-encode to the same
// bytes (padding aside) and parse again to the same attributes; decoded XOR-MAPPED-ADDRESS and
// ERROR-CODE values re-encode to themselves; every response of the agent is a well-formed STUN
// message for the request's transaction with a good FINGERPRINT, a success only for a request
// that carried our ufrag and our pwd's MESSAGE-INTEGRITY, naming the source address, signed
// with our pwd; each request moves exactly one of the agent's counters.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bridge/demux.hpp"
#include "bridge/ice_lite.hpp"
#include "bridge/stun.hpp"
#include "common/net.hpp"

namespace {

using namespace sipws;
using namespace sipws::bridge;
using Bytes = std::vector<std::uint8_t>;

/// An invariant of our own code broke: name it and let the fuzzer report the input.
void check_at(bool ok, const char* what, int line) {
  if (ok) return;
  std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, line, what);
  std::abort();
}
#define check(cond) check_at((cond), #cond, __LINE__)

// The agent's credentials (a=ice-ufrag / a=ice-pwd) and the peer's ufrag; the seeds under
// tests/fuzz/corpus/stun/ are signed with these.
const std::string kUfrag = "fzUF";
const std::string kPwd = "fuzzpwdfuzzpwdfuzzpwd0";
const std::string kRemoteUfrag = "peer";

std::uint16_t be16(const std::uint8_t* p) { return static_cast<std::uint16_t>((p[0] << 8) | p[1]); }

IpAddress unmap(const IpAddress& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped()) {
    return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, a.to_v6());
  }
  return a;
}

/// The datagram with every padding byte zeroed, cut after the last listed attribute.
Bytes normalized(const stun::Message& m) {
  const auto in = m.bytes();
  Bytes out(in.begin(), in.begin() + stun::kHeaderSize);
  for (const auto& a : m.attributes()) {
    const auto v = m.value(a);
    out.insert(out.end(), in.begin() + static_cast<std::ptrdiff_t>(a.offset),
               in.begin() + static_cast<std::ptrdiff_t>(a.offset + 4));
    out.insert(out.end(), v.begin(), v.end());
    out.resize(out.size() + ((4 - v.size() % 4) % 4), 0);
  }
  const std::size_t body = out.size() - stun::kHeaderSize;
  out[2] = static_cast<std::uint8_t>(body >> 8);
  out[3] = static_cast<std::uint8_t>(body);
  return out;
}

/// Re-encodes `m` with the Builder and checks it against what was parsed.
void check_reencode(const stun::Message& m) {
  const auto in = m.bytes();
  check(stun::message_type(m.klass(), m.method()) == be16(in.data()));
  stun::Builder b(m.klass(), m.method(), m.transaction_id());
  for (const auto& a : m.attributes()) b.add(a.type, m.value(a));
  const Bytes rebuilt(b.bytes().begin(), b.bytes().end());
  check(rebuilt == normalized(m));
  auto again = stun::parse(rebuilt);
  check(again.has_value());
  check(again->klass() == m.klass() && again->method() == m.method());
  check(again->transaction_id() == m.transaction_id());
  check(again->attributes().size() == m.attributes().size());
  for (std::size_t i = 0; i < m.attributes().size(); ++i) {
    const auto& x = m.attributes()[i];
    const auto& y = again->attributes()[i];
    check(x.type == y.type && x.length == y.length);
    const auto vx = m.value(x);
    const auto vy = again->value(y);
    check(std::equal(vx.begin(), vx.end(), vy.begin(), vy.end()));
  }
  // The Builder signs as the checks verify: rebuilt up to MESSAGE-INTEGRITY (our pwd) or
  // FINGERPRINT, the value it computes equals the received one exactly when
  // check_message_integrity / check_fingerprint accept it. Both cover the padding, so this is
  // checked for messages whose padding was zero (rebuilt byte for byte).
  if (rebuilt != Bytes(in.begin(), in.end())) return;
  stun::Builder mi(m.klass(), m.method(), m.transaction_id());
  stun::Builder fp(m.klass(), m.method(), m.transaction_id());
  for (const auto& a : m.attributes()) {
    const auto got = m.value(a);
    if (a.type == stun::attr::kMessageIntegrity) {
      mi.add_message_integrity(kPwd);
      const auto mine = mi.bytes().last(stun::kMessageIntegritySize);
      check(std::equal(mine.begin(), mine.end(), got.begin(), got.end()) ==
            stun::check_message_integrity(m, kPwd));
    } else if (a.type == stun::attr::kFingerprint) {
      fp.add_fingerprint();
      const auto mine = fp.bytes().last(4);
      check(std::equal(mine.begin(), mine.end(), got.begin(), got.end()) ==
            stun::check_fingerprint(m));
      break;  // last (parse guarantees it)
    }
    if (!m.has(stun::attr::kMessageIntegrity) ||
        a.offset < m.find(stun::attr::kMessageIntegrity)->offset) {
      mi.add(a.type, got);
    }
    fp.add(a.type, got);  // MESSAGE-INTEGRITY as received: FINGERPRINT covers it
  }
}

/// The decoded attribute values encode back to themselves.
void check_values(const stun::Message& m) {
  (void)m.priority();
  (void)m.ice_controlling();
  (void)m.ice_controlled();
  (void)m.username();
  (void)m.text(stun::attr::kSoftware);
  static constexpr std::uint16_t kKnown[] = {stun::attr::kUsername, stun::attr::kPriority};
  const auto unknown = m.unknown_required(kKnown);
  for (std::size_t i = 0; i < unknown.size(); ++i) {
    check(unknown[i] < 0x8000 && m.has(unknown[i]));
    for (std::size_t j = 0; j < i; ++j) check(unknown[i] != unknown[j]);
  }
  if (const auto ep = m.xor_mapped_address()) {
    stun::Builder b(stun::Class::Success, stun::kBinding, m.transaction_id());
    b.add_xor_address(stun::attr::kXorMappedAddress, *ep);
    auto again = stun::parse(b.bytes());
    check(again.has_value());
    const auto back = again->xor_mapped_address();
    check(back.has_value() && back->port == ep->port && back->address == unmap(ep->address));
  }
  if (const auto ec = m.error_code()) {
    check(ec->code >= 300 && ec->code <= 699);
    stun::Builder b(stun::Class::Error, stun::kBinding, m.transaction_id());
    b.add_error_code(ec->code, ec->reason);
    auto again = stun::parse(b.bytes());
    check(again.has_value());
    const auto back = again->error_code();
    check(back.has_value() && back->code == ec->code && back->reason == ec->reason);
  }
}

/// A Binding request from fuzzed attributes, with the credentials the flags ask for.
Bytes signed_request(std::uint8_t flags, std::span<const std::uint8_t> rest) {
  stun::TransactionId txid{};
  for (std::size_t i = 0; i < txid.size() && i < rest.size(); ++i) txid[i] = rest[i];
  stun::Builder b(stun::Class::Request, stun::kBinding, txid);
  if (flags & 2) b.add_text(stun::attr::kUsername, kUfrag + ":" + kRemoteUfrag);
  std::size_t pos = std::min(rest.size(), txid.size());
  while (rest.size() - pos >= 4) {
    const std::uint16_t type = be16(rest.data() + pos);
    const std::size_t len =
        std::min<std::size_t>(be16(rest.data() + pos + 2), rest.size() - pos - 4);
    // The Builder adds these two itself, last (adding them here would be our bug).
    if (type != stun::attr::kMessageIntegrity && type != stun::attr::kFingerprint) {
      b.add(type, rest.subspan(pos + 4, len));
    }
    pos += 4 + len;
  }
  if (flags & 4) b.add_message_integrity((flags & 8) ? std::string_view("wrong") : kPwd);
  if (!(flags & 16)) b.add_fingerprint();
  return Bytes(b.bytes().begin(), b.bytes().end());
}

Endpoint source(std::uint8_t flags) {
  switch (flags >> 6) {
    case 1:
      return Endpoint{boost::asio::ip::make_address("2001:db8::5"), 40000};
    case 2:
      return Endpoint{boost::asio::ip::make_address("::ffff:192.0.2.7"), 50000};
    default:
      return Endpoint{boost::asio::ip::make_address("192.0.2.1"), 5000};
  }
}

void check_agent(std::uint8_t flags, std::span<const std::uint8_t> packet) {
  IceLiteAgent agent(kUfrag, kPwd);
  if (flags & 32) agent.set_remote(kRemoteUfrag, "peerpwdpeerpwdpeerpwd0");
  const Endpoint from = source(flags);
  const IceLiteAgent::Stats before = agent.stats();
  const auto r = agent.on_stun(packet, from);
  const IceLiteAgent::Stats& s = agent.stats();
  const std::uint64_t moved = (s.dropped - before.dropped) + (s.bad_request - before.bad_request) +
                              (s.unauthorized - before.unauthorized) +
                              (s.other_error - before.other_error) + (s.valid - before.valid);
  check(moved == 1);
  check(r.response.empty() == (s.dropped == before.dropped + 1));
  check(!r.nominated || r.valid);
  check(r.valid == (s.valid == before.valid + 1));
  check(agent.selected().has_value() == r.valid);
  if (r.response.empty()) return;

  // Only a request with a good FINGERPRINT is answered.
  const auto req = stun::parse(packet);
  check(req.has_value() && req->klass() == stun::Class::Request && stun::check_fingerprint(*req));
  const auto rsp = stun::parse(r.response);
  check(rsp.has_value());
  check(stun::check_fingerprint(*rsp));
  check(rsp->transaction_id() == req->transaction_id());
  check(rsp->method() == req->method());
  check(rsp->klass() == (r.valid ? stun::Class::Success : stun::Class::Error));
  if (!r.valid) {
    const auto ec = rsp->error_code();
    check(ec.has_value());
    check(ec->code == 400 || ec->code == 401 || ec->code == 420 || ec->code == 487);
    // 401 must not prove knowledge of the pwd (RFC 5389 s.10.1.2).
    if (ec->code == 400 || ec->code == 401) check(!rsp->has(stun::attr::kMessageIntegrity));
    if (ec->code == 420 || ec->code == 487) check(stun::check_message_integrity(*rsp, kPwd));
    return;
  }
  // A success: the request was ours, signed with our pwd, and the answer says where it came
  // from, signed with our pwd (RFC 8445 s.7.3.1.4).
  const auto user = req->username();
  check(user.has_value() && user->starts_with(kUfrag + ":"));
  if (flags & 32) check(user->substr(kUfrag.size() + 1) == kRemoteUfrag);
  check(stun::check_message_integrity(*req, kPwd));
  check(!req->has(stun::attr::kIceControlled));
  check(r.nominated == req->has(stun::attr::kUseCandidate));
  check(stun::check_message_integrity(*rsp, kPwd));
  const auto mapped = rsp->xor_mapped_address();
  check(mapped.has_value() && mapped->port == from.port && mapped->address == unmap(from.address));
  check(*agent.selected() == from);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0 || size > 70000) return 0;
  const std::uint8_t flags = data[0];
  const std::span<const std::uint8_t> rest(data + 1, size - 1);
  const Bytes packet = (flags & 1) ? signed_request(flags, rest) : Bytes(rest.begin(), rest.end());

  const PacketKind kind = classify(packet);
  (void)to_string(kind);
  if (kind == PacketKind::Stun) check(packet.size() >= stun::kHeaderSize && packet[0] <= 3);

  auto m = stun::parse(packet);
  if (m) {
    if (packet[0] <= 3) check(kind == PacketKind::Stun);
    check(m->bytes().size() == packet.size());
    check_reencode(*m);
    check_values(*m);
  } else {
    check(m.error().value() != 0 && !m.error().message().empty());
    if (flags & 1) check(packet.size() > 0xFFFF + stun::kHeaderSize);  // we built it well-formed
  }
  check_agent(flags, packet);
  return 0;
}
