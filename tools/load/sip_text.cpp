#include "sip_text.hpp"

#include "sip/text.hpp"

#include <openssl/evp.h>

#include <charconv>
#include <cstring>

namespace sipws::load {
namespace {

using sip::text::iequal;
using sip::text::lower;

using sip::text::trim;

template <typename T>
bool to_number(std::string_view s, T& v) {
  s = trim(s);
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && p == s.data() + s.size();
}

enum class Hdr { Other, Via, From, To, CallId, CSeq, Contact, ContentLength, RecordRoute, Auth };

Hdr classify(std::string_view name) {
  if (name.size() == 1) {
    switch (lower(name[0])) {
      case 'v':
        return Hdr::Via;
      case 'f':
        return Hdr::From;
      case 't':
        return Hdr::To;
      case 'i':
        return Hdr::CallId;
      case 'm':
        return Hdr::Contact;
      case 'l':
        return Hdr::ContentLength;
      default:
        return Hdr::Other;
    }
  }
  switch (lower(name[0])) {
    case 'v':
      return iequal(name, "via") ? Hdr::Via : Hdr::Other;
    case 'f':
      return iequal(name, "from") ? Hdr::From : Hdr::Other;
    case 't':
      return iequal(name, "to") ? Hdr::To : Hdr::Other;
    case 'c':
      if (iequal(name, "call-id")) return Hdr::CallId;
      if (iequal(name, "cseq")) return Hdr::CSeq;
      if (iequal(name, "contact")) return Hdr::Contact;
      if (iequal(name, "content-length")) return Hdr::ContentLength;
      return Hdr::Other;
    case 'r':
      return iequal(name, "record-route") ? Hdr::RecordRoute : Hdr::Other;
    case 'w':
      return iequal(name, "www-authenticate") ? Hdr::Auth : Hdr::Other;
    case 'p':
      return iequal(name, "proxy-authenticate") ? Hdr::Auth : Hdr::Other;
    default:
      return Hdr::Other;
  }
}

void push(std::array<std::string_view, SipScan::kMaxRepeat>& a, std::size_t& n,
          std::string_view v) {
  if (n < a.size()) a[n++] = v;
}

}  // namespace

bool scan_sip(std::string_view msg, SipScan& s) {
  s = SipScan{};
  while (msg.starts_with("\r\n")) msg.remove_prefix(2);
  std::size_t eol = msg.find("\r\n");
  if (eol == std::string_view::npos) return false;
  std::string_view first = msg.substr(0, eol);
  if (first.starts_with("SIP/2.0 ")) {
    s.is_response = true;
    if (first.size() < 11 || !to_number(first.substr(8, 3), s.status)) return false;
    s.reason = first.size() > 12 ? first.substr(12) : std::string_view{};
  } else {
    std::size_t sp1 = first.find(' ');
    std::size_t sp2 = first.rfind(' ');
    if (sp1 == std::string_view::npos || sp2 == sp1 || first.substr(sp2 + 1) != "SIP/2.0") {
      return false;
    }
    s.method = first.substr(0, sp1);
    s.request_uri = first.substr(sp1 + 1, sp2 - sp1 - 1);
  }
  bool have_cl = false;
  std::size_t pos = eol + 2;
  for (;;) {
    std::size_t e = msg.find("\r\n", pos);
    if (e == std::string_view::npos) return false;  // no blank line
    if (e == pos) {
      pos += 2;
      break;
    }
    std::string_view line = msg.substr(pos, e - pos);
    pos = e + 2;
    std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) return false;
    std::string_view name = trim(line.substr(0, colon));
    std::string_view value = trim(line.substr(colon + 1));
    if (name.empty()) return false;
    switch (classify(name)) {
      case Hdr::Via:
        push(s.via, s.via_count, value);
        break;
      case Hdr::From:
        s.from = value;
        break;
      case Hdr::To:
        s.to = value;
        break;
      case Hdr::CallId:
        s.call_id = value;
        break;
      case Hdr::Contact:
        if (s.contact.empty()) s.contact = value;
        break;
      case Hdr::ContentLength:
        if (!to_number(value, s.content_length)) return false;
        have_cl = true;
        break;
      case Hdr::RecordRoute:
        push(s.record_route, s.record_route_count, value);
        break;
      case Hdr::Auth:
        push(s.challenge, s.challenge_count, value);
        break;
      case Hdr::CSeq: {
        std::size_t sp = value.find(' ');
        if (sp == std::string_view::npos || !to_number(value.substr(0, sp), s.cseq)) return false;
        s.cseq_method = trim(value.substr(sp + 1));
        break;
      }
      case Hdr::Other:
        break;
    }
  }
  if (s.call_id.empty() || s.cseq_method.empty() || s.via_count == 0) return false;
  std::string_view rest = msg.substr(pos);
  if (have_cl) {
    if (s.content_length > rest.size()) return false;
    s.body = rest.substr(0, s.content_length);
  } else {
    s.body = rest;
    s.content_length = rest.size();
  }
  return true;
}

std::size_t stream_message_length(std::string_view buf) {
  std::size_t crlf = 0;
  while (buf.substr(crlf).starts_with("\r\n")) crlf += 2;
  if (crlf > 0) return crlf;  // keep-alive CRLFs (RFC 5626 s.3.5.1)
  std::size_t end = buf.find("\r\n\r\n");
  if (end == std::string_view::npos) {
    return buf.size() > 65536 ? std::string_view::npos : 0;
  }
  std::string_view head = buf.substr(0, end + 2);
  std::size_t pos = head.find("\r\n");
  while (pos != std::string_view::npos && pos + 2 < head.size()) {
    std::size_t e = head.find("\r\n", pos + 2);
    std::string_view line = head.substr(pos + 2, e - pos - 2);
    std::size_t colon = line.find(':');
    if (colon != std::string_view::npos &&
        classify(trim(line.substr(0, colon))) == Hdr::ContentLength) {
      std::size_t n = 0;
      if (!to_number(line.substr(colon + 1), n)) return std::string_view::npos;
      std::size_t total = end + 4 + n;
      return buf.size() >= total ? total : 0;
    }
    pos = e;
  }
  return std::string_view::npos;
}

std::string_view tag_of(std::string_view v) {
  // Parameters start after the '>' of a name-addr.
  std::size_t gt = v.find('>');
  std::size_t from = gt == std::string_view::npos ? 0 : gt;
  for (std::size_t p = v.find(';', from); p != std::string_view::npos; p = v.find(';', p + 1)) {
    std::string_view rest = trim(v.substr(p + 1));
    if (rest.size() > 4 && iequal(rest.substr(0, 4), "tag=")) {
      rest.remove_prefix(4);
      std::size_t e = rest.find_first_of(";, ");
      return rest.substr(0, e);
    }
  }
  return {};
}

std::string_view uri_of(std::string_view v) {
  std::size_t lt = v.find('<');
  if (lt != std::string_view::npos) {
    std::size_t gt = v.find('>', lt);
    if (gt == std::string_view::npos) return {};
    return v.substr(lt + 1, gt - lt - 1);
  }
  return trim(v.substr(0, v.find(';')));
}

std::optional<Challenge> parse_challenge(std::string_view v) {
  v = trim(v);
  if (v.size() < 7 || !iequal(v.substr(0, 6), "digest") || v[6] != ' ') return std::nullopt;
  v.remove_prefix(7);
  Challenge c;
  bool have_nonce = false;
  while (!v.empty()) {
    while (!v.empty() && (v.front() == ' ' || v.front() == ',' || v.front() == '\t')) {
      v.remove_prefix(1);
    }
    std::size_t eq = v.find('=');
    if (eq == std::string_view::npos) break;
    std::string_view name = trim(v.substr(0, eq));
    v.remove_prefix(eq + 1);
    v = trim(v);
    std::string_view value;
    if (!v.empty() && v.front() == '"') {
      std::size_t q = v.find('"', 1);
      if (q == std::string_view::npos) return std::nullopt;
      value = v.substr(1, q - 1);
      v.remove_prefix(q + 1);
    } else {
      std::size_t comma = v.find(',');
      value = trim(v.substr(0, comma));
      v.remove_prefix(comma == std::string_view::npos ? v.size() : comma);
    }
    if (iequal(name, "realm")) {
      c.realm = value;
    } else if (iequal(name, "nonce")) {
      c.nonce = value;
      have_nonce = true;
    } else if (iequal(name, "opaque")) {
      c.opaque = value;
    } else if (iequal(name, "stale")) {
      c.stale = iequal(value, "true");
    } else if (iequal(name, "algorithm")) {
      if (iequal(value, "MD5")) {
        c.alg = DigestAlg::Md5;
      } else if (iequal(value, "SHA-256")) {
        c.alg = DigestAlg::Sha256;
      } else {
        return std::nullopt;
      }
    } else if (iequal(name, "qop")) {
      for (std::size_t p = 0; p < value.size();) {
        std::size_t comma = value.find(',', p);
        if (iequal(trim(value.substr(p, comma - p)), "auth")) c.qop_auth = true;
        if (comma == std::string_view::npos) break;
        p = comma + 1;
      }
    }
  }
  if (!have_nonce) return std::nullopt;
  return c;
}

std::string_view hash_hex(DigestAlg alg, std::string_view data, char (&out)[65]) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, alg == DigestAlg::Md5 ? EVP_md5() : EVP_sha256(),
             nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  const std::size_t n = len;
  for (std::size_t i = 0; i < n; ++i) {
    out[2 * i] = kHex[md[i] >> 4];
    out[2 * i + 1] = kHex[md[i] & 15];
  }
  out[2 * n] = '\0';
  return {out, 2 * n};
}

DigestClient::DigestClient(std::string user, std::string password, std::string cnonce)
    : user_(std::move(user)), password_(std::move(password)), cnonce_(std::move(cnonce)) {
  scratch_.reserve(512);
}

void DigestClient::on_challenge(const Challenge& c, bool proxy) {
  bool same_key = have_ && c.alg == ch_.alg && c.realm == ch_.realm;
  ch_ = c;
  have_ = true;
  proxy_ = proxy;
  nc_ = 0;
  if (!same_key) {
    scratch_.assign(user_).append(":").append(ch_.realm).append(":").append(password_);
    hash_hex(ch_.alg, scratch_, ha1_);
  }
}

void DigestClient::append_credentials(std::string& out, std::string_view method,
                                      std::string_view uri) {
  char ha2[65];
  char resp[65];
  char nc[9];
  ++nc_;
  static constexpr char kHex[] = "0123456789abcdef";
  for (int i = 0; i < 8; ++i) nc[i] = kHex[(nc_ >> (28 - 4 * i)) & 15];
  nc[8] = '\0';
  scratch_.assign(method).append(":").append(uri);
  std::string_view h2 = hash_hex(ch_.alg, scratch_, ha2);
  scratch_.assign(ha1_).append(":").append(ch_.nonce).append(":");
  if (ch_.qop_auth) scratch_.append(nc, 8).append(":").append(cnonce_).append(":auth:");
  scratch_.append(h2);
  std::string_view r = hash_hex(ch_.alg, scratch_, resp);
  out.append(proxy_ ? "Proxy-Authorization: Digest username=\""
                    : "Authorization: Digest username=\"")
      .append(user_)
      .append("\", realm=\"")
      .append(ch_.realm)
      .append("\", nonce=\"")
      .append(ch_.nonce)
      .append("\", uri=\"")
      .append(uri)
      .append("\", response=\"")
      .append(r)
      .append(ch_.alg == DigestAlg::Md5 ? "\", algorithm=MD5" : "\", algorithm=SHA-256");
  if (ch_.qop_auth) {
    out.append(", cnonce=\"").append(cnonce_).append("\", qop=auth, nc=").append(nc, 8);
  }
  if (!ch_.opaque.empty()) out.append(", opaque=\"").append(ch_.opaque).append("\"");
  out.append("\r\n");
}

void append_response(std::string& out, const SipScan& req, int code, std::string_view reason,
                     std::string_view to_tag, bool copy_record_route, std::string_view extra,
                     std::string_view sdp) {
  out.append("SIP/2.0 ");
  append_dec(out, static_cast<std::uint64_t>(code));
  out.append(" ").append(reason).append("\r\n");
  for (std::size_t i = 0; i < req.via_count; ++i)
    out.append("Via: ").append(req.via[i]).append("\r\n");
  out.append("From: ").append(req.from).append("\r\nTo: ").append(req.to);
  if (tag_of(req.to).empty() && !to_tag.empty()) out.append(";tag=").append(to_tag);
  out.append("\r\nCall-ID: ").append(req.call_id).append("\r\nCSeq: ");
  append_dec(out, req.cseq);
  out.append(" ").append(req.cseq_method).append("\r\n");
  if (copy_record_route) {
    for (std::size_t i = 0; i < req.record_route_count; ++i) {
      out.append("Record-Route: ").append(req.record_route[i]).append("\r\n");
    }
  }
  out.append(extra);
  if (sdp.empty()) {
    out.append("Content-Length: 0\r\n\r\n");
  } else {
    out.append("Content-Type: application/sdp\r\nContent-Length: ");
    append_dec(out, sdp.size());
    out.append("\r\n\r\n").append(sdp);
  }
}

void append_hex(std::string& out, std::uint64_t v) {
  char buf[17];
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v, 16);
  out.append(buf, p);
}

void append_dec(std::string& out, std::uint64_t v) {
  char buf[21];
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, p);
}

std::uint64_t fnv1a(std::string_view s) {
  std::uint64_t h = 1469598103934665603ULL;
  for (char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ULL;
  }
  return h;
}

}  // namespace sipws::load
