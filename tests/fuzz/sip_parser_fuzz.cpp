// libFuzzer target for the SIP parser: parse (datagram and stream), frame_stream,
// error_response, typed header views, and serialize + re-parse on success.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "sip/parser.hpp"

namespace {

void check(bool ok) {
  if (!ok) std::abort();  // an invariant of our own code broke: let the fuzzer report it
}

void exercise(const sipws::sip::Message& m) {
  using namespace sipws::sip;
  for (const auto& h : m.headers()) {
    switch (h.id) {
      case HeaderId::Contact:
      case HeaderId::Route:
      case HeaderId::RecordRoute:
      case HeaderId::Path:
        (void)parse_name_addr(h.value);
        break;
      case HeaderId::Authorization:
      case HeaderId::ProxyAuthorization:
      case HeaderId::WwwAuthenticate:
      case HeaderId::ProxyAuthenticate:
        (void)parse_auth(h.value);
        break;
      default:
        break;
    }
  }
  (void)uri_equal(m.request_uri(), m.from().uri);
  (void)to_string(m.request_uri());
  const std::string text = m.serialize();
  auto again = parse(std::string_view(text), ParseOptions{.stream = true});
  check(again.has_value());
  check(again->body() == m.body());
  check(again->call_id() == m.call_id());
  check(again->serialize() == text);
  if (m.is_request()) {
    auto r = make_response(m, 200);
    r.set_to_tag("fuzz");
    check(parse(r.serialize()).has_value());
  }
  Message copy = m;
  copy.push_front(HeaderId::Via, "SIP/2.0/UDP fuzz.invalid;branch=z9hG4bKfuzz");
  copy.set(HeaderId::MaxForwards, "1");
  copy.set_to_tag("t");
  check(copy.top_via().host == "fuzz.invalid");
  check(parse(copy.serialize()).has_value());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace sipws::sip;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  for (bool stream : {false, true}) {
    auto m = parse(bytes, ParseOptions{.stream = stream});
    if (m) {
      exercise(*m);
    } else {
      check(!m.error().reason.empty());
      if (auto resp = error_response(bytes, m.error())) {
        check(resp->starts_with("SIP/2.0 ") && resp->ends_with("\r\n\r\n"));
      }
    }
  }
  const Frame f = frame_stream(bytes);
  if (f.kind == Frame::Complete || f.kind == Frame::KeepAlive) check(f.length <= size);
  if (f.kind == Frame::Complete)
    (void)parse(bytes.substr(0, f.length), ParseOptions{.stream = true});
  (void)is_keepalive(bytes);
  (void)parse_uri(bytes);
  (void)parse_via(bytes);
  (void)parse_name_addr(bytes);
  (void)split_list(bytes);
  return 0;
}
