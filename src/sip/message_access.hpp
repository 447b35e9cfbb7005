#pragma once
// Internal to src/sip/: the friend through which the parser and the response/CANCEL/ACK
// builders fill a Message's private fields. Not for use outside src/sip/.

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sip/message.hpp"

namespace sipws::sip {

class MessageBuilderAccess {
 public:
  static Message response(const Message& request, int status, std::string_view reason);
  static Message cancel(const Message& invite);
  static Message ack(const Message& invite, const Message& response);

  static std::shared_ptr<const std::string>& buffer(Message& m) { return m.buffer_; }
  static std::vector<std::shared_ptr<const std::string>>& owned(Message& m) { return m.owned_; }
  static std::string_view own(Message& m, std::string s) { return m.own(std::move(s)); }
  static bool& is_request(Message& m) { return m.is_request_; }
  static Method& method(Message& m) { return m.method_; }
  static std::string_view& method_name(Message& m) { return m.method_name_; }
  static Uri& request_uri(Message& m) { return m.request_uri_; }
  static std::string_view& version(Message& m) { return m.version_; }
  static int& status(Message& m) { return m.status_; }
  static std::string_view& reason(Message& m) { return m.reason_; }
  static std::vector<Header>& headers(Message& m) { return m.headers_; }
  static std::string_view& body(Message& m) { return m.body_; }
  static Via& top_via(Message& m) { return m.top_via_; }
  static NameAddr& from(Message& m) { return m.from_; }
  static NameAddr& to(Message& m) { return m.to_; }
  static std::string_view& call_id(Message& m) { return m.call_id_; }
  static CSeq& cseq(Message& m) { return m.cseq_; }
  static std::optional<std::uint32_t>& max_forwards(Message& m) { return m.max_forwards_; }
};

}  // namespace sipws::sip
