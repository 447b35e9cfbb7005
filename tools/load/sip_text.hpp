#pragma once
// sipws-load's SIP text helpers: a small scanner for the headers a load generator needs, stream
// framing (RFC 3261 s.18.3), digest credentials (RFC 7616 / RFC 8760: MD5, SHA-256, qop=auth)
// and a UAS response builder. I/O-free; no allocation on the scan path. Thread: any (no shared
// state).

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sipws::load {

/// What the scanner keeps of one SIP message: views into the scanned buffer, valid as long as it.
struct SipScan {
  static constexpr std::size_t kMaxRepeat = 8;  ///< Via / Record-Route / challenge lines kept

  bool is_response = false;
  int status = 0;                ///< responses
  std::string_view reason;       ///< responses
  std::string_view method;       ///< requests
  std::string_view request_uri;  ///< requests
  std::string_view call_id, from, to, contact;
  std::uint32_t cseq = 0;
  std::string_view cseq_method;
  std::array<std::string_view, kMaxRepeat> via{};
  std::size_t via_count = 0;
  std::array<std::string_view, kMaxRepeat> record_route{};  ///< header values, maybe comma lists
  std::size_t record_route_count = 0;
  std::array<std::string_view, kMaxRepeat> challenge{};  ///< WWW-/Proxy-Authenticate values
  std::size_t challenge_count = 0;
  std::size_t content_length = 0;
  std::string_view body;
};

/// Scans a complete message (start line, headers, body after the blank line). Content-Length,
/// when present, bounds the body; when absent the rest is the body (datagram/WS rules).
/// @returns false on a malformed start line, a missing Call-ID/CSeq/Via, or a bad number.
bool scan_sip(std::string_view msg, SipScan& out);

/// Stream framing: the length of the first complete message in `buf` (headers + Content-Length
/// body; leading CRLF keep-alives count as a message of their own length), 0 if more bytes are
/// needed, std::string_view::npos if the header block is malformed (no Content-Length on a
/// stream, or a header block over 64 KiB).
std::size_t stream_message_length(std::string_view buf);

/// The tag parameter of a From/To value, "" if none.
std::string_view tag_of(std::string_view name_addr);
/// The URI of a name-addr or addr-spec (inside <> if present, else up to the first ';').
std::string_view uri_of(std::string_view name_addr);

/// Digest algorithms of RFC 8760 that sipws-load answers.
enum class DigestAlg { Md5, Sha256 };

/// One Digest challenge (RFC 7616 s.3.3).
struct Challenge {
  DigestAlg alg = DigestAlg::Md5;
  std::string realm, nonce, opaque;
  bool qop_auth = false;  ///< the challenge offers qop "auth"
  bool stale = false;
};

/// Parses a WWW-Authenticate / Proxy-Authenticate value. nullopt for another scheme, an
/// unsupported algorithm (MD5-sess...), or no nonce.
std::optional<Challenge> parse_challenge(std::string_view value);

/// Lower-case hex H(data); writes 32 (MD5) or 64 (SHA-256) characters to `out`, returns them.
std::string_view hash_hex(DigestAlg alg, std::string_view data, char (&out)[65]);

/// A user's digest state on one connection: the last challenge and its nonce count. The nonce
/// is reused (nc counting) until the server says stale or challenges again.
class DigestClient {
 public:
  DigestClient(std::string user, std::string password, std::string cnonce);
  /// Adopts a new challenge (nc restarts at 1). `proxy`: it came in a 407.
  void on_challenge(const Challenge& c, bool proxy);
  bool has_challenge() const { return have_; }
  /// Appends "Authorization: Digest ...\r\n" (or Proxy-Authorization) for `method` `uri` with
  /// the next nc. Allocation-free once the scratch strings reached their size.
  void append_credentials(std::string& out, std::string_view method, std::string_view uri);

 private:
  std::string user_, password_, cnonce_;
  Challenge ch_;
  bool have_ = false;
  bool proxy_ = false;
  std::uint32_t nc_ = 0;
  char ha1_[65] = {};
  std::string scratch_;
};

/// Appends a response `code reason` to request `req` (RFC 3261 s.8.2.6): every Via, From, To
/// (with `;tag=to_tag` added when the request's To has none), Call-ID, CSeq, the Record-Route
/// lines when `copy_record_route` (s.12.1.1), then `extra` (complete header lines), then an
/// application/sdp `sdp` body if not empty, else Content-Length: 0.
void append_response(std::string& out, const SipScan& req, int code, std::string_view reason,
                     std::string_view to_tag, bool copy_record_route, std::string_view extra,
                     std::string_view sdp);

/// Appends lower-case hex of `v` (no leading zeros; "0" for 0).
void append_hex(std::string& out, std::uint64_t v);
/// Appends decimal `v`.
void append_dec(std::string& out, std::uint64_t v);
/// FNV-1a 64 of `s` (tags derived from a Call-ID, so 180 and 200 agree without state).
std::uint64_t fnv1a(std::string_view s);

}  // namespace sipws::load
