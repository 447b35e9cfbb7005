#pragma once
// Helpers for the transport tests: bounded io_context runs and a recording MessageHandler.

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "common/counters.hpp"
#include "transport/transport_layer.hpp"

namespace sipws::transport::test {

/// Runs `io` until `done()` holds or `limit` passes. Returns done().
inline bool run_until(boost::asio::io_context& io, const std::function<bool()>& done,
                      std::chrono::milliseconds limit = std::chrono::milliseconds(5000)) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= end) return false;
    io.restart();
    io.run_for(std::chrono::milliseconds(5));
  }
  return true;
}

/// Records every message handed to it.
struct RecordingHandler : MessageHandler {
  struct Entry {
    sip::Message msg;
    Source src;
  };
  void on_message(const sip::Message& msg, const Source& src) override {
    got.push_back(Entry{msg, src});
  }
  std::vector<Entry> got;
};

inline std::uint64_t counter(const char* name) { return counters().get(name).value(); }

/// A well-formed request (Content-Length present, so it frames on streams too).
inline std::string options_request(const std::string& call_id, const std::string& body = {}) {
  return "OPTIONS sip:bob@127.0.0.1 SIP/2.0\r\n"
         "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-" +
         call_id +
         ";rport\r\n"
         "Max-Forwards: 70\r\n"
         "From: <sip:alice@127.0.0.1>;tag=a1\r\n"
         "To: <sip:bob@127.0.0.1>\r\n"
         "Call-ID: " +
         call_id +
         "\r\n"
         "CSeq: 1 OPTIONS\r\n"
         "Content-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

/// A request that frames (Content-Length) but does not parse (Max-Forwards not a number); its
/// Via, From, To, Call-ID and CSeq are readable, so a 400 is possible.
inline std::string bad_request(const std::string& call_id) {
  return "OPTIONS sip:bob@127.0.0.1 SIP/2.0\r\n"
         "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-" +
         call_id +
         ";rport\r\n"
         "Max-Forwards: seventy\r\n"
         "From: <sip:alice@127.0.0.1>;tag=a1\r\n"
         "To: <sip:bob@127.0.0.1>\r\n"
         "Call-ID: " +
         call_id +
         "\r\n"
         "CSeq: 1 OPTIONS\r\n"
         "Content-Length: 0\r\n\r\n";
}

inline std::string ok_response(const std::string& call_id) {
  return "SIP/2.0 200 OK\r\n"
         "Via: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bK-" +
         call_id +
         "\r\n"
         "From: <sip:alice@127.0.0.1>;tag=a1\r\n"
         "To: <sip:bob@127.0.0.1>;tag=b1\r\n"
         "Call-ID: " +
         call_id +
         "\r\n"
         "CSeq: 1 OPTIONS\r\n"
         "Content-Length: 0\r\n\r\n";
}

inline std::shared_ptr<const std::string> shared(std::string s) {
  return std::make_shared<const std::string>(std::move(s));
}

}  // namespace sipws::transport::test
