#pragma once
// Helpers of the registrar tests: messages from text, a request context per request, the
// response as it would go on the wire (serialized and parsed again), a temporary directory.

#include <gtest/gtest.h>

#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "common/net.hpp"
#include "proxy/network_view.hpp"
#include "proxy/proxy_core.hpp"
#include "proxy/request_context.hpp"
#include "proxy/uac.hpp"
#include "registrar/location.hpp"
#include "sip/headers.hpp"
#include "sip/message.hpp"
#include "sip/parser.hpp"
#include "sip/txn/transaction_layer.hpp"

namespace sipws::registrar::test {

/// Parses `text` written with "\n" line ends (converted to CRLF). Fails the test if invalid.
inline sip::Message msg(std::string_view text) {
  std::string wire;
  for (char c : text) {
    if (c == '\n') wire += '\r';
    wire += c;
  }
  auto m = sip::parse(wire);
  EXPECT_TRUE(m.has_value()) << (m ? std::string() : m.error().reason) << "\n" << wire;
  return m ? std::move(*m) : sip::Message{};
}

/// A REGISTER of one contact for `aor` from `src`, straight from the UA (RFC 3261 s.10.3).
inline RegisterUpdate one(std::string aor, std::string contact, std::uint32_t expires, Source src,
                          std::string call_id = "cid", std::uint32_t cseq = 1, float q = 1.0f) {
  RegisterUpdate u;
  u.aor = std::move(aor);
  u.call_id = std::move(call_id);
  u.cseq = cseq;
  u.source = src;
  u.direct = true;
  ContactUpdate c;
  c.contact = std::move(contact);
  c.expires = expires;
  c.q = q;
  u.contacts.push_back(std::move(c));
  return u;
}

inline Endpoint ep(const char* ip, std::uint16_t port) {
  return Endpoint{boost::asio::ip::make_address(ip), port};
}

inline Source source(Protocol p, const char* ip, std::uint16_t port, FlowId flow) {
  Source s;
  s.protocol = p;
  s.peer = ep(ip, port);
  s.local = ep("127.0.0.1", p == Protocol::Ws ? 8080 : 5060);
  s.flow = flow;
  return s;
}

/// One message sipws sent, parsed again, and where to.
struct Sent {
  Destination dest;
  sip::Message msg;
};

/// The wire of the tests that run the real ProxyCore / Uac and transaction layer: an in-memory
/// sip::txn::Sender recording every message.
class WireSender final : public sip::txn::Sender {
 public:
  bool send(const Destination& dest, std::shared_ptr<const std::string> bytes) override {
    auto m = sip::parse(bytes);
    EXPECT_TRUE(m.has_value()) << *bytes;
    if (m) sent.push_back({dest, std::move(*m)});
    return true;
  }
  /// Removes and returns the oldest message sent; fails the test if none.
  Sent pop() {
    EXPECT_FALSE(sent.empty());
    if (sent.empty()) return {};
    Sent s = std::move(sent.front());
    sent.pop_front();
    return s;
  }
  std::deque<Sent> sent;
};

/// sipws on UDP 127.0.0.1:5060 and WS 127.0.0.1:8080, with the flows in `flows` open (WS,
/// unless `protocols` says otherwise).
class Network final : public proxy::NetworkView {
 public:
  Network() {
    auto lo = boost::asio::ip::make_address("127.0.0.1");
    lps_.push_back({Protocol::Udp, {lo, 5060}, "127.0.0.1"});
    lps_.push_back({Protocol::Ws, {lo, 8080}, "127.0.0.1"});
  }
  const std::vector<ListenPoint>& listen_points() const override { return lps_; }
  bool flow_alive(FlowId id) const override { return flows.count(id) > 0; }
  std::optional<Endpoint> flow_peer(FlowId id) const override {
    auto it = flows.find(id);
    if (it == flows.end()) return std::nullopt;
    return it->second;
  }
  std::optional<Protocol> flow_protocol(FlowId id) const override {
    if (flows.count(id) == 0) return std::nullopt;
    auto p = protocols.find(id);
    return p != protocols.end() ? p->second : Protocol::Ws;
  }
  std::map<FlowId, Endpoint> flows;
  std::map<FlowId, Protocol> protocols;

 private:
  std::vector<ListenPoint> lps_;
};

/// The daemon's transaction user: responses to the Uac first, the rest to the core (if any).
class Tu final : public sip::txn::TransactionUser {
 public:
  Tu(proxy::ProxyCore* core, proxy::Uac& uac) : core_(core), uac_(uac) {}
  void on_request(sip::txn::ServerTxnId id, const sip::Message& r, const Source& s) override {
    if (core_ != nullptr) core_->on_request(id, r, s);
  }
  void on_ack(const sip::Message& a, const Source& s) override {
    if (core_ != nullptr) core_->on_ack(a, s);
  }
  void on_cancel(sip::txn::ServerTxnId id, const sip::Message& c) override {
    if (core_ != nullptr) core_->on_cancel(id, c);
  }
  void on_response(sip::txn::ClientTxnId id, const sip::Message& r) override {
    if (!uac_.on_response(id, r) && core_ != nullptr) core_->on_response(id, r);
  }
  void on_client_failure(sip::txn::ClientTxnId id, bool transport_error) override {
    if (!uac_.on_client_failure(id, transport_error) && core_ != nullptr) {
      core_->on_client_failure(id, transport_error);
    }
  }
  void on_stray_response(const sip::Message& r, const Source& s) override {
    if (core_ != nullptr) core_->on_stray_response(r, s);
  }
  void on_server_terminated(sip::txn::ServerTxnId id) override {
    if (core_ != nullptr) core_->on_server_terminated(id);
  }

 private:
  proxy::ProxyCore* core_;
  proxy::Uac& uac_;
};

/// What a processor did with one request.
struct Outcome {
  proxy::Action action = proxy::Action::Continue;
  std::optional<sip::Message> response;  ///< re-parsed from its serialization
  std::vector<proxy::Target> targets;

  int status() const { return response ? response->status() : 0; }
  /// The Contact values of the response, parsed.
  std::vector<sip::NameAddr> contacts() const {
    std::vector<sip::NameAddr> out;
    if (!response) return out;
    for (const auto* h : response->find_all(sip::HeaderId::Contact)) {
      auto na = sip::parse_name_addr(h->value);
      EXPECT_TRUE(na.has_value()) << h->value;
      if (na) out.push_back(*na);
    }
    return out;
  }
  /// Value of header `id` in the response, "" if absent.
  std::string header(sip::HeaderId id) const {
    if (!response) return {};
    const auto* h = response->find(id);
    return h ? std::string(h->value) : std::string();
  }
};

/// Runs `p` on `request` as received from `src` with `identity` already proven.
inline Outcome run(proxy::RequestProcessor& p, const sip::Message& request, const Source& src,
                   const std::string& identity = {}) {
  proxy::RequestContext ctx(request, src, 1);
  ctx.set_identity(identity);
  Outcome o;
  o.action = p.process(ctx);
  if (ctx.response()) {
    auto wire = ctx.response()->serialize();
    auto m = sip::parse(wire);
    EXPECT_TRUE(m.has_value()) << wire;
    if (m) o.response = std::move(*m);
  }
  o.targets = ctx.targets();
  return o;
}

/// A header parameter value with surrounding quotes removed ("" if absent).
inline std::string param(const sip::NameAddr& na, std::string_view name) {
  const auto* p = na.param(name);
  if (p == nullptr) return {};
  std::string_view v = p->value;
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
  return std::string(v);
}

/// A fresh directory under the system temp dir, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() /
            ("sipws-registrar-" + std::to_string(rd()) + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string db_uri() const { return "sqlite:" + (path_ / "sipws.db").string(); }

 private:
  std::filesystem::path path_;
};

}  // namespace sipws::registrar::test
