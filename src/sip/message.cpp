// Message accessors, mutators, serializer and response/CANCEL/ACK builders (RFC 3261 s.7,
// s.8.2.6, s.9.1, s.17.1.1.3).
#include "sip/message.hpp"

#include <algorithm>
#include <string>

#include "sip/message_access.hpp"
#include "sip/text.hpp"

namespace sipws::sip {

using text::iequal;

const Header* Message::find(HeaderId id) const {
  for (const auto& h : headers_) {
    if (h.id == id) return &h;
  }
  return nullptr;
}

const Header* Message::find(std::string_view name) const {
  const HeaderId id = header_id(name);
  if (id != HeaderId::Other) return find(id);
  for (const auto& h : headers_) {
    if (h.id == HeaderId::Other && iequal(h.name, name)) return &h;
  }
  return nullptr;
}

std::vector<const Header*> Message::find_all(HeaderId id) const {
  std::vector<const Header*> out;
  for (const auto& h : headers_) {
    if (h.id == id) out.push_back(&h);
  }
  return out;
}

std::size_t Message::count(HeaderId id) const {
  return static_cast<std::size_t>(std::count_if(headers_.begin(), headers_.end(),
                                                [id](const Header& h) { return h.id == id; }));
}

std::optional<std::uint32_t> Message::expires() const {
  const Header* h = find(HeaderId::Expires);
  if (!h) return std::nullopt;
  return parse_uint(h->value);
}

std::string_view Message::own(std::string s) {
  auto p = std::make_shared<const std::string>(std::move(s));
  std::string_view v(*p);
  owned_.push_back(std::move(p));
  return v;
}

void Message::refresh(HeaderId id) {
  const Header* h = find(id);
  switch (id) {
    case HeaderId::Via: {
      std::optional<Via> v = h ? parse_via(h->value) : std::nullopt;
      top_via_ = v ? std::move(*v) : Via{};
      break;
    }
    case HeaderId::From: {
      auto v = h ? parse_name_addr(h->value) : std::nullopt;
      from_ = v ? std::move(*v) : NameAddr{};
      break;
    }
    case HeaderId::To: {
      auto v = h ? parse_name_addr(h->value) : std::nullopt;
      to_ = v ? std::move(*v) : NameAddr{};
      break;
    }
    case HeaderId::CallId:
      call_id_ = h ? text::trim(h->value) : std::string_view();
      break;
    case HeaderId::CSeq: {
      auto v = h ? parse_cseq(h->value) : std::nullopt;
      cseq_ = v ? *v : CSeq{};
      if (!is_request_) {
        method_ = cseq_.method;
        method_name_ = cseq_.method_name;
      }
      break;
    }
    case HeaderId::MaxForwards:
      max_forwards_ = h ? parse_uint(h->value) : std::nullopt;
      break;
    default:
      break;
  }
}

void Message::set_request_uri(std::string uri) {
  const auto v = own(std::move(uri));
  auto parsed = parse_uri(v);
  if (parsed) {
    request_uri_ = std::move(*parsed);
  } else {
    request_uri_ = Uri{};
    request_uri_.raw = v;
  }
}

void Message::set_status(int code, std::string reason) {
  is_request_ = false;
  status_ = code;
  reason_ = own(std::move(reason));
}

void Message::push_front(HeaderId id, std::string value) {
  Header h{id, header_name(id), own(std::move(value))};
  auto it =
      std::find_if(headers_.begin(), headers_.end(), [id](const Header& x) { return x.id == id; });
  if (it == headers_.end()) {
    if (id == HeaderId::Via) {
      it = headers_.begin();
    } else {
      // Right after the last Via (or at the top when there is none).
      auto last_via = std::find_if(headers_.rbegin(), headers_.rend(),
                                   [](const Header& x) { return x.id == HeaderId::Via; });
      it = last_via == headers_.rend() ? headers_.begin() : last_via.base();
    }
  }
  headers_.insert(it, h);
  refresh(id);
}

void Message::append(HeaderId id, std::string value) {
  headers_.push_back(Header{id, header_name(id), own(std::move(value))});
  refresh(id);
}

void Message::append(std::string name, std::string value) {
  const HeaderId id = header_id(name);
  const auto n = id != HeaderId::Other ? header_name(id) : own(std::move(name));
  headers_.push_back(Header{id, n, own(std::move(value))});
  refresh(id);
}

bool Message::pop_front(HeaderId id) {
  auto it =
      std::find_if(headers_.begin(), headers_.end(), [id](const Header& x) { return x.id == id; });
  if (it == headers_.end()) return false;
  headers_.erase(it);
  refresh(id);
  return true;
}

std::size_t Message::remove_all(HeaderId id) {
  const auto before = headers_.size();
  std::erase_if(headers_, [id](const Header& x) { return x.id == id; });
  const auto n = before - headers_.size();
  if (n != 0) refresh(id);
  return n;
}

std::size_t Message::remove_all(std::string_view name) {
  const HeaderId id = header_id(name);
  if (id != HeaderId::Other) return remove_all(id);
  const auto before = headers_.size();
  std::erase_if(headers_, [name](const Header& x) {
    return x.id == HeaderId::Other && iequal(x.name, name);
  });
  return before - headers_.size();
}

void Message::replace_first(HeaderId id, std::string value) {
  auto it =
      std::find_if(headers_.begin(), headers_.end(), [id](const Header& x) { return x.id == id; });
  if (it == headers_.end()) {
    append(id, std::move(value));
    return;
  }
  it->value = own(std::move(value));
  refresh(id);
}

void Message::set(HeaderId id, std::string value) { replace_first(id, std::move(value)); }

void Message::set_to_tag(std::string_view tag) {
  const Header* h = find(HeaderId::To);
  if (!h) return;
  std::string v;
  const Param* old = to_.param("tag");
  if (old && old->name.data() >= h->value.data() &&
      old->name.data() < h->value.data() + h->value.size()) {
    // Cut ";tag=value" (and the LWS before ';') out of the current value.
    const auto base = h->value.data();
    std::size_t start = static_cast<std::size_t>(old->name.data() - base);
    while (start > 0 && h->value[start - 1] != ';') --start;
    if (start > 0) --start;
    while (start > 0 && text::is_ws(h->value[start - 1])) --start;
    const auto end_ptr = old->has_value ? old->value.data() + old->value.size()
                                        : old->name.data() + old->name.size();
    const auto end = static_cast<std::size_t>(end_ptr - base);
    v.append(h->value.substr(0, start));
    v.append(h->value.substr(end));
  } else {
    v.assign(h->value);
  }
  v.append(";tag=");
  v.append(tag);
  replace_first(HeaderId::To, std::move(v));
}

void Message::set_body(std::string body, std::string content_type) {
  body_ = body.empty() ? std::string_view() : own(std::move(body));
  remove_all(HeaderId::ContentType);
  if (!content_type.empty()) append(HeaderId::ContentType, std::move(content_type));
}

std::string Message::serialize() const {
  std::size_t size = 64 + body_.size() + request_uri_.raw.size() + reason_.size();
  for (const auto& h : headers_) size += h.name.size() + h.value.size() + 4;
  std::string out;
  out.reserve(size);
  if (is_request_) {
    out.append(method_name_);
    out.push_back(' ');
    out.append(request_uri_.raw);
    out.append(" SIP/2.0\r\n");
  } else {
    out.append("SIP/2.0 ");
    out.append(std::to_string(status_));
    out.push_back(' ');
    out.append(reason_);
    out.append("\r\n");
  }
  for (const auto& h : headers_) {
    if (h.id == HeaderId::ContentLength) continue;
    out.append(h.name);
    out.append(": ");
    out.append(h.value);
    out.append("\r\n");
  }
  out.append("Content-Length: ");
  out.append(std::to_string(body_.size()));
  out.append("\r\n\r\n");
  out.append(body_);
  return out;
}

std::string_view default_reason(int status) {
  switch (status) {
    case 100:
      return "Trying";
    case 180:
      return "Ringing";
    case 181:
      return "Call Is Being Forwarded";
    case 182:
      return "Queued";
    case 183:
      return "Session Progress";
    case 200:
      return "OK";
    case 202:
      return "Accepted";
    case 300:
      return "Multiple Choices";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Moved Temporarily";
    case 305:
      return "Use Proxy";
    case 380:
      return "Alternative Service";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 402:
      return "Payment Required";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 406:
      return "Not Acceptable";
    case 407:
      return "Proxy Authentication Required";
    case 408:
      return "Request Timeout";
    case 410:
      return "Gone";
    case 413:
      return "Request Entity Too Large";
    case 414:
      return "Request-URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 416:
      return "Unsupported URI Scheme";
    case 420:
      return "Bad Extension";
    case 421:
      return "Extension Required";
    case 423:
      return "Interval Too Brief";
    case 430:
      return "Flow Failed";
    case 439:
      return "First Hop Lacks Outbound Support";
    case 480:
      return "Temporarily Unavailable";
    case 481:
      return "Call/Transaction Does Not Exist";
    case 482:
      return "Loop Detected";
    case 483:
      return "Too Many Hops";
    case 484:
      return "Address Incomplete";
    case 485:
      return "Ambiguous";
    case 486:
      return "Busy Here";
    case 487:
      return "Request Terminated";
    case 488:
      return "Not Acceptable Here";
    case 491:
      return "Request Pending";
    case 493:
      return "Undecipherable";
    case 500:
      return "Server Internal Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Server Time-out";
    case 505:
      return "Version Not Supported";
    case 513:
      return "Message Too Large";
    case 600:
      return "Busy Everywhere";
    case 603:
      return "Decline";
    case 604:
      return "Does Not Exist Anywhere";
    case 606:
      return "Not Acceptable";
    default:
      return "";
  }
}

Message MessageBuilderAccess::response(const Message& request, int status,
                                       std::string_view reason) {
  Message r;
  r.buffer_ = request.buffer_;
  r.owned_ = request.owned_;
  r.is_request_ = false;
  r.status_ = status;
  r.reason_ = reason.empty() ? default_reason(status) : r.own(std::string(reason));
  r.method_ = request.method_;
  r.method_name_ = request.method_name_;
  r.version_ = "SIP/2.0";
  r.headers_.reserve(8);
  for (const auto& h : request.headers_) {
    switch (h.id) {
      case HeaderId::Via:
      case HeaderId::From:
      case HeaderId::To:
      case HeaderId::CallId:
      case HeaderId::CSeq:
        r.headers_.push_back(h);
        break;
      case HeaderId::Timestamp:
        if (status == 100) r.headers_.push_back(h);
        break;
      default:
        break;
    }
  }
  r.top_via_ = request.top_via_;
  r.from_ = request.from_;
  r.to_ = request.to_;
  r.call_id_ = request.call_id_;
  r.cseq_ = request.cseq_;
  return r;
}

Message MessageBuilderAccess::cancel(const Message& invite) {
  Message c;
  c.buffer_ = invite.buffer_;
  c.owned_ = invite.owned_;
  c.is_request_ = true;
  c.method_ = Method::Cancel;
  c.method_name_ = "CANCEL";
  c.request_uri_ = invite.request_uri_;
  c.version_ = "SIP/2.0";
  if (const Header* v = invite.find(HeaderId::Via)) c.headers_.push_back(*v);
  c.headers_.push_back(Header{HeaderId::MaxForwards, header_name(HeaderId::MaxForwards), "70"});
  for (const auto& h : invite.headers_) {
    if (h.id == HeaderId::Route) c.headers_.push_back(h);
  }
  for (HeaderId id : {HeaderId::From, HeaderId::To, HeaderId::CallId}) {
    if (const Header* h = invite.find(id)) c.headers_.push_back(*h);
  }
  c.headers_.push_back(Header{HeaderId::CSeq, header_name(HeaderId::CSeq),
                              c.own(std::to_string(invite.cseq_.number) + " CANCEL")});
  c.top_via_ = invite.top_via_;
  c.from_ = invite.from_;
  c.to_ = invite.to_;
  c.call_id_ = invite.call_id_;
  c.max_forwards_ = 70;
  c.refresh(HeaderId::CSeq);
  return c;
}

Message MessageBuilderAccess::ack(const Message& invite, const Message& response) {
  Message a;
  a.buffer_ = invite.buffer_;
  a.owned_ = invite.owned_;
  if (response.buffer_) a.owned_.push_back(response.buffer_);
  a.owned_.insert(a.owned_.end(), response.owned_.begin(), response.owned_.end());
  a.is_request_ = true;
  a.method_ = Method::Ack;
  a.method_name_ = "ACK";
  a.request_uri_ = invite.request_uri_;
  a.version_ = "SIP/2.0";
  if (const Header* v = invite.find(HeaderId::Via)) a.headers_.push_back(*v);
  a.headers_.push_back(Header{HeaderId::MaxForwards, header_name(HeaderId::MaxForwards), "70"});
  for (const auto& h : invite.headers_) {
    if (h.id == HeaderId::Route) a.headers_.push_back(h);
  }
  if (const Header* h = invite.find(HeaderId::From)) a.headers_.push_back(*h);
  if (const Header* h = response.find(HeaderId::To)) {
    a.headers_.push_back(*h);
  } else if (const Header* t = invite.find(HeaderId::To)) {
    a.headers_.push_back(*t);
  }
  if (const Header* h = invite.find(HeaderId::CallId)) a.headers_.push_back(*h);
  a.headers_.push_back(Header{HeaderId::CSeq, header_name(HeaderId::CSeq),
                              a.own(std::to_string(invite.cseq_.number) + " ACK")});
  a.top_via_ = invite.top_via_;
  a.from_ = invite.from_;
  a.refresh(HeaderId::To);
  a.call_id_ = invite.call_id_;
  a.max_forwards_ = 70;
  a.refresh(HeaderId::CSeq);
  return a;
}

Message make_response(const Message& request, int status, std::string_view reason) {
  return MessageBuilderAccess::response(request, status, reason);
}

Message make_cancel(const Message& invite) { return MessageBuilderAccess::cancel(invite); }

Message make_ack(const Message& invite, const Message& response) {
  return MessageBuilderAccess::ack(invite, response);
}

bool has_option_tag(const Message& m, HeaderId id, std::string_view tag) {
  for (const auto* h : m.find_all(id)) {
    for (auto t : split_list(h->value)) {
      if (iequal(t, tag)) return true;
    }
  }
  return false;
}

}  // namespace sipws::sip
