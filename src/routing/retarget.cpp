#include "routing/retarget.hpp"

#include <algorithm>

#include "common/counters.hpp"
#include "routing/dial_plan.hpp"
#include "sip/text.hpp"
#include "sip/uri.hpp"

namespace sipws::routing {
namespace {

std::string_view reason_token(ForwardReason r) {
  switch (r) {
    case ForwardReason::Unconditional:
      return "unconditional";
    case ForwardReason::UserBusy:
      return "user-busy";
    case ForwardReason::NoAnswer:
      return "no-answer";
  }
  return "unknown";
}

/// RFC 4458 s.3.4 cause values.
int cause_of(ForwardReason r) {
  switch (r) {
    case ForwardReason::Unconditional:
      return 302;
    case ForwardReason::UserBusy:
      return 486;
    case ForwardReason::NoAnswer:
      return 408;
  }
  return 404;
}

/// The index of the last History-Info entry in `req` (RFC 7044 s.10.3: the entry of the
/// current target), "" if none.
std::string last_history_index(const sip::Message& req) {
  std::string last;
  for (const auto& h : req.headers()) {
    if (!sip::text::iequal(h.name, "History-Info")) continue;
    std::string_view v = h.value;
    for (auto pos = v.find("index="); pos != std::string_view::npos; pos = v.find("index=", pos)) {
      pos += 6;
      auto end = pos;
      while (end < v.size() && (sip::text::is_digit(v[end]) || v[end] == '.')) ++end;
      last = std::string(v.substr(pos, end - pos));
    }
  }
  return last;
}

/// The target with `cause` added as a URI parameter (RFC 4458), in angle brackets.
std::string with_cause(std::string_view target, ForwardReason r) {
  std::string v = "<";
  v += target;
  v += ";cause=";
  v += std::to_string(cause_of(r));
  v += '>';
  return v;
}

}  // namespace

std::optional<RetargetError> retarget(proxy::RequestContext& ctx, std::string_view target,
                                      ForwardReason reason) {
  Counter& forwards = SIPWS_COUNTER("forward_retargets");
  Counter& loops = SIPWS_COUNTER("forward_loops");
  auto uri = sip::parse_uri(target);
  if (!uri || !uri->is_sip())
    return RetargetError{500, "Server Internal Error - Bad Forward Target"};
  sip::Message& req = ctx.request();
  auto& seen = ctx.retargets();
  if (seen.empty()) seen.emplace_back(req.request_uri().raw);
  const bool repeated = std::any_of(seen.begin(), seen.end(), [&](const std::string& s) {
    auto u = sip::parse_uri(s);
    return u && sip::uri_equal(*u, *uri);
  });
  if (repeated) {
    loops.inc();
    return RetargetError{482, "Loop Detected - Call Forwarding"};
  }
  if (seen.size() > kMaxForwards) {
    loops.inc();
    return RetargetError{480, "Temporarily Unavailable - Too Many Forwards"};
  }
  const std::string current(req.request_uri().raw);
  // RFC 5806 s.4: the diverting URI, why, and how many diversions so far.
  req.append("Diversion", "<" + current + ">;reason=" + std::string(reason_token(reason)) +
                              ";counter=" + std::to_string(seen.size()));
  // RFC 7044 s.10.3: the current target's entry (added as index 1 when the request has none)
  // gets a child for the new target, with mp (mapped: changed by a forwarding rule) naming
  // its parent and the RFC 4458 cause.
  std::string parent = last_history_index(req);
  if (parent.empty()) {
    req.append("History-Info", "<" + current + ">;index=1");
    parent = "1";
  }
  req.append("History-Info", with_cause(target, reason) + ";index=" + parent + ".1;mp=" + parent);
  req.set_request_uri(std::string(target));
  seen.emplace_back(target);
  ctx.set_forwarded();
  ctx.set_local_user({});
  forwards.inc();
  return std::nullopt;
}

std::string forward_target(const store::ForwardRule& rule, const VoicemailTemplates& vm) {
  if (rule.target != "voicemail") return rule.target;
  const std::string_view user = std::string_view(rule.aor).substr(0, rule.aor.find('@'));
  const std::string* tmpl = &vm.no_answer;
  if (rule.kind == store::ForwardKind::Busy) tmpl = &vm.busy;
  if (rule.kind == store::ForwardKind::Unconditional && !vm.unconditional.empty()) {
    tmpl = &vm.unconditional;
  }
  return tmpl->empty() ? std::string() : expand_voicemail(*tmpl, user);
}

}  // namespace sipws::routing
