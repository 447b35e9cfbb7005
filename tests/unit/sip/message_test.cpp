// Message parsing details, mutators, serializer and builders (RFC 3261 s.7, s.8.2.6, s.9.1,
// s.17.1.1.3, s.20).
#include <gtest/gtest.h>

#include <string>

#include "common/counters.hpp"
#include "sip/parser.hpp"

namespace sipws::sip {
namespace {

const std::string kInvite =
    "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"
    "Via: SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bKasudf;rport, SIP/2.0/UDP "
    "10.0.0.1:5070;branch=z9hG4bK2\r\n"
    "v: SIP/2.0/TCP third.example.com;branch=z9hG4bK3\r\n"
    "Max-Forwards: 70\r\n"
    "Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\r\n"
    "To: Bob <sip:bob@biloxi.example.com>\r\n"
    "f: \"Alice, A.\" <sip:alice@atlanta.example.com>;tag=9fxced76sl\r\n"
    "i: 3848276298220188511@atlanta.example.com\r\n"
    "CSeq: 1 INVITE\r\n"
    "m: <sip:alice@df7jal23ls0d.invalid;transport=ws>;expires=200, \"x,y\" <sip:b@c>\r\n"
    "c: application/sdp\r\n"
    "X-Custom: hello\r\n"
    "Content-Length: 10\r\n"
    "\r\n"
    "v=0\r\no=x\r\n";

Message must_parse(const std::string& s, ParseOptions o = {}) {
  auto r = parse(std::string_view(s), o);
  EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().reason);
  return r ? *r : Message{};
}

ParseError must_fail(const std::string& s, ParseOptions o = {}) {
  auto r = parse(std::string_view(s), o);
  EXPECT_FALSE(r.has_value());
  return r ? ParseError{} : r.error();
}

// A minimal request with `extra` headers inserted before Content-Length.
std::string req(const std::string& extra, const std::string& start = "OPTIONS sip:a@b.com SIP/2.0",
                const std::string& cseq = "CSeq: 1 OPTIONS") {
  return start +
         "\r\nVia: SIP/2.0/UDP h.example.com;branch=z9hG4bK1\r\nFrom: <sip:x@y>;tag=1\r\n"
         "To: <sip:a@b.com>\r\nCall-ID: abc@h\r\n" +
         cseq + "\r\n" + extra + "Content-Length: 0\r\n\r\n";
}

TEST(Parse, RequestEssentials) {
  const auto m = must_parse(kInvite);
  EXPECT_TRUE(m.is_request());
  EXPECT_EQ(m.method(), Method::Invite);
  EXPECT_EQ(m.method_name(), "INVITE");
  EXPECT_EQ(m.request_uri().user, "bob");
  EXPECT_EQ(m.count(HeaderId::Via), 3u);
  EXPECT_EQ(m.top_via().transport, "WSS");
  EXPECT_EQ(m.top_via().branch(), "z9hG4bKasudf");
  EXPECT_EQ(m.find_all(HeaderId::Via)[2]->name, "v");
  EXPECT_EQ(m.count(HeaderId::Route), 2u);
  EXPECT_EQ(m.find(HeaderId::Route)->value, "<sip:p1.example.com;lr>");
  EXPECT_EQ(m.from().display, "Alice, A.");
  EXPECT_EQ(m.from().tag(), "9fxced76sl");
  EXPECT_EQ(m.to().display, "Bob");
  EXPECT_TRUE(m.to().tag().empty());
  EXPECT_EQ(m.call_id(), "3848276298220188511@atlanta.example.com");
  EXPECT_EQ(m.cseq().number, 1u);
  EXPECT_EQ(m.max_forwards(), 70u);
  EXPECT_EQ(m.count(HeaderId::Contact), 2u);  // the quoted comma does not split
  EXPECT_EQ(m.find_all(HeaderId::Contact)[1]->value, "\"x,y\" <sip:b@c>");
  EXPECT_EQ(m.find("content-type")->value, "application/sdp");
  EXPECT_EQ(m.find("CALL-ID")->value, m.call_id());
  EXPECT_EQ(m.find("x-custom")->value, "hello");
  EXPECT_EQ(m.find("X-Absent"), nullptr);
  EXPECT_EQ(m.body(), "v=0\r\no=x\r\n");
  EXPECT_FALSE(m.expires().has_value());
  EXPECT_EQ(m.raw(), kInvite);
}

TEST(Parse, Response) {
  const auto m = must_parse(
      "SIP/2.0 180 Ringing Now\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:x@y>;tag=1\r\n"
      "To: <sip:a@b>;tag=2\r\nCall-ID: c\r\nCSeq: 5 INVITE\r\n\r\n");
  EXPECT_TRUE(m.is_response());
  EXPECT_EQ(m.status(), 180);
  EXPECT_EQ(m.reason(), "Ringing Now");
  EXPECT_EQ(m.method(), Method::Invite);
  EXPECT_EQ(m.to().tag(), "2");
  EXPECT_TRUE(m.body().empty());
}

TEST(Parse, FoldingIsUnfolded) {
  const auto m = must_parse(req("Subject: first\r\n  second\r\n\tthird\r\nExpires:\r\n 60\r\n"));
  EXPECT_EQ(m.find(HeaderId::Subject)->value, "first   second \tthird");
  EXPECT_EQ(m.expires(), 60u);
  // Copies keep the unfolded buffer alive.
  Message copy;
  {
    auto tmp = must_parse(req("Subject: a\r\n b\r\n"));
    copy = tmp;
  }
  EXPECT_EQ(copy.find(HeaderId::Subject)->value, "a  b");
}

TEST(Parse, CompactFormsAndCaseInsensitiveNames) {
  const auto m = must_parse(
      "MESSAGE sip:a@b SIP/2.0\r\nv: SIP/2.0/TCP h;branch=z9hG4bK1\r\nf: <sip:x@y>;tag=1\r\n"
      "t: <sip:a@b>\r\ni: cid\r\ncseq: 2 MESSAGE\r\nMAX-FORWARDS: 5\r\nk: path\r\n"
      "s: hi\r\nc: text/plain\r\nl: 2\r\n\r\nhi");
  EXPECT_EQ(m.method(), Method::Message);
  EXPECT_EQ(m.call_id(), "cid");
  EXPECT_EQ(m.max_forwards(), 5u);
  EXPECT_EQ(m.find(HeaderId::Supported)->value, "path");
  EXPECT_EQ(m.find(HeaderId::Subject)->value, "hi");
  EXPECT_EQ(m.body(), "hi");
}

TEST(Parse, ContentLengthRules) {
  // Optional on datagrams: body = rest.
  auto m = must_parse(req("").substr(0, req("").find("Content-Length")) + "\r\nabc");
  EXPECT_EQ(m.body(), "abc");
  // Required on streams.
  const auto no_cl = req("").substr(0, req("").find("Content-Length")) + "\r\n";
  EXPECT_EQ(must_fail(no_cl, ParseOptions{.stream = true}).code, ParseErrc::MissingContentLength);
  // Larger than present.
  auto s = req("");
  s.replace(s.find("Content-Length: 0"), 17, "Content-Length: 5");
  EXPECT_EQ(must_fail(s + "abc").code, ParseErrc::BodyTooShort);
  // Trailing bytes on a datagram are ignored.
  m = must_parse(s + "abcdeXYZ");
  EXPECT_EQ(m.body(), "abcde");
  auto bad = req("");
  bad.replace(bad.find("Content-Length: 0"), 17, "Content-Length: -1");
  const auto e = must_fail(bad);
  EXPECT_EQ(e.code, ParseErrc::BadContentLength);
  EXPECT_EQ(e.reason, "Bad Request - Invalid Content-Length");
}

TEST(Parse, Rejections) {
  auto e = must_fail(req("", "OPTIONS sip:a@b.com SIP/2.0", "CSeq: 1 INVITE"));
  EXPECT_EQ(e.code, ParseErrc::CSeqMethodMismatch);
  EXPECT_EQ(e.reason, "Bad Request - CSeq method does not match");
  e = must_fail(req("", "OPTIONS sip:a@b.com SIP/3.0"));
  EXPECT_EQ(e.code, ParseErrc::BadVersion);
  EXPECT_EQ(e.status, 505);
  auto no_callid = req("");
  no_callid.erase(no_callid.find("Call-ID"), 14);
  e = must_fail(no_callid);
  EXPECT_EQ(e.code, ParseErrc::MissingHeader);
  EXPECT_EQ(e.reason, "Bad Request - Missing Call-ID");
  EXPECT_EQ(must_fail(req("Call-ID: other\r\n")).code, ParseErrc::DuplicateHeader);
  EXPECT_EQ(must_fail(req("Max-Forwards: 256\r\n")).code, ParseErrc::BadMaxForwards);
  EXPECT_EQ(must_fail(req("Contact: <sip:a@b>;;\r\n")).code, ParseErrc::BadContact);
  EXPECT_EQ(must_fail(req("NoColonHere\r\n")).code, ParseErrc::BadHeaderLine);
  EXPECT_EQ(must_fail(req("Bad Name: x\r\n")).code, ParseErrc::BadHeaderLine);
  EXPECT_EQ(must_fail(req("", "OPTIONS <sip:a@b.com> SIP/2.0")).code, ParseErrc::BadRequestUri);
  EXPECT_EQ(must_fail(req("", "OPTIONS  sip:a@b.com SIP/2.0")).code, ParseErrc::BadStartLine);
  EXPECT_EQ(must_fail(" \r\n" + req("")).code, ParseErrc::BadStartLine);
  EXPECT_EQ(must_fail("").code, ParseErrc::Empty);
  EXPECT_EQ(must_fail("\r\n\r\n").code, ParseErrc::Empty);
  EXPECT_EQ(must_fail(req(""), ParseOptions{.max_size = 10}).code, ParseErrc::TooLarge);
  EXPECT_EQ(must_fail("SIP/2.0 1000 Big\r\nVia: SIP/2.0/UDP h\r\n\r\n").code,
            ParseErrc::BadStatusLine);
}

TEST(Parse, IdenticalSingletonDuplicatesAreDropped) {
  const auto m = must_parse(req("Call-ID: abc@h\r\nMax-Forwards: 5\r\nMax-Forwards: 5\r\n"));
  EXPECT_EQ(m.count(HeaderId::CallId), 1u);
  EXPECT_EQ(m.count(HeaderId::MaxForwards), 1u);
  EXPECT_EQ(m.max_forwards(), 5u);
  EXPECT_EQ(m.count(HeaderId::Via), 1u);
  EXPECT_EQ(must_fail(req("Max-Forwards: 5\r\nMax-Forwards: 6\r\n")).reason,
            "Bad Request - Multiple Max-Forwards values");
}

TEST(Parse, ProxyLevelDefectsAreReadable) {
  // Unknown scheme (416), Proxy-Require (420), Max-Forwards 0 (483) are the proxy's business.
  auto m =
      must_parse(req("Max-Forwards: 0\r\nProxy-Require: foo\r\n", "OPTIONS http://x.org SIP/2.0"));
  EXPECT_EQ(m.request_uri().scheme, Scheme::Other);
  EXPECT_EQ(m.request_uri().raw, "http://x.org");
  EXPECT_EQ(m.max_forwards(), 0u);
  EXPECT_EQ(m.find(HeaderId::ProxyRequire)->value, "foo");
}

TEST(Serialize, RoundTripFieldWise) {
  const auto m = must_parse(kInvite);
  const auto text = m.serialize();
  const auto r = must_parse(text, ParseOptions{.stream = true});
  ASSERT_EQ(r.headers().size(), m.headers().size());
  for (std::size_t i = 0; i < m.headers().size(); ++i) {
    EXPECT_EQ(r.headers()[i].id, m.headers()[i].id);
    EXPECT_EQ(r.headers()[i].value, m.headers()[i].value);
  }
  EXPECT_EQ(r.method(), m.method());
  EXPECT_EQ(r.request_uri().raw, m.request_uri().raw);
  EXPECT_EQ(r.top_via().branch(), m.top_via().branch());
  EXPECT_EQ(r.call_id(), m.call_id());
  EXPECT_EQ(r.body(), m.body());
  EXPECT_EQ(r.serialize(), text);  // fixed point
  // One line per element, with the original names.
  EXPECT_NE(text.find("\r\nVia: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bK2\r\n"), std::string::npos);
  EXPECT_NE(text.find("\r\nv: SIP/2.0/TCP third"), std::string::npos);
}

TEST(Serialize, ContentLengthAlwaysCorrect) {
  auto m = must_parse(req("").substr(0, req("").find("Content-Length")) + "\r\nabc");
  auto text = m.serialize();
  EXPECT_NE(text.find("Content-Length: 3\r\n\r\nabc"), std::string::npos);
  m.set_body("hello!", "text/plain");
  text = m.serialize();
  EXPECT_NE(text.find("Content-Type: text/plain\r\n"), std::string::npos);
  EXPECT_NE(text.find("Content-Length: 6\r\n\r\nhello!"), std::string::npos);
  m.set_body("", "");
  text = m.serialize();
  EXPECT_EQ(text.find("Content-Type"), std::string::npos);
  EXPECT_TRUE(text.ends_with("Content-Length: 0\r\n\r\n"));
}

TEST(Mutators, PushPopVia) {
  auto m = must_parse(kInvite);
  m.push_front(HeaderId::Via, "SIP/2.0/UDP proxy.example.com;branch=z9hG4bKnew");
  EXPECT_EQ(m.headers()[0].value, "SIP/2.0/UDP proxy.example.com;branch=z9hG4bKnew");
  EXPECT_EQ(m.top_via().host, "proxy.example.com");
  EXPECT_EQ(m.count(HeaderId::Via), 4u);
  EXPECT_TRUE(m.pop_front(HeaderId::Via));
  EXPECT_EQ(m.top_via().branch(), "z9hG4bKasudf");
  m.set_top_via("SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bKasudf;rport=5555;received=1.2.3.4");
  EXPECT_EQ(m.top_via().param("received")->value, "1.2.3.4");
  EXPECT_EQ(m.count(HeaderId::Via), 3u);
  EXPECT_EQ(m.remove_all(HeaderId::Via), 3u);
  EXPECT_FALSE(m.pop_front(HeaderId::Via));
  EXPECT_TRUE(m.top_via().host.empty());
}

TEST(Mutators, PushFrontPlacement) {
  auto m = must_parse(kInvite);
  m.push_front(HeaderId::Route, "<sip:p0.example.com;lr>");
  EXPECT_EQ(m.find(HeaderId::Route)->value, "<sip:p0.example.com;lr>");
  EXPECT_EQ(m.count(HeaderId::Route), 3u);
  // No Record-Route yet: goes right after the last Via.
  m.push_front(HeaderId::RecordRoute, "<sip:me.example.com;lr>");
  const auto& h = m.headers();
  std::size_t last_via = 0;
  for (std::size_t i = 0; i < h.size(); ++i) {
    if (h[i].id == HeaderId::Via) last_via = i;
  }
  EXPECT_EQ(h[last_via + 1].id, HeaderId::RecordRoute);
  EXPECT_EQ(h[last_via + 1].name, "Record-Route");
  // No Via at all: Via goes to the very top.
  m.remove_all(HeaderId::Via);
  m.push_front(HeaderId::Via, "SIP/2.0/UDP a.b;branch=z9hG4bKx");
  EXPECT_EQ(m.headers()[0].id, HeaderId::Via);
}

TEST(Mutators, SetAppendAndRefresh) {
  auto m = must_parse(kInvite);
  m.set(HeaderId::MaxForwards, "69");
  EXPECT_EQ(m.max_forwards(), 69u);
  EXPECT_EQ(m.count(HeaderId::MaxForwards), 1u);
  m.set(HeaderId::Expires, "300");  // absent: appended
  EXPECT_EQ(m.expires(), 300u);
  m.append(HeaderId::Path, "<sip:edge.example.com;lr>");
  EXPECT_EQ(m.headers().back().id, HeaderId::Path);
  m.append(std::string("X-Other"), std::string("v"));
  EXPECT_EQ(m.find("x-other")->value, "v");
  m.append(std::string("Supported"), std::string("outbound"));
  EXPECT_EQ(m.find(HeaderId::Supported)->value, "outbound");
  m.set(HeaderId::CSeq, "2 INVITE");
  EXPECT_EQ(m.cseq().number, 2u);
  m.set(HeaderId::From, "<sip:carol@c.com>;tag=zz");
  EXPECT_EQ(m.from().uri.user, "carol");
  m.set(HeaderId::CallId, "new-id");
  EXPECT_EQ(m.call_id(), "new-id");
  m.set_request_uri("sip:carol@192.0.2.9:5080;transport=tcp");
  EXPECT_EQ(m.request_uri().port, 5080);
  EXPECT_EQ(m.request_uri().transport(), "tcp");
  const auto r = must_parse(m.serialize());
  EXPECT_EQ(r.request_uri().raw, "sip:carol@192.0.2.9:5080;transport=tcp");
  EXPECT_EQ(r.max_forwards(), 69u);
  EXPECT_EQ(r.call_id(), "new-id");
  EXPECT_EQ(r.expires(), 300u);
}

TEST(Mutators, CopiesAreIndependentAndValid) {
  auto m = must_parse(kInvite);
  Message copy = m;
  m.set(HeaderId::MaxForwards, "1");
  m.pop_front(HeaderId::Via);
  EXPECT_EQ(copy.max_forwards(), 70u);
  EXPECT_EQ(copy.count(HeaderId::Via), 3u);
  Message moved = std::move(m);
  EXPECT_EQ(moved.max_forwards(), 1u);
  EXPECT_EQ(moved.top_via().branch(), "z9hG4bK2");
}

TEST(Mutators, SetToTag) {
  auto m = must_parse(kInvite);
  m.set_to_tag("abc");
  EXPECT_EQ(m.to().tag(), "abc");
  EXPECT_EQ(m.find(HeaderId::To)->value, "Bob <sip:bob@biloxi.example.com>;tag=abc");
  m.set_to_tag("def");
  EXPECT_EQ(m.to().tag(), "def");
  EXPECT_EQ(m.find(HeaderId::To)->value, "Bob <sip:bob@biloxi.example.com>;tag=def");
  auto n = must_parse(req("", "OPTIONS sip:a@b.com SIP/2.0"));
  n.set(HeaderId::To, "<sip:a@b.com>;tag=old;x=1");
  n.set_to_tag("new");
  EXPECT_EQ(n.find(HeaderId::To)->value, "<sip:a@b.com>;x=1;tag=new");
}

TEST(Builders, MakeResponse) {
  const auto m =
      must_parse(req("Timestamp: 54\r\nRecord-Route: <sip:rr@x;lr>\r\n")
                     .insert(req("").find("From:"), "Via: SIP/2.0/UDP second;branch=z9hG4bK2\r\n"));
  auto r = make_response(m, 100);
  EXPECT_TRUE(r.is_response());
  EXPECT_EQ(r.status(), 100);
  EXPECT_EQ(r.reason(), "Trying");
  EXPECT_EQ(r.count(HeaderId::Via), 2u);
  EXPECT_EQ(r.count(HeaderId::Timestamp), 1u);
  EXPECT_EQ(r.count(HeaderId::RecordRoute), 0u);
  EXPECT_EQ(r.method(), Method::Options);
  EXPECT_EQ(r.cseq().number, 1u);
  EXPECT_TRUE(r.to().tag().empty());
  auto ok = make_response(m, 486, "Busy Here Now");
  ok.set_to_tag("t1");
  EXPECT_EQ(ok.count(HeaderId::Timestamp), 0u);
  const auto text = ok.serialize();
  EXPECT_TRUE(text.starts_with("SIP/2.0 486 Busy Here Now\r\nVia: SIP/2.0/UDP h.example.com"));
  const auto back = must_parse(text);
  EXPECT_EQ(back.status(), 486);
  EXPECT_EQ(back.to().tag(), "t1");
  EXPECT_EQ(back.from().tag(), "1");
  EXPECT_EQ(back.call_id(), "abc@h");
  EXPECT_EQ(back.method(), Method::Options);
}

TEST(Builders, MakeCancelAndAck) {
  const auto invite = must_parse(kInvite);
  const auto cancel = make_cancel(invite);
  EXPECT_EQ(cancel.method(), Method::Cancel);
  EXPECT_EQ(cancel.cseq().number, 1u);
  EXPECT_EQ(cancel.cseq().method, Method::Cancel);
  EXPECT_EQ(cancel.count(HeaderId::Via), 1u);
  EXPECT_EQ(cancel.top_via().branch(), "z9hG4bKasudf");
  EXPECT_EQ(cancel.count(HeaderId::Route), 2u);
  EXPECT_EQ(cancel.max_forwards(), 70u);
  EXPECT_EQ(cancel.count(HeaderId::Contact), 0u);
  const auto c2 = must_parse(cancel.serialize());
  EXPECT_EQ(c2.request_uri().raw, "sip:bob@biloxi.example.com");
  EXPECT_EQ(c2.call_id(), invite.call_id());
  EXPECT_TRUE(c2.body().empty());

  auto resp = make_response(invite, 486);
  resp.set_to_tag("callee1");
  const auto resp2 = must_parse(resp.serialize());
  const auto ack = make_ack(invite, resp2);
  EXPECT_EQ(ack.method(), Method::Ack);
  EXPECT_EQ(ack.cseq().method_name, "ACK");
  EXPECT_EQ(ack.to().tag(), "callee1");
  EXPECT_EQ(ack.count(HeaderId::Via), 1u);
  EXPECT_EQ(ack.count(HeaderId::Route), 2u);
  const auto a2 = must_parse(ack.serialize());
  EXPECT_EQ(a2.to().tag(), "callee1");
  EXPECT_EQ(a2.from().tag(), "9fxced76sl");
  EXPECT_EQ(a2.top_via().branch(), "z9hG4bKasudf");
}

TEST(Parse, CountsNothingItself) {
  // The parser is I/O-free and touches no global: the transport layer counts refusals
  // (sip_parse_errors, see unit_transport's UDP and TCP tests).
  const auto before = counters().snapshot();
  must_fail("garbage\r\n\r\n");
  must_parse(kInvite);
  EXPECT_EQ(counters().snapshot(), before);
}

TEST(ErrorCategory, Messages) {
  const std::error_code ec = ParseErrc::BadCSeq;
  EXPECT_EQ(ec.category().name(), std::string("sip.parse"));
  EXPECT_EQ(ec.message(), "malformed CSeq");
  EXPECT_EQ(make_error_code(ParseErrc::BadVersion).value(),
            static_cast<int>(ParseErrc::BadVersion));
}

TEST(Message, RemoveAllByNameTakesKnownAndUnknownHeadersCaseInsensitively) {
  auto m =
      sip::parse(std::string("OPTIONS sip:b@example.com SIP/2.0\r\n"
                             "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n"
                             "Max-Forwards: 70\r\n"
                             "From: <sip:a@example.com>;tag=1\r\n"
                             "To: <sip:b@example.com>\r\n"
                             "Call-ID: c\r\n"
                             "CSeq: 1 OPTIONS\r\n"
                             "P-Asserted-Identity: <sip:a@example.com>\r\n"
                             "p-asserted-identity: <tel:+15551234567>\r\n"
                             "X-Other: 1\r\n"
                             "Subject: hi\r\n"
                             "s: again\r\n"
                             "Content-Length: 0\r\n\r\n"));
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->remove_all(std::string_view("P-ASSERTED-IDENTITY")), 2u);
  EXPECT_EQ(m->remove_all(std::string_view("subject")), 2u);  // compact form "s" too
  EXPECT_EQ(m->remove_all(std::string_view("X-Absent")), 0u);
  EXPECT_EQ(m->find("P-Asserted-Identity"), nullptr);
  EXPECT_NE(m->find("X-Other"), nullptr);
  const std::string wire = m->serialize();
  EXPECT_EQ(wire.find("sserted"), std::string::npos) << wire;
  EXPECT_EQ(wire.find("Subject"), std::string::npos) << wire;
}

}  // namespace
}  // namespace sipws::sip
