#pragma once
// The SIP message model (RFC 3261 s.7). A Message owns its bytes (shared, immutable buffers);
// start line, headers and body are views into them. Copies are cheap and share the buffers, so
// a forked request copies a vector of views, not text. Mutations store the new text in an owned
// buffer and repoint the view; serialize() writes the result once.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sip/headers.hpp"
#include "sip/types.hpp"
#include "sip/uri.hpp"

namespace sipws::sip {

/// One header line, or one element of a split list header (see is_split_list()).
struct Header {
  HeaderId id = HeaderId::Other;
  std::string_view name;  ///< as received (compact or long form) or canonical when we add it
  /// Trimmed. A folded value (RFC 3261 s.7.3.1) is unfolded into an owned buffer, each CRLF
  /// replaced by one SP, so values never contain CRLF.
  std::string_view value;
};

/// A parsed request or response. Thread: not thread-safe; copy to share across threads.
/// Invariants after a successful parse (parser.hpp): exactly one start line; top Via, From, To,
/// Call-ID and CSeq present and well-formed; CSeq method == request method for requests;
/// Request-URI parsed (Scheme::Other allowed, the proxy answers 416).
class Message {
 public:
  Message() = default;

  bool is_request() const { return is_request_; }
  bool is_response() const { return !is_request_; }

  // ---- start line ----
  Method method() const { return method_; }  ///< requests; for responses the CSeq method
  std::string_view method_name() const { return method_name_; }
  const Uri& request_uri() const { return request_uri_; }
  int status() const { return status_; }  ///< responses: 100..699
  std::string_view reason() const { return reason_; }

  // ---- headers ----
  const std::vector<Header>& headers() const { return headers_; }
  /// First header with this id (first element for split lists), or nullptr.
  const Header* find(HeaderId id) const;
  /// First header with this name, case-insensitive, compact forms honoured.
  const Header* find(std::string_view name) const;
  /// Every header (element) with this id, in order.
  std::vector<const Header*> find_all(HeaderId id) const;
  std::size_t count(HeaderId id) const;

  // ---- pre-parsed essentials (valid after parse) ----
  const Via& top_via() const { return top_via_; }
  const NameAddr& from() const { return from_; }
  const NameAddr& to() const { return to_; }
  std::string_view call_id() const { return call_id_; }
  const CSeq& cseq() const { return cseq_; }
  /// Max-Forwards value, nullopt when absent.
  std::optional<std::uint32_t> max_forwards() const { return max_forwards_; }
  /// Expires header value, nullopt when absent.
  std::optional<std::uint32_t> expires() const;

  std::string_view body() const { return body_; }

  // ---- mutation (the proxy's and UAS core's tools) ----
  void set_request_uri(std::string uri);
  void set_status(int code, std::string reason);
  /// Inserts a header before the first header with the same id; if there is none, a Via goes
  /// to the very top and any other header right after the last Via (top if no Via).
  /// Re-derives the pre-parsed field for `id` (top_via, from, to, call_id, cseq, max_forwards).
  void push_front(HeaderId id, std::string value);
  /// Appends a header at the end (before the body).
  void append(HeaderId id, std::string value);
  /// Appends a header with a name sipws does not know (HeaderId::Other).
  void append(std::string name, std::string value);
  /// Removes the first header/element with this id; returns false if none.
  bool pop_front(HeaderId id);
  /// Removes every header with this id; returns how many.
  std::size_t remove_all(HeaderId id);
  /// Removes every header named `name` (case-insensitive, compact forms honoured, headers
  /// sipws does not know included); returns how many.
  std::size_t remove_all(std::string_view name);
  /// Replaces the value of the first header with this id, or appends one.
  void set(HeaderId id, std::string value);
  /// Replaces the top Via's value (e.g. to add received/rport).
  void set_top_via(std::string value) { replace_first(HeaderId::Via, std::move(value)); }
  /// Adds or replaces the To tag.
  void set_to_tag(std::string_view tag);
  /// Replaces the body; Content-Length follows at serialize(). Empty type removes Content-Type.
  void set_body(std::string body, std::string content_type);

  /// Writes the message: start line, headers in order (one line per element), a correct
  /// Content-Length (always written), CRLF, body.
  std::string serialize() const;
  std::shared_ptr<const std::string> serialize_shared() const {
    return std::make_shared<const std::string>(serialize());
  }

  /// The bytes the message was parsed from (empty for built messages).
  std::string_view raw() const { return buffer_ ? std::string_view(*buffer_) : std::string_view(); }

 private:
  friend class MessageBuilderAccess;  // parser.cpp fills the fields
  std::string_view own(std::string s);
  void replace_first(HeaderId id, std::string value);
  void refresh(HeaderId id);  // re-derive the pre-parsed field for `id` after a mutation

  std::shared_ptr<const std::string> buffer_;
  std::vector<std::shared_ptr<const std::string>> owned_;

  bool is_request_ = true;
  Method method_ = Method::Other;
  std::string_view method_name_;
  Uri request_uri_;
  std::string_view version_;  ///< "SIP/2.0"
  int status_ = 0;
  std::string_view reason_;
  std::vector<Header> headers_;
  std::string_view body_;

  Via top_via_;
  NameAddr from_;
  NameAddr to_;
  std::string_view call_id_;
  CSeq cseq_;
  std::optional<std::uint32_t> max_forwards_;
};

/// True if a header with `id` (Supported, Require...) lists option tag `tag` (RFC 3261 s.19.2),
/// case-insensitive, without copying.
bool has_option_tag(const Message& m, HeaderId id, std::string_view tag);

/// Default reason phrase for a status code ("OK", "Trying", "Not Found"...), "" if unknown.
std::string_view default_reason(int status);

/// A response to `request` per RFC 3261 s.8.2.6: all Via, From, To, Call-ID, CSeq copied (and
/// Timestamp for 100); no To tag added (call set_to_tag). Reason defaults to default_reason().
Message make_response(const Message& request, int status, std::string_view reason = {});

/// The CANCEL for a forwarded INVITE (RFC 3261 s.9.1): same Request-URI, top Via, Call-ID,
/// From, To, Route, CSeq number; method CANCEL; Max-Forwards 70.
Message make_cancel(const Message& invite);

/// The ACK a client INVITE transaction sends for a non-2xx final response (RFC 3261
/// s.17.1.1.3): top Via of the INVITE, its Route set, To from the response.
Message make_ack(const Message& invite, const Message& response);

}  // namespace sipws::sip
