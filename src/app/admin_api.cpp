#include "app/admin_api.hpp"

#include <algorithm>
#include <charconv>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <tuple>
#include <utility>
#include <variant>
#include <vector>

#include "app/call_records.hpp"
#include "app/service_checks.hpp"
#include "auth/digest.hpp"
#include "common/log.hpp"
#include "common/text.hpp"
#include "sip/text.hpp"

namespace sipws::app {

namespace {

using nlohmann::json;

constexpr std::string_view kPrefix = "/api/v1/";
constexpr std::size_t kDefaultLimit = 100;
constexpr std::size_t kMaxLimit = 1000;
constexpr std::size_t kMaxPassword = 256;

ws::HttpResponse json_response(int status, const json& body) {
  ws::HttpResponse r;
  r.status = status;
  r.headers.emplace_back("Content-Type", "application/json");
  r.headers.emplace_back("Cache-Control", "no-store");
  r.body = body.dump();
  r.body += '\n';
  return r;
}

/// {"error": what[, "field": field]}.
ws::HttpResponse error_response(int status, std::string what, std::string field = {}) {
  json j = {{"error", std::move(what)}};
  if (!field.empty()) j["field"] = std::move(field);
  return json_response(status, j);
}

ws::HttpResponse no_content() {
  ws::HttpResponse r;
  r.status = 204;
  return r;
}

ws::HttpResponse not_allowed(std::string allow) {
  auto r = error_response(405, "method not allowed here; allowed: " + allow);
  r.headers.emplace_back("Allow", std::move(allow));
  return r;
}

ws::HttpResponse store_failed() {
  return error_response(503, "the store is unavailable; try again");
}

/// The query parameters of `query` ("a=1&b=x"), form-decoded; nullopt if one is malformed
/// (bad percent-encoding).
std::optional<std::vector<std::pair<std::string, std::string>>> parse_query(std::string_view q) {
  std::vector<std::pair<std::string, std::string>> out;
  while (!q.empty()) {
    const auto amp = q.find('&');
    const std::string_view part = q.substr(0, amp);
    q = amp == std::string_view::npos ? std::string_view() : q.substr(amp + 1);
    if (part.empty()) continue;
    const auto eq = part.find('=');
    auto name = text::form_decode(part.substr(0, eq));
    auto value =
        text::form_decode(eq == std::string_view::npos ? std::string_view() : part.substr(eq + 1));
    if (!name || !value) return std::nullopt;
    out.emplace_back(std::move(*name), std::move(*value));
  }
  return out;
}

/// A whole-number query parameter up to `max`; nullopt if malformed or larger.
std::optional<std::uint32_t> parse_count(std::string_view s, std::uint32_t max) {
  auto v = sip::text::parse_u32(s);
  if (!v || *v > max) return std::nullopt;
  return v;
}

json subscriber_json(const store::Subscriber& s) {
  return {{"aor", s.user + '@' + s.domain}, {"user", s.user}, {"domain", s.domain}};
}

/// Why the `password` field of `body` is missing or not acceptable, or "" if it is fine.
std::string password_defect(const json& body) {
  if (!body.contains("password")) return "required";
  const json& v = body["password"];
  if (!v.is_string()) return "must be a string";
  const auto& p = v.get_ref<const std::string&>();
  if (p.empty()) return "must not be empty";
  if (p.size() > kMaxPassword) return "is longer than 256 bytes";
  if (std::any_of(p.begin(), p.end(),
                  [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; })) {
    return "must not contain control characters";
  }
  return {};
}

/// Checks that object `body` has only `known` fields; the first other one, or "".
std::string unknown_field(const json& body, std::initializer_list<std::string_view> known) {
  for (const auto& [k, v] : body.items()) {
    if (std::find(known.begin(), known.end(), k) == known.end()) return k;
  }
  return {};
}

/// The JSON object of a request body, or the 400 to answer.
std::variant<json, ws::HttpResponse> object_body(const ws::HttpRequest& req) {
  json body = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded() || !body.is_object()) {
    return error_response(400, "the body must be a JSON object", "body");
  }
  return body;
}

bool bearer_matches(std::string_view authorization, const std::string& token) {
  authorization = text::trim(authorization);
  constexpr std::string_view kScheme = "bearer ";
  if (authorization.size() <= kScheme.size() || !text::istarts_with(authorization, kScheme)) {
    return false;
  }
  return auth::constant_time_equal(text::trim(authorization.substr(kScheme.size())), token);
}

}  // namespace

bool AdminApi::handle(const ws::HttpRequest& req,
                      const std::function<void(ws::HttpResponse)>& reply) {
  std::string_view resource = req.resource;
  const auto qmark = resource.find('?');
  const std::string_view path = resource.substr(0, qmark);
  const std::string_view query =
      qmark == std::string_view::npos ? std::string_view() : resource.substr(qmark + 1);
  if (!path.starts_with("/api/")) return false;
  auto answer = [&reply](ws::HttpResponse r) {
    reply(std::move(r));
    return true;
  };

  if (d_.token.empty()) {
    reply(error_response(403, "the admin API is off: set admin_token to enable it"));
    return true;
  }
  if (!bearer_matches(req.authorization, d_.token)) {
    auto r = error_response(401, "a valid Authorization: Bearer token is required");
    r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"sipws admin\"");
    log::admin().info("admin api: {} {} from {}: 401", req.method, path, req.peer.to_string());
    reply(std::move(r));
    return true;
  }
  auto params = parse_query(query);
  if (!params) {
    reply(error_response(400, "the query string is not well percent-encoded", "query"));
    return true;
  }
  const std::string_view rest =
      path.starts_with(kPrefix) ? path.substr(kPrefix.size()) : std::string_view();

  if (rest == "subscribers") {
    if (req.method == "GET") {
      std::string search;
      std::size_t offset = 0, limit = kDefaultLimit;
      for (const auto& [name, value] : *params) {
        if (name == "search") {
          search = text::to_lower(value);
        } else if (name == "offset") {
          auto v = parse_count(value, 100000000);
          if (!v) return answer(error_response(400, "must be a number >= 0", "offset"));
          offset = *v;
        } else if (name == "limit") {
          auto v = parse_count(value, kMaxLimit);
          if (!v || *v == 0) {
            return answer(error_response(400, "must be a number from 1 to 1000", "limit"));
          }
          limit = *v;
        } else {
          return answer(error_response(400, "unknown parameter", name));
        }
      }
      auto found = std::make_shared<std::vector<store::Subscriber>>();
      auto total = std::make_shared<std::size_t>(0);
      d_.store.run(
          "admin: list subscribers",
          [found, total, search, offset, limit](store::Store& s) {
            auto all = s.list_subscribers();
            std::erase_if(all, [&search](const store::Subscriber& x) {
              return !search.empty() &&
                     text::to_lower(x.user + '@' + x.domain).find(search) == std::string::npos;
            });
            std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) {
              return std::tie(a.domain, a.user) < std::tie(b.domain, b.user);
            });
            *total = all.size();
            for (std::size_t i = offset; i < all.size() && found->size() < limit; ++i) {
              found->push_back(std::move(all[i]));
            }
          },
          [reply, found, total](std::error_code ec) {
            if (ec) return reply(store_failed());
            json list = json::array();
            for (const auto& s : *found) list.push_back(subscriber_json(s));
            auto r = json_response(200, list);
            r.headers.emplace_back("X-Total-Count", std::to_string(*total));
            reply(std::move(r));
          });
      return true;
    }
    if (req.method == "POST") {
      auto parsed = object_body(req);
      if (auto* bad = std::get_if<ws::HttpResponse>(&parsed)) return answer(std::move(*bad));
      const json& body = std::get<json>(parsed);
      if (auto f = unknown_field(body, {"aor", "password"}); !f.empty()) {
        return answer(error_response(400, "unknown field; known fields are aor, password", f));
      }
      if (!body.contains("aor") || !body["aor"].is_string()) {
        return answer(error_response(400, "required: the subscriber's user@domain", "aor"));
      }
      auto aor = auth::split_aor(body["aor"].get<std::string>());
      if (!aor) return answer(error_response(400, aor.error(), "aor"));
      if (auto why = password_defect(body); !why.empty()) {
        return answer(error_response(400, why, "password"));
      }
      auto sub = std::make_shared<store::Subscriber>(
          auth::make_subscriber(aor->first, aor->second, body["password"].get<std::string>()));
      write_subscriber(sub, /*create=*/true, reply);
      return true;
    }
    reply(not_allowed("GET, POST"));
    return true;
  }

  if (rest == "aliases" || rest.starts_with("aliases/")) {
    std::string alias;
    if (rest.size() > std::string_view("aliases").size()) {
      auto decoded = text::percent_decode(rest.substr(std::string_view("aliases/").size()));
      if (!decoded) return answer(error_response(400, "bad percent-encoding", "alias"));
      auto normal = normalize_alias(*decoded);
      if (!normal) return answer(error_response(400, normal.error(), "alias"));
      alias = std::move(*normal);
    }
    aliases(req, alias, reply);
    return true;
  }

  if (rest.starts_with("subscribers/")) {
    // subscribers/{aor}[/groups[/{group}] | /forwards[/{kind}]]
    std::vector<std::string> segments;
    std::string_view tail = rest.substr(std::string_view("subscribers/").size());
    for (;;) {
      const auto slash = tail.find('/');
      auto seg = text::percent_decode(tail.substr(0, slash));
      if (!seg) return answer(error_response(400, "bad percent-encoding", "path"));
      segments.push_back(std::move(*seg));
      if (slash == std::string_view::npos) break;
      tail = tail.substr(slash + 1);
    }
    auto aor = auth::split_aor(segments[0]);
    if (!aor) return answer(error_response(400, aor.error(), "aor"));
    if (segments.size() > 1) {
      if (segments.size() > 3 || (segments[1] != "groups" && segments[1] != "forwards")) {
        return answer(error_response(404, "no such resource; see docs/admin-api.yaml"));
      }
      subscriber_services(req, aor->first + '@' + aor->second, segments[1],
                          segments.size() == 3 ? segments[2] : std::string(), reply);
      return true;
    }
    auto user = std::make_shared<std::pair<std::string, std::string>>(std::move(*aor));
    if (req.method == "GET") {
      auto found = std::make_shared<std::optional<store::Subscriber>>();
      d_.store.run(
          "admin: find subscriber",
          [user, found](store::Store& s) { *found = s.find_subscriber(user->first, user->second); },
          [reply, found](std::error_code ec) {
            if (ec) return reply(store_failed());
            if (!*found) return reply(error_response(404, "no such subscriber"));
            reply(json_response(200, subscriber_json(**found)));
          });
      return true;
    }
    if (req.method == "DELETE") {
      remove_in_store(
          "subscriber " + user->first + '@' + user->second,
          [user](store::Store& s) { return s.delete_subscriber(user->first, user->second); },
          "no such subscriber", reply);
      return true;
    }
    if (req.method == "PUT") {
      auto parsed = object_body(req);
      if (auto* bad = std::get_if<ws::HttpResponse>(&parsed)) return answer(std::move(*bad));
      const json& body = std::get<json>(parsed);
      if (auto f = unknown_field(body, {"password"}); !f.empty()) {
        return answer(error_response(400, "unknown field; the known field is password", f));
      }
      if (auto why = password_defect(body); !why.empty()) {
        return answer(error_response(400, why, "password"));
      }
      auto sub = std::make_shared<store::Subscriber>(
          auth::make_subscriber(user->first, user->second, body["password"].get<std::string>()));
      write_subscriber(sub, /*create=*/false, reply);
      return true;
    }
    reply(not_allowed("GET, PUT, DELETE"));
    return true;
  }

  if (rest == "registrations" && req.method == "DELETE") {
    // Expires one binding now (RFC 3261 s.10.3: as a REGISTER with expires=0 would).
    std::string aor_text, contact;
    for (const auto& [name, value] : *params) {
      if (name == "aor") {
        auto aor = auth::split_aor(value);
        if (!aor) return answer(error_response(400, aor.error(), "aor"));
        aor_text = aor->first + '@' + aor->second;
      } else if (name == "contact") {
        contact = value;
      } else {
        return answer(error_response(400, "unknown parameter", name));
      }
    }
    if (aor_text.empty()) return answer(error_response(400, "required", "aor"));
    if (contact.empty()) return answer(error_response(400, "required", "contact"));
    if (!d_.location.remove(aor_text, contact)) {
      return answer(error_response(404, "no such binding"));
    }
    log::admin().info("admin api: binding {} of {} expired", contact, aor_text);
    return answer(no_content());
  }

  if (rest == "flows") {
    if (req.method != "GET") return answer(not_allowed("GET"));
    if (!params->empty()) {
      return answer(error_response(400, "unknown parameter", params->front().first));
    }
    if (!d_.list_flows) return answer(json_response(200, json::array()));
    const TimePoint now = d_.timers.now();
    d_.list_flows([reply, now](std::vector<FlowInfo> flows) {
      std::sort(flows.begin(), flows.end(),
                [](const FlowInfo& a, const FlowInfo& b) { return a.id < b.id; });
      auto seconds = [now](TimePoint t) -> json {
        if (t == TimePoint{}) return nullptr;
        return std::chrono::duration_cast<std::chrono::seconds>(now - t).count();
      };
      json list = json::array();
      for (const auto& f : flows) {
        list.push_back({{"id", f.id},
                        {"transport", text::to_lower(via_token(f.protocol))},
                        {"peer", f.peer.to_string()},
                        {"local", f.local.to_string()},
                        {"identity", f.identity},
                        {"age", seconds(f.opened)},
                        {"idle", seconds(f.last_received)}});
      }
      reply(json_response(200, list));
    });
    return true;
  }

  if (rest.starts_with("flows/")) {
    if (req.method != "DELETE") return answer(not_allowed("DELETE"));
    std::uint64_t id = 0;
    const std::string_view digits = rest.substr(std::string_view("flows/").size());
    const auto* end = digits.data() + digits.size();
    auto [p, ec] = std::from_chars(digits.data(), end, id);
    if (ec != std::errc() || p != end || digits.empty() || id == kNoFlow) {
      return answer(error_response(400, "a flow id is a number from the flow list", "id"));
    }
    if (!d_.close_flow) return answer(error_response(404, "no such flow"));
    d_.close_flow(id, [reply, id](bool found) {
      if (!found) return reply(error_response(404, "no such flow"));
      log::admin().info("admin api: flow {} closed", id);
      reply(no_content());
    });
    return true;
  }

  if (rest == "reload") {
    if (req.method != "POST") return answer(not_allowed("POST"));
    if (!d_.reload) return answer(error_response(409, "reloading is not available here"));
    const ReloadOutcome r = d_.reload();
    if (!r.ok) {
      // A file that does not load: nothing changed.
      return answer(
          error_response(409, "not reloaded, the configuration in force stays: " + r.error));
    }
    return answer(json_response(200, {{"reloaded", true}, {"restart_needed", r.restart_needed}}));
  }

  if (rest == "log") {
    // The log levels of the running daemon (log_level and log_levels at start-up and on a
    // reload); not kept across a restart.
    if (req.method == "PUT") {
      auto parsed = object_body(req);
      if (auto* bad = std::get_if<ws::HttpResponse>(&parsed)) return answer(std::move(*bad));
      const json& body = std::get<json>(parsed);
      if (auto f = unknown_field(body, {"level", "modules"}); !f.empty()) {
        return answer(error_response(400, "unknown field; the known fields are level, modules", f));
      }
      if (!body.contains("level") && !body.contains("modules")) {
        return answer(error_response(400, "required: level, modules or both", "level"));
      }
      constexpr const char* kLevelsText = "must be one of trace, debug, info, warn, error, off";
      std::optional<spdlog::level::level_enum> all;
      if (body.contains("level")) {
        if (body["level"].is_string()) all = log::level_named(body["level"].get<std::string>());
        if (!all) return answer(error_response(400, kLevelsText, "level"));
      }
      std::vector<std::pair<log::Module, spdlog::level::level_enum>> each;
      if (body.contains("modules")) {
        if (!body["modules"].is_object()) {
          return answer(error_response(400, "must be an object of module -> level", "modules"));
        }
        for (const auto& [name, level] : body["modules"].items()) {
          const auto m = log::module_named(name);
          if (!m) return answer(error_response(400, "unknown module", "modules." + name));
          std::optional<spdlog::level::level_enum> l;
          if (level.is_string()) l = log::level_named(level.get<std::string>());
          if (!l) return answer(error_response(400, kLevelsText, "modules." + name));
          each.emplace_back(*m, *l);
        }
      }
      // Logged before the change, at warn: seen unless the admin module is at error or off.
      log::admin().warn("admin api: log levels from now on: {}", body.dump());
      if (all) log::set_level_all(*all);
      for (const auto& [m, l] : each) log::set_level(m, l);
    } else if (req.method != "GET") {
      return answer(not_allowed("GET, PUT"));
    }
    json modules = json::object();
    for (std::size_t i = 0; i < log::kModules; ++i) {
      modules[std::string(log::kModuleNames[i])] =
          log::level_name(log::level(static_cast<log::Module>(i)));
    }
    return answer(json_response(
        200, {{"level", log::level_name(log::default_level())}, {"modules", std::move(modules)}}));
  }

  if (rest == "bans") {
    if (req.method != "GET") return answer(not_allowed("GET"));
    if (!params->empty()) {
      return answer(error_response(400, "unknown parameter", params->front().first));
    }
    json list = json::array();
    if (auto guard = d_.bans ? d_.bans() : nullptr) {
      const TimePoint now = d_.timers.now();
      for (const auto& b : guard->bans()) {
        const auto left = std::chrono::ceil<std::chrono::seconds>(b.until - now).count();
        list.push_back({{"kind", b.kind == auth::AuthGuard::Ban::Ip ? "ip" : "user"},
                        {"what", b.what},
                        {"expires", std::max<std::int64_t>(left, 0)}});
      }
    }
    return answer(json_response(200, list));
  }

  if (rest.starts_with("bans/")) {
    // bans/ip/{address} or bans/user/{aor}
    if (req.method != "DELETE") return answer(not_allowed("DELETE"));
    std::string_view tail = rest.substr(std::string_view("bans/").size());
    const auto slash = tail.find('/');
    const std::string_view kind = tail.substr(0, slash);
    auto what = text::percent_decode(slash == std::string_view::npos ? std::string_view()
                                                                     : tail.substr(slash + 1));
    if (kind != "ip" && kind != "user") {
      return answer(error_response(404, "no such resource: bans/ip/{address} or bans/user/{aor}"));
    }
    auto guard = d_.bans ? d_.bans() : nullptr;
    bool lifted = false;
    if (kind == "ip") {
      boost::system::error_code ec;
      const auto ip = what ? boost::asio::ip::make_address(*what, ec) : IpAddress();
      if (!what || ec) return answer(error_response(400, "not an IP address", "address"));
      lifted = guard != nullptr && guard->lift(ip);
    } else {
      auto aor = what ? auth::split_aor(*what) : Unexpected<std::string>("bad percent-encoding");
      if (!aor) return answer(error_response(400, aor.error(), "aor"));
      lifted = guard != nullptr && guard->lift_user(aor->first + '@' + aor->second);
    }
    if (!lifted) return answer(error_response(404, "no such ban"));
    log::admin().info("admin api: ban of {} {} lifted", kind, *what);
    return answer(no_content());
  }

  if (rest == "trusted_peers") {
    if (req.method != "GET") return answer(not_allowed("GET"));
    if (!params->empty()) {
      return answer(error_response(400, "unknown parameter", params->front().first));
    }
    return answer(json_response(200, d_.trusted_peers ? d_.trusted_peers() : json::array()));
  }

  if (rest == "gateways" || rest == "routes") {
    if (req.method != "GET") return answer(not_allowed("GET"));
    if (!params->empty())
      return answer(error_response(400, "unknown parameter", params->front().first));
    auto plan = d_.dial_plan ? d_.dial_plan() : nullptr;
    json list = json::array();
    if (plan && rest == "gateways") {
      for (const auto& g : plan->gateways.gateways()) {
        list.push_back({{"name", g.name},
                        {"uri", g.uri},
                        {"priority", g.priority},
                        {"weight", g.weight},
                        {"strip", g.strip},
                        {"prefix", g.prefix},
                        {"enabled", g.enabled},
                        {"up", g.enabled && plan->gateways.is_up(g.name)},
                        {"probe_interval", g.probe_interval_s},
                        {"auth_user", g.auth_user},
                        {"strip_headers", g.strip_headers},
                        {"topology_hiding", g.topology_hiding},
                        {"max_message_size", g.max_message_size},
                        {"dtmf", g.dtmf_info ? "info" : "rfc4733"}});
      }
    } else if (plan) {
      for (const auto& r : plan->gateways.routes()) {
        json j = {
            {"match", r.match_text}, {"gateways", r.gateways}, {"failover_on", r.failover_on}};
        j["from"] = r.from ? json(r.from_text) : json(nullptr);
        list.push_back(std::move(j));
      }
    }
    return answer(json_response(200, list));
  }

  if (rest == "calls") {
    if (req.method != "GET") return answer(not_allowed("GET"));
    if (!params->empty()) {
      return answer(error_response(400, "unknown parameter", params->front().first));
    }
    if (!d_.list_calls) return answer(json_response(200, json::array()));
    d_.list_calls([reply](std::vector<CallRecord> calls) {
      std::sort(calls.begin(), calls.end(),
                [](const CallRecord& a, const CallRecord& b) { return a.start_ms < b.start_ms; });
      json list = json::array();
      for (const auto& c : calls) list.push_back(call_record_json(c, /*live=*/true));
      reply(json_response(200, list));
    });
    return true;
  }

  if (rest.starts_with("calls/")) {
    if (req.method != "DELETE") return answer(not_allowed("DELETE"));
    auto id = text::percent_decode(rest.substr(std::string_view("calls/").size()));
    if (!id || id->empty() || id->size() > 64) {
      return answer(error_response(400, "a call id is the `id` of a live call", "id"));
    }
    if (!d_.end_call) return answer(error_response(404, "no such call"));
    d_.end_call(*id, [reply](bool found) {
      reply(found ? no_content() : error_response(404, "no such call (ended already?)"));
    });
    return true;
  }

  if (rest == "cdrs") {
    if (req.method != "GET") return answer(not_allowed("GET"));
    constexpr std::size_t kMaxCsvRecords = 1000000;
    CallRecordQuery q;
    q.limit = 0;  // not given
    bool csv = false;
    for (const auto& [name, value] : *params) {
      if (name == "call_id") {
        q.call_id = value;
      } else if (name == "from") {
        q.from = value;
      } else if (name == "to") {
        q.to = value;
      } else if (name == "status") {
        auto v = parse_count(value, 699);
        if (!v || *v < 100) return answer(error_response(400, "a SIP status, 100 to 699", name));
        q.status = static_cast<int>(*v);
      } else if (name == "since" || name == "until") {
        auto t = parse_iso_time(value);
        if (!t) {
          return answer(error_response(
              400, "a UTC time like 2026-12-07T15:04:05Z or a date like 2026-12-07", name));
        }
        (name == "since" ? q.since_ms : q.until_ms) = *t;
      } else if (name == "offset") {
        auto v = parse_count(value, 100000000);
        if (!v) return answer(error_response(400, "must be a number >= 0", "offset"));
        q.offset = *v;
      } else if (name == "limit") {
        auto v = parse_count(value, kMaxCsvRecords);
        if (!v || *v == 0) {
          return answer(error_response(400, "must be a number from 1 to 1000", "limit"));
        }
        q.limit = *v;
      } else if (name == "format") {
        if (value != "json" && value != "csv") {
          return answer(error_response(400, "json (the default) or csv", "format"));
        }
        csv = value == "csv";
      } else {
        return answer(error_response(400, "unknown parameter", name));
      }
    }
    // A CSV export is a download: every matching record unless a limit is given; a JSON page
    // holds at most kMaxLimit (whatever the order of the parameters).
    if (q.limit == 0) q.limit = csv ? kMaxCsvRecords : kDefaultLimit;
    if (!csv && q.limit > kMaxLimit) {
      return answer(error_response(400, "must be a number from 1 to 1000", "limit"));
    }
    auto found = std::make_shared<std::vector<CallRecord>>();
    auto total = std::make_shared<std::size_t>(0);
    d_.store.run(
        "admin: list call records",
        [found, total, q](store::Store& s) { *found = s.list_call_records(q, total.get()); },
        [reply, found, total, csv](std::error_code ec) {
          if (ec) return reply(store_failed());
          ws::HttpResponse r;
          if (csv) {
            r.status = 200;
            r.headers.emplace_back("Content-Type", "text/csv; charset=utf-8");
            r.headers.emplace_back("Content-Disposition", "attachment; filename=\"cdrs.csv\"");
            r.headers.emplace_back("Cache-Control", "no-store");
            r.body = call_record_csv_header();
            for (const auto& c : *found) r.body += call_record_csv(c);
          } else {
            json list = json::array();
            for (const auto& c : *found) list.push_back(call_record_json(c, /*live=*/false));
            r = json_response(200, list);
          }
          r.headers.emplace_back("X-Total-Count", std::to_string(*total));
          reply(std::move(r));
        });
    return true;
  }

  if (rest == "trace") {
    if (req.method != "GET") return answer(not_allowed("GET"));
    std::string call_id;
    for (const auto& [name, value] : *params) {
      if (name != "call_id") return answer(error_response(400, "unknown parameter", name));
      call_id = value;
    }
    if (call_id.empty()) {
      return answer(error_response(400, "required: the Call-ID of the call to show", "call_id"));
    }
    json list = json::array();
    if (d_.trace) {
      for (const auto& e : d_.trace(call_id)) {
        list.push_back({{"time", iso_time(e.time_ms)},
                        {"direction", e.out ? "out" : "in"},
                        {"protocol", lower_name(e.protocol)},
                        {"local", e.local.port != 0 ? json(e.local.to_string()) : json(nullptr)},
                        {"peer", e.peer.to_string()},
                        {"first_line", e.text.substr(0, e.text.find_first_of("\r\n"))},
                        {"text", e.text}});
      }
    }
    return answer(json_response(200, list));
  }

  if (rest == "registrations") {
    if (req.method != "GET") return answer(not_allowed("GET, DELETE"));
    std::string aor_filter;
    for (const auto& [name, value] : *params) {
      if (name != "aor") return answer(error_response(400, "unknown parameter", name));
      auto aor = auth::split_aor(value);
      if (!aor) return answer(error_response(400, aor.error(), "aor"));
      aor_filter = aor->first + '@' + aor->second;
    }
    const TimePoint now = d_.timers.now();
    json list = json::array();
    d_.location.visit_all([&](const registrar::Binding& b) {
      const auto left = b.expires_in(now);
      if (left == 0 || (!aor_filter.empty() && b.aor != aor_filter)) return;
      json j = {{"aor", b.aor},
                {"contact", b.contact},
                {"transport", text::to_lower(via_token(b.source.protocol))},
                {"expires", left},
                {"source", b.source.peer.to_string()},
                {"local", b.source.local.to_string()},
                {"q", b.q},
                {"user_agent", b.user_agent},
                {"instance", b.instance},
                {"reg_id", b.reg_id},
                {"path", b.path},
                {"outbound", b.outbound},
                {"reachable", !b.unreachable && !b.flow_dead},
                {"call_id", b.call_id},
                {"cseq", b.cseq}};
      if (b.source.flow != kNoFlow) {
        j["flow"] = b.source.flow;
      } else {
        j["flow"] = nullptr;
      }
      list.push_back(std::move(j));
    });
    std::sort(list.begin(), list.end(), [](const json& a, const json& b) {
      return std::tie(a["aor"].get_ref<const std::string&>(),
                      a["contact"].get_ref<const std::string&>()) <
             std::tie(b["aor"].get_ref<const std::string&>(),
                      b["contact"].get_ref<const std::string&>());
    });
    reply(json_response(200, list));
    return true;
  }

  reply(error_response(404, "no such resource; see docs/admin-api.yaml"));
  return true;
}

void AdminApi::subscriber_services(const ws::HttpRequest& req, const std::string& aor,
                                   const std::string& what, const std::string& item,
                                   const Reply& reply) {
  const bool groups = what == "groups";
  if (item.empty()) {
    if (req.method != "GET") return reply(not_allowed("GET"));
    auto out = std::make_shared<json>(json::array());
    auto known = std::make_shared<bool>(false);
    d_.store.run(
        "admin: list " + what + " of " + aor,
        [aor, groups, out, known](store::Store& s) {
          const auto at = aor.find('@');
          *known = s.find_subscriber(aor.substr(0, at), aor.substr(at + 1)).has_value();
          if (!*known) return;
          if (groups) {
            for (const auto& g : s.list_groups(aor)) out->push_back(g.group);
          } else {
            for (const auto& r : s.list_forwards(aor)) {
              out->push_back({{"kind", store::forward_kind_name(r.kind)},
                              {"target", r.target},
                              {"ring_timeout", r.ring_timeout_s}});
            }
          }
        },
        [reply, out, known](std::error_code ec) {
          if (ec) return reply(store_failed());
          if (!*known) return reply(error_response(404, "no such subscriber"));
          reply(json_response(200, *out));
        });
    return;
  }
  // One group or one rule: PUT adds / sets it, DELETE removes it.
  std::optional<store::ForwardKind> kind;
  if (groups) {
    if (auto why = group_defect(item); !why.empty()) {
      return reply(error_response(400, why, "group"));
    }
  } else {
    kind = store::parse_forward_kind(item);
    if (!kind) return reply(error_response(400, "want unconditional, busy or no_answer", "kind"));
  }
  if (req.method == "DELETE") {
    remove_in_store(
        what + " " + item + " of " + aor,
        [aor, item, kind](store::Store& s) {
          return kind ? s.delete_forward(aor, kind) > 0 : s.delete_group(aor, item);
        },
        "no such group membership or rule", reply);
    return;
  }
  if (req.method != "PUT") return reply(not_allowed("PUT, DELETE"));
  store::ForwardRule rule{aor, kind.value_or(store::ForwardKind::Unconditional), {}, 0};
  if (!groups) {
    auto parsed = object_body(req);
    if (auto* bad = std::get_if<ws::HttpResponse>(&parsed)) return reply(std::move(*bad));
    const json& body = std::get<json>(parsed);
    if (auto f = unknown_field(body, {"target", "ring_timeout"}); !f.empty()) {
      return reply(error_response(400, "unknown field; known fields are target, ring_timeout", f));
    }
    if (!body.contains("target") || !body["target"].is_string()) {
      return reply(error_response(400, "required: voicemail or a sip: or sips: URI", "target"));
    }
    rule.target = body["target"].get<std::string>();
    if (auto why = forward_target_defect(rule.target); !why.empty()) {
      return reply(error_response(400, why, "target"));
    }
    if (body.contains("ring_timeout")) {
      const auto& t = body["ring_timeout"];
      if (rule.kind != store::ForwardKind::NoAnswer) {
        return reply(error_response(400, "applies to no_answer only", "ring_timeout"));
      }
      if (!t.is_number_unsigned() || t.get<std::uint64_t>() < 1 ||
          t.get<std::uint64_t>() > kMaxRingTimeoutS) {
        return reply(error_response(400, "want whole seconds, 1..600", "ring_timeout"));
      }
      rule.ring_timeout_s = t.get<std::uint32_t>();
    }
  } else if (!req.body.empty()) {
    return reply(error_response(400, "a group membership takes no body", "body"));
  }
  auto known = std::make_shared<bool>(false);
  d_.store.run(
      "admin: set " + what + " " + item + " of " + aor,
      [aor, item, groups, rule, known](store::Store& s) {
        const auto at = aor.find('@');
        *known = s.find_subscriber(aor.substr(0, at), aor.substr(at + 1)).has_value();
        if (!*known) return;
        if (groups) {
          s.add_group(aor, item);
        } else {
          s.put_forward(rule);
        }
      },
      [this, reply, known, groups, item, rule](std::error_code ec) {
        if (ec) return reply(store_failed());
        if (!*known) return reply(error_response(404, "no such subscriber"));
        d_.store.invalidate();
        if (groups) {
          return reply(no_content());
        }
        reply(json_response(
            200, {{"kind", item}, {"target", rule.target}, {"ring_timeout", rule.ring_timeout_s}}));
      });
}

void AdminApi::aliases(const ws::HttpRequest& req, const std::string& alias, const Reply& reply) {
  if (alias.empty()) {
    if (req.method != "GET") return reply(not_allowed("GET"));
    auto out = std::make_shared<json>(json::array());
    d_.store.run(
        "admin: list aliases",
        [out](store::Store& s) {
          for (const auto& a : s.list_aliases()) {
            out->push_back({{"alias", a.alias}, {"aor", a.aor}});
          }
        },
        [reply, out](std::error_code ec) {
          if (ec) return reply(store_failed());
          reply(json_response(200, *out));
        });
    return;
  }
  if (req.method == "DELETE") {
    remove_in_store(
        "alias " + alias, [alias](store::Store& s) { return s.delete_alias(alias); },
        "no such alias", reply);
    return;
  }
  if (req.method != "PUT") return reply(not_allowed("PUT, DELETE"));
  auto parsed = object_body(req);
  if (auto* bad = std::get_if<ws::HttpResponse>(&parsed)) return reply(std::move(*bad));
  const json& body = std::get<json>(parsed);
  if (auto f = unknown_field(body, {"aor"}); !f.empty()) {
    return reply(error_response(400, "unknown field; the known field is aor", f));
  }
  if (!body.contains("aor") || !body["aor"].is_string()) {
    return reply(error_response(400, "required: the user@domain it reaches", "aor"));
  }
  auto aor = auth::split_aor(body["aor"].get<std::string>());
  if (!aor) return reply(error_response(400, aor.error(), "aor"));
  store::Alias a{alias, aor->first + '@' + aor->second};
  d_.store.run(
      "admin: set alias " + alias, [a](store::Store& s) { s.put_alias(a); },
      [this, reply, a](std::error_code ec) {
        if (ec) return reply(store_failed());
        d_.store.invalidate();
        reply(json_response(200, {{"alias", a.alias}, {"aor", a.aor}}));
      });
}

void AdminApi::remove_in_store(const std::string& what, std::function<bool(store::Store&)> remove,
                               std::string not_found, const Reply& reply) {
  auto removed = std::make_shared<bool>(false);
  d_.store.run(
      "admin: delete " + what,
      [remove = std::move(remove), removed](store::Store& s) { *removed = remove(s); },
      [this, reply, removed, what, not_found = std::move(not_found)](std::error_code ec) {
        if (ec) return reply(store_failed());
        if (!*removed) return reply(error_response(404, not_found));
        d_.store.invalidate();
        log::admin().info("admin api: {} deleted", what);
        reply(no_content());
      });
}

void AdminApi::write_subscriber(const std::shared_ptr<store::Subscriber>& sub, bool create,
                                const Reply& reply) {
  // Looked up and written in one job on the store worker: nothing of the API comes between.
  auto existed = std::make_shared<bool>(false);
  d_.store.run(
      std::string(create ? "admin: add subscriber " : "admin: change password of ") + sub->user +
          '@' + sub->domain,
      [sub, existed, create](store::Store& s) {
        *existed = s.find_subscriber(sub->user, sub->domain).has_value();
        if (*existed != create) s.put_subscriber(*sub);
      },
      [this, reply, sub, existed, create](std::error_code ec) {
        if (ec) return reply(store_failed());
        if (create && *existed) {
          return reply(
              error_response(409, "the subscriber exists; PUT changes its password", "aor"));
        }
        if (!create && !*existed) return reply(error_response(404, "no such subscriber"));
        d_.store.invalidate();
        const std::string aor = sub->user + '@' + sub->domain;
        log::admin().info("admin api: subscriber {} {}", aor,
                          create ? "added" : "given a new password");
        if (!create) return reply(json_response(200, subscriber_json(*sub)));
        auto r = json_response(201, subscriber_json(*sub));
        r.headers.emplace_back("Location", std::string(kPrefix) + "subscribers/" + aor);
        reply(std::move(r));
      });
}

AdminEvents::AdminEvents(transport::FlowTable& flows, TimerService& timers, std::string token,
                         Sources sources)
    : flows_(flows), timers_(timers), token_(std::move(token)), sources_(std::move(sources)) {
  auto now = [](const std::function<std::uint64_t()>& f) -> std::uint64_t { return f ? f() : 0; };
  last_[0] = now(sources_.registrations);
  last_[1] = now(sources_.calls);
  last_[2] = now(sources_.cdrs);
  timer_ = timers_.schedule(std::chrono::seconds(1), [this] { tick(); });
}

AdminEvents::~AdminEvents() {
  if (timer_ != 0) timers_.cancel(timer_);
}

ws::HandshakeVerdict AdminEvents::check_upgrade(const ws::HandshakeRequest& req) const {
  ws::HandshakeVerdict v;
  const std::string_view path = std::string_view(req.resource).substr(0, req.resource.find('?'));
  if (path != "/api/v1/events") {
    v.status = 404;
  } else if (token_.empty()) {
    v.status = 403;
  }
  return v;
}

void AdminEvents::on_message(const std::string& text, const Source& src) {
  if (std::find(clients_.begin(), clients_.end(), src.flow) != clients_.end()) return;
  auto flow = flows_.find(src.flow);
  if (!flow) return;
  const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  const bool ok = j.is_object() && j.contains("token") && j["token"].is_string() &&
                  bearer_matches("Bearer " + j["token"].get<std::string>(), token_);
  if (!ok) {
    log::admin().info("admin events: {} did not sign in; closed", src.peer.to_string());
    flow->send(std::make_shared<const std::string>(R"({"error":"a valid token is required"})"));
    flow->close();
    return;
  }
  clients_.push_back(src.flow);
  flow->send(std::make_shared<const std::string>(R"({"changed":[]})"));
}

void AdminEvents::tick() {
  timer_ = timers_.schedule(std::chrono::seconds(1), [this] { tick(); });
  auto now = [](const std::function<std::uint64_t()>& f) -> std::uint64_t { return f ? f() : 0; };
  const std::uint64_t v[3] = {now(sources_.registrations), now(sources_.calls), now(sources_.cdrs)};
  static constexpr const char* kNames[3] = {"registrations", "calls", "cdrs"};
  json changed = json::array();
  for (int i = 0; i < 3; ++i) {
    if (v[i] != last_[i]) changed.push_back(kNames[i]);
    last_[i] = v[i];
  }
  std::erase_if(clients_, [this](FlowId id) { return !flows_.find(id); });
  if (changed.empty() || clients_.empty()) return;
  auto msg = std::make_shared<const std::string>(json{{"changed", changed}}.dump());
  for (FlowId id : clients_) {
    if (auto f = flows_.find(id)) f->send(msg);
  }
}

}  // namespace sipws::app
