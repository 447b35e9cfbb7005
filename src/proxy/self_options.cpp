#include "proxy/self_options.hpp"

namespace sipws::proxy {

Action SelfOptionsProcessor::process(RequestContext& ctx) {
  const sip::Message& req = ctx.request();
  if (req.method() != sip::Method::Options || req.count(sip::HeaderId::Route) != 0 ||
      !req.request_uri().user.empty() || !is_self_uri(req.request_uri(), domains_, net_)) {
    return Action::Continue;
  }
  sip::Message& rsp = ctx.respond(200);
  rsp.append(sip::HeaderId::Allow,
             "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, INFO, UPDATE, PRACK, MESSAGE, "
             "SUBSCRIBE, NOTIFY, REFER");
  rsp.append(sip::HeaderId::Supported, "path, outbound, gruu");
  return Action::Respond;
}

}  // namespace sipws::proxy
