#include "sip/txn/keys.hpp"

#include <string>

#include "sip/text.hpp"

namespace sipws::sip::txn {

namespace {

void append_field(std::string& out, std::string_view field) {
  out.append(field);
  out.push_back('\x1f');  // unit separator: never valid inside a SIP header value
}

}  // namespace

std::string_view cseq_method(const Message& msg) {
  const CSeq& cseq = msg.cseq();
  if (cseq.method != Method::Other) return method_name(cseq.method);
  return cseq.method_name;
}

std::string_view request_method(const Message& request) {
  if (request.method() != Method::Other) return method_name(request.method());
  return request.method_name();
}

std::string server_key(const Message& request, std::string_view method, std::string_view to_tag) {
  const Via& via = request.top_via();
  std::string key;
  if (via.rfc3261_branch()) {
    const std::string_view branch = via.branch();
    key.reserve(branch.size() + via.host.size() + method.size() + 16);
    key.push_back('3');
    append_field(key, branch);
    for (char c : via.host) key.push_back(text::lower(c));
    key.push_back(':');
    append_field(key, std::to_string(via.port));
    key.append(method);
    return key;
  }
  // RFC 3261 s.17.2.3, last paragraphs: RFC 2543 peers.
  key.push_back('2');
  append_field(key, request.request_uri().raw);
  append_field(key, to_tag);
  append_field(key, request.from().tag());
  append_field(key, request.call_id());
  append_field(key, std::to_string(request.cseq().number));
  append_field(key, method);
  key.append(via.raw);
  return key;
}

std::string client_key(const Message& msg) {
  const std::string_view branch = msg.top_via().branch();
  const std::string_view method = cseq_method(msg);
  std::string key;
  key.reserve(branch.size() + method.size() + 1);
  append_field(key, branch);
  key.append(method);
  return key;
}

}  // namespace sipws::sip::txn
