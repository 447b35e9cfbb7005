#include "proxy/loose_route.hpp"

#include <string>
#include <vector>

namespace sipws::proxy {
namespace {

using sip::HeaderId;

/// Checks the dialog signature of a Route URI of ours into `out`. Two entries of ours (a
/// double Record-Route) carry the same signature: `verified` keeps the one found valid, so it
/// is checked once.
void check_signature(const sip::Uri& uri, const sip::Message& req, const RouteSigner& signer,
                     OwnRoutes& out, std::string& verified) {
  ++out.count;
  const sip::Param* sig = uri.param(kRouteSignatureParam);
  if (sig == nullptr || !sig->has_value) {
    out.signed_ok = false;
    return;
  }
  if (!verified.empty() && sig->value == verified) return;
  if (signer.verify(sig->value, req.call_id(), req.from().tag(), req.to().tag())) {
    verified = std::string(sig->value);
  } else {
    out.signed_ok = false;
  }
}

}  // namespace

OwnRoutes remove_own_routes(sip::Message& req, const Source& src, const Domains& domains,
                            const NetworkView& net, const RouteSigner& signer) {
  OwnRoutes out;
  std::string verified;
  if (is_self_uri(req.request_uri(), domains, net) && req.count(HeaderId::Route) > 0 &&
      flow_token(req.request_uri()) != kNoFlow) {
    // Request-URI is a Record-Route value of ours: a strict router upstream (s.16.4).
    const auto routes = req.find_all(HeaderId::Route);
    auto last = sip::parse_name_addr(routes.back()->value);
    out.flow = flow_token(req.request_uri());
    check_signature(req.request_uri(), req, signer, out, verified);
    if (last) {
      std::string uri(last->uri.raw);
      // remove the last Route value
      std::vector<std::string> keep;
      for (std::size_t i = 0; i + 1 < routes.size(); ++i) keep.emplace_back(routes[i]->value);
      req.remove_all(HeaderId::Route);
      for (auto& k : keep) req.append(HeaderId::Route, std::move(k));
      req.set_request_uri(std::move(uri));
    }
  }
  for (int i = 0; i < 4; ++i) {
    const auto* top = req.find(HeaderId::Route);
    if (top == nullptr) break;
    auto na = sip::parse_name_addr(top->value);
    if (!na || !is_self_uri(na->uri, domains, net)) break;
    if (FlowId f = flow_token(na->uri); f != kNoFlow) out.flow = f;
    check_signature(na->uri, req, signer, out, verified);
    req.pop_front(HeaderId::Route);
  }
  // A token naming the flow the request came in on is the sender's own side of the route.
  if (out.flow == src.flow) out.flow = kNoFlow;
  return out;
}

Action LooseRouteProcessor::process(RequestContext& ctx) {
  ctx.own_routes() = remove_own_routes(ctx.request(), ctx.source(), domains_, net_, signer_);
  return Action::Continue;
}

}  // namespace sipws::proxy
