#include "transport/trace_ring.hpp"

#include <algorithm>
#include <chrono>

#include "common/text.hpp"

namespace sipws::transport {

namespace {

std::atomic<std::uint64_t> g_seq{0};

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// Calls `fn(name, value, line_begin, line_end)` for each header line of `msg` (no folding:
/// a continuation line is its own "header" with an empty name), until the blank line.
template <typename Fn>
void for_each_header(std::string_view msg, Fn&& fn) {
  std::size_t pos = msg.find('\n');  // after the start line
  while (pos != std::string_view::npos && pos + 1 < msg.size()) {
    const std::size_t begin = pos + 1;
    std::size_t end = msg.find('\n', begin);
    if (end == std::string_view::npos) end = msg.size();
    std::string_view line = msg.substr(begin, end - begin);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) return;  // end of the header section
    const std::size_t colon = line.find(':');
    if (colon != std::string_view::npos && line[0] != ' ' && line[0] != '\t') {
      fn(text::trim(line.substr(0, colon)), text::trim(line.substr(colon + 1)), begin,
         begin + line.size());
    }
    pos = end;
  }
}

/// `value` (a credentials value) with its digest response masked, or all of it after the
/// scheme for any other scheme.
std::string masked_credentials(std::string_view value) {
  const std::size_t sp = value.find_first_of(" \t");
  const std::string_view scheme = value.substr(0, sp);
  if (!text::iequal(scheme, "Digest") || sp == std::string_view::npos) {
    return std::string(scheme) + " ***";
  }
  std::string out(value.substr(0, sp));
  std::string_view rest = value.substr(sp);
  // Parameters are comma-separated name=value pairs; a quoted value may hold commas.
  std::size_t i = 0;
  while (i < rest.size()) {
    const std::size_t eq = rest.find('=', i);
    if (eq == std::string_view::npos) {
      out.append(rest.substr(i));
      break;
    }
    const std::string_view name = text::trim(rest.substr(i, eq - i));
    std::size_t v = eq + 1;
    while (v < rest.size() && (rest[v] == ' ' || rest[v] == '\t')) ++v;
    std::size_t vend = v;
    if (vend < rest.size() && rest[vend] == '"') {
      ++vend;
      while (vend < rest.size() && rest[vend] != '"') vend += rest[vend] == '\\' ? 2 : 1;
      vend = std::min(vend + 1, rest.size());
    } else {
      while (vend < rest.size() && rest[vend] != ',') ++vend;
    }
    out.append(rest.substr(i, v - i));
    if (text::iequal(name, "response")) {
      out.append("\"***\"");
    } else {
      out.append(rest.substr(v, vend - v));
    }
    const std::size_t comma = rest.find(',', vend);
    if (comma == std::string_view::npos) {
      out.append(rest.substr(vend));
      break;
    }
    out.append(rest.substr(vend, comma + 1 - vend));
    i = comma + 1;
  }
  return out;
}

}  // namespace

std::string_view find_call_id(std::string_view msg) {
  std::string_view found;
  for_each_header(
      msg, [&](std::string_view name, std::string_view value, std::size_t, std::size_t) {
        if (found.empty() && (text::iequal(name, "Call-ID") || text::iequal(name, "i"))) {
          found = value;
        }
      });
  return found;
}

std::string mask_credentials(std::string_view msg) {
  std::string out;
  std::size_t copied = 0;
  for_each_header(
      msg, [&](std::string_view name, std::string_view value, std::size_t begin, std::size_t end) {
        if (!text::iequal(name, "Authorization") && !text::iequal(name, "Proxy-Authorization")) {
          return;
        }
        out.append(msg.substr(copied, begin - copied));
        out.append(name).append(": ").append(masked_credentials(value));
        copied = end;
      });
  if (copied == 0) return std::string(msg);
  out.append(msg.substr(copied));
  return out;
}

TraceRing::TraceRing(std::size_t capacity, PcapWriter* pcap) : capacity_(capacity), pcap_(pcap) {}

void TraceRing::record(bool out, Protocol protocol, const Endpoint& local, const Endpoint& peer,
                       std::string_view bytes, std::string_view call_id) {
  if (capacity_ == 0 && pcap_ == nullptr) return;
  if (call_id.empty()) call_id = find_call_id(bytes);
  if (call_id.empty()) return;  // a keep-alive, or not SIP
  TraceEntry e;
  e.seq = g_seq.fetch_add(1, std::memory_order_relaxed);
  e.time_ms = wall_ms();
  e.out = out;
  e.protocol = protocol;
  e.local = local;
  e.peer = peer;
  e.call_id = call_id;
  e.text = mask_credentials(bytes);
  if (pcap_ != nullptr) pcap_->write(e.time_ms, out, local, peer, e.text);
  if (capacity_ == 0) return;
  std::lock_guard lock(mu_);
  if (ring_.size() < capacity_) {
    ring_.push_back(std::move(e));
    return;
  }
  ring_[next_] = std::move(e);
  next_ = (next_ + 1) % capacity_;
}

std::vector<TraceEntry> TraceRing::find(std::string_view call_id) const {
  std::vector<TraceEntry> out;
  {
    std::lock_guard lock(mu_);
    for (const auto& e : ring_) {
      if (e.call_id == call_id) out.push_back(e);
    }
  }
  std::sort(out.begin(), out.end(),
            [](const TraceEntry& a, const TraceEntry& b) { return a.seq < b.seq; });
  return out;
}

}  // namespace sipws::transport
