// Stream framing (RFC 3261 s.18.3), keep-alives (RFC 5626 s.3.5.1) and stateless error
// responses.
#include <gtest/gtest.h>

#include <string>

#include "sip/parser.hpp"

namespace sipws::sip {
namespace {

std::string msg(const std::string& body, const std::string& cl_name = "Content-Length") {
  return "MESSAGE sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nFrom: "
         "<sip:x@y>;tag=1\r\n"
         "To: <sip:a@b>\r\nCall-ID: c1\r\nCSeq: 1 MESSAGE\r\n" +
         cl_name + " : " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

TEST(FrameStream, CompleteMessage) {
  const auto m = msg("hello");
  const auto f = frame_stream(m);
  EXPECT_EQ(f.kind, Frame::Complete);
  EXPECT_EQ(f.length, m.size());
  EXPECT_TRUE(parse(std::string_view(m).substr(0, f.length), ParseOptions{.stream = true}));
}

TEST(FrameStream, PartialHeadersAndBody) {
  const auto m = msg("hello");
  for (std::size_t n = 0; n < m.size(); ++n) {
    EXPECT_EQ(frame_stream(std::string_view(m).substr(0, n)).kind, Frame::NeedMore) << n;
  }
}

TEST(FrameStream, TwoMessagesBackToBack) {
  const auto a = msg("first", "l");
  const auto b = msg("second!");
  std::string buf = a + b;
  auto f = frame_stream(buf);
  ASSERT_EQ(f.kind, Frame::Complete);
  EXPECT_EQ(f.length, a.size());
  auto m1 = parse(std::string_view(buf).substr(0, f.length), ParseOptions{.stream = true});
  ASSERT_TRUE(m1);
  EXPECT_EQ(m1->body(), "first");
  buf.erase(0, f.length);
  f = frame_stream(buf);
  ASSERT_EQ(f.kind, Frame::Complete);
  EXPECT_EQ(f.length, b.size());
  auto m2 = parse(std::string_view(buf).substr(0, f.length), ParseOptions{.stream = true});
  ASSERT_TRUE(m2);
  EXPECT_EQ(m2->body(), "second!");
}

TEST(FrameStream, FoldedContentLength) {
  auto m = msg("abc");
  m.replace(m.find("Content-Length : 3"), 18, "Content-Length:\r\n 3");
  const auto f = frame_stream(m);
  ASSERT_EQ(f.kind, Frame::Complete);
  EXPECT_EQ(f.length, m.size());
  const auto p = parse(m, ParseOptions{.stream = true});
  ASSERT_TRUE(p);
  EXPECT_EQ(p->body(), "abc");
}

TEST(FrameStream, KeepAliveCrlf) {
  auto f = frame_stream("\r\n\r\n");
  EXPECT_EQ(f.kind, Frame::KeepAlive);
  EXPECT_EQ(f.length, 4u);
  const auto m = msg("");
  f = frame_stream("\r\n" + m);
  EXPECT_EQ(f.kind, Frame::KeepAlive);
  EXPECT_EQ(f.length, 2u);
  EXPECT_EQ(frame_stream(m).kind, Frame::Complete);
  EXPECT_TRUE(is_keepalive("\r\n\r\n"));
  EXPECT_TRUE(is_keepalive("\r\n"));
  EXPECT_FALSE(is_keepalive(""));
  EXPECT_FALSE(is_keepalive("\r\nX"));
}

TEST(FrameStream, Errors) {
  auto no_cl = msg("");
  no_cl.erase(no_cl.find("Content-Length"), std::string("Content-Length : 0\r\n").size());
  auto f = frame_stream(no_cl);
  EXPECT_EQ(f.kind, Frame::Error);
  EXPECT_EQ(f.error.code, ParseErrc::MissingContentLength);
  auto bad = msg("");
  bad.replace(bad.find(": 0"), 3, ": -999");
  f = frame_stream(bad);
  EXPECT_EQ(f.kind, Frame::Error);
  EXPECT_EQ(f.error.code, ParseErrc::BadContentLength);
  EXPECT_EQ(f.error.status, 400);
  auto huge = msg("");
  huge.replace(huge.find(": 0"), 3, ": 99999999999");
  EXPECT_EQ(frame_stream(huge).kind, Frame::Error);
  const auto big = msg(std::string(100, 'x'));
  f = frame_stream(big, 150);
  EXPECT_EQ(f.kind, Frame::Error);
  EXPECT_EQ(f.error.code, ParseErrc::TooLarge);
  // Endless headers without CRLFCRLF: too large once beyond max_size.
  f = frame_stream(std::string(200, 'a'), 100);
  EXPECT_EQ(f.kind, Frame::Error);
  EXPECT_EQ(frame_stream(std::string(50, 'a'), 100).kind, Frame::NeedMore);
}

TEST(ErrorResponse, BuildsStateless400) {
  const std::string bad =
      "INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h1;branch=z9hG4bK1\r\n"
      "Via: SIP/2.0/UDP h2;branch=z9hG4bK2\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\n"
      "Call-ID: c1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
  const auto res = parse(bad);
  ASSERT_FALSE(res);
  const auto out = error_response(bad, res.error());
  ASSERT_TRUE(out);
  EXPECT_TRUE(out->starts_with("SIP/2.0 400 Bad Request - CSeq method does not match\r\n"));
  const auto r = parse(*out, ParseOptions{.stream = true});
  ASSERT_TRUE(r) << r.error().reason;
  EXPECT_EQ(r->status(), 400);
  EXPECT_EQ(r->count(HeaderId::Via), 2u);
  EXPECT_EQ(r->top_via().branch(), "z9hG4bK1");
  EXPECT_EQ(r->call_id(), "c1");
  EXPECT_FALSE(r->to().tag().empty());
  EXPECT_EQ(r->from().tag(), "1");
  EXPECT_TRUE(r->body().empty());
}

TEST(ErrorResponse, VersionAndExistingTag) {
  const std::string bad =
      "OPTIONS sip:a@b SIP/7.0\r\nVia: SIP/2.0/UDP h1;branch=z9hG4bK1\r\nFrom: <sip:x@y>;tag=1\r\n"
      "To: <sip:a@b>;tag=keep\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\n\r\n";
  const auto res = parse(bad);
  ASSERT_FALSE(res);
  EXPECT_EQ(res.error().status, 505);
  const auto out = error_response(bad, res.error());
  ASSERT_TRUE(out);
  const auto r = parse(*out);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status(), 505);
  EXPECT_EQ(r->to().tag(), "keep");
}

TEST(ErrorResponse, NoResponsePossible) {
  const ParseError err{ParseErrc::BadCSeq, 400, "Bad Request - Invalid CSeq"};
  // A response.
  EXPECT_FALSE(
      error_response("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:a@b>\r\n"
                     "To: <sip:a@b>\r\nCall-ID: c\r\nCSeq: x\r\n\r\n",
                     err));
  // An ACK.
  EXPECT_FALSE(
      error_response("ACK sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:a@b>\r\n"
                     "To: <sip:a@b>\r\nCall-ID: c\r\nCSeq: 1 ACK\r\n\r\n",
                     err));
  // Missing Call-ID (RFC 4475 s.3.3.1 style).
  EXPECT_FALSE(
      error_response("INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n"
                     "CSeq: 1 INVITE\r\n\r\n",
                     err));
  EXPECT_FALSE(error_response("", err));
  EXPECT_FALSE(error_response("garbage", err));
}

}  // namespace
}  // namespace sipws::sip
