// ws::UpgradeProbe: one websocketpp server connection with the listener's config (iostream
// transport) running the listener's handshake checks and message hand-off.

#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <websocketpp/server.hpp>

#include "ws/handshake_checks.hpp"
#include "ws/listener.hpp"
#include "ws/origin_policy.hpp"

namespace sipws::ws {

namespace wsp = websocketpp;

class UpgradeProbeImpl {
 public:
  using Server = wsp::server<detail::ServerConfig>;  // the listener's

  UpgradeProbeImpl(ListenerConfig cfg, DeliverFn deliver, Endpoint peer)
      : cfg_(std::move(cfg)),
        origins_(cfg_.allowed_origins, cfg_.allow_no_origin),
        deliver_(std::move(deliver)),
        peer_(std::move(peer)) {
    server_.clear_access_channels(wsp::log::alevel::all);
    server_.clear_error_channels(wsp::log::elevel::all);
    server_.set_max_message_size(cfg_.max_message_size);
    server_.set_validate_handler([this](wsp::connection_hdl hdl) {
      auto c = server_.get_con_from_hdl(std::move(hdl));
      return detail::validate_upgrade(*c, detail::UpgradeGate{cfg_, origins_, false}, peer_);
    });
    // As the listener's on_http without www_root or HTTP hook: limits, version 13, else 426.
    server_.set_http_handler([this](wsp::connection_hdl hdl) {
      auto c = server_.get_con_from_hdl(std::move(hdl));
      if (detail::refuse_if_over_limit(*c, peer_)) return;
      if (detail::refuse_if_bad_version(*c, peer_)) return;
      c->set_status(wsp::http::status_code::upgrade_required);
    });
    server_.set_message_handler([this](const wsp::connection_hdl&, const Server::message_ptr& msg) {
      if (!msg) return;
      detail::hand_off_message(std::move(msg->get_raw_payload()),
                               Source{Protocol::Ws, peer_, Endpoint{}, UpgradeProbe::kFlowId},
                               deliver_);
    });
    con_ = server_.get_connection();
    con_->register_ostream(&out_);
    detail::admit_connection(*con_, cfg_.limiter.get(), peer_);  // as at TCP accept
    con_->start();
  }

  ~UpgradeProbeImpl() {
    if (con_) con_->eof();
  }

  ListenerConfig cfg_;
  OriginPolicy origins_;
  DeliverFn deliver_;
  Endpoint peer_;
  Server server_;
  Server::connection_ptr con_;
  std::ostringstream out_;
};

UpgradeProbe::UpgradeProbe(ListenerConfig cfg, DeliverFn deliver, Endpoint peer)
    : impl_(std::make_unique<UpgradeProbeImpl>(std::move(cfg), std::move(deliver),
                                               std::move(peer))) {}

UpgradeProbe::~UpgradeProbe() = default;

std::size_t UpgradeProbe::feed(const char* data, std::size_t size) {
  return impl_->con_->read_all(data, size);
}

void UpgradeProbe::eof() { impl_->con_->eof(); }

std::string UpgradeProbe::output() const { return impl_->out_.str(); }

bool UpgradeProbe::open() const { return impl_->con_->get_state() == wsp::session::state::open; }

int UpgradeProbe::local_close_code() const {
  const auto code = impl_->con_->get_local_close_code();
  return code == wsp::close::status::abnormal_close ? 0 : static_cast<int>(code);
}

}  // namespace sipws::ws
