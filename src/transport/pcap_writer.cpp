#include "transport/pcap_writer.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <limits>
#include <stdexcept>
#include <system_error>
#include <utility>

namespace sipws::transport {

namespace {

// libpcap's file format (https://wiki.wireshark.org/Development/LibpcapFileFormat), draft-ietf-
// opsawg-pcap: 24-byte global header, then per packet a 16-byte record header and the packet.
constexpr std::uint32_t kPcapMagic = 0xa1b2c3d4;  // microsecond timestamps
constexpr std::uint16_t kPcapVersionMajor = 2;
constexpr std::uint16_t kPcapVersionMinor = 4;
constexpr std::uint32_t kLinktypeRaw = 101;  // the packet begins with an IPv4 or IPv6 header

constexpr std::size_t kIpv4HeaderSize = 20;
constexpr std::size_t kIpv6HeaderSize = 40;
constexpr std::size_t kUdpHeaderSize = 8;
constexpr std::uint8_t kIpProtocolUdp = 17;
constexpr std::uint8_t kTtl = 64;
constexpr std::uint16_t kIpv4DontFragment = 0x4000;

/// Records per pwritev() call (IOV_MAX is 1024 on Linux).
constexpr std::size_t kMaxIov = 64;

void put_u8(std::string& out, unsigned v) { out += static_cast<char>(v & 0xff); }
void put_be16(std::string& out, unsigned v) {
  put_u8(out, v >> 8);
  put_u8(out, v);
}
void put_le16(std::string& out, unsigned v) {
  put_u8(out, v);
  put_u8(out, v >> 8);
}
void put_le32(std::string& out, std::uint32_t v) {
  put_le16(out, v & 0xffff);
  put_le16(out, v >> 16);
}
/// Overwrites the two bytes at out[at] with `v`, most significant first.
void set_be16(std::string& out, std::size_t at, unsigned v) {
  out[at] = static_cast<char>((v >> 8) & 0xff);
  out[at + 1] = static_cast<char>(v & 0xff);
}
template <std::size_t N>
void put_bytes(std::string& out, const std::array<unsigned char, N>& bytes) {
  out.append(reinterpret_cast<const char*>(bytes.data()), N);
}

/// `sum` plus the 16-bit big-endian words of `bytes` (RFC 1071), not folded; an odd last byte
/// counts as its word's high byte, so only the last piece of a checksummed span may be odd.
std::uint64_t ones_complement_add(std::uint64_t sum, std::string_view bytes) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const std::size_t n = bytes.size();
  for (std::size_t i = 0; i + 1 < n; i += 2) sum += (unsigned{p[i]} << 8) | p[i + 1];
  if (n % 2 == 1) sum += unsigned{p[n - 1]} << 8;
  return sum;
}
/// The Internet checksum of an unfolded sum: its 16-bit ones' complement.
std::uint16_t ones_complement_fold(std::uint64_t sum) {
  while ((sum >> 16) != 0) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<std::uint16_t>(~sum & 0xffff);
}

std::uint32_t clamp_u32(std::uint64_t v) {
  return static_cast<std::uint32_t>(
      std::min<std::uint64_t>(v, std::numeric_limits<std::uint32_t>::max()));
}

/// Writes all of iov[0, count) at `offset`, through short writes and EINTR, adding the bytes
/// written to `done`. 0, or the errno. Modifies the iovecs.
int pwrite_all(int fd, iovec* iov, int count, off_t offset, std::uint64_t& done) {
  while (count > 0) {
    const ssize_t n = ::pwritev(fd, iov, count, offset);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) return EIO;  // no progress: give up rather than loop
    offset += n;
    done += static_cast<std::uint64_t>(n);
    auto left = static_cast<std::size_t>(n);
    while (count > 0 && left >= iov->iov_len) {
      left -= iov->iov_len;
      ++iov;
      --count;
    }
    if (count > 0) {
      iov->iov_base = static_cast<char*>(iov->iov_base) + left;
      iov->iov_len -= left;
    }
  }
  return 0;
}

}  // namespace

std::string pcap_file_header() {
  std::string h;
  h.reserve(kPcapFileHeaderSize);
  put_le32(h, kPcapMagic);
  put_le16(h, kPcapVersionMajor);
  put_le16(h, kPcapVersionMinor);
  put_le32(h, 0);               // thiszone: timestamps are UTC
  put_le32(h, 0);               // sigfigs
  put_le32(h, kPcapMaxPacket);  // snaplen
  put_le32(h, kLinktypeRaw);
  return h;
}

std::string pcap_record(std::int64_t time_ms, bool out, const Endpoint& local, const Endpoint& peer,
                        std::string_view text) {
  const IpAddress peer_ip = unmapped(peer.address);
  IpAddress local_ip = unmapped(local.address);
  const bool v4 = peer_ip.is_v4();
  if (local_ip.is_v4() != v4) {
    local_ip =
        v4 ? IpAddress(boost::asio::ip::address_v4()) : IpAddress(boost::asio::ip::address_v6());
  }
  const IpAddress& src_ip = out ? local_ip : peer_ip;
  const IpAddress& dst_ip = out ? peer_ip : local_ip;
  const std::uint16_t src_port = out ? local.port : peer.port;
  const std::uint16_t dst_port = out ? peer.port : local.port;

  const std::size_t ip_header = v4 ? kIpv4HeaderSize : kIpv6HeaderSize;
  const std::size_t payload = std::min(text.size(), kPcapMaxPacket - ip_header - kUdpHeaderSize);
  const std::size_t udp_length = kUdpHeaderSize + payload;
  const std::size_t packet = ip_header + udp_length;

  std::string rec;
  rec.reserve(kPcapRecordHeaderSize + packet);
  const std::int64_t t = std::max<std::int64_t>(time_ms, 0);
  put_le32(rec, static_cast<std::uint32_t>(t / 1000));  // wraps in 2106, as pcap does
  put_le32(rec, static_cast<std::uint32_t>(t % 1000 * 1000));
  put_le32(rec, static_cast<std::uint32_t>(packet));                                  // incl_len
  put_le32(rec, clamp_u32(std::uint64_t{ip_header} + kUdpHeaderSize + text.size()));  // orig_len

  const std::size_t ip_at = rec.size();
  if (v4) {
    put_u8(rec, 0x45);  // version 4, 5 words of header
    put_u8(rec, 0);     // DSCP / ECN
    put_be16(rec, packet);
    put_be16(rec, 0);  // identification: unused with DF
    put_be16(rec, kIpv4DontFragment);
    put_u8(rec, kTtl);
    put_u8(rec, kIpProtocolUdp);
    put_be16(rec, 0);  // header checksum, set below
    put_bytes(rec, src_ip.to_v4().to_bytes());
    put_bytes(rec, dst_ip.to_v4().to_bytes());
    const std::uint16_t sum = ones_complement_fold(
        ones_complement_add(0, std::string_view(rec).substr(ip_at, kIpv4HeaderSize)));
    set_be16(rec, ip_at + 10, sum);
  } else {
    put_u8(rec, 0x60);  // version 6, traffic class and flow label 0
    put_u8(rec, 0);
    put_be16(rec, 0);
    put_be16(rec, udp_length);    // payload length
    put_u8(rec, kIpProtocolUdp);  // next header
    put_u8(rec, kTtl);            // hop limit
    put_bytes(rec, src_ip.to_v6().to_bytes());
    put_bytes(rec, dst_ip.to_v6().to_bytes());
  }
  const std::size_t udp_at = rec.size();
  put_be16(rec, src_port);
  put_be16(rec, dst_port);
  put_be16(rec, udp_length);
  put_be16(rec, 0);  // checksum: none for IPv4 (RFC 768), set below for IPv6
  rec.append(text.substr(0, payload));
  if (!v4) {
    // RFC 8200 s.8.1: over the pseudo-header (source, destination, upper-layer length, next
    // header) and the UDP datagram; a computed 0 is sent as 0xffff.
    const std::string_view bytes(rec);
    std::uint64_t sum = ones_complement_add(0, bytes.substr(ip_at + 8, 32));  // the addresses
    sum += udp_length + kIpProtocolUdp;
    sum = ones_complement_add(sum, bytes.substr(udp_at));
    const std::uint16_t check = ones_complement_fold(sum);
    set_be16(rec, udp_at + 6, check == 0 ? 0xffff : check);
  }
  return rec;
}

PcapWriter::PcapWriter(Options options)
    : options_(std::move(options)), rotated_path_(options_.path + ".1") {
  const char* step = "";
  if (const int err = open_file(step); err != 0) {
    throw std::runtime_error("pcap trace " + options_.path + ": cannot " + step + ": " +
                             std::system_category().message(err));
  }
  try {
    thread_ = std::thread([this] { run(); });
  } catch (...) {
    ::close(fd_);
    throw;
  }
}

PcapWriter::~PcapWriter() { close(); }

void PcapWriter::write(std::int64_t time_ms, bool out, const Endpoint& local, const Endpoint& peer,
                       std::string_view text) {
  std::string rec = pcap_record(time_ms, out, local, peer, text);
  bool notify = false;
  {
    const std::lock_guard lock(mu_);
    if (stop_ || queued_bytes_ + writing_bytes_ + rec.size() > options_.max_queued_bytes) {
      dropped_.inc();
      return;
    }
    const std::size_t half = options_.max_queued_bytes / 2;
    const bool passes_half = queued_bytes_ <= half && queued_bytes_ + rec.size() > half;
    wake_ = wake_ || passes_half;
    notify = queue_.empty() || passes_half;
    queued_bytes_ += rec.size();
    queue_.push_back(std::move(rec));
  }
  if (notify) cv_.notify_one();
}

void PcapWriter::close() {
  const std::lock_guard close_lock(close_mu_);
  {
    const std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void PcapWriter::run() {
  std::vector<std::string> batch;
  std::unique_lock lock(mu_);
  for (;;) {
    // Idle until a record comes, then give it flush_interval to gather company.
    cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
    cv_.wait_for(lock, options_.flush_interval, [this] { return stop_ || wake_; });
    wake_ = false;
    batch.swap(queue_);
    writing_bytes_ = std::exchange(queued_bytes_, 0);
    const bool stop = stop_;  // write() queues nothing after stop_: this batch is the last
    lock.unlock();
    write_batch(batch);
    batch.clear();  // the records are freed here; the capacity goes back to queue_ next swap
    lock.lock();
    writing_bytes_ = 0;
    if (stop) break;
  }
  lock.unlock();
  if (fd_ >= 0 && ::close(fd_) != 0) write_errors_.inc();
  fd_ = -1;
}

int PcapWriter::open_file(const char*& step) {
  const char* path = options_.path.c_str();
  struct stat st {};
  if (::stat(path, &st) == 0 && S_ISREG(st.st_mode) && ::rename(path, rotated_path_.c_str()) != 0) {
    step = "rename it to .1";
    return errno;
  }
  const int fd = ::open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0) {
    step = "create it";
    return errno;
  }
  std::string header = pcap_file_header();
  iovec iov{header.data(), header.size()};
  std::uint64_t done = 0;
  if (const int err = pwrite_all(fd, &iov, 1, 0, done); err != 0) {
    // A file with no header must not be rotated over the older one by a retry; but never
    // unlink what we did not create as a regular file (a device such as /dev/full).
    struct stat created {};
    if (::fstat(fd, &created) == 0 && S_ISREG(created.st_mode)) ::unlink(path);
    ::close(fd);
    step = "write its header";
    return err;
  }
  fd_ = fd;
  file_bytes_ = header.size();
  return 0;
}

void PcapWriter::write_batch(std::vector<std::string>& batch) {
  const std::uint64_t max_bytes = options_.max_bytes;
  std::size_t i = 0;
  while (i < batch.size()) {
    // Rotate when the next record would pass max_bytes, unless the file holds no record yet.
    if (fd_ >= 0 && max_bytes != 0 && file_bytes_ > kPcapFileHeaderSize &&
        file_bytes_ + batch[i].size() > max_bytes) {
      if (::close(fd_) != 0) write_errors_.inc();
      fd_ = -1;
    }
    if (fd_ < 0) {  // rotating, or a create after a rotation failed
      const char* step = "";
      if (open_file(step) != 0) {
        write_errors_.inc();
        dropped_.inc(batch.size() - i);
        return;
      }
    }
    // As many records as fit in the file and in one call: at least one.
    std::array<iovec, kMaxIov> iov{};
    std::size_t n = 0;
    std::uint64_t bytes = 0;  // of the n records
    while (i + n < batch.size() && n < kMaxIov) {
      std::string& rec = batch[i + n];
      if (n != 0 && max_bytes != 0 && file_bytes_ + bytes + rec.size() > max_bytes) break;
      iov[n] = iovec{rec.data(), rec.size()};
      bytes += rec.size();
      ++n;
    }
    std::uint64_t done = 0;
    const int err =
        pwrite_all(fd_, iov.data(), static_cast<int>(n), static_cast<off_t>(file_bytes_), done);
    // The records written wholly count, also before an error.
    std::size_t whole = 0;
    for (; whole < n && done >= batch[i + whole].size(); ++whole) {
      done -= batch[i + whole].size();
      file_bytes_ += batch[i + whole].size();
    }
    written_.inc(whole);
    i += whole;
    if (err != 0) {
      // Cut a partly written record off: the file ends on a whole record. Should that fail
      // too, the next write still goes at file_bytes_, over the partial record.
      write_errors_.inc(::ftruncate(fd_, static_cast<off_t>(file_bytes_)) == 0 ? 1 : 2);
      dropped_.inc(batch.size() - i);
      return;
    }
  }
}

}  // namespace sipws::transport
