#pragma once
// Transaction matching keys (RFC 3261 s.17.1.3, s.17.2.3, with the RFC 2543 fallback). Pure
// functions of a message: the transaction layer keys its hash maps with them.

#include <string>
#include <string_view>

#include "sip/message.hpp"

namespace sipws::sip::txn {

/// The CSeq method as text ("INVITE", or the extension token for Method::Other). Thread: any.
std::string_view cseq_method(const Message& msg);
/// The request method as text (see cseq_method). Thread: any.
std::string_view request_method(const Message& request);

/// Server transaction key of `request` as if its method were `method` (pass "INVITE" to find the
/// INVITE transaction an ACK or a CANCEL refers to; RFC 3261 s.9.2, s.17.2.3).
/// With a magic-cookie branch: branch + sent-by (host lower-cased, port as written, 0 if absent)
/// + method. Without one (RFC 2543): Request-URI, `to_tag`, From tag, Call-ID, CSeq number,
/// method and the whole top Via. `to_tag` is the To tag to key with (the request's own, except
/// for the ACK lookups described in transaction_layer.cpp). Thread: any.
std::string server_key(const Message& request, std::string_view method, std::string_view to_tag);

/// server_key() with the request's own To tag.
inline std::string server_key(const Message& request, std::string_view method) {
  return server_key(request, method, request.to().tag());
}

/// Client transaction key (RFC 3261 s.17.1.3): top Via branch + CSeq method. The same function
/// keys the request we send and the responses to it. Thread: any.
std::string client_key(const Message& msg);

}  // namespace sipws::sip::txn
