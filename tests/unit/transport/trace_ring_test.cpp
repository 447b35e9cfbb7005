// The SIP trace ring (issue 15): Call-ID lookup in raw message text (long and compact form),
// the masking of digest responses and of other credentials, the ring's bound, and its copy to a
// pcap file (trace_pcap) written masked even with no ring.

#include "transport/trace_ring.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>

namespace sipws::transport {
namespace {

const std::string kInvite =
    "INVITE sip:bob@example.com SIP/2.0\r\n"
    "Via: SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bKa\r\n"
    "From: <sip:alice@example.com>;tag=1\r\n"
    "To: <sip:bob@example.com>\r\n"
    "Call-ID: abc@x\r\n"
    "CSeq: 2 INVITE\r\n"
    "Proxy-Authorization: Digest username=\"alice\", realm=\"example.com\", nonce=\"n1, n2\", "
    "uri=\"sip:bob@example.com\", response=\"0123456789abcdef0123456789abcdef\", qop=auth, "
    "nc=00000001, cnonce=\"c\"\r\n"
    "Content-Length: 0\r\n\r\n";

TEST(TraceRing, FindsTheCallIdInLongAndCompactForm) {
  EXPECT_EQ(find_call_id(kInvite), "abc@x");
  EXPECT_EQ(find_call_id("BYE sip:a@b SIP/2.0\r\ni:  short@y \r\nCSeq: 1 BYE\r\n\r\n"), "short@y");
  // Only the header section counts, and a keep-alive is no message.
  EXPECT_EQ(find_call_id("OPTIONS sip:a SIP/2.0\r\nCSeq: 1 OPTIONS\r\n\r\nCall-ID: body\r\n"), "");
  EXPECT_EQ(find_call_id("\r\n\r\n"), "");
}

TEST(TraceRing, MasksTheDigestResponseAndOtherSchemesWholly) {
  const std::string m = mask_credentials(kInvite);
  EXPECT_EQ(m.find("0123456789abcdef"), std::string::npos) << m;
  EXPECT_NE(m.find("response=\"***\""), std::string::npos) << m;
  // The rest of the header stays readable, quoted commas included; other headers untouched.
  EXPECT_NE(m.find("username=\"alice\""), std::string::npos) << m;
  EXPECT_NE(m.find("nonce=\"n1, n2\""), std::string::npos) << m;
  EXPECT_NE(m.find("cnonce=\"c\"\r\nContent-Length: 0\r\n\r\n"), std::string::npos) << m;
  EXPECT_EQ(mask_credentials("REGISTER sip:x SIP/2.0\r\nAuthorization: Bearer s3cr3t\r\n\r\n"),
            "REGISTER sip:x SIP/2.0\r\nAuthorization: Bearer ***\r\n\r\n");
  EXPECT_EQ(mask_credentials("BYE sip:x SIP/2.0\r\nCall-ID: 1\r\n\r\n"),
            "BYE sip:x SIP/2.0\r\nCall-ID: 1\r\n\r\n");
}

TEST(TraceRing, KeepsTheNewestMessagesInOrder) {
  TraceRing ring(3);
  const Endpoint peer{*parse_ip("127.0.0.1"), 5060};
  for (int i = 0; i < 5; ++i) {
    ring.record(
        i % 2 == 1, Protocol::Udp, {}, peer,
        "MESSAGE sip:a SIP/2.0\r\nCall-ID: c\r\nCSeq: " + std::to_string(i) + " MESSAGE\r\n\r\n");
  }
  ring.record(false, Protocol::Udp, {}, peer, "\r\n\r\n");  // no Call-ID: not kept
  const auto got = ring.find("c");
  ASSERT_EQ(got.size(), 3u);
  EXPECT_NE(got[0].text.find("CSeq: 2 "), std::string::npos);
  EXPECT_NE(got[2].text.find("CSeq: 4 "), std::string::npos);
  EXPECT_TRUE(got[1].out);
  EXPECT_TRUE(ring.find("other").empty());
  TraceRing off(0);
  off.record(false, Protocol::Udp, {}, peer, kInvite);
  EXPECT_TRUE(off.find("abc@x").empty());
}

TEST(TraceRing, CopiesEachMessageMaskedToItsPcapFileEvenWithoutARing) {
  char dir[] = "/tmp/sipws-trace-ring-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  const std::string path = std::string(dir) + "/t.pcap";
  {
    PcapWriter pcap({.path = path});
    TraceRing off(0, &pcap);
    EXPECT_TRUE(off.active());
    EXPECT_FALSE(TraceRing(0).active());
    const Endpoint local{*parse_ip("127.0.0.1"), 5060};
    const Endpoint peer{*parse_ip("127.0.0.1"), 40000};
    off.record(false, Protocol::Wss, local, peer, kInvite);
    off.record(false, Protocol::Udp, local, peer, "\r\n\r\n");  // a keep-alive: not written
    EXPECT_TRUE(off.find("abc@x").empty());
    pcap.close();
    EXPECT_EQ(pcap.written(), 1u);
  }
  std::ifstream in(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string masked = mask_credentials(kInvite);
  ASSERT_EQ(bytes.size(), kPcapFileHeaderSize + kPcapRecordHeaderSize + 20 + 8 + masked.size());
  EXPECT_EQ(bytes.substr(bytes.size() - masked.size()), masked);
  EXPECT_EQ(bytes.find("0123456789abcdef"), std::string::npos);
  std::remove(path.c_str());
  ::rmdir(dir);
}

}  // namespace
}  // namespace sipws::transport
