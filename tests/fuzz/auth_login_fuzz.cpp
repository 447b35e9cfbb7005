// libFuzzer target for `POST /login` and `/logout` on the WS/WSS port
// (auth::HandshakeAuthenticator::handle_http, RFC 7118 Appendix A): the request body as JSON
// or as a form, through the password check against a real SQLite store, to the session cookie.
// The first byte picks the request's other parts:
//   bits 0-2: Content-Type (JSON, form, with parameters, odd case, wrong ones);
//   bit 3: an Origin header (bit 4: the page's own, else another site's);
//   bit 5: /logout instead of /login;  bit 6: GET instead of POST;  bit 7: HTTPS.
// The rest is the body. Properties checked: exactly one reply; a status that the request's
// path, method and origin allow; a JSON body; 200 on /login only with a Set-Cookie whose
// cookie verifies to the aor the body names, a subscriber whose password the body carried
// (read here on its own), `Secure` on HTTPS;
// no cookie on any refusal.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "auth/handshake_auth.hpp"
#include "auth_fuzz_util.hpp"
#include "common/text.hpp"
#include "common/timer.hpp"

namespace {

using namespace sipws;
using namespace sipws::auth;

constexpr std::string_view kContentTypes[] = {
    "application/json",
    "application/x-www-form-urlencoded",
    "application/json; charset=utf-8",
    " Application/X-WWW-Form-Urlencoded ; charset=UTF-8",
    "text/plain",
    "",
    "application/jsonx",
    "multipart/form-data; boundary=x",
};

std::string header(const LoginResponse& r, std::string_view name) {
  for (const auto& [n, v] : r.headers) {
    if (n == name) return v;
  }
  return {};
}

/// The subscriber whose aor this is, or nullptr.
const fuzz::User* subscriber(std::string_view aor) {
  for (const fuzz::User& u : fuzz::kUsers) {
    if (aor == std::string(u.name) + "@" + fuzz::kRealm) return &u;
  }
  return nullptr;
}

/// Every "password" the body carries, read here on its own: JSON's member, or each
/// `password=` field of a form (RFC 1866 s.8.2.1 decoding).
std::vector<std::string> passwords_in(std::string_view body) {
  std::vector<std::string> out;
  const auto j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_object() && j.contains("password") && j["password"].is_string()) {
    out.push_back(j["password"].get<std::string>());
  }
  for (std::string_view rest = body; !rest.empty();) {
    const std::string_view field = rest.substr(0, rest.find('&'));
    if (field.starts_with("password=")) {
      if (auto v = text::form_decode(field.substr(9))) out.push_back(std::move(*v));
    }
    rest.remove_prefix(std::min(rest.size(), field.size() + 1));
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0 || size > 8192) return 0;
  static fuzz::StoreFixture fixture;
  ManualTimerService timers;
  HandshakeAuthConfig cfg;
  cfg.mode = HandshakeAuthMode::Cookie;
  cfg.realm = fuzz::kRealm;
  HandshakeAuthenticator auth(cfg, "fuzz-cookie-key-0123456789abcdef", fixture.store(), timers);

  const std::uint8_t flags = data[0];
  LoginRequest req;
  req.peer_address = "192.0.2.1";
  req.method = (flags & 64) ? "GET" : "POST";
  req.target = (flags & 32) ? "/logout" : "/login?next=/";
  req.host = "sip.example.com:8443";
  req.secure = (flags & 128) != 0;
  const std::string own = std::string(req.secure ? "https://" : "http://") + req.host;
  if (flags & 8) req.origin = (flags & 16) ? own : "https://evil.example.net";
  req.content_type = std::string(kContentTypes[flags & 7]);
  req.body.assign(reinterpret_cast<const char*>(data) + 1, size - 1);

  std::optional<LoginResponse> got;
  int replies = 0;
  const bool taken = auth.handle_http(req, [&](LoginResponse r) {
    got = std::move(r);
    ++replies;
  });
  fixture.settle();
  check(taken);
  check(replies == 1 && got.has_value());
  const LoginResponse& r = *got;

  const auto body = nlohmann::json::parse(r.body, nullptr, /*allow_exceptions=*/false);
  check(body.is_object());
  check(header(r, "Content-Type") == "application/json");
  const std::string set_cookie = header(r, "Set-Cookie");
  if (r.status != 200) check(set_cookie.empty());

  if (req.method != "POST") {
    check(r.status == 405 && header(r, "Allow") == "POST");
    return 0;
  }
  if (!req.origin.empty() && req.origin != own) {
    check(r.status == 403);
    return 0;
  }
  if (flags & 32) {  // logout: always, and the cookie is cleared
    check(r.status == 200);
    check(set_cookie.find("sipws_session=;") == 0 &&
          set_cookie.find("Max-Age=0") != std::string::npos);
    return 0;
  }
  check(r.status == 200 || r.status == 400 || r.status == 401);
  if (r.status != 200) return 0;

  // A login: the cookie is for a subscriber, the one the body names (bytes of a stored name
  // that are not UTF-8 shown as U+FFFD there).
  check(body.contains("aor") && body["aor"].is_string());
  check(body["expires"] == timers.unix_time() + cfg.session_lifetime_s);
  check(set_cookie.find("; HttpOnly") != std::string::npos);
  check((set_cookie.find("; Secure") != std::string::npos) == req.secure);
  const auto values = cookie_values(set_cookie.substr(0, set_cookie.find(';')), kSessionCookieName);
  check(values.size() == 1);
  const auto verified = auth.cookies().verify(values[0], timers.unix_time());
  check(verified.has_value());
  // ... whose password the request carried.
  const fuzz::User* u = subscriber(*verified);
  check(u != nullptr);
  const auto given = passwords_in(req.body);
  check(std::find(given.begin(), given.end(), u->password) != given.end());
  const auto shown =
      nlohmann::json(*verified).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  check(nlohmann::json::parse(shown) == body["aor"]);
  return 0;
}
