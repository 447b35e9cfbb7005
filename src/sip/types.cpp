// Method and header-name tables (RFC 3261 s.7.1, s.7.3.3, s.20).
#include "sip/types.hpp"

#include <array>

#include "sip/text.hpp"

namespace sipws::sip {
namespace {

struct MethodEntry {
  std::string_view name;
  Method method;
};
constexpr std::array<MethodEntry, 14> kMethods{{
    {"INVITE", Method::Invite},
    {"ACK", Method::Ack},
    {"BYE", Method::Bye},
    {"CANCEL", Method::Cancel},
    {"REGISTER", Method::Register},
    {"OPTIONS", Method::Options},
    {"INFO", Method::Info},
    {"UPDATE", Method::Update},
    {"PRACK", Method::Prack},
    {"SUBSCRIBE", Method::Subscribe},
    {"NOTIFY", Method::Notify},
    {"REFER", Method::Refer},
    {"MESSAGE", Method::Message},
    {"PUBLISH", Method::Publish},
}};

struct HeaderEntry {
  std::string_view name;
  char compact;
  HeaderId id;
};
constexpr std::array<HeaderEntry, static_cast<std::size_t>(HeaderId::kCount) - 1> kHeaders{{
    {"Via", 'v', HeaderId::Via},
    {"From", 'f', HeaderId::From},
    {"To", 't', HeaderId::To},
    {"Call-ID", 'i', HeaderId::CallId},
    {"CSeq", 0, HeaderId::CSeq},
    {"Max-Forwards", 0, HeaderId::MaxForwards},
    {"Contact", 'm', HeaderId::Contact},
    {"Route", 0, HeaderId::Route},
    {"Record-Route", 0, HeaderId::RecordRoute},
    {"Path", 0, HeaderId::Path},
    {"Content-Length", 'l', HeaderId::ContentLength},
    {"Content-Type", 'c', HeaderId::ContentType},
    {"Content-Encoding", 'e', HeaderId::ContentEncoding},
    {"Expires", 0, HeaderId::Expires},
    {"Min-Expires", 0, HeaderId::MinExpires},
    {"Require", 0, HeaderId::Require},
    {"Proxy-Require", 0, HeaderId::ProxyRequire},
    {"Supported", 'k', HeaderId::Supported},
    {"Unsupported", 0, HeaderId::Unsupported},
    {"Allow", 0, HeaderId::Allow},
    {"Authorization", 0, HeaderId::Authorization},
    {"Proxy-Authorization", 0, HeaderId::ProxyAuthorization},
    {"WWW-Authenticate", 0, HeaderId::WwwAuthenticate},
    {"Proxy-Authenticate", 0, HeaderId::ProxyAuthenticate},
    {"Authentication-Info", 0, HeaderId::AuthenticationInfo},
    {"User-Agent", 0, HeaderId::UserAgent},
    {"Server", 0, HeaderId::Server},
    {"Date", 0, HeaderId::Date},
    {"Timestamp", 0, HeaderId::Timestamp},
    {"Event", 'o', HeaderId::Event},
    {"Subject", 's', HeaderId::Subject},
    {"Refer-To", 'r', HeaderId::ReferTo},
    {"Retry-After", 0, HeaderId::RetryAfter},
    {"Flow-Timer", 0, HeaderId::FlowTimer},
}};

using text::iequal;
using text::lower;

}  // namespace

Method method_from_string(std::string_view token) {
  for (const auto& e : kMethods) {
    if (e.name == token) return e.method;
  }
  return Method::Other;
}

std::string_view method_name(Method m) {
  for (const auto& e : kMethods) {
    if (e.method == m) return e.name;
  }
  return {};
}

HeaderId header_id(std::string_view name) {
  if (name.empty()) return HeaderId::Other;
  if (name.size() == 1) {
    const char c = lower(name[0]);
    for (const auto& e : kHeaders) {
      if (e.compact == c) return e.id;
    }
    return HeaderId::Other;
  }
  for (const auto& e : kHeaders) {
    if (iequal(e.name, name)) return e.id;
  }
  return HeaderId::Other;
}

std::string_view header_name(HeaderId id) {
  for (const auto& e : kHeaders) {
    if (e.id == id) return e.name;
  }
  return {};
}

bool is_split_list(HeaderId id) {
  switch (id) {
    case HeaderId::Via:
    case HeaderId::Route:
    case HeaderId::RecordRoute:
    case HeaderId::Path:
    case HeaderId::Contact:
      return true;
    default:
      return false;
  }
}

}  // namespace sipws::sip
