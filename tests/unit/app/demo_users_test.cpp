#include "app/demo_users.hpp"

#include <gtest/gtest.h>

#include <boost/asio/ip/address.hpp>
#include <filesystem>
#include <fstream>
#include <regex>

#include "app/config.hpp"
#include "auth/digest.hpp"
#include "common/random.hpp"
#include "store/store.hpp"

namespace sipws::app {
namespace {

class DemoUsersTest : public ::testing::Test {
 protected:
  DemoUsersTest()
      : dir_(std::filesystem::temp_directory_path() / ("sipws-demo-" + random_token(12))),
        store_(store::Store::open("sqlite:" + (dir_ / "s.db").string())) {}
  ~DemoUsersTest() override {
    store_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::filesystem::path dir_;
  std::unique_ptr<store::Store> store_;
};

ListenPoint point(Protocol p, const char* ip, std::uint16_t port) {
  ListenPoint lp;
  lp.protocol = p;
  lp.local = Endpoint{boost::asio::ip::make_address(ip), port};
  lp.advertised = ip;
  return lp;
}

TEST(DemoPageUrl, PrefersWssAndNamesLoopbackOrAnyAsLocalhost) {
  EXPECT_EQ(demo_page_url({point(Protocol::Udp, "127.0.0.1", 5060),
                           point(Protocol::Ws, "127.0.0.1", 8080),
                           point(Protocol::Wss, "0.0.0.0", 8443)}),
            "https://localhost:8443/");
  EXPECT_EQ(demo_page_url({point(Protocol::Ws, "127.0.0.1", 8080)}), "http://localhost:8080/");
  EXPECT_EQ(demo_page_url({point(Protocol::Wss, "192.0.2.7", 443)}), "https://192.0.2.7:443/");
  EXPECT_EQ(demo_page_url({point(Protocol::Wss, "2001:db8::1", 443)}),
            "https://[2001:db8::1]:443/");
  EXPECT_EQ(demo_page_url({point(Protocol::Udp, "127.0.0.1", 5060)}), "");
}

TEST(RandomPassword, LengthAlphabetAndNoRepeats) {
  const std::string a = random_password(), b = random_password();
  EXPECT_EQ(a.size(), 12u);
  EXPECT_TRUE(std::regex_match(a, std::regex("[2-9a-km-zA-HJ-NP-Z]{12}"))) << a;
  EXPECT_NE(a, b);
  EXPECT_EQ(random_password(40).size(), 40u);
}

TEST_F(DemoUsersTest, EmptyStoreGetsAliceAndBobWithThePrintedPasswords) {
  const auto line = ensure_demo_users(*store_, "localhost", "https://localhost:8443/");
  std::smatch m;
  ASSERT_TRUE(std::regex_match(line, m,
                               std::regex("demo users: alice@localhost / (\\S+), "
                                          "bob@localhost / (\\S+) at https://localhost:8443/")))
      << line;
  auto alice = store_->find_subscriber("alice", "localhost");
  auto bob = store_->find_subscriber("bob", "localhost");
  ASSERT_TRUE(alice && bob);
  // The printed passwords are the ones whose HA1 was stored.
  EXPECT_EQ(alice->ha1_md5, auth::make_subscriber("alice", "localhost", m[1].str()).ha1_md5);
  EXPECT_EQ(bob->ha1_sha256, auth::make_subscriber("bob", "localhost", m[2].str()).ha1_sha256);
  EXPECT_NE(m[1].str(), m[2].str());
  EXPECT_EQ(store_->list_subscribers().size(), 2u);
}

TEST_F(DemoUsersTest, ExistingDemoUsersAreNotChangedAndTheResetCommandIsShown) {
  ensure_demo_users(*store_, "localhost", "https://localhost:8443/");
  const auto before = store_->find_subscriber("alice", "localhost")->ha1_md5;
  const auto line = ensure_demo_users(*store_, "localhost", "https://localhost:8443/");
  EXPECT_EQ(line,
            "demo users: alice@localhost, bob@localhost exist (passwords are not stored; reset "
            "one with `sipws user add alice@localhost NEWPASS`) at https://localhost:8443/");
  EXPECT_EQ(store_->find_subscriber("alice", "localhost")->ha1_md5, before);

  store_->delete_subscriber("alice", "localhost");
  EXPECT_EQ(ensure_demo_users(*store_, "localhost", ""),
            "demo users: bob@localhost exists (passwords are not stored; reset one with `sipws "
            "user add bob@localhost NEWPASS`)");
}

TEST_F(DemoUsersTest, OtherSubscribersOnlyGetNoDemoUsers) {
  store_->put_subscriber(auth::make_subscriber("carol", "localhost", "pw"));
  EXPECT_EQ(ensure_demo_users(*store_, "localhost", "https://localhost:8443/"),
            "demo page: https://localhost:8443/");
  EXPECT_EQ(ensure_demo_users(*store_, "localhost", ""), "");
  EXPECT_FALSE(store_->find_subscriber("alice", "localhost"));
  EXPECT_EQ(store_->list_subscribers().size(), 1u);
}

TEST(DemoUsersConfig, OnlyOnTheEmbeddedDefaultStore) {
  EXPECT_TRUE(load_config(std::nullopt, {}).demo_users);
  EXPECT_TRUE(load_config(std::nullopt, {"listen=ws:127.0.0.1:0"}).demo_users);
  EXPECT_FALSE(load_config(std::nullopt, {"store=sqlite:/tmp/x.db"}).demo_users);
  auto file = std::filesystem::temp_directory_path() / ("sipws-demo-cfg-" + random_token(8));
  std::ofstream(file) << "{}";
  EXPECT_FALSE(load_config(file.string(), {}).demo_users);
  std::filesystem::remove(file);
}

}  // namespace
}  // namespace sipws::app
