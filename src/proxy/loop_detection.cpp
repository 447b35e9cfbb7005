#include "proxy/loop_detection.hpp"

#include <string>

#include "proxy/routing.hpp"

namespace sipws::proxy {

Action LoopDetectionProcessor::process(RequestContext& ctx) {
  const sip::Message& req = ctx.request();
  const auto vias = req.find_all(sip::HeaderId::Via);
  if (vias.size() < 2) return Action::Continue;
  std::string hash;
  for (const auto* h : vias) {
    auto via = sip::parse_via(h->value);
    if (!via) continue;
    auto lh = branch_loop_hash(via->branch());
    if (lh.empty()) continue;
    bool ours = false;
    for (const auto& lp : net_.listen_points()) {
      if (unbracket(via->host) == unbracket(lp.advertised) && via->port == lp.sent_by_port()) {
        ours = true;
      }
    }
    if (!ours) continue;
    if (hash.empty()) hash = loop_hash(req);
    if (lh == hash) {
      loops_.inc();
      ctx.respond(482, "Loop Detected");
      return Action::Respond;
    }
  }
  return Action::Continue;
}

}  // namespace sipws::proxy
