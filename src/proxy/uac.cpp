#include "proxy/uac.hpp"

#include <memory>

#include "common/counters.hpp"
#include "common/log.hpp"
#include "proxy/routing.hpp"
#include "sip/parser.hpp"

namespace sipws::proxy {

const ListenPoint* Uac::listen_point_for(const Destination& dest) const {
  const ListenPoint* fallback = nullptr;
  for (const auto& lp : net_.listen_points()) {
    if (lp.protocol != dest.protocol) continue;
    if (lp.local.address.is_v6() == dest.endpoint.address.is_v6()) return &lp;
    if (fallback == nullptr) fallback = &lp;
  }
  return fallback;
}

Uac::Uac(const NetworkView& net, unsigned shard, Instruments inst)
    : net_(net),
      shard_(shard),
      tokens_(inst.tokens),
      sent_(inst.counters.get("uac_requests_sent")),
      unsendable_(inst.counters.get("uac_requests_unsendable")),
      ok_(inst.counters.get("uac_responses_2xx")),
      failed_(inst.counters.get("uac_responses_failure")),
      timeouts_(inst.counters.get("uac_timeouts")),
      transport_(inst.counters.get("uac_transport_errors")) {}

sip::txn::ClientTxnId Uac::send(const OwnRequest& req, const Destination& dest, Done done) {
  DoneWithResponse d;
  if (done) {
    d = [done = std::move(done)](const sip::Message* rsp) {
      done(rsp != nullptr ? rsp->status() : 0);
    };
  }
  return send(req, dest, std::move(d));
}

sip::txn::ClientTxnId Uac::send(const OwnRequest& req, const Destination& dest,
                                DoneWithResponse done) {
  const ListenPoint* lp = listen_point_for(dest);
  if (txns_ == nullptr || lp == nullptr) {
    unsendable_.inc();
    log::proxy().info("{} {}: no listen point for {}, not sent", req.method, req.uri,
                      via_token(dest.protocol));
    return 0;
  }
  // RFC 3261 s.8.1.1: the mandatory headers, Via first (s.8.1.1.7) with a branch of ours.
  auto text = std::make_shared<std::string>();
  text->reserve(256 + req.uri.size() + req.from.size() + req.to.size() + req.call_id.size() +
                req.body.size());
  *text += req.method + ' ' + req.uri + " SIP/2.0\r\n";
  *text += "Via: " + make_via(*lp, make_own_branch(shard_, tokens_)) + "\r\n";
  *text += "Max-Forwards: 70\r\n";
  *text += "From: " + req.from + "\r\n";
  *text += "To: " + req.to + "\r\n";
  *text += "Call-ID: " + req.call_id + "\r\n";
  *text += "CSeq: " + std::to_string(req.cseq) + ' ' + req.method + "\r\n";
  for (const auto& [name, value] : req.headers)
    text->append(name).append(": ").append(value).append("\r\n");
  if (!req.body.empty()) *text += "Content-Type: " + req.content_type + "\r\n";
  *text += "Content-Length: " + std::to_string(req.body.size()) + "\r\n\r\n";
  *text += req.body;
  auto msg = sip::parse(std::shared_ptr<const std::string>(std::move(text)));
  if (!msg) {
    unsendable_.inc();
    log::proxy().warn("{} {}: cannot build a request of our own: {}", req.method, req.uri,
                      msg.error().reason);
    return 0;
  }
  const sip::txn::ClientTxnId id = txns_->send_request(*msg, dest);
  sent_.inc();
  pending_[id] = Pending{req.method + ' ' + req.uri, std::move(done)};
  return id;
}

void Uac::finish(std::unordered_map<sip::txn::ClientTxnId, Pending>::iterator it, int status,
                 std::string_view why, const sip::Message* response) {
  Pending p = std::move(it->second);
  pending_.erase(it);
  if (status >= 200 && status < 300) {
    log::proxy().debug("{}: {} {}", p.what, status, why);
  } else {
    log::proxy().info("{}: {} {}", p.what,
                      status == 0 ? std::string("no answer:") : std::to_string(status), why);
  }
  if (p.done) p.done(response);
}

bool Uac::on_response(sip::txn::ClientTxnId id, const sip::Message& response) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return false;
  const int status = response.status();
  if (status < 200) return true;
  if (status < 300) {
    ok_.inc();
  } else {
    failed_.inc();
  }
  finish(it, status, response.reason(), &response);
  return true;
}

bool Uac::on_client_failure(sip::txn::ClientTxnId id, bool transport_error) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return false;
  if (transport_error) {
    transport_.inc();
    finish(it, 0, "transport error", nullptr);
  } else {
    timeouts_.inc();
    finish(it, 0, "timeout (Timer B/F)", nullptr);
  }
  return true;
}

}  // namespace sipws::proxy
