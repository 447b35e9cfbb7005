#include "proxy/request_context.hpp"

#include "common/random.hpp"

namespace sipws::proxy {

sip::Message& RequestContext::respond(int status, std::string_view reason) {
  response_ = sip::make_response(original_, status, reason);
  if (status > 100 && original_.to().tag().empty()) response_->set_to_tag(random_token(10));
  return *response_;
}

}  // namespace sipws::proxy
