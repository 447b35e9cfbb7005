#include "app/call_records.hpp"

#include <cstdio>
#include <ctime>
#include <fstream>
#include <memory>
#include <utility>

#include "common/counters.hpp"
#include "common/log.hpp"

namespace sipws::app {

using nlohmann::json;

std::string iso_time(std::int64_t ms) {
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];  // room for any int the compiler can imagine
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms % 1000));
  return buf;
}

std::optional<std::int64_t> parse_iso_time(std::string_view t) {
  // YYYY-MM-DD[THH:MM:SS[.fff]][Z]
  auto num = [&t](std::size_t pos, std::size_t len) -> std::optional<int> {
    if (t.size() < pos + len) return std::nullopt;
    int v = 0;
    for (std::size_t i = pos; i < pos + len; ++i) {
      if (t[i] < '0' || t[i] > '9') return std::nullopt;
      v = v * 10 + (t[i] - '0');
    }
    return v;
  };
  if (!t.empty() && t.back() == 'Z') t.remove_suffix(1);
  auto y = num(0, 4), mo = num(5, 2), d = num(8, 2);
  if (!y || !mo || !d || t[4] != '-' || t[7] != '-' || *y < 1970 || *mo < 1 || *mo > 12 || *d < 1 ||
      *d > 31) {
    return std::nullopt;
  }
  int h = 0, mi = 0, sec = 0, frac = 0;
  if (t.size() > 10) {
    auto hh = num(11, 2), mm = num(14, 2), ss = num(17, 2);
    if (t[10] != 'T' || t.size() < 19 || t[13] != ':' || t[16] != ':' || !hh || !mm || !ss ||
        *hh > 23 || *mm > 59 || *ss > 60) {
      return std::nullopt;
    }
    h = *hh;
    mi = *mm;
    sec = *ss;
    if (t.size() > 19) {
      auto f = num(20, 3);
      if (t[19] != '.' || t.size() != 23 || !f) return std::nullopt;
      frac = *f;
    }
  } else if (t.size() != 10) {
    return std::nullopt;
  }
  std::tm tm{};
  tm.tm_year = *y - 1900;
  tm.tm_mon = *mo - 1;
  tm.tm_mday = *d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  const std::time_t secs = timegm(&tm);
  if (secs < 0) return std::nullopt;
  return static_cast<std::int64_t>(secs) * 1000 + frac;
}

namespace {

json legs_json(const CallRecord& r) {
  if (!r.media_anchored) return nullptr;
  return {{"caller", {{"packets", r.caller_leg.packets}, {"bytes", r.caller_leg.bytes}}},
          {"callee", {{"packets", r.callee_leg.packets}, {"bytes", r.callee_leg.bytes}}}};
}

std::string csv_field(const std::string& v) {
  if (v.find_first_of(",\"\r\n") == std::string::npos) return v;
  std::string out = "\"";
  for (char c : v) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) {
    if (!out.empty()) out.push_back(' ');
    out += i;
  }
  return out;
}

double duration_s(const CallRecord& r) {
  if (r.answer_ms == 0 || r.end_ms < r.answer_ms) return 0;
  return static_cast<double>(r.end_ms - r.answer_ms) / 1000.0;
}

}  // namespace

json call_record_json(const CallRecord& r, bool live) {
  json j;
  if (live) {
    j["id"] = r.live_id;
    j["state"] = r.state;
  } else {
    j["id"] = r.id;
  }
  j["call_id"] = r.call_id;
  j["from"] = r.from;
  j["to"] = r.to;
  j["request_uri"] = r.request_uri;
  j["source"] = r.source;
  j["user"] = r.user;
  j["start"] = iso_time(r.start_ms);
  j["answer"] = r.answer_ms != 0 ? json(iso_time(r.answer_ms)) : json(nullptr);
  if (!live) {
    j["end"] = iso_time(r.end_ms);
    j["duration"] = duration_s(r);
    j["status"] = r.status;
    j["reason"] = r.reason;
    j["hangup"] = r.hangup;
  }
  j["route"] = r.route;
  j["gateways"] = r.gateways;
  j["forwarded"] = r.forwarded;
  j["media_anchored"] = r.media_anchored;
  j["legs"] = legs_json(r);
  return j;
}

std::string call_record_csv_header() {
  return "id,call_id,from,to,request_uri,source,user,start,answer,end,duration,status,reason,"
         "hangup,route,gateways,forwarded,media_anchored,caller_packets,caller_bytes,"
         "callee_packets,callee_bytes\r\n";
}

std::string call_record_csv(const CallRecord& r) {
  std::string line;
  auto add = [&line](const std::string& v) {
    if (!line.empty()) line.push_back(',');
    line += csv_field(v);
  };
  add(std::to_string(r.id));
  add(r.call_id);
  add(r.from);
  add(r.to);
  add(r.request_uri);
  add(r.source);
  add(r.user);
  add(iso_time(r.start_ms));
  add(r.answer_ms != 0 ? iso_time(r.answer_ms) : std::string());
  add(iso_time(r.end_ms));
  char dur[32];
  std::snprintf(dur, sizeof dur, "%.3f", duration_s(r));
  add(dur);
  add(std::to_string(r.status));
  add(r.reason);
  add(r.hangup);
  add(r.route);
  add(joined(r.gateways));
  add(joined(r.forwarded));
  add(r.media_anchored ? "true" : "false");
  add(std::to_string(r.caller_leg.packets));
  add(std::to_string(r.caller_leg.bytes));
  add(std::to_string(r.callee_leg.packets));
  add(std::to_string(r.callee_leg.bytes));
  line += "\r\n";
  return line;
}

CdrSink::CdrSink(store::AsyncStore& store, std::string jsonl_path)
    : store_(store), jsonl_path_(std::move(jsonl_path)) {}

void CdrSink::add(CallRecord r) {
  std::lock_guard lock(mu_);
  queued_.push_back(std::move(r));
}

void CdrSink::flush() {
  auto batch = std::make_shared<std::vector<CallRecord>>();
  {
    std::lock_guard lock(mu_);
    if (queued_.empty()) return;
    batch->swap(queued_);
  }
  store_.run(
      "write " + std::to_string(batch->size()) + " call records",
      [batch, path = jsonl_path_](store::Store& s) {
        // The file gets the batch even when the database refuses it (then without row ids).
        auto append = [&] {
          if (path.empty()) return;
          std::ofstream out(path, std::ios::app);
          for (const auto& r : *batch) out << call_record_json(r, false).dump() << '\n';
          if (!out) {
            SIPWS_COUNTER("cdr_write_errors").inc();
            log::app().error("call records: cannot append to {} (cdr_file)", path);
          }
        };
        try {
          s.add_call_records(*batch);
        } catch (...) {
          append();
          throw;
        }
        append();
        SIPWS_COUNTER("cdr_records").inc(batch->size());
      },
      [this, n = batch->size()](std::error_code ec) {
        if (ec) {
          SIPWS_COUNTER("cdr_write_errors").inc();
          log::app().error("call records: {} not stored: {}", n, ec.message());
          return;
        }
        version_.fetch_add(1, std::memory_order_relaxed);
      });
}

}  // namespace sipws::app
