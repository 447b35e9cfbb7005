// The SIP parser, stream framer and stateless error responder (RFC 3261 s.7, s.18.3, s.20,
// s.25; RFC 4475; RFC 5118).
#include "sip/parser.hpp"

#include <array>
#include <cstdint>
#include <string>

#include "sip/message_access.hpp"
#include "sip/text.hpp"

namespace sipws::sip {
namespace {

using namespace text;
using A = MessageBuilderAccess;

class ParseCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "sip.parse"; }
  std::string message(int ev) const override {
    switch (static_cast<ParseErrc>(ev)) {
      case ParseErrc::Empty:
        return "empty message";
      case ParseErrc::TooLarge:
        return "message too large";
      case ParseErrc::BadStartLine:
        return "malformed start line";
      case ParseErrc::BadVersion:
        return "unsupported SIP version";
      case ParseErrc::BadMethod:
        return "malformed method";
      case ParseErrc::BadRequestUri:
        return "malformed Request-URI";
      case ParseErrc::BadStatusLine:
        return "malformed status line";
      case ParseErrc::BadHeaderLine:
        return "malformed header line";
      case ParseErrc::MissingHeader:
        return "missing mandatory header";
      case ParseErrc::DuplicateHeader:
        return "duplicate singleton header";
      case ParseErrc::BadVia:
        return "malformed Via";
      case ParseErrc::BadFrom:
        return "malformed From";
      case ParseErrc::BadTo:
        return "malformed To";
      case ParseErrc::BadCallId:
        return "malformed Call-ID";
      case ParseErrc::BadCSeq:
        return "malformed CSeq";
      case ParseErrc::CSeqMethodMismatch:
        return "CSeq method does not match";
      case ParseErrc::BadMaxForwards:
        return "malformed Max-Forwards";
      case ParseErrc::BadContentLength:
        return "malformed Content-Length";
      case ParseErrc::MissingContentLength:
        return "missing Content-Length";
      case ParseErrc::BodyTooShort:
        return "body shorter than Content-Length";
      case ParseErrc::BadContact:
        return "malformed Contact";
      case ParseErrc::BadHeaderValue:
        return "malformed header value";
    }
    return "unknown sip parse error";
  }
};

Unexpected<ParseError> fail(ParseErrc code, std::string reason, int status = 400) {
  return Unexpected<ParseError>{ParseError{code, status, std::move(reason)}};
}

// "SIP/<digits>.<digits>" (any version syntax); exact "SIP/2.0" is checked separately.
bool looks_like_version(std::string_view v) {
  if (!istarts_with(v, "SIP/")) return false;
  v.remove_prefix(4);
  const auto dot = v.find('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 >= v.size()) return false;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i != dot && !is_digit(v[i])) return false;
  }
  return true;
}

bool valid_call_id(std::string_view v) {
  if (v.empty()) return false;
  for (char c : v) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) return false;
  }
  return true;
}

std::string dup_reason(HeaderId id) {
  return "Bad Request - Multiple " + std::string(header_name(id)) + " values";
}

constexpr std::size_t kIds = static_cast<std::size_t>(HeaderId::kCount);

}  // namespace

const std::error_category& parse_category() {
  static const ParseCategory cat;
  return cat;
}

std::error_code make_error_code(ParseErrc e) { return {static_cast<int>(e), parse_category()}; }

Expected<Message, ParseError> parse(std::string_view bytes, const ParseOptions& opts) {
  return parse(std::make_shared<const std::string>(bytes), opts);
}

namespace {

Expected<Message, ParseError> parse_impl(std::shared_ptr<const std::string> bytes,
                                         const ParseOptions& opts) {
  if (!bytes || bytes->empty()) return fail(ParseErrc::Empty, "Bad Request - Empty message");
  if (bytes->size() > opts.max_size) {
    return fail(ParseErrc::TooLarge, "Message Too Large", 513);
  }
  const std::string_view all(*bytes);
  std::size_t pos = 0;
  while (pos + 1 < all.size() && all[pos] == '\r' && all[pos + 1] == '\n') pos += 2;
  if (pos >= all.size()) return fail(ParseErrc::Empty, "Bad Request - Empty message");

  std::string_view head;
  std::size_t body_start = 0;
  const auto he = all.find("\r\n\r\n", pos);
  if (he != std::string_view::npos) {
    head = all.substr(pos, he - pos);
    body_start = he + 4;
  } else if (!opts.stream && all.ends_with("\r\n")) {
    // A datagram without the empty line: take every line as a header, no body.
    head = all.substr(pos, all.size() - pos - 2);
    body_start = all.size();
  } else {
    return fail(ParseErrc::BadHeaderLine, "Bad Request - Missing end of headers");
  }

  Message m;

  // ---- start line (RFC 3261 s.7.1, s.7.2) ----
  const auto le = head.find("\r\n");
  const auto line = head.substr(0, le);
  if (istarts_with(line, "SIP/")) {
    A::is_request(m) = false;
    const auto sp1 = line.find(' ');
    if (sp1 == std::string_view::npos) {
      return fail(ParseErrc::BadStatusLine, "Bad Request - Malformed Status-Line");
    }
    const auto version = line.substr(0, sp1);
    if (!iequal(version, "SIP/2.0")) {
      if (looks_like_version(version)) {
        return fail(ParseErrc::BadVersion, "Version Not Supported", 505);
      }
      return fail(ParseErrc::BadStatusLine, "Bad Request - Malformed Status-Line");
    }
    const auto rest = line.substr(sp1 + 1);
    const auto sp2 = rest.find(' ');
    const auto code = rest.substr(0, sp2);
    if (code.size() != 3 || !is_digit(code[0]) || !is_digit(code[1]) || !is_digit(code[2])) {
      return fail(ParseErrc::BadStatusLine, "Bad Request - Invalid Status-Code");
    }
    const int status = (code[0] - '0') * 100 + (code[1] - '0') * 10 + (code[2] - '0');
    if (status < 100 || status > 699) {
      return fail(ParseErrc::BadStatusLine, "Bad Request - Invalid Status-Code");
    }
    A::status(m) = status;
    A::version(m) = version;
    A::reason(m) = sp2 == std::string_view::npos ? std::string_view() : rest.substr(sp2 + 1);
  } else {
    A::is_request(m) = true;
    const auto sp1 = line.find(' ');
    const auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
      return fail(ParseErrc::BadStartLine, "Bad Request - Malformed Request-Line");
    }
    const auto version = line.substr(sp2 + 1);
    if (!iequal(version, "SIP/2.0")) {
      if (looks_like_version(version)) {
        return fail(ParseErrc::BadVersion, "Version Not Supported", 505);
      }
      return fail(ParseErrc::BadStartLine, "Bad Request - Malformed Request-Line");
    }
    const auto method = line.substr(0, sp1);
    if (!is_token(method)) return fail(ParseErrc::BadMethod, "Bad Request - Invalid Method");
    const auto uri_text = line.substr(sp1 + 1, sp2 - sp1 - 1);
    auto uri = parse_uri(uri_text);
    if (!uri || (uri->is_sip() && !uri->headers.empty())) {
      return fail(ParseErrc::BadRequestUri, "Bad Request - Invalid Request-URI");
    }
    A::method(m) = method_from_string(method);
    A::method_name(m) = method;
    A::request_uri(m) = std::move(*uri);
    A::version(m) = version;
  }

  // ---- header lines, with folding (RFC 3261 s.7.3.1) ----
  auto& headers = A::headers(m);
  headers.reserve(24);
  std::shared_ptr<std::string> unfolded;  // one buffer for every folded value, never reallocated
  std::array<std::int32_t, kIds> first{};
  first.fill(-1);

  auto add_header = [&](std::string_view text, bool folded) -> std::optional<ParseError> {
    const auto colon = text.find(':');
    if (colon == std::string_view::npos) {
      return ParseError{ParseErrc::BadHeaderLine, 400, "Bad Request - Malformed header line"};
    }
    const auto name = rtrim(text.substr(0, colon));
    if (!is_token(name)) {
      return ParseError{ParseErrc::BadHeaderLine, 400, "Bad Request - Invalid header name"};
    }
    auto value = text.substr(colon + 1);
    if (folded) {
      if (!unfolded) {
        unfolded = std::make_shared<std::string>();
        unfolded->reserve(head.size());
      }
      const auto start = unfolded->size();
      for (std::size_t i = 0; i < value.size(); ++i) {
        if (value[i] == '\r' && i + 1 < value.size() && value[i + 1] == '\n') {
          unfolded->push_back(' ');
          ++i;
        } else {
          unfolded->push_back(value[i]);
        }
      }
      value = std::string_view(*unfolded).substr(start);
    }
    value = trim(value);
    const HeaderId id = header_id(name);
    if (is_split_list(id)) {
      for (auto e : split_list(value)) headers.push_back(Header{id, name, e});
    } else {
      headers.push_back(Header{id, name, value});
    }
    return std::nullopt;
  };

  if (le != std::string_view::npos) {
    std::size_t p = le + 2;
    std::size_t cur_start = std::string_view::npos;
    std::size_t cur_end = 0;
    bool folded = false;
    while (p <= head.size()) {
      auto e = head.find("\r\n", p);
      if (e == std::string_view::npos) e = head.size();
      const auto l = head.substr(p, e - p);
      if (!l.empty() && (l[0] == ' ' || l[0] == '\t')) {
        if (cur_start == std::string_view::npos) {
          return fail(ParseErrc::BadHeaderLine, "Bad Request - Continuation line without header");
        }
        folded = true;
        cur_end = e;
      } else {
        if (cur_start != std::string_view::npos) {
          if (auto err = add_header(head.substr(cur_start, cur_end - cur_start), folded)) {
            return Unexpected<ParseError>{std::move(*err)};
          }
        }
        cur_start = p;
        cur_end = e;
        folded = false;
      }
      p = e + 2;
    }
    if (cur_start != std::string_view::npos) {
      if (auto err = add_header(head.substr(cur_start, cur_end - cur_start), folded)) {
        return Unexpected<ParseError>{std::move(*err)};
      }
    }
  }

  // ---- singletons and mandatory headers (RFC 3261 s.8.1.1, s.20) ----
  // A repeated singleton with the same value is dropped (so that mutators and the serializer
  // see one); with a different value it is an error (RFC 4475 s.3.3.8, s.3.3.9).
  bool drop_duplicates = false;
  for (std::size_t i = 0; i < headers.size(); ++i) {
    const auto id = headers[i].id;
    const auto k = static_cast<std::size_t>(id);
    if (first[k] < 0) {
      first[k] = static_cast<std::int32_t>(i);
      continue;
    }
    switch (id) {
      case HeaderId::From:
      case HeaderId::To:
      case HeaderId::CallId:
      case HeaderId::CSeq:
      case HeaderId::MaxForwards:
      case HeaderId::ContentLength:
      case HeaderId::Expires:
        if (headers[static_cast<std::size_t>(first[k])].value != headers[i].value) {
          return fail(ParseErrc::DuplicateHeader, dup_reason(id));
        }
        headers[i].id = HeaderId::kCount;  // marked for removal
        drop_duplicates = true;
        break;
      default:
        break;
    }
  }
  if (drop_duplicates) {
    std::erase_if(headers, [](const Header& h) { return h.id == HeaderId::kCount; });
    first.fill(-1);
    for (std::size_t i = 0; i < headers.size(); ++i) {
      auto& f = first[static_cast<std::size_t>(headers[i].id)];
      if (f < 0) f = static_cast<std::int32_t>(i);
    }
  }
  auto get = [&](HeaderId id) -> const Header* {
    const auto k = first[static_cast<std::size_t>(id)];
    return k < 0 ? nullptr : &headers[static_cast<std::size_t>(k)];
  };

  const Header* via = get(HeaderId::Via);
  if (!via) return fail(ParseErrc::MissingHeader, "Bad Request - Missing Via");
  for (const auto& h : headers) {
    if (h.id != HeaderId::Via) continue;
    auto v = parse_via(h.value);
    if (!v) return fail(ParseErrc::BadVia, "Bad Request - Invalid Via");
    if (&h == via) A::top_via(m) = std::move(*v);
  }
  const Header* from = get(HeaderId::From);
  if (!from) return fail(ParseErrc::MissingHeader, "Bad Request - Missing From");
  auto from_na = parse_name_addr(from->value);
  if (!from_na || from_na->star) return fail(ParseErrc::BadFrom, "Bad Request - Invalid From");
  A::from(m) = std::move(*from_na);
  const Header* to = get(HeaderId::To);
  if (!to) return fail(ParseErrc::MissingHeader, "Bad Request - Missing To");
  auto to_na = parse_name_addr(to->value);
  if (!to_na || to_na->star) return fail(ParseErrc::BadTo, "Bad Request - Invalid To");
  A::to(m) = std::move(*to_na);
  const Header* call_id = get(HeaderId::CallId);
  if (!call_id) return fail(ParseErrc::MissingHeader, "Bad Request - Missing Call-ID");
  if (!valid_call_id(call_id->value)) {
    return fail(ParseErrc::BadCallId, "Bad Request - Invalid Call-ID");
  }
  A::call_id(m) = call_id->value;
  const Header* cseq_h = get(HeaderId::CSeq);
  if (!cseq_h) return fail(ParseErrc::MissingHeader, "Bad Request - Missing CSeq");
  auto cseq = parse_cseq(cseq_h->value);
  if (!cseq) return fail(ParseErrc::BadCSeq, "Bad Request - Invalid CSeq");
  A::cseq(m) = *cseq;
  if (m.is_request()) {
    if (cseq->method_name != m.method_name()) {
      return fail(ParseErrc::CSeqMethodMismatch, "Bad Request - CSeq method does not match");
    }
  } else {
    A::method(m) = cseq->method;
    A::method_name(m) = cseq->method_name;
  }
  if (const Header* mf = get(HeaderId::MaxForwards)) {
    const auto v = parse_uint(mf->value);
    if (!v || *v > 255)
      return fail(ParseErrc::BadMaxForwards, "Bad Request - Invalid Max-Forwards");
    A::max_forwards(m) = *v;
  }
  if (const Header* ex = get(HeaderId::Expires)) {
    if (!parse_uint(ex->value))
      return fail(ParseErrc::BadHeaderValue, "Bad Request - Invalid Expires");
  }
  if (const Header* d = get(HeaderId::Date)) {
    if (!d->value.ends_with(" GMT")) {
      return fail(ParseErrc::BadHeaderValue, "Bad Request - Invalid Date");
    }
  }
  for (const auto& h : headers) {
    switch (h.id) {
      case HeaderId::Contact: {
        auto na = parse_name_addr(h.value);
        if (!na) return fail(ParseErrc::BadContact, "Bad Request - Invalid Contact");
        break;
      }
      case HeaderId::Route:
      case HeaderId::RecordRoute:
      case HeaderId::Path: {
        auto na = parse_name_addr(h.value);
        if (!na || na->star) {
          return fail(ParseErrc::BadHeaderValue,
                      "Bad Request - Invalid " + std::string(header_name(h.id)));
        }
        break;
      }
      default:
        break;
    }
  }

  // ---- body (RFC 3261 s.18.3, s.20.14) ----
  const std::size_t avail = all.size() - body_start;
  if (const Header* cl = get(HeaderId::ContentLength)) {
    const auto n = parse_uint(cl->value);
    if (!n) return fail(ParseErrc::BadContentLength, "Bad Request - Invalid Content-Length");
    if (*n > avail) {
      return fail(ParseErrc::BodyTooShort, "Bad Request - Content-Length larger than body");
    }
    A::body(m) = all.substr(body_start, *n);
  } else {
    if (opts.stream) {
      return fail(ParseErrc::MissingContentLength, "Bad Request - Missing Content-Length");
    }
    A::body(m) = all.substr(body_start);
  }
  if (unfolded) A::owned(m).push_back(std::move(unfolded));  // keeps folded values alive
  A::buffer(m) = std::move(bytes);  // the string itself does not move: views stay valid
  return m;
}

}  // namespace

Expected<Message, ParseError> parse(std::shared_ptr<const std::string> bytes,
                                    const ParseOptions& opts) {
  return parse_impl(std::move(bytes), opts);
}

bool is_keepalive(std::string_view bytes) {
  if (bytes.empty()) return false;
  for (char c : bytes) {
    if (c != '\r' && c != '\n') return false;
  }
  return true;
}

Frame frame_stream(std::string_view buffered, std::size_t max_size) {
  Frame f;
  std::size_t n = 0;
  while (n < buffered.size() && (buffered[n] == '\r' || buffered[n] == '\n')) ++n;
  if (n > 0) {
    f.kind = Frame::KeepAlive;
    f.length = n;
    return f;
  }
  const auto he = buffered.find("\r\n\r\n");
  if (he == std::string_view::npos) {
    if (buffered.size() > max_size) {
      f.kind = Frame::Error;
      f.error = ParseError{ParseErrc::TooLarge, 513, "Message Too Large"};
    }
    return f;
  }
  std::optional<std::uint32_t> cl;
  bool bad = false;
  std::size_t p = 0;
  const auto head = buffered.substr(0, he + 2);
  while (p < head.size()) {
    auto e = head.find("\r\n", p);
    if (e == std::string_view::npos) e = head.size();
    const auto l = head.substr(p, e - p);
    p = e + 2;
    if (l.empty() || l[0] == ' ' || l[0] == '\t') continue;
    const auto colon = l.find(':');
    if (colon == std::string_view::npos) continue;
    if (header_id(rtrim(l.substr(0, colon))) != HeaderId::ContentLength) continue;
    // The value may continue on folded lines (RFC 3261 s.7.3.1).
    auto value_end = e;
    while (p < head.size() && (head[p] == ' ' || head[p] == '\t')) {
      auto ce = head.find("\r\n", p);
      if (ce == std::string_view::npos) ce = head.size();
      value_end = ce;
      p = ce + 2;
    }
    const auto value_start = (e - l.size()) + colon + 1;
    const auto raw_value = head.substr(value_start, value_end - value_start);
    std::string_view digits = trim(raw_value);
    // Only LWS may separate the folded pieces: strip CRLF + WSP and re-check.
    std::string joined;
    if (digits.find('\r') != std::string_view::npos) {
      for (char c : digits) {
        if (!is_ws(c)) joined.push_back(c);
      }
      digits = joined;
    }
    const auto v = parse_uint(digits);
    if (!v || (cl && *cl != *v)) bad = true;
    if (v) cl = v;
  }
  if (bad) {
    f.kind = Frame::Error;
    f.error = ParseError{ParseErrc::BadContentLength, 400, "Bad Request - Invalid Content-Length"};
    return f;
  }
  if (!cl) {
    f.kind = Frame::Error;
    f.error =
        ParseError{ParseErrc::MissingContentLength, 400, "Bad Request - Missing Content-Length"};
    return f;
  }
  const std::uint64_t total = static_cast<std::uint64_t>(he) + 4 + *cl;
  if (total > max_size) {
    f.kind = Frame::Error;
    f.error = ParseError{ParseErrc::TooLarge, 513, "Message Too Large"};
    return f;
  }
  if (buffered.size() < total) return f;
  f.kind = Frame::Complete;
  f.length = static_cast<std::size_t>(total);
  return f;
}

std::optional<std::string> error_response(std::string_view bytes, const ParseError& err) {
  std::size_t pos = 0;
  while (pos + 1 < bytes.size() && bytes[pos] == '\r' && bytes[pos + 1] == '\n') pos += 2;
  bytes.remove_prefix(pos);
  const auto he = bytes.find("\r\n\r\n");
  const auto head = he == std::string_view::npos ? bytes : bytes.substr(0, he + 2);
  const auto le = head.find("\r\n");
  if (le == std::string_view::npos) return std::nullopt;
  const auto line = head.substr(0, le);
  if (istarts_with(line, "SIP/")) return std::nullopt;
  const auto sp = line.find(' ');
  if (sp == std::string_view::npos || sp == 0) return std::nullopt;
  const auto method = line.substr(0, sp);
  if (!is_token(method) || method == "ACK") return std::nullopt;

  std::vector<std::string> vias;
  std::string from, to, call_id, cseq;
  std::string* last = nullptr;  // the value a continuation line extends
  std::size_t p = le + 2;
  while (p < head.size()) {
    auto e = head.find("\r\n", p);
    if (e == std::string_view::npos) e = head.size();
    const auto l = head.substr(p, e - p);
    p = e + 2;
    if (l.empty()) continue;
    if (l[0] == ' ' || l[0] == '\t') {
      if (last) {
        last->push_back(' ');
        last->append(trim(l));
      }
      continue;
    }
    last = nullptr;
    const auto colon = l.find(':');
    if (colon == std::string_view::npos) continue;
    const auto value = trim(l.substr(colon + 1));
    std::string* slot = nullptr;
    switch (header_id(rtrim(l.substr(0, colon)))) {
      case HeaderId::Via:
        vias.emplace_back();
        slot = &vias.back();
        break;
      case HeaderId::From:
        slot = from.empty() ? &from : nullptr;
        break;
      case HeaderId::To:
        slot = to.empty() ? &to : nullptr;
        break;
      case HeaderId::CallId:
        slot = call_id.empty() ? &call_id : nullptr;
        break;
      case HeaderId::CSeq:
        slot = cseq.empty() ? &cseq : nullptr;
        break;
      default:
        break;
    }
    if (slot) {
      slot->assign(value);
      last = slot;
    }
  }
  for (const auto& v : vias) {
    if (trim(v).empty()) return std::nullopt;
  }
  if (vias.empty() || from.empty() || to.empty() || call_id.empty() || cseq.empty()) {
    return std::nullopt;
  }
  const int status = (err.status >= 300 && err.status <= 699) ? err.status : 400;
  std::string reason = err.reason.empty() ? std::string(default_reason(status)) : err.reason;
  for (char& c : reason) {
    if (c == '\r' || c == '\n') c = ' ';
  }
  // A To tag: keep the sender's, else derive a stable one from the Call-ID (RFC 3261 s.8.2.6.2).
  bool has_tag = false;
  if (auto na = parse_name_addr(to)) {
    has_tag = !na->tag().empty();
  } else {
    const auto gt = to.rfind('>');
    std::string tail = to.substr(gt == std::string::npos ? 0 : gt);
    text::lower_in_place(tail);
    has_tag = tail.find(";tag=") != std::string::npos;
  }
  if (!has_tag) {
    std::uint64_t h = 1469598103934665603ULL;  // FNV-1a
    for (char c : call_id) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
    to.append(";tag=sipws");
    for (int i = 0; i < 8; ++i)
      to.push_back(sipws::text::hex_digit(static_cast<unsigned>(h >> (i * 4))));
  }
  std::string out;
  out.reserve(256 + head.size());
  out.append("SIP/2.0 ").append(std::to_string(status)).append(" ").append(reason).append("\r\n");
  for (const auto& v : vias) out.append("Via: ").append(v).append("\r\n");
  out.append("From: ").append(from).append("\r\n");
  out.append("To: ").append(to).append("\r\n");
  out.append("Call-ID: ").append(call_id).append("\r\n");
  out.append("CSeq: ").append(cseq).append("\r\n");
  out.append("Content-Length: 0\r\n\r\n");
  return out;
}

}  // namespace sipws::sip
