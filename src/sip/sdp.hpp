#pragma once
// The SDP model (RFC 8866) with parse and serialize, plus the lookups offer/answer needs
// (rtpmap/fmtp per payload type, RFC 8866 s.6.6/s.6.15; direction, s.6.7 and RFC 3264 s.5.1).
// I/O-free; parse never throws on input and every rejection names its defect and line.
//
// Faithfulness: a=, b=, c= lines keep their order within a section and attribute values are
// kept byte for byte (e.g. "a=msid-semantic: WMS" keeps its space). Lines sipws does not model
// (i= u= e= p= r= z= k= and unknown letters) are kept verbatim. serialize() writes the RFC 8866
// s.5 order (v o s i u e p c b t r z k a, then per media m i c b k a) with CRLF, so input that
// follows that order round-trips byte for byte once its line ends are CRLF.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "common/expected.hpp"

namespace sipws::sdp {

/// Why a session description was rejected.
enum class SdpErrc {
  Empty = 1,      ///< no lines at all
  TooLarge,       ///< more bytes or lines than ParseOptions allows
  TooManyMedia,   ///< more m= sections than ParseOptions::max_media
  BadLine,        ///< not `<letter>=<value>`, empty line, control character
  MissingLine,    ///< v=, o= or s= absent or not in that order at the top
  DuplicateLine,  ///< a second v=, o=, s= or session-level c=
  MisplacedLine,  ///< a session-only line (t= r= z= ...) inside a media section
  BadVersion,     ///< v= other than 0
  BadOrigin,
  BadConnection,
  BadBandwidth,
  BadTiming,
  BadMedia,
  BadAttribute,
};
const std::error_category& sdp_category();
std::error_code make_error_code(SdpErrc e);

/// A rejection. `message` names the line and the defect, e.g.
/// "line 4: m= needs <media> <port> <proto> <fmt>"; `line` is 1-based (0: not tied to a line).
struct SdpError {
  SdpErrc code = SdpErrc::BadLine;
  std::size_t line = 0;
  std::string message;
};

/// Limits against absurd input. Defaults are far above what browsers and phones send
/// (a Chrome audio+video offer is about 6 KB, 150 lines).
struct ParseOptions {
  std::size_t max_size = 65536;   ///< bytes
  std::size_t max_lines = 4096;   ///< lines, all sections together
  std::size_t max_media = 64;     ///< m= sections
  std::size_t max_formats = 128;  ///< fmt entries on one m= line (RTP has 128 payload types)
};

/// A line sipws keeps but does not model: `type` is its letter, `value` the text after '='.
struct Line {
  char type = 0;
  std::string value;
};

/// `a=<name>` (a flag, has_value false) or `a=<name>:<value>` (RFC 8866 s.5.13). The value is
/// kept exactly as written, leading spaces included.
struct Attribute {
  std::string name;
  std::string value;
  bool has_value = false;
};

/// o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address> (RFC 8866
/// s.5.2). sess-id and sess-version are kept as the decimal text (they may exceed 64 bits).
struct Origin {
  std::string username = "-";
  std::string sess_id = "0";
  std::string sess_version = "0";
  std::string nettype = "IN";
  std::string addrtype = "IP4";
  std::string address;
};

/// c=<nettype> <addrtype> <connection-address> (RFC 8866 s.5.7). A multicast address keeps
/// its "/ttl/count" suffix in `address`.
struct Connection {
  std::string nettype = "IN";
  std::string addrtype = "IP4";
  std::string address;
};

/// b=<bwtype>:<bandwidth> (RFC 8866 s.5.8); `value` in kilobits/s for AS and CT, bits/s for
/// TIAS (RFC 3890).
struct Bandwidth {
  std::string type;
  std::uint64_t value = 0;
};

/// t=<start-time> <stop-time> (RFC 8866 s.5.9, NTP seconds; 0 0 = unbounded) and the r= lines
/// that follow it (s.5.10, kept verbatim).
struct Timing {
  std::uint64_t start = 0;
  std::uint64_t stop = 0;
  std::vector<std::string> repeats;
};

/// Finds the first attribute called `name` (RFC 8866 s.5.13 att-field; compared ASCII
/// case-insensitively). nullptr if absent.
const Attribute* find_attribute(const std::vector<Attribute>& attrs, std::string_view name);
/// Every attribute called `name`, in order.
std::vector<const Attribute*> find_attributes(const std::vector<Attribute>& attrs,
                                              std::string_view name);

/// One media description: m=<media> <port>[/<number of ports>] <proto> <fmt> ... and its
/// c=, b=, a= lines (RFC 8866 s.5.14).
struct Media {
  std::string media;  ///< "audio", "video", "application", ...
  std::uint16_t port = 0;
  std::optional<std::uint32_t> port_count;  ///< the "/<number of ports>" suffix, if written
  std::string proto;                        ///< "RTP/AVP", "UDP/TLS/RTP/SAVPF", ...
  std::vector<std::string> formats;         ///< RTP payload type numbers for RTP protos
  std::vector<Connection> connections;      ///< media-level c= (several only for multicast)
  std::vector<Bandwidth> bandwidths;
  std::vector<Attribute> attributes;
  std::vector<Line> other_lines;  ///< i=, k= and unknown letters

  /// The first media-level attribute `name` (no session-level fallback), or nullptr.
  const Attribute* attribute(std::string_view name) const {
    return find_attribute(attributes, name);
  }
  /// Every media-level attribute `name`, in order.
  std::vector<const Attribute*> attributes_named(std::string_view name) const {
    return find_attributes(attributes, name);
  }
  bool has_attribute(std::string_view name) const { return attribute(name) != nullptr; }
  /// Appends `a=name:value`.
  void add_attribute(std::string name, std::string value) {
    attributes.push_back({std::move(name), std::move(value), true});
  }
  /// Appends the flag `a=name`.
  void add_flag(std::string name) { attributes.push_back({std::move(name), {}, false}); }
  /// Removes every attribute called `name`; returns how many.
  std::size_t remove_attributes(std::string_view name);
};

/// A session description (RFC 8866 s.5).
struct Session {
  int version = 0;  ///< v=, always 0
  Origin origin;
  std::string name = "-";                ///< s= (RFC 8866 s.5.3: "-" when there is none)
  std::optional<Connection> connection;  ///< session-level c=
  std::vector<Bandwidth> bandwidths;     ///< session-level b=
  std::vector<Timing> timings;           ///< t= (+ r=); RFC 8866 wants at least one
  std::vector<Attribute> attributes;     ///< session-level a=
  std::vector<Line> other_lines;         ///< i= u= e= p= z= k= and unknown letters
  std::vector<Media> media;

  // Session-level attribute lookups and edits; same contracts as Media's.
  const Attribute* attribute(std::string_view name) const {
    return find_attribute(attributes, name);
  }
  std::vector<const Attribute*> attributes_named(std::string_view name) const {
    return find_attributes(attributes, name);
  }
  bool has_attribute(std::string_view name) const { return attribute(name) != nullptr; }
  void add_attribute(std::string name, std::string value) {
    attributes.push_back({std::move(name), std::move(value), true});
  }
  void add_flag(std::string name) { attributes.push_back({std::move(name), {}, false}); }
  std::size_t remove_attributes(std::string_view name);
};

/// Parses a session description (RFC 8866 s.5, s.9 grammar). Accepts CRLF or LF-only line
/// ends and trailing empty lines; v=0, o=, s= must come first in that order; t= may be absent
/// (tolerated, RFC 8866 s.5.9 requires it), and so may the fmt list of a port-0 m= line (seen from
/// phones rejecting a stream; s.5.14 requires one). Unknown type letters are kept (Session/Media
/// other_lines), not rejected.
Expected<Session, SdpError> parse(std::string_view text, const ParseOptions& opts = {});

/// Serializes with CRLF line ends in RFC 8866 s.5 order. Precondition: no value holds CR or LF
/// (parse never produces one; code that builds a Session must not either).
std::string serialize(const Session& s);

/// a=rtpmap:<payload type> <encoding name>/<clock rate>[/<encoding parameters>] (RFC 8866 s.6.6).
struct RtpMap {
  int pt = -1;
  std::string encoding;          ///< as written, e.g. "opus", "PCMU", "telephone-event"
  std::uint32_t clock_rate = 0;  ///< Hz
  std::uint32_t channels = 1;    ///< audio encoding parameter; 1 when absent
};

/// Parses the value of an a=rtpmap attribute ("111 opus/48000/2"). nullopt if malformed.
std::optional<RtpMap> parse_rtpmap(std::string_view value);
/// The RTP/AVP static payload types (RFC 3551 s.6 table 4: 0 PCMU, 3 GSM, 4 G723, 8 PCMA,
/// 9 G722 (clock rate 8000 per s.4.5.2), 18 G729, ...). nullopt for dynamic or unassigned types.
std::optional<RtpMap> static_rtpmap(int pt);
/// The payload type number of an m= fmt entry: 0..127, nullopt otherwise.
std::optional<int> payload_type(std::string_view fmt);
/// The mapping of `pt` in `m`: its a=rtpmap, else the static assignment (RFC 3551), else nullopt.
std::optional<RtpMap> rtpmap(const Media& m, int pt);
/// The a=fmtp parameters of `pt` in `m` (RFC 8866 s.6.15: the text after "<pt> "), or nullopt.
std::optional<std::string_view> fmtp(const Media& m, int pt);

/// Media direction (RFC 8866 s.6.7, RFC 3264 s.5.1 and s.6.1).
enum class Direction { SendRecv, SendOnly, RecvOnly, Inactive };
/// "sendrecv", "sendonly", "recvonly", "inactive": the attribute name.
std::string_view to_string(Direction d);
/// The last direction attribute in `attrs`, or nullopt when none.
std::optional<Direction> find_direction(const std::vector<Attribute>& attrs);
/// The direction in force for `m`: media-level attribute, else session-level, else sendrecv
/// (RFC 8866 s.6.7).
Direction direction(const Session& s, const Media& m);
/// Replaces the direction attributes of `m` by one for `d` (in place of the first one, or
/// appended).
void set_direction(Media& m, Direction d);
/// The answerer's direction for an offered one (RFC 3264 s.6.1): sendonly <-> recvonly.
Direction reverse(Direction d);
/// `d` without its receive part: sendrecv -> sendonly, recvonly -> inactive. Used for an
/// RFC 2543 hold (c=0.0.0.0: "do not send to me", RFC 3264 s.8.4).
Direction without_receive(Direction d);

/// The connection in force for `m`: its first c= line, else the session's; nullptr if neither.
const Connection* connection(const Session& s, const Media& m);
/// True for "0.0.0.0" and "::" (the RFC 2543 hold address, RFC 3264 s.8.4).
bool is_unspecified_address(std::string_view address);

/// Splits an SDP value into its SP-separated fields (RFC 8866 uses single SP; runs are
/// tolerated). The views point into `s`.
std::vector<std::string_view> split_fields(std::string_view s);

}  // namespace sipws::sdp

template <>
struct std::is_error_code_enum<sipws::sdp::SdpErrc> : std::true_type {};
