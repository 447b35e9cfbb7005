#pragma once
// Demo subscribers for the embedded default: `sipws run` with no configuration file and the
// default store creates alice and bob with random passwords on an empty store and tells the
// user how to sign in to the demo page.

#include <string>
#include <vector>

#include "common/net.hpp"

namespace sipws::store {
class Store;
}

namespace sipws::app {

/// The users created on an empty store, in this order.
inline const std::vector<std::string> kDemoUsers = {"alice", "bob"};

/// The demo page's address for the bound listeners: the first WSS listener as
/// `https://HOST:PORT/` (HOST `localhost` for a loopback or unspecified address, which is also a
/// secure context for the microphone), else the first WS listener as `http://`; "" if the page
/// is not served. Thread: any.
std::string demo_page_url(const std::vector<ListenPoint>& points);

/// On an empty store, adds `<user>@domain` for each of kDemoUsers with a random 12-character
/// password and returns
///   "demo users: alice@D / PW, bob@D / PW at URL".
/// If some of them exist already (only HA1 is stored, so their passwords cannot be shown):
///   "demo users: alice@D, bob@D exist (passwords are not stored; reset one with
///    `sipws user add alice@D NEWPASS`) at URL".
/// Otherwise (other subscribers only): "demo page: URL". " at URL" is left out when `url` is "".
/// Thread: start-up, before the store is shared. @throws store::StoreError, std::runtime_error
/// if the random generator fails.
std::string ensure_demo_users(store::Store& store, const std::string& domain,
                              const std::string& url);

/// A password of `n` characters from an unambiguous alphabet (no 0/O, 1/l/I), from OpenSSL's
/// RAND_bytes. @throws std::runtime_error if RAND_bytes fails. Thread: any.
std::string random_password(std::size_t n = 12);

}  // namespace sipws::app
