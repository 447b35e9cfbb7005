#pragma once
// ICE-lite agent (RFC 8445 s.2.5, s.7.3): the bridge only answers connectivity checks on its one
// host candidate per media port; it never sends checks and is always the controlled agent.
// I/O-free: bytes and the source address in, the response bytes out.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/net.hpp"

namespace sipws::bridge {

/// Answers STUN Binding requests with short-term credentials (RFC 8445 s.7.3, RFC 5389 s.10.1)
/// and remembers which source address the peer nominated.
/// Thread: one at a time (the media session's executor); no internal locking.
class IceLiteAgent {
 public:
  /// An agent with fresh random credentials from OpenSSL's CSPRNG: an 8-character ufrag and a
  /// 24-character pwd (144 bits) from the ice-char alphabet (RFC 8839 s.5.4: ufrag >= 4, pwd >=
  /// 22).
  static IceLiteAgent make();
  /// An agent with given credentials (tests, or credentials kept across an ICE restart).
  IceLiteAgent(std::string ufrag, std::string pwd);

  /// Our a=ice-ufrag / a=ice-pwd, for the SDP we send.
  const std::string& ufrag() const { return ufrag_; }
  const std::string& pwd() const { return pwd_; }

  /// The peer's a=ice-ufrag / a=ice-pwd from its SDP. Until this is called, requests are
  /// accepted with any remote part in USERNAME (checks may arrive before the peer's answer,
  /// RFC 8445 s.7.3); afterwards the remote part must equal `ufrag`. The remote pwd is stored
  /// only (a lite agent sends no requests, so it never signs with it).
  void set_remote(std::string ufrag, std::string pwd);
  const std::string& remote_ufrag() const { return remote_ufrag_; }
  const std::string& remote_pwd() const { return remote_pwd_; }

  struct Result {
    std::vector<std::uint8_t> response;  ///< bytes to send back to `from` (empty: send nothing)
    bool valid = false;                  ///< authenticated Binding request answered with success
    bool nominated = false;              ///< valid and carried USE-CANDIDATE (RFC 8445 s.7.3.1.5)
  };

  /// Handles one datagram that demux classified as STUN, received from `from`:
  /// - not parseable, not a request, or FINGERPRINT missing/wrong: dropped (no response;
  ///   RFC 5389 s.7.3, RFC 8445 s.7.3: FINGERPRINT tells STUN from other traffic);
  /// - a request for another method than Binding: 400;
  /// - USERNAME or MESSAGE-INTEGRITY missing: 400 (RFC 5389 s.10.1.2);
  /// - USERNAME not "<our ufrag>:<their ufrag>" or MESSAGE-INTEGRITY not keyed with our pwd:
  ///   401 without MESSAGE-INTEGRITY (RFC 5389 s.10.1.2);
  /// - unknown comprehension-required attributes: 420 + UNKNOWN-ATTRIBUTES (s.7.3.1);
  /// - ICE-CONTROLLED (the peer wants to be controlled too): 487 Role Conflict, since a lite
  ///   agent is always controlled and cannot switch (RFC 8445 s.7.3.1.1);
  /// - otherwise a success response with XOR-MAPPED-ADDRESS = `from`, MESSAGE-INTEGRITY (our
  ///   pwd) and FINGERPRINT; valid = true; with USE-CANDIDATE nominated = true.
  /// Every response carries FINGERPRINT; the 420 and 487 ones MESSAGE-INTEGRITY too.
  /// Never throws, never reads out of bounds, whatever the input.
  Result on_stun(std::span<const std::uint8_t> packet, const Endpoint& from);

  /// The source address of the latest nominated request, else of the latest valid one; nullopt
  /// before any valid request. Media goes there (RFC 8445 s.12).
  std::optional<Endpoint> selected() const;

  /// What happened to requests so far (for counters).
  struct Stats {
    std::uint64_t dropped = 0;       ///< malformed, not a request, bad FINGERPRINT
    std::uint64_t bad_request = 0;   ///< answered 400
    std::uint64_t unauthorized = 0;  ///< answered 401
    std::uint64_t other_error = 0;   ///< answered 420 or 487
    std::uint64_t valid = 0;         ///< answered success
    std::uint64_t nominated = 0;     ///< of which carried USE-CANDIDATE
  };
  const Stats& stats() const { return stats_; }

 private:
  std::string ufrag_;
  std::string pwd_;
  std::string remote_ufrag_;
  std::string remote_pwd_;
  std::optional<Endpoint> latest_valid_;
  std::optional<Endpoint> latest_nominated_;
  Stats stats_;
};

}  // namespace sipws::bridge
