#include "ws_client.hpp"

#include "sip/text.hpp"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <cstring>

namespace sipws::load::ws {
namespace {

constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

std::string base64(const unsigned char* data, int len) {
  std::string out(static_cast<std::size_t>(4 * ((len + 2) / 3)), '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, len);
  out.resize(static_cast<std::size_t>(n));
  return out;
}

using sip::text::iequal;

bool icontains(std::string_view hay, std::string_view needle) {
  if (needle.size() > hay.size()) return false;
  for (std::size_t i = 0; i + needle.size() <= hay.size(); ++i) {
    if (iequal(hay.substr(i, needle.size()), needle)) return true;
  }
  return false;
}

using sip::text::trim;

/// Calls fn(name, value) for each header line of an HTTP head (first line skipped).
template <typename Fn>
void for_each_header(std::string_view head, Fn fn) {
  std::size_t pos = head.find("\r\n");
  while (pos != std::string_view::npos && pos + 2 < head.size()) {
    std::size_t e = head.find("\r\n", pos + 2);
    if (e == std::string_view::npos) e = head.size();
    std::string_view line = head.substr(pos + 2, e - pos - 2);
    std::size_t colon = line.find(':');
    if (colon != std::string_view::npos) {
      fn(trim(line.substr(0, colon)), trim(line.substr(colon + 1)));
    }
    pos = e;
  }
}

}  // namespace

std::string accept_for_key(std::string_view key_b64) {
  std::string k(key_b64);
  k.append(kGuid);
  unsigned char md[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(k.data()), k.size(), md);
  return base64(md, SHA_DIGEST_LENGTH);
}

std::string make_key() {
  unsigned char raw[16];
  RAND_bytes(raw, sizeof raw);
  return base64(raw, sizeof raw);
}

std::string client_upgrade(std::string_view host_port, std::string_view path,
                           std::string_view key_b64) {
  std::string r;
  r.append("GET ").append(path.empty() ? "/" : path).append(" HTTP/1.1\r\nHost: ");
  r.append(host_port).append(
      "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ");
  r.append(key_b64).append(
      "\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: sip\r\n"
      "User-Agent: sipws-load\r\n\r\n");
  return r;
}

Parse check_upgrade_response(std::string_view buf, std::string_view key_b64, std::size_t& consumed,
                             std::string& error) {
  std::size_t end = buf.find("\r\n\r\n");
  if (end == std::string_view::npos) {
    if (buf.size() > 16384) {
      error = "handshake response over 16 KiB";
      return Parse::Bad;
    }
    return Parse::NeedMore;
  }
  std::string_view head = buf.substr(0, end + 2);
  std::string_view first = head.substr(0, head.find("\r\n"));
  if (!first.starts_with("HTTP/1.1 101")) {
    error = "upgrade refused: " + std::string(first);
    return Parse::Bad;
  }
  bool upgrade = false, connection = false, proto = false, accept = false;
  std::string expected = accept_for_key(key_b64);
  for_each_header(head, [&](std::string_view n, std::string_view v) {
    if (iequal(n, "upgrade")) upgrade = iequal(v, "websocket");
    if (iequal(n, "connection")) connection = icontains(v, "upgrade");
    if (iequal(n, "sec-websocket-protocol")) proto = iequal(v, "sip");
    if (iequal(n, "sec-websocket-accept")) accept = v == expected;
  });
  if (!upgrade || !connection)
    error = "101 without Upgrade: websocket / Connection: upgrade";
  else if (!accept)
    error = "Sec-WebSocket-Accept does not match the key";
  else if (!proto)
    error = "101 did not select Sec-WebSocket-Protocol: sip";
  if (!error.empty()) return Parse::Bad;
  consumed = end + 4;
  return Parse::Ok;
}

Parse accept_upgrade(std::string_view buf, std::size_t& consumed, std::string& reply) {
  std::size_t end = buf.find("\r\n\r\n");
  if (end == std::string_view::npos) {
    if (buf.size() > 16384) {
      reply = "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\n\r\n";
      return Parse::Bad;
    }
    return Parse::NeedMore;
  }
  std::string_view head = buf.substr(0, end + 2);
  std::string_view key;
  bool sip = false;
  for_each_header(head, [&](std::string_view n, std::string_view v) {
    if (iequal(n, "sec-websocket-key")) key = v;
    if (iequal(n, "sec-websocket-protocol")) sip = icontains(v, "sip");
  });
  if (key.empty()) {
    reply = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
    return Parse::Bad;
  }
  reply.append(
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: ");
  reply.append(accept_for_key(key)).append("\r\n");
  if (sip) reply.append("Sec-WebSocket-Protocol: sip\r\n");
  reply.append("\r\n");
  consumed = end + 4;
  return Parse::Ok;
}

void append_frame(std::string& out, std::uint8_t opcode, std::string_view payload, bool mask,
                  std::uint32_t mask_key) {
  char hdr[14];
  std::size_t h = 0;
  hdr[h++] = static_cast<char>(0x80 | opcode);
  std::uint8_t m = mask ? 0x80 : 0;
  std::size_t n = payload.size();
  if (n < 126) {
    hdr[h++] = static_cast<char>(m | n);
  } else if (n <= 0xffff) {
    hdr[h++] = static_cast<char>(m | 126);
    hdr[h++] = static_cast<char>(n >> 8);
    hdr[h++] = static_cast<char>(n & 0xff);
  } else {
    hdr[h++] = static_cast<char>(m | 127);
    for (int i = 7; i >= 0; --i) hdr[h++] = static_cast<char>((n >> (8 * i)) & 0xff);
  }
  unsigned char key[4] = {
      static_cast<unsigned char>(mask_key >> 24), static_cast<unsigned char>(mask_key >> 16),
      static_cast<unsigned char>(mask_key >> 8), static_cast<unsigned char>(mask_key)};
  if (mask) {
    std::memcpy(hdr + h, key, 4);
    h += 4;
  }
  out.append(hdr, h);
  if (!mask) {
    out.append(payload);
    return;
  }
  std::size_t start = out.size();
  out.append(payload);
  char* p = out.data() + start;
  for (std::size_t i = 0; i < n; ++i) p[i] = static_cast<char>(p[i] ^ key[i & 3]);
}

Parse decode_frame(char* buf, std::size_t len, std::size_t max_payload, Frame& f) {
  if (len < 2) return Parse::NeedMore;
  auto* u = reinterpret_cast<unsigned char*>(buf);
  if (u[0] & 0x70) return Parse::Bad;  // RSV bits: no extension negotiated
  f.fin = (u[0] & 0x80) != 0;
  f.opcode = u[0] & 0x0f;
  bool masked = (u[1] & 0x80) != 0;
  std::uint64_t n = u[1] & 0x7f;
  std::size_t h = 2;
  if (n == 126) {
    if (len < 4) return Parse::NeedMore;
    n = (std::uint64_t{u[2]} << 8) | u[3];
    h = 4;
  } else if (n == 127) {
    if (len < 10) return Parse::NeedMore;
    n = 0;
    for (int i = 0; i < 8; ++i) n = (n << 8) | u[2 + i];
    h = 10;
  }
  bool control = (f.opcode & 0x08) != 0;
  if (f.opcode > kBinary && !control) return Parse::Bad;
  if (f.opcode > kPong) return Parse::Bad;
  if (control && (n > 125 || !f.fin)) return Parse::Bad;
  if (n > max_payload) return Parse::Bad;
  std::size_t key_at = h;
  if (masked) h += 4;
  if (len < h + n) return Parse::NeedMore;
  if (masked) {
    unsigned char key[4] = {u[key_at], u[key_at + 1], u[key_at + 2], u[key_at + 3]};
    for (std::size_t i = 0; i < n; ++i) u[h + i] ^= key[i & 3];
  }
  f.payload = std::string_view(buf + h, static_cast<std::size_t>(n));
  f.consumed = h + static_cast<std::size_t>(n);
  return Parse::Ok;
}

}  // namespace sipws::load::ws
