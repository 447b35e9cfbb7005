#include "app/demo_users.hpp"

#include <openssl/rand.h>

#include <array>
#include <stdexcept>
#include <string_view>

#include "auth/digest.hpp"
#include "store/store.hpp"

namespace sipws::app {
namespace {

std::string url_host(const Endpoint& ep) {
  if (ep.address.is_unspecified() || ep.address.is_loopback()) return "localhost";
  return ep.host_string();
}

}  // namespace

std::string demo_page_url(const std::vector<ListenPoint>& points) {
  for (Protocol proto : {Protocol::Wss, Protocol::Ws}) {
    for (const auto& lp : points) {
      if (lp.protocol != proto) continue;
      return std::string(proto == Protocol::Wss ? "https://" : "http://") + url_host(lp.local) +
             ":" + std::to_string(lp.local.port) + "/";
    }
  }
  return {};
}

std::string random_password(std::size_t n) {
  static constexpr std::string_view kAlphabet =
      "23456789abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ";
  // Rejection sampling keeps the characters uniform: 256 is not a multiple of the alphabet size.
  constexpr unsigned kLimit = 256 - 256 % kAlphabet.size();
  std::string out;
  while (out.size() < n) {
    std::array<unsigned char, 32> buf{};
    if (RAND_bytes(buf.data(), static_cast<int>(buf.size())) != 1) {
      throw std::runtime_error("RAND_bytes failed while creating a demo password");
    }
    for (unsigned char b : buf) {
      if (b < kLimit && out.size() < n) out += kAlphabet[b % kAlphabet.size()];
    }
  }
  return out;
}

std::string ensure_demo_users(store::Store& store, const std::string& domain,
                              const std::string& url) {
  const std::string at = url.empty() ? "" : " at " + url;
  if (store.list_subscribers().empty()) {
    std::string line = "demo users:";
    for (std::size_t i = 0; i < kDemoUsers.size(); ++i) {
      const std::string password = random_password();
      store.put_subscriber(auth::make_subscriber(kDemoUsers[i], domain, password));
      line.append(i ? ", " : " ").append(kDemoUsers[i]).append("@").append(domain);
      line.append(" / ").append(password);
    }
    return line + at;
  }
  std::vector<std::string_view> existing;  // users of kDemoUsers in the store
  for (const auto& user : kDemoUsers) {
    if (store.find_subscriber(user, domain)) existing.push_back(user);
  }
  if (existing.empty()) return url.empty() ? "" : "demo page: " + url;
  std::string line = "demo users: ";
  for (std::size_t i = 0; i < existing.size(); ++i) {
    line.append(i ? ", " : "").append(existing[i]).append("@").append(domain);
  }
  return line + (existing.size() == 1 ? " exists" : " exist") +
         " (passwords are not stored; reset one with `sipws user add " +
         std::string(existing.front()) + "@" + domain + " NEWPASS`)" + at;
}

}  // namespace sipws::app
