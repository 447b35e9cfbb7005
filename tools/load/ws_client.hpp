#pragma once
// RFC 6455 pieces for sipws-load, I/O-free: the client's opening handshake (s.4.1) with
// `Sec-WebSocket-Protocol: sip` (RFC 7118 s.4), its 101 check, the server side of the handshake
// for the `respond` mode, and frame encoding/decoding (s.5.2). Thread: any.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace sipws::load::ws {

/// base64(SHA-1(key + GUID)) (RFC 6455 s.4.2.2).
std::string accept_for_key(std::string_view key_b64);

/// A random 16-byte Sec-WebSocket-Key, base64.
std::string make_key();

/// The GET upgrade request for ws(s)://`host_port``path`, subprotocol "sip", version 13.
std::string client_upgrade(std::string_view host_port, std::string_view path,
                           std::string_view key_b64);

enum class Parse { NeedMore, Ok, Bad };

/// Checks the server's answer at the start of `buf`: 101, Upgrade: websocket, Connection:
/// upgrade, Sec-WebSocket-Accept for our key, Sec-WebSocket-Protocol: sip. On Ok, `consumed`
/// is the length of the header block; on Bad, `error` says what was wrong.
Parse check_upgrade_response(std::string_view buf, std::string_view key_b64, std::size_t& consumed,
                             std::string& error);

/// Server side (respond mode): parses the GET at the start of `buf`; on Ok appends the 101
/// (selecting "sip" when offered) to `reply` and sets `consumed`. Bad: no Sec-WebSocket-Key
/// (reply holds a 400).
Parse accept_upgrade(std::string_view buf, std::size_t& consumed, std::string& reply);

enum Opcode : std::uint8_t {
  kContinuation = 0,
  kText = 1,
  kBinary = 2,
  kClose = 8,
  kPing = 9,
  kPong = 10
};

/// Appends one FIN frame. `mask`: client to server frames are masked (s.5.3) with `mask_key`.
void append_frame(std::string& out, std::uint8_t opcode, std::string_view payload, bool mask,
                  std::uint32_t mask_key);

/// One decoded frame; `payload` points into the decoded buffer (unmasked in place).
struct Frame {
  std::uint8_t opcode = 0;
  bool fin = false;
  std::string_view payload;
  std::size_t consumed = 0;  ///< header + payload bytes
};

/// Decodes the frame at the start of `buf` (unmasking a masked payload in place). Bad: a
/// reserved bit, an unknown opcode, a control frame over 125 bytes or fragmented, a payload over
/// `max_payload`.
Parse decode_frame(char* buf, std::size_t len, std::size_t max_payload, Frame& f);

}  // namespace sipws::load::ws
