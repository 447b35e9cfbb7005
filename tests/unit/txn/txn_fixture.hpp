#pragma once
// Shared test fixture for the transaction layer: a recording Sender (the real in-memory I/O
// boundary), a recording TransactionUser, a ManualTimerService and SIP text builders.

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "common/timer.hpp"
#include "sip/parser.hpp"
#include "sip/txn/transaction_layer.hpp"

namespace sipws::sip::txn::test {

/// Parses `text`; a parse failure fails the test (the fixture's texts are valid).
inline Message parse_text(const std::string& text) {
  auto m = parse(std::string_view(text));
  if (!m) {
    ADD_FAILURE() << "parse failed: " << m.error().reason << "\n" << text;
    return Message{};
  }
  return std::move(m).value();
}

/// Fields of a test request; text() renders it.
struct Req {
  std::string method = "INVITE";
  std::string uri = "sip:bob@example.com";
  std::string via = "SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-inv1";
  std::string from_tag = "a1";
  std::string to_tag;
  std::string call_id = "call1@192.0.2.10";
  std::uint32_t cseq = 1;
  std::string cseq_method;  ///< defaults to `method`

  std::string text() const {
    std::string s = method + " " + uri + " SIP/2.0\r\n";
    s += "Via: " + via + "\r\n";
    s += "Max-Forwards: 70\r\n";
    s += "From: <sip:alice@example.com>;tag=" + from_tag + "\r\n";
    s += "To: <sip:bob@example.com>" + (to_tag.empty() ? std::string() : ";tag=" + to_tag) + "\r\n";
    s += "Call-ID: " + call_id + "\r\n";
    s += "CSeq: " + std::to_string(cseq) + " " + (cseq_method.empty() ? method : cseq_method) +
         "\r\n";
    s += "Content-Length: 0\r\n\r\n";
    return s;
  }
  Message msg() const { return parse_text(text()); }

  /// The same request with another method (CANCEL, ACK built by hand as a peer would).
  Req with_method(std::string m) const {
    Req r = *this;
    r.method = std::move(m);
    r.cseq_method.clear();
    return r;
  }

  /// A response to this request as a downstream peer would send it.
  Message response(int status, const std::string& rsp_to_tag = {}) const {
    std::string s = "SIP/2.0 " + std::to_string(status) + " Whatever\r\n";
    s += "Via: " + via + "\r\n";
    s += "From: <sip:alice@example.com>;tag=" + from_tag + "\r\n";
    const std::string& tag = rsp_to_tag.empty() ? to_tag : rsp_to_tag;
    s += "To: <sip:bob@example.com>" + (tag.empty() ? std::string() : ";tag=" + tag) + "\r\n";
    s += "Call-ID: " + call_id + "\r\n";
    s += "CSeq: " + std::to_string(cseq) + " " + (cseq_method.empty() ? method : cseq_method) +
         "\r\n";
    s += "Content-Length: 0\r\n\r\n";
    return parse_text(s);
  }
};

/// One send through the recording sender.
struct Sent {
  Destination dest;
  std::string bytes;
  Millis at{0};  ///< manual time of the send, from the start of the test
  Message msg() const { return parse_text(bytes); }
};

/// The real Sender for an in-memory transport: records every send; can be told to fail.
class RecordingSender final : public Sender {
 public:
  explicit RecordingSender(const ManualTimerService& timers) : timers_(timers) {}
  bool send(const Destination& dest, std::shared_ptr<const std::string> bytes) override {
    const auto at = std::chrono::duration_cast<Millis>(timers_.now() - TimePoint{});
    sent.push_back(Sent{dest, *bytes, at});
    if (fail_all) return false;
    if (fail_at != 0 && sent.size() == fail_at) return false;
    return true;
  }
  std::vector<Sent> sent;
  bool fail_all = false;
  std::size_t fail_at = 0;  ///< the n-th send (1-based) fails; 0: none

 private:
  const ManualTimerService& timers_;
};

/// What the TU was told.
struct Event {
  enum Kind { Request, Ack, Cancel, Response, ClientFailure, Stray, ServerTerminated } kind;
  std::uint64_t id = 0;
  std::optional<Message> msg;
  bool transport_error = false;
  Millis at{0};
};

/// Records every callback.
class RecordingTu final : public TransactionUser {
 public:
  explicit RecordingTu(const ManualTimerService& timers) : timers_(timers) {}
  void on_request(ServerTxnId id, const Message& request, const Source&) override {
    add(Event::Request, id, request);
  }
  void on_ack(const Message& ack, const Source&) override { add(Event::Ack, 0, ack); }
  void on_cancel(ServerTxnId invite_id, const Message& cancel) override {
    add(Event::Cancel, invite_id, cancel);
  }
  void on_response(ClientTxnId id, const Message& response) override {
    add(Event::Response, id, response);
  }
  void on_client_failure(ClientTxnId id, bool transport_error) override {
    add(Event::ClientFailure, id, std::nullopt);
    events.back().transport_error = transport_error;
  }
  void on_stray_response(const Message& response, const Source&) override {
    add(Event::Stray, 0, response);
  }
  void on_server_terminated(ServerTxnId id) override {
    add(Event::ServerTerminated, id, std::nullopt);
  }
  std::size_t count(Event::Kind k) const {
    std::size_t n = 0;
    for (const auto& e : events) n += e.kind == k ? 1 : 0;
    return n;
  }
  std::vector<Event> events;

 private:
  void add(Event::Kind k, std::uint64_t id, std::optional<Message> m) {
    const auto at = std::chrono::duration_cast<Millis>(timers_.now() - TimePoint{});
    events.push_back(Event{k, id, std::move(m), false, at});
  }
  const ManualTimerService& timers_;
};

inline Endpoint ep(const char* ip, std::uint16_t port) {
  return Endpoint{boost::asio::ip::make_address(ip), port};
}

class TxnTest : public ::testing::Test {
 protected:
  Source udp_src() const {
    Source s;
    s.protocol = Protocol::Udp;
    s.peer = ep("192.0.2.10", 40000);
    s.local = ep("203.0.113.1", 5060);
    return s;
  }
  Source tcp_src() const {
    Source s;
    s.protocol = Protocol::Tcp;
    s.peer = ep("192.0.2.10", 40001);
    s.local = ep("203.0.113.1", 5060);
    s.flow = 77;
    return s;
  }
  Destination udp_dest() const {
    Destination d;
    d.protocol = Protocol::Udp;
    d.endpoint = ep("198.51.100.7", 5060);
    return d;
  }
  Destination tcp_dest() const {
    Destination d = udp_dest();
    d.protocol = Protocol::Tcp;
    d.flow = 12;
    return d;
  }
  /// Manual time since the test started.
  Millis now() const { return std::chrono::duration_cast<Millis>(timers.now() - TimePoint{}); }
  std::vector<Millis> send_times() const {
    std::vector<Millis> v;
    for (const auto& s : sender.sent) v.push_back(s.at);
    return v;
  }

  ManualTimerService timers;
  RecordingSender sender{timers};
  RecordingTu tu{timers};
  TransactionLayer layer{timers, sender, tu};
};

}  // namespace sipws::sip::txn::test
