#pragma once
// What the request chain works on (repro's RequestContext): the request as received, the copy
// being forwarded, where it came from, the targets chosen so far, and the response if a
// processor answered.

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/net.hpp"
#include "sip/message.hpp"
#include "sip/txn/transaction_layer.hpp"

namespace sipws::proxy {

/// What a processor tells the chain to do next (Envoy's Continue/StopIteration).
enum class Action {
  Continue,   ///< run the next processor
  Pause,      ///< async work started; the processor will call the resume handle later
  Respond,    ///< ctx.response() is set: send it, stop the chain
  SkipChain,  ///< stop the chain and forward to the targets found so far
};

/// One place to send the request (RFC 3261 s.16.5 target set).
struct Target {
  std::string uri;                      ///< the Request-URI to send (a registered contact...)
  std::vector<std::string> route;       ///< Route values to put first (a binding's Path, RFC 3327)
  std::optional<Destination> next_hop;  ///< fixed next hop (the flow a binding registered on)
  float q = 1.0f;                       ///< preference (RFC 3261 s.10.2.1.2); highest first
};

/// State of one request through the chain. Thread: core io thread.
class RequestContext {
 public:
  RequestContext(const sip::Message& request, const Source& src, sip::txn::ServerTxnId txn)
      : original_(request), request_(request), source_(src), txn_(txn) {}

  /// The request exactly as received.
  const sip::Message& original() const { return original_; }
  /// The copy that will be forwarded; processors may change it (Request-URI, headers).
  sip::Message& request() { return request_; }
  const Source& source() const { return source_; }
  sip::txn::ServerTxnId server_txn() const { return txn_; }

  /// Creates the response this context will send when a processor returns Action::Respond:
  /// make_response(original(), status, reason) with a To tag for non-100 responses.
  /// Returns it so the processor can add headers (WWW-Authenticate, Contact, Min-Expires...).
  sip::Message& respond(int status, std::string_view reason = {});
  std::optional<sip::Message>& response() { return response_; }

  std::vector<Target>& targets() { return targets_; }

  /// The identity proven for this request: "user@domain" after digest auth (or flow
  /// handshake auth); empty if none.
  const std::string& identity() const { return identity_; }
  void set_identity(std::string aor) { identity_ = std::move(aor); }

  /// For Action::Pause: a handle to continue the chain later with the given action (call it
  /// on the core io thread, once). Safe to call after the transaction is gone (no-op).
  std::function<void(Action)> pause_handle() const {
    return resume_factory_ ? resume_factory_() : nullptr;
  }
  /// Set by the proxy core before the chain runs.
  void set_resume_factory(std::function<std::function<void(Action)>()> f) {
    resume_factory_ = std::move(f);
  }

 private:
  sip::Message original_;
  sip::Message request_;
  Source source_;
  sip::txn::ServerTxnId txn_;
  std::optional<sip::Message> response_;
  std::vector<Target> targets_;
  std::string identity_;
  std::function<std::function<void(Action)>()> resume_factory_;
};

/// One step of the request chain: one job (max-forwards, digest-auth, registrar...).
/// Thread: core io thread.
class RequestProcessor {
 public:
  virtual ~RequestProcessor() = default;
  /// Short name for logs ("digest-auth").
  virtual std::string_view name() const = 0;
  virtual Action process(RequestContext& ctx) = 0;
};

}  // namespace sipws::proxy
