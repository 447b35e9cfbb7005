#include "proxy/request_context.hpp"

#include <string>

namespace sipws::proxy {

sip::Message& RequestContext::respond(int status, std::string_view reason) {
  response_ = sip::make_response(original_, status, reason);
  if (status > 100 && original_.to().tag().empty()) response_->set_to_tag(inst_.tokens.token(10));
  return *response_;
}

sip::Message& RequestContext::respond_unavailable(std::string_view reason,
                                                  std::uint32_t retry_after_s) {
  sip::Message& rsp = respond(503, reason);
  rsp.append(sip::HeaderId::RetryAfter, std::to_string(retry_after_s));
  return rsp;
}

sip::Message& RequestContext::respond_store_unavailable() {
  // An error path: the registry lookup (a lock and a map search) costs nothing that matters.
  inst_.counters.get("store_unavailable_responses").inc();
  return respond_unavailable("Service Unavailable - Store Unavailable", kStoreRetryAfterS);
}

}  // namespace sipws::proxy
