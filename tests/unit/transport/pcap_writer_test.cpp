// The SIP trace as pcap (issue 15, "trace_pcap"): real files in a temporary directory, read back
// byte by byte: the global header, each record's header, the IPv4/IPv6 and UDP headers (with
// their checksums recomputed here), truncation, rotation, the queue's bound and the I/O errors.

#include "transport/pcap_writer.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace sipws::transport {
namespace {

namespace fs = std::filesystem;
using std::chrono::hours;
using std::chrono::milliseconds;

/// A fresh directory under /tmp, removed with everything in it at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = "/tmp/sipws-pcap-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::uint32_t le32(std::string_view s, std::size_t at) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data() + at);
  return std::uint32_t{p[0]} | std::uint32_t{p[1]} << 8 | std::uint32_t{p[2]} << 16 |
         std::uint32_t{p[3]} << 24;
}
std::uint16_t le16(std::string_view s, std::size_t at) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data() + at);
  return static_cast<std::uint16_t>(p[0] | p[1] << 8);
}
std::uint16_t be16(std::string_view s, std::size_t at) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data() + at);
  return static_cast<std::uint16_t>(p[0] << 8 | p[1]);
}

/// The Internet checksum (RFC 1071) of `bytes`: 0 over a span that holds its valid checksum.
std::uint16_t internet_checksum(std::string_view bytes) {
  std::uint32_t sum = 0;
  for (std::size_t i = 0; i < bytes.size(); i += 2) {
    sum += static_cast<unsigned char>(bytes[i]) << 8;
    if (i + 1 < bytes.size()) sum += static_cast<unsigned char>(bytes[i + 1]);
  }
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<std::uint16_t>(~sum & 0xffff);
}

struct Record {
  std::uint32_t ts_sec = 0;
  std::uint32_t ts_usec = 0;
  std::uint32_t incl_len = 0;
  std::uint32_t orig_len = 0;
  std::string packet;
};

/// A pcap file read back: its records, and whether it is one valid global header followed by
/// whole records only.
struct PcapFile {
  bool valid_header = false;
  bool whole_records = false;
  std::vector<Record> records;
};

PcapFile read_pcap(const std::string& path) {
  const std::string bytes = read_file(path);
  PcapFile f;
  if (bytes.size() < 24) return f;
  // Little-endian 0xa1b2c3d4 (microseconds), 2.4, zone 0, sigfigs 0, snaplen 65535, RAW (101).
  f.valid_header = le32(bytes, 0) == 0xa1b2c3d4 && le16(bytes, 4) == 2 && le16(bytes, 6) == 4 &&
                   le32(bytes, 8) == 0 && le32(bytes, 12) == 0 && le32(bytes, 16) == 65535 &&
                   le32(bytes, 20) == 101;
  std::size_t at = 24;
  while (at + 16 <= bytes.size()) {
    Record r;
    r.ts_sec = le32(bytes, at);
    r.ts_usec = le32(bytes, at + 4);
    r.incl_len = le32(bytes, at + 8);
    r.orig_len = le32(bytes, at + 12);
    if (at + 16 + r.incl_len > bytes.size()) break;
    r.packet = bytes.substr(at + 16, r.incl_len);
    f.records.push_back(std::move(r));
    at += 16 + f.records.back().incl_len;
  }
  f.whole_records = at == bytes.size();
  return f;
}

/// The IP + UDP headers of one packet, decoded, with the checks a reader would make.
struct Datagram {
  int version = 0;
  IpAddress src;
  IpAddress dst;
  std::uint8_t protocol = 0;
  std::size_t ip_length = 0;  ///< IPv4 total length, or IPv6 payload length + 40
  std::uint16_t src_port = 0;
  std::uint16_t dst_port = 0;
  std::uint16_t udp_length = 0;
  std::uint16_t udp_checksum = 0;
  bool checksum_ok = false;  ///< IPv4: the header checksum; IPv6: the UDP checksum
  std::string payload;
};

Datagram decode(std::string_view p) {
  Datagram d;
  if (p.empty()) return d;
  d.version = static_cast<unsigned char>(p[0]) >> 4;
  std::size_t udp = 0;
  if (d.version == 4 && p.size() >= 28) {
    EXPECT_EQ(static_cast<unsigned char>(p[0]), 0x45);
    udp = 20;
    d.ip_length = be16(p, 2);
    d.protocol = static_cast<std::uint8_t>(p[9]);
    boost::asio::ip::address_v4::bytes_type s{}, t{};
    std::copy_n(p.data() + 12, 4, reinterpret_cast<char*>(s.data()));
    std::copy_n(p.data() + 16, 4, reinterpret_cast<char*>(t.data()));
    d.src = boost::asio::ip::address_v4(s);
    d.dst = boost::asio::ip::address_v4(t);
    d.checksum_ok = internet_checksum(p.substr(0, 20)) == 0;
  } else if (d.version == 6 && p.size() >= 48) {
    udp = 40;
    d.ip_length = be16(p, 4) + 40u;
    d.protocol = static_cast<std::uint8_t>(p[6]);
    boost::asio::ip::address_v6::bytes_type s{}, t{};
    std::copy_n(p.data() + 8, 16, reinterpret_cast<char*>(s.data()));
    std::copy_n(p.data() + 24, 16, reinterpret_cast<char*>(t.data()));
    d.src = boost::asio::ip::address_v6(s);
    d.dst = boost::asio::ip::address_v6(t);
    // Pseudo-header (RFC 8200 s.8.1): addresses, upper-layer length, 3 zero bytes, next header.
    std::string pseudo(p.substr(8, 32));
    const std::size_t len = p.size() - 40;
    pseudo += {static_cast<char>(len >> 24),
               static_cast<char>(len >> 16),
               static_cast<char>(len >> 8),
               static_cast<char>(len),
               0,
               0,
               0,
               17};
    pseudo.append(p.substr(40));
    d.checksum_ok = be16(p, 46) != 0 && internet_checksum(pseudo) == 0;
  } else {
    return d;
  }
  d.src_port = be16(p, udp);
  d.dst_port = be16(p, udp + 2);
  d.udp_length = be16(p, udp + 4);
  d.udp_checksum = be16(p, udp + 6);
  d.payload = std::string(p.substr(udp + 8));
  return d;
}

Endpoint ep(const char* ip, std::uint16_t port) { return Endpoint{*parse_ip(ip), port}; }

std::string sip_message(int cseq, std::size_t body_size = 0) {
  return "MESSAGE sip:bob@example.com SIP/2.0\r\n"
         "Via: SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bK" +
         std::to_string(cseq) +
         "\r\n"
         "Call-ID: pcap-" +
         std::to_string(cseq) + "@test\r\nCSeq: " + std::to_string(cseq) +
         " MESSAGE\r\nContent-Length: " + std::to_string(body_size) + "\r\n\r\n" +
         std::string(body_size, 'x');
}

/// CSeq numbers of the records of `f`, in file order.
std::vector<int> cseqs(const PcapFile& f) {
  std::vector<int> out;
  for (const Record& r : f.records) {
    const std::string payload = decode(r.packet).payload;
    const std::size_t at = payload.find("CSeq: ");
    out.push_back(at == std::string::npos ? -1 : std::stoi(payload.substr(at + 6)));
  }
  return out;
}

PcapWriter::Options options(const std::string& path) {
  PcapWriter::Options o;
  o.path = path;
  o.flush_interval = hours(1);  // only close() flushes: the tests are deterministic
  return o;
}

/// What the constructor throws for `path` (std::runtime_error's message), "" if it does not.
std::string start_error(const std::string& path) {
  try {
    PcapWriter w(options(path));
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

TEST(PcapWriter, WritesIpv4AndIpv6MessagesInBothDirections) {
  TempDir dir;
  const std::string path = dir.file("trace.pcap");
  const Endpoint local4 = ep("192.0.2.10", 5060);
  const Endpoint peer4 = ep("198.51.100.7", 40001);
  const Endpoint local6 = ep("2001:db8::a", 5061);
  const Endpoint peer6 = ep("2001:db8::7:1", 40002);
  PcapWriter w(options(path));
  w.write(1700000000123, false, local4, peer4, sip_message(1));
  w.write(1700000000124, true, local4, peer4, sip_message(2, 3));  // odd length: padded sum
  w.write(1700000001999, false, local6, peer6, sip_message(3));
  w.write(1700000002000, true, local6, peer6, sip_message(4, 5));
  w.close();
  EXPECT_EQ(w.written(), 4u);
  EXPECT_EQ(w.dropped(), 0u);
  EXPECT_EQ(w.write_errors(), 0u);

  const PcapFile f = read_pcap(path);
  EXPECT_TRUE(f.valid_header);
  EXPECT_TRUE(f.whole_records);
  ASSERT_EQ(f.records.size(), 4u);
  struct Want {
    std::uint32_t sec, usec;
    int version;
    Endpoint src, dst;
    std::string text;
  };
  const Want want[] = {
      {1700000000, 123000, 4, peer4, local4, sip_message(1)},
      {1700000000, 124000, 4, local4, peer4, sip_message(2, 3)},
      {1700000001, 999000, 6, peer6, local6, sip_message(3)},
      {1700000002, 0, 6, local6, peer6, sip_message(4, 5)},
  };
  for (std::size_t i = 0; i < 4; ++i) {
    SCOPED_TRACE(i);
    const Record& r = f.records[i];
    const Want& e = want[i];
    const std::size_t ip_header = e.version == 4 ? 20 : 40;
    EXPECT_EQ(r.ts_sec, e.sec);
    EXPECT_EQ(r.ts_usec, e.usec);
    EXPECT_EQ(r.incl_len, ip_header + 8 + e.text.size());
    EXPECT_EQ(r.orig_len, r.incl_len);
    const Datagram d = decode(r.packet);
    EXPECT_EQ(d.version, e.version);
    EXPECT_EQ(d.src, e.src.address);
    EXPECT_EQ(d.dst, e.dst.address);
    EXPECT_EQ(d.src_port, e.src.port);
    EXPECT_EQ(d.dst_port, e.dst.port);
    EXPECT_EQ(d.protocol, 17);
    EXPECT_EQ(d.ip_length, r.incl_len);
    EXPECT_EQ(d.udp_length, 8 + e.text.size());
    EXPECT_TRUE(d.checksum_ok);
    if (e.version == 4) {
      EXPECT_EQ(d.udp_checksum, 0);  // "no checksum" (RFC 768)
    }
    EXPECT_EQ(d.payload, e.text);
  }
}

TEST(PcapWriter, WritesTheUnspecifiedLocalAddressOfThePeersFamily) {
  TempDir dir;
  const std::string path = dir.file("trace.pcap");
  PcapWriter w(options(path));
  // No local address (default-constructed: 0.0.0.0:0) towards an IPv6 peer; an IPv4 local
  // towards an IPv6 peer; a dual-stack socket's IPv4-mapped peer with an IPv4 local.
  w.write(1000, true, Endpoint{}, ep("2001:db8::1", 5080), sip_message(1));
  w.write(2000, false, ep("192.0.2.1", 5062), ep("2001:db8::2", 5090), sip_message(2));
  w.write(3000, false, ep("192.0.2.1", 5063), ep("::ffff:198.51.100.9", 5070), sip_message(3));
  w.close();
  const PcapFile f = read_pcap(path);
  ASSERT_EQ(f.records.size(), 3u);
  const Datagram a = decode(f.records[0].packet);
  EXPECT_EQ(a.version, 6);
  EXPECT_EQ(a.src, *parse_ip("::"));
  EXPECT_EQ(a.src_port, 0);
  EXPECT_EQ(a.dst, *parse_ip("2001:db8::1"));
  EXPECT_TRUE(a.checksum_ok);
  const Datagram b = decode(f.records[1].packet);
  EXPECT_EQ(b.src, *parse_ip("2001:db8::2"));
  EXPECT_EQ(b.dst, *parse_ip("::"));
  EXPECT_EQ(b.dst_port, 5062);
  EXPECT_TRUE(b.checksum_ok);
  const Datagram c = decode(f.records[2].packet);
  EXPECT_EQ(c.version, 4);
  EXPECT_EQ(c.src, *parse_ip("198.51.100.9"));
  EXPECT_EQ(c.dst, *parse_ip("192.0.2.1"));
  EXPECT_TRUE(c.checksum_ok);
}

TEST(PcapWriter, TruncatesAMessageLongerThanAnIpPacket) {
  TempDir dir;
  const std::string path = dir.file("trace.pcap");
  const std::string big = sip_message(1, 70000);
  PcapWriter w(options(path));
  w.write(1000, false, ep("192.0.2.1", 5060), ep("192.0.2.2", 5060), big);
  w.write(2000, true, ep("2001:db8::1", 5060), ep("2001:db8::2", 5060), big);
  w.close();
  const PcapFile f = read_pcap(path);
  EXPECT_TRUE(f.whole_records);
  ASSERT_EQ(f.records.size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    SCOPED_TRACE(i);
    const std::size_t ip_header = i == 0 ? 20 : 40;
    const std::size_t payload = 65535 - ip_header - 8;  // 65507 (IPv4), 65487 (IPv6)
    const Record& r = f.records[i];
    EXPECT_EQ(r.incl_len, 65535u);  // what the file holds
    EXPECT_EQ(r.orig_len, ip_header + 8 + big.size());
    const Datagram d = decode(r.packet);
    EXPECT_EQ(d.ip_length, 65535u);  // the length fields tell the truncated size
    EXPECT_EQ(d.udp_length, 8 + payload);
    EXPECT_TRUE(d.checksum_ok);
    EXPECT_EQ(d.payload, big.substr(0, payload));
  }
}

TEST(PcapWriter, RotatesToDotOneBeforePassingMaxBytes) {
  TempDir dir;
  const std::string path = dir.file("trace.pcap");
  const Endpoint local = ep("192.0.2.1", 5060);
  const Endpoint peer = ep("192.0.2.2", 5070);
  const std::size_t record = 16 + 20 + 8 + sip_message(1).size();  // CSeq 1..9: same size
  PcapWriter::Options o = options(path);
  o.max_bytes = 24 + 3 * record;  // three records a file
  PcapWriter w(o);
  for (int i = 1; i <= 8; ++i) w.write(i * 1000LL, i % 2 == 0, local, peer, sip_message(i));
  w.close();
  EXPECT_EQ(w.written(), 8u);
  EXPECT_EQ(w.write_errors(), 0u);
  // [1 2 3] [4 5 6] [7 8]: the first file was replaced by the second at the second rotation.
  const PcapFile older = read_pcap(path + ".1");
  const PcapFile newer = read_pcap(path);
  EXPECT_TRUE(older.valid_header);
  EXPECT_TRUE(older.whole_records);
  EXPECT_EQ(cseqs(older), (std::vector<int>{4, 5, 6}));
  EXPECT_TRUE(newer.valid_header);
  EXPECT_TRUE(newer.whole_records);
  EXPECT_EQ(cseqs(newer), (std::vector<int>{7, 8}));
  EXPECT_LE(fs::file_size(path + ".1"), o.max_bytes);
  EXPECT_FALSE(fs::exists(path + ".2"));
}

TEST(PcapWriter, WritesARecordLargerThanMaxBytesAloneInItsFile) {
  TempDir dir;
  const std::string path = dir.file("trace.pcap");
  PcapWriter::Options o = options(path);
  o.max_bytes = 100;  // less than any record
  PcapWriter w(o);
  w.write(1000, false, ep("192.0.2.1", 5060), ep("192.0.2.2", 5060), sip_message(1));
  w.write(2000, true, ep("192.0.2.1", 5060), ep("192.0.2.2", 5060), sip_message(2));
  w.close();
  EXPECT_EQ(w.written(), 2u);
  EXPECT_EQ(cseqs(read_pcap(path + ".1")), (std::vector<int>{1}));
  EXPECT_EQ(cseqs(read_pcap(path)), (std::vector<int>{2}));
}

TEST(PcapWriter, MovesAnExistingFileToDotOneAtStartUp) {
  TempDir dir;
  const std::string path = dir.file("trace.pcap");
  std::ofstream(path) << "the previous run's trace";
  std::ofstream(path + ".1") << "the run before";
  PcapWriter w(options(path));
  EXPECT_EQ(read_file(path + ".1"), "the previous run's trace");
  w.close();
  const PcapFile f = read_pcap(path);
  EXPECT_TRUE(f.valid_header);
  EXPECT_TRUE(f.whole_records);
  EXPECT_TRUE(f.records.empty());
  const mode_t mask = ::umask(0);
  ::umask(mask);
  EXPECT_EQ(fs::status(path).permissions() & fs::perms::all, static_cast<fs::perms>(0640 & ~mask));
}

TEST(PcapWriter, DropsWhatTheQueueCannotHold) {
  TempDir dir;
  const std::string path = dir.file("trace.pcap");
  const Endpoint local = ep("192.0.2.1", 5060);
  const Endpoint peer = ep("192.0.2.2", 5060);
  const std::size_t small = 16 + 20 + 8 + sip_message(1).size();
  PcapWriter::Options o = options(path);
  o.max_queued_bytes = small * 2 + 10;  // two small records, not three
  PcapWriter w(o);
  w.write(1000, false, local, peer, sip_message(1));
  // Larger than the room left (and than the whole queue): dropped.
  w.write(2000, false, local, peer, sip_message(2, 2 * small));
  // Fits; past half the queue, so the writer thread wakes up and may write 1 and 3 at once,
  // but what it writes stays counted until it is written: nothing more is queued before close.
  w.write(3000, false, local, peer, sip_message(3));
  w.close();
  EXPECT_EQ(w.written(), 2u);
  EXPECT_EQ(w.dropped(), 1u);
  EXPECT_EQ(cseqs(read_pcap(path)), (std::vector<int>{1, 3}));
}

TEST(PcapWriter, DropsWritesAfterCloseAndClosesTwice) {
  TempDir dir;
  const std::string path = dir.file("trace.pcap");
  PcapWriter w(options(path));
  w.write(1000, false, ep("192.0.2.1", 5060), ep("192.0.2.2", 5060), sip_message(1));
  w.close();
  w.write(2000, false, ep("192.0.2.1", 5060), ep("192.0.2.2", 5060), sip_message(2));
  w.close();
  EXPECT_EQ(w.written(), 1u);
  EXPECT_EQ(w.dropped(), 1u);
  EXPECT_EQ(cseqs(read_pcap(path)), (std::vector<int>{1}));
}  // and the destructor closes a third time

TEST(PcapWriter, ThrowsNamingAPathThatCannotBeCreated) {
  TempDir dir;
  const std::string path = dir.file("no-such-dir/trace.pcap");
  const std::string what = start_error(path);
  ASSERT_FALSE(what.empty()) << "no exception";
  EXPECT_NE(what.find(path), std::string::npos) << what;
  EXPECT_NE(what.find("No such file or directory"), std::string::npos) << what;
}

TEST(PcapWriter, ThrowsWhenTheOldFileCannotBeMovedAside) {
  TempDir dir;
  const std::string path = dir.file("trace.pcap");
  std::ofstream(path) << "the previous run's trace";
  fs::create_directories(path + ".1/busy");  // rename() cannot replace a non-empty directory
  const std::string what = start_error(path);
  ASSERT_FALSE(what.empty()) << "no exception";
  EXPECT_NE(what.find(path), std::string::npos) << what;
  EXPECT_NE(what.find("rename"), std::string::npos) << what;
  EXPECT_EQ(read_file(path), "the previous run's trace");  // untouched
}

TEST(PcapWriter, ThrowsWhenTheHeaderCannotBeWrittenAndLeavesADeviceAlone) {
  if (!fs::is_character_file("/dev/full")) GTEST_SKIP() << "no /dev/full";
  const std::string what = start_error("/dev/full");  // opens; every write fails with ENOSPC
  ASSERT_FALSE(what.empty()) << "no exception";
  EXPECT_NE(what.find("/dev/full: cannot write its header: No space left on device"),
            std::string::npos)
      << what;
  EXPECT_TRUE(fs::is_character_file("/dev/full"));  // neither unlinked nor moved to .1
  EXPECT_FALSE(fs::exists("/dev/full.1"));
}

TEST(PcapWriter, CountsAFileThatCannotBeCreatedAtRotation) {
  TempDir dir;
  const std::string sub = dir.file("sub");
  fs::create_directory(sub);
  const std::string path = sub + "/trace.pcap";
  PcapWriter::Options o = options(path);
  o.max_bytes = 100;  // one record a file
  PcapWriter w(o);
  fs::remove_all(sub);  // the open file lives on, unlinked; the next one cannot be created
  w.write(1000, false, ep("192.0.2.1", 5060), ep("192.0.2.2", 5060), sip_message(1));
  w.write(2000, false, ep("192.0.2.1", 5060), ep("192.0.2.2", 5060), sip_message(2));
  w.write(3000, false, ep("192.0.2.1", 5060), ep("192.0.2.2", 5060), sip_message(3));
  w.close();
  EXPECT_EQ(w.written(), 1u);
  EXPECT_EQ(w.write_errors(), 1u);  // once per batch: the rest of it is dropped
  EXPECT_EQ(w.dropped(), 2u);
}

/// Lowers the file size limit (RLIMIT_FSIZE) and ignores SIGXFSZ, so that writes past it are
/// short, then fail with EFBIG; restores both at the end.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    ::getrlimit(RLIMIT_FSIZE, &old_);
    old_handler_ = ::signal(SIGXFSZ, SIG_IGN);
    rlimit lower = old_;
    lower.rlim_cur = bytes;
    ::setrlimit(RLIMIT_FSIZE, &lower);
  }
  ~FileSizeLimit() {
    ::setrlimit(RLIMIT_FSIZE, &old_);
    ::signal(SIGXFSZ, old_handler_);
  }
  FileSizeLimit(const FileSizeLimit&) = delete;
  FileSizeLimit& operator=(const FileSizeLimit&) = delete;

 private:
  rlimit old_{};
  sighandler_t old_handler_ = SIG_DFL;
};

TEST(PcapWriter, CutsARecordThatCouldNotBeWrittenWholly) {
  TempDir dir;
  const std::string path = dir.file("trace.pcap");
  const std::size_t record = 16 + 20 + 8 + sip_message(1).size();
  {
    const FileSizeLimit limit(24 + record + record / 2);  // a short write in the 2nd record
    PcapWriter w(options(path));
    for (int i = 1; i <= 3; ++i) {
      w.write(i * 1000LL, false, ep("192.0.2.1", 5060), ep("192.0.2.2", 5060), sip_message(i));
    }
    w.close();
    EXPECT_EQ(w.written(), 1u);
    EXPECT_EQ(w.write_errors(), 1u);
    EXPECT_EQ(w.dropped(), 2u);
  }
  const PcapFile f = read_pcap(path);
  EXPECT_TRUE(f.whole_records) << fs::file_size(path);
  EXPECT_EQ(cseqs(f), (std::vector<int>{1}));
}

TEST(PcapWriter, KeepsEveryRecordWholeWhenManyThreadsWrite) {
  TempDir dir;
  const std::string path = dir.file("trace.pcap");
  PcapWriter::Options o = options(path);
  o.flush_interval = milliseconds(1);  // the writer thread writes while the others queue
  PcapWriter w(o);
  constexpr int kThreads = 4;
  constexpr int kEach = 300;
  constexpr std::size_t kAll = std::size_t{kThreads} * kEach;
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&w, t] {
      for (int i = 0; i < kEach; ++i) {
        const int cseq = t * kEach + i;
        w.write(cseq, cseq % 2 == 0, ep("2001:db8::1", 5060), ep("2001:db8::2", 5060),
                sip_message(cseq, static_cast<std::size_t>(cseq % 7)));
      }
    });
  }
  for (auto& th : threads) th.join();
  w.close();
  EXPECT_EQ(w.written(), kAll);
  const PcapFile f = read_pcap(path);
  EXPECT_TRUE(f.whole_records);
  ASSERT_EQ(f.records.size(), kAll);
  std::vector<int> got = cseqs(f);
  std::sort(got.begin(), got.end());
  for (std::size_t i = 0; i < kAll; ++i) ASSERT_EQ(got[i], static_cast<int>(i));
  for (const Record& r : f.records) ASSERT_TRUE(decode(r.packet).checksum_ok);
}

}  // namespace
}  // namespace sipws::transport
