// SDP parse/serialize and lookups (RFC 8866; RFC 3551 static payload types; RFC 3264 s.5.1,
// s.6.1, s.8.4 directions and hold).
#include "sip/sdp.hpp"

#include <array>
#include <limits>

#include "sip/text.hpp"

namespace sipws::sdp {
namespace {

using sip::text::iequal;
using sip::text::is_digit;

class SdpCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "sip.sdp"; }
  std::string message(int ev) const override {
    switch (static_cast<SdpErrc>(ev)) {
      case SdpErrc::Empty:
        return "empty session description";
      case SdpErrc::TooLarge:
        return "session description too large";
      case SdpErrc::TooManyMedia:
        return "too many m= sections";
      case SdpErrc::BadLine:
        return "malformed SDP line";
      case SdpErrc::MissingLine:
        return "mandatory SDP line missing";
      case SdpErrc::DuplicateLine:
        return "duplicate SDP line";
      case SdpErrc::MisplacedLine:
        return "SDP line not allowed here";
      case SdpErrc::BadVersion:
        return "unsupported SDP version";
      case SdpErrc::BadOrigin:
        return "malformed o= line";
      case SdpErrc::BadConnection:
        return "malformed c= line";
      case SdpErrc::BadBandwidth:
        return "malformed b= line";
      case SdpErrc::BadTiming:
        return "malformed t= or r= line";
      case SdpErrc::BadMedia:
        return "malformed m= line";
      case SdpErrc::BadAttribute:
        return "malformed a= line";
    }
    return "unknown sdp error";
  }
};

Unexpected<SdpError> fail(SdpErrc code, std::size_t line, std::string_view what) {
  std::string msg;
  if (line != 0) {
    msg = "line " + std::to_string(line) + ": ";
  }
  msg += what;
  return Unexpected<SdpError>{SdpError{code, line, std::move(msg)}};
}

std::optional<std::uint64_t> parse_u64(std::string_view s) {
  if (s.empty() || s.size() > 20) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : s) {
    if (!is_digit(c)) return std::nullopt;
    const auto d = static_cast<std::uint64_t>(c - '0');
    if (v > (std::numeric_limits<std::uint64_t>::max() - d) / 10) return std::nullopt;
    v = v * 10 + d;
  }
  return v;
}

bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!is_digit(c)) return false;
  }
  return true;
}

/// Session-level letters (RFC 8866 s.5); media sections take only i c b k a (s.5.14).
bool session_only(char t) {
  return t == 'v' || t == 'o' || t == 's' || t == 'u' || t == 'e' || t == 'p' || t == 't' ||
         t == 'r' || t == 'z';
}

std::optional<Connection> parse_connection(std::string_view v) {
  const auto f = split_fields(v);
  if (f.size() != 3) return std::nullopt;
  return Connection{std::string(f[0]), std::string(f[1]), std::string(f[2])};
}

std::optional<Bandwidth> parse_bandwidth(std::string_view v) {
  const auto colon = v.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  const auto type = v.substr(0, colon);
  const auto value = parse_u64(v.substr(colon + 1));
  if (!sip::text::is_token(type) || !value) return std::nullopt;
  return Bandwidth{std::string(type), *value};
}

class Parser {
 public:
  explicit Parser(const ParseOptions& opts) : opts_(opts) {}

  Expected<Session, SdpError> run(std::string_view text) {
    if (text.size() > opts_.max_size) {
      return fail(SdpErrc::TooLarge, 0,
                  "session description larger than " + std::to_string(opts_.max_size) + " bytes");
    }
    // Split into lines; CRLF or LF; trailing empty lines are tolerated.
    std::vector<std::string_view> lines;
    std::size_t pos = 0;
    while (pos < text.size()) {
      std::size_t nl = text.find('\n', pos);
      std::string_view line =
          text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      lines.push_back(line);
      if (lines.size() > opts_.max_lines) {
        return fail(
            SdpErrc::TooLarge, 0,
            "session description has more than " + std::to_string(opts_.max_lines) + " lines");
      }
      if (nl == std::string_view::npos) break;
      pos = nl + 1;
    }
    while (!lines.empty() && lines.back().empty()) lines.pop_back();
    if (lines.empty()) return fail(SdpErrc::Empty, 0, "empty session description");

    Session s;
    for (std::size_t i = 0; i < lines.size(); ++i) {
      const std::size_t no = i + 1;
      const std::string_view line = lines[i];
      if (line.empty()) return fail(SdpErrc::BadLine, no, "empty line");
      for (char c : line) {
        if (c == '\r' || c == '\0') {
          return fail(SdpErrc::BadLine, no, "control character inside the line");
        }
      }
      if (line.size() < 2 || line[1] != '=' || line[0] < 'a' || line[0] > 'z') {
        return fail(SdpErrc::BadLine, no, "expected <type>=<value> with a lower-case letter");
      }
      const char type = line[0];
      const std::string_view value = line.substr(2);
      // The first three lines are v=, o=, s= in this order (RFC 8866 s.5).
      if (no <= 3) {
        static constexpr std::array<char, 3> kHead{'v', 'o', 's'};
        if (type != kHead[i]) {
          return fail(SdpErrc::MissingLine, no,
                      std::string("expected ") + kHead[i] + "= (the description starts v= o= s=)");
        }
      }
      auto r = line_(s, type, value, no);
      if (!r) return Unexpected<SdpError>{r.error()};
    }
    if (lines.size() < 3) {
      static constexpr std::array<const char*, 3> kHead{"v=", "o=", "s="};
      return fail(SdpErrc::MissingLine, 0, std::string(kHead[lines.size()]) + " missing");
    }
    return s;
  }

 private:
  struct Ok {};
  using Step = Expected<Ok, SdpError>;

  Step line_(Session& s, char type, std::string_view v, std::size_t no) {
    Media* m = s.media.empty() ? nullptr : &s.media.back();
    if (m != nullptr && session_only(type)) {
      return fail(SdpErrc::MisplacedLine, no,
                  std::string(1, type) + "= is not allowed inside an m= section");
    }
    switch (type) {
      case 'v':
        if (no != 1) return fail(SdpErrc::DuplicateLine, no, "second v= line");
        if (v != "0") return fail(SdpErrc::BadVersion, no, "v= must be 0");
        s.version = 0;
        return Ok{};
      case 'o':
        if (no != 2) return fail(SdpErrc::DuplicateLine, no, "second o= line");
        return origin_(s, v, no);
      case 's':
        if (no != 3) return fail(SdpErrc::DuplicateLine, no, "second s= line");
        s.name = std::string(v);  // RFC 8866 wants non-empty; "s=" is tolerated
        return Ok{};
      case 'c': {
        auto c = parse_connection(v);
        if (!c) {
          return fail(SdpErrc::BadConnection, no,
                      "c= needs <nettype> <addrtype> <connection-address>");
        }
        if (m != nullptr) {
          m->connections.push_back(std::move(*c));
        } else if (s.connection) {
          return fail(SdpErrc::DuplicateLine, no, "second session-level c= line");
        } else {
          s.connection = std::move(*c);
        }
        return Ok{};
      }
      case 'b': {
        auto b = parse_bandwidth(v);
        if (!b) return fail(SdpErrc::BadBandwidth, no, "b= needs <bwtype>:<bandwidth>");
        (m != nullptr ? m->bandwidths : s.bandwidths).push_back(std::move(*b));
        return Ok{};
      }
      case 't': {
        const auto f = split_fields(v);
        std::optional<std::uint64_t> start, stop;
        if (f.size() == 2) {
          start = parse_u64(f[0]);
          stop = parse_u64(f[1]);
        }
        if (!start || !stop) return fail(SdpErrc::BadTiming, no, "t= needs <start> <stop>");
        s.timings.push_back(Timing{*start, *stop, {}});
        return Ok{};
      }
      case 'r':
        if (s.timings.empty()) return fail(SdpErrc::BadTiming, no, "r= without a preceding t=");
        s.timings.back().repeats.emplace_back(v);
        return Ok{};
      case 'm':
        return media_(s, v, no);
      case 'a': {
        const auto colon = v.find(':');
        const auto name = v.substr(0, colon);
        if (!sip::text::is_token(name)) {
          return fail(
              SdpErrc::BadAttribute, no,
              name.empty() ? "a= needs an attribute name" : "a= attribute name is not a token");
        }
        Attribute a{std::string(name), {}, colon != std::string_view::npos};
        if (a.has_value) a.value = std::string(v.substr(colon + 1));
        (m != nullptr ? m->attributes : s.attributes).push_back(std::move(a));
        return Ok{};
      }
      default:  // i u e p z k and unknown letters: kept verbatim
        (m != nullptr ? m->other_lines : s.other_lines).push_back(Line{type, std::string(v)});
        return Ok{};
    }
  }

  Step origin_(Session& s, std::string_view v, std::size_t no) {
    const auto f = split_fields(v);
    if (f.size() != 6) {
      return fail(SdpErrc::BadOrigin, no,
                  "o= needs <username> <sess-id> <sess-version> <nettype> <addrtype> <address>");
    }
    if (!all_digits(f[1]) || !all_digits(f[2]) || f[1].size() > 32 || f[2].size() > 32) {
      return fail(SdpErrc::BadOrigin, no, "o= sess-id and sess-version must be decimal numbers");
    }
    s.origin = Origin{std::string(f[0]), std::string(f[1]), std::string(f[2]),
                      std::string(f[3]), std::string(f[4]), std::string(f[5])};
    return Ok{};
  }

  Step media_(Session& s, std::string_view v, std::size_t no) {
    if (s.media.size() >= opts_.max_media) {
      return fail(SdpErrc::TooManyMedia, no,
                  "more than " + std::to_string(opts_.max_media) + " m= sections");
    }
    const auto f = split_fields(v);
    if (f.size() < 3) return fail(SdpErrc::BadMedia, no, "m= needs <media> <port> <proto> <fmt>");
    if (f.size() - 3 > opts_.max_formats) {
      return fail(SdpErrc::BadMedia, no,
                  "m= lists more than " + std::to_string(opts_.max_formats) + " formats");
    }
    Media m;
    m.media = std::string(f[0]);
    if (!sip::text::is_token(f[0])) return fail(SdpErrc::BadMedia, no, "m= media is not a token");
    std::string_view port = f[1];
    const auto slash = port.find('/');
    if (slash != std::string_view::npos) {
      const auto count = parse_u64(port.substr(slash + 1));
      if (!count || *count == 0 || *count > 65535) {
        return fail(SdpErrc::BadMedia, no, "m= number of ports must be 1..65535");
      }
      m.port_count = static_cast<std::uint32_t>(*count);
      port = port.substr(0, slash);
    }
    const auto p = parse_u64(port);
    if (!p || *p > 65535) return fail(SdpErrc::BadMedia, no, "m= port must be 0..65535");
    m.port = static_cast<std::uint16_t>(*p);
    if (m.port_count && *p + *m.port_count > 65536) {
      return fail(SdpErrc::BadMedia, no, "m= port range goes past 65535");
    }
    m.proto = std::string(f[2]);
    // RFC 8866 s.5.14 wants a format even on a rejected line; some phones omit it there.
    if (f.size() == 3 && m.port != 0) {
      return fail(SdpErrc::BadMedia, no, "m= needs <media> <port> <proto> <fmt>");
    }
    for (std::size_t i = 3; i < f.size(); ++i) m.formats.emplace_back(f[i]);
    s.media.push_back(std::move(m));
    return Ok{};
  }

  const ParseOptions& opts_;
};

void put(std::string& out, char type, std::string_view value) {
  out += type;
  out += '=';
  out += value;
  out += "\r\n";
}

void put_connection(std::string& out, const Connection& c) {
  put(out, 'c', c.nettype + ' ' + c.addrtype + ' ' + c.address);
}

void put_bandwidths(std::string& out, const std::vector<Bandwidth>& bs) {
  for (const auto& b : bs) put(out, 'b', b.type + ':' + std::to_string(b.value));
}

void put_attributes(std::string& out, const std::vector<Attribute>& as) {
  for (const auto& a : as) {
    out += "a=";
    out += a.name;
    if (a.has_value) {
      out += ':';
      out += a.value;
    }
    out += "\r\n";
  }
}

/// Other lines whose letter is (or, with `in` false, is not) among `letters`, in order.
void put_others(std::string& out, const std::vector<Line>& ls, std::string_view letters, bool in) {
  for (const auto& l : ls) {
    if ((letters.find(l.type) != std::string_view::npos) == in) put(out, l.type, l.value);
  }
}

struct StaticPt {
  int pt;
  const char* name;
  std::uint32_t rate;
  std::uint32_t channels;
};
// RFC 3551 s.6 table 4 (audio) and table 5 (video).
constexpr std::array<StaticPt, 21> kStatic{{
    {0, "PCMU", 8000, 1},   {3, "GSM", 8000, 1},    {4, "G723", 8000, 1},   {5, "DVI4", 8000, 1},
    {6, "DVI4", 16000, 1},  {7, "LPC", 8000, 1},    {8, "PCMA", 8000, 1},   {9, "G722", 8000, 1},
    {10, "L16", 44100, 2},  {11, "L16", 44100, 1},  {12, "QCELP", 8000, 1}, {13, "CN", 8000, 1},
    {14, "MPA", 90000, 1},  {15, "G728", 8000, 1},  {16, "DVI4", 11025, 1}, {17, "DVI4", 22050, 1},
    {18, "G729", 8000, 1},  {26, "JPEG", 90000, 1}, {31, "H261", 90000, 1}, {32, "MPV", 90000, 1},
    {34, "H263", 90000, 1},
}};

/// "<pt> <rest>" -> pt and rest (for rtpmap and fmtp values).
std::optional<std::pair<int, std::string_view>> split_pt(std::string_view value) {
  const auto sp = value.find(' ');
  if (sp == std::string_view::npos) return std::nullopt;
  const auto pt = payload_type(value.substr(0, sp));
  if (!pt) return std::nullopt;
  return std::make_pair(*pt, sip::text::ltrim(value.substr(sp + 1)));
}

}  // namespace

const std::error_category& sdp_category() {
  static const SdpCategory c;
  return c;
}
std::error_code make_error_code(SdpErrc e) { return {static_cast<int>(e), sdp_category()}; }

const Attribute* find_attribute(const std::vector<Attribute>& attrs, std::string_view name) {
  for (const auto& a : attrs) {
    if (iequal(a.name, name)) return &a;
  }
  return nullptr;
}

std::vector<const Attribute*> find_attributes(const std::vector<Attribute>& attrs,
                                              std::string_view name) {
  std::vector<const Attribute*> out;
  for (const auto& a : attrs) {
    if (iequal(a.name, name)) out.push_back(&a);
  }
  return out;
}

namespace {
std::size_t erase_named(std::vector<Attribute>& attrs, std::string_view name) {
  return std::erase_if(attrs, [&](const Attribute& a) { return iequal(a.name, name); });
}
}  // namespace

std::size_t Media::remove_attributes(std::string_view name) {
  return erase_named(attributes, name);
}
std::size_t Session::remove_attributes(std::string_view name) {
  return erase_named(attributes, name);
}

Expected<Session, SdpError> parse(std::string_view text, const ParseOptions& opts) {
  return Parser(opts).run(text);
}

std::string serialize(const Session& s) {
  std::string out;
  out.reserve(512 + 256 * s.media.size());
  put(out, 'v', std::to_string(s.version));
  const auto& o = s.origin;
  put(out, 'o',
      o.username + ' ' + o.sess_id + ' ' + o.sess_version + ' ' + o.nettype + ' ' + o.addrtype +
          ' ' + o.address);
  put(out, 's', s.name);
  put_others(out, s.other_lines, "iuep", true);
  if (s.connection) put_connection(out, *s.connection);
  put_bandwidths(out, s.bandwidths);
  for (const auto& t : s.timings) {
    put(out, 't', std::to_string(t.start) + ' ' + std::to_string(t.stop));
    for (const auto& r : t.repeats) put(out, 'r', r);
  }
  put_others(out, s.other_lines, "iuep", false);
  put_attributes(out, s.attributes);
  for (const auto& m : s.media) {
    std::string line = m.media + ' ' + std::to_string(m.port);
    if (m.port_count) line += '/' + std::to_string(*m.port_count);
    line += ' ';
    line += m.proto;
    for (const auto& f : m.formats) {
      line += ' ';
      line += f;
    }
    put(out, 'm', line);
    put_others(out, m.other_lines, "i", true);
    for (const auto& c : m.connections) put_connection(out, c);
    put_bandwidths(out, m.bandwidths);
    put_others(out, m.other_lines, "i", false);
    put_attributes(out, m.attributes);
  }
  return out;
}

std::optional<int> payload_type(std::string_view fmt) {
  if (fmt.empty() || fmt.size() > 3 || !all_digits(fmt)) return std::nullopt;
  const int v = std::stoi(std::string(fmt));
  if (v > 127) return std::nullopt;
  return v;
}

std::optional<RtpMap> parse_rtpmap(std::string_view value) {
  const auto split = split_pt(value);
  if (!split) return std::nullopt;
  const std::string_view rest = sip::text::rtrim(split->second);
  const auto slash = rest.find('/');
  if (slash == std::string_view::npos || slash == 0) return std::nullopt;
  RtpMap r;
  r.pt = split->first;
  r.encoding = std::string(rest.substr(0, slash));
  std::string_view tail = rest.substr(slash + 1);
  const auto slash2 = tail.find('/');
  const auto rate = sip::text::parse_u32(tail.substr(0, slash2));
  if (!rate || *rate == 0) return std::nullopt;
  r.clock_rate = *rate;
  if (slash2 != std::string_view::npos) {
    const auto ch = sip::text::parse_u32(tail.substr(slash2 + 1));
    if (!ch || *ch == 0 || *ch > 255) return std::nullopt;
    r.channels = *ch;
  }
  return r;
}

std::optional<RtpMap> static_rtpmap(int pt) {
  for (const auto& e : kStatic) {
    if (e.pt == pt) return RtpMap{e.pt, e.name, e.rate, e.channels};
  }
  return std::nullopt;
}

std::optional<RtpMap> rtpmap(const Media& m, int pt) {
  for (const auto* a : m.attributes_named("rtpmap")) {
    auto r = parse_rtpmap(a->value);
    if (r && r->pt == pt) return r;
  }
  return static_rtpmap(pt);
}

std::optional<std::string_view> fmtp(const Media& m, int pt) {
  for (const auto* a : m.attributes_named("fmtp")) {
    const auto split = split_pt(a->value);
    if (split && split->first == pt) return sip::text::rtrim(split->second);
  }
  return std::nullopt;
}

std::string_view to_string(Direction d) {
  switch (d) {
    case Direction::SendRecv:
      return "sendrecv";
    case Direction::SendOnly:
      return "sendonly";
    case Direction::RecvOnly:
      return "recvonly";
    case Direction::Inactive:
      return "inactive";
  }
  return "sendrecv";
}

namespace {
std::optional<Direction> direction_of(std::string_view name) {
  for (auto d :
       {Direction::SendRecv, Direction::SendOnly, Direction::RecvOnly, Direction::Inactive}) {
    if (iequal(name, to_string(d))) return d;
  }
  return std::nullopt;
}
}  // namespace

std::optional<Direction> find_direction(const std::vector<Attribute>& attrs) {
  std::optional<Direction> found;
  for (const auto& a : attrs) {
    if (auto d = direction_of(a.name); d && !a.has_value) found = d;
  }
  return found;
}

Direction direction(const Session& s, const Media& m) {
  if (auto d = find_direction(m.attributes)) return *d;
  if (auto d = find_direction(s.attributes)) return *d;
  return Direction::SendRecv;
}

void set_direction(Media& m, Direction d) {
  auto& as = m.attributes;
  bool placed = false;
  for (auto it = as.begin(); it != as.end();) {
    if (direction_of(it->name) && !it->has_value) {
      if (!placed) {
        *it = Attribute{std::string(to_string(d)), {}, false};
        placed = true;
        ++it;
      } else {
        it = as.erase(it);
      }
    } else {
      ++it;
    }
  }
  if (!placed) m.add_flag(std::string(to_string(d)));
}

Direction reverse(Direction d) {
  switch (d) {
    case Direction::SendOnly:
      return Direction::RecvOnly;
    case Direction::RecvOnly:
      return Direction::SendOnly;
    default:
      return d;
  }
}

Direction without_receive(Direction d) {
  switch (d) {
    case Direction::SendRecv:
      return Direction::SendOnly;
    case Direction::RecvOnly:
      return Direction::Inactive;
    default:
      return d;
  }
}

const Connection* connection(const Session& s, const Media& m) {
  if (!m.connections.empty()) return &m.connections.front();
  return s.connection ? &*s.connection : nullptr;
}

bool is_unspecified_address(std::string_view address) {
  return address == "0.0.0.0" || address == "::" || address == "0:0:0:0:0:0:0:0";
}

/// Splits on runs of SP (RFC 8866 uses single SP; runs are tolerated).
std::vector<std::string_view> split_fields(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && s[i] == ' ') ++i;
    if (i >= s.size()) break;
    std::size_t j = i;
    while (j < s.size() && s[j] != ' ') ++j;
    out.push_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

}  // namespace sipws::sdp
