#pragma once
// The SIP parser (RFC 3261 s.7, s.20, s.25 ABNF) and stream framing (s.18.3). I/O-free; never
// throws on input; every rejection names its defect (used as the 400 reason phrase).

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include "common/expected.hpp"
#include "sip/message.hpp"

namespace sipws::sip {

/// Why a message was rejected.
enum class ParseErrc {
  Empty = 1,
  TooLarge,
  BadStartLine,
  BadVersion,  ///< not SIP/2.0: 505 (RFC 3261 s.8.2.2... s.16.3)
  BadMethod,
  BadRequestUri,
  BadStatusLine,
  BadHeaderLine,    ///< no colon, bad name, or bad folding
  MissingHeader,    ///< Via, From, To, Call-ID or CSeq absent
  DuplicateHeader,  ///< a singleton (From, To, Call-ID, CSeq, Max-Forwards, Content-Length)
  BadVia,
  BadFrom,
  BadTo,
  BadCallId,
  BadCSeq,
  CSeqMethodMismatch,
  BadMaxForwards,
  BadContentLength,
  MissingContentLength,  ///< stream transports only (RFC 3261 s.18.3)
  BodyTooShort,          ///< Content-Length larger than the bytes present
  BadContact,
  BadHeaderValue,  ///< another header the core relies on is malformed
};
const std::error_category& parse_category();
std::error_code make_error_code(ParseErrc e);

/// A rejection: which defect, the status to answer (400, or 505 for the version), and the
/// reason phrase naming the defect (e.g. "Bad Request - Invalid CSeq").
struct ParseError {
  ParseErrc code = ParseErrc::BadStartLine;
  int status = 400;
  std::string reason;
};

struct ParseOptions {
  /// Stream transport (TCP/TLS): Content-Length is mandatory. UDP and WebSocket: optional,
  /// the datagram / WS message is the boundary and bytes after Content-Length are ignored
  /// (RFC 3261 s.18.3, RFC 7118 s.5.1).
  bool stream = false;
  /// Maximum message size in bytes (TooLarge beyond it).
  std::size_t max_size = 65535;
};

/// Parses one complete message. The Message keeps `bytes` alive and points into it. Pure: it
/// counts nothing (the transport layer counts refusals as sip_parse_errors).
Expected<Message, ParseError> parse(std::shared_ptr<const std::string> bytes,
                                    const ParseOptions& opts = {});
/// Convenience: copies `bytes` into a new buffer first.
Expected<Message, ParseError> parse(std::string_view bytes, const ParseOptions& opts = {});

/// Stream framing for TCP/TLS (RFC 3261 s.18.3): looks at buffered bytes.
struct Frame {
  enum Kind { NeedMore, Complete, KeepAlive, Error } kind = NeedMore;
  std::size_t length = 0;  ///< Complete: the message's bytes; KeepAlive: CRLFs to discard
  ParseError error;        ///< Error: no Content-Length, bad Content-Length, too large
};
Frame frame_stream(std::string_view buffered, std::size_t max_size = 65535);

/// True when `bytes` is only CRLFs (RFC 5626 s.3.5.1 keep-alive "ping" CRLFCRLF / "pong" CRLF).
bool is_keepalive(std::string_view bytes);

/// For bytes that failed to parse: a stateless error response (status and reason from `err`)
/// if the bytes are a request whose Via, From, To, Call-ID and CSeq can still be read;
/// nullopt when no response is possible (a response, an ACK, or those headers unreadable).
std::optional<std::string> error_response(std::string_view bytes, const ParseError& err);

}  // namespace sipws::sip

template <>
struct std::is_error_code_enum<sipws::sip::ParseErrc> : std::true_type {};
