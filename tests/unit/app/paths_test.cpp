// Relative paths of a configuration resolve against state_dir or the configuration file's
// folder, never the working directory (docs/configuration.md, `state_dir`).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "app/config.hpp"

namespace sipws::app {
namespace {

namespace fs = std::filesystem;

/// A fresh folder for one test, removed at the end.
class ConfigPaths : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("sipws-paths-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_ / "etc");
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string write_config(const std::string& text) {
    const fs::path p = dir_ / "etc" / "sipws.json";
    std::ofstream(p) << text;
    return p.string();
  }
  fs::path dir_;
};

TEST_F(ConfigPaths, WithoutAFileRelativePathsStayRelativeToTheWorkingDirectory) {
  const Config c = load_config(std::nullopt, {});
  EXPECT_EQ(c.base_dir, "");
  EXPECT_EQ(resolve_store(c), "sqlite:./var/sipws.db");
  EXPECT_EQ(resolve_path(c, c.dev_cert_dir), "./var/certs");
}

TEST_F(ConfigPaths, RelativePathsOfAFileResolveAgainstItsFolder) {
  const auto file = write_config(R"({
    // relative to this file's folder
    "store": "sqlite:./var/sipws.db", "tls_cert": "tls/cert.pem", "tls_key": "/abs/key.pem",
    "dev_cert_dir": "certs"
  })");
  const Config c = load_config(file, {});
  const fs::path etc = dir_ / "etc";
  EXPECT_EQ(c.base_dir, etc.string());
  EXPECT_EQ(resolve_store(c), "sqlite:" + (etc / "var" / "sipws.db").string());
  EXPECT_EQ(resolve_path(c, c.tls_cert), (etc / "tls" / "cert.pem").string());
  EXPECT_EQ(resolve_path(c, c.tls_key), "/abs/key.pem");
  EXPECT_EQ(resolve_path(c, c.dev_cert_dir), (etc / "certs").string());
  EXPECT_EQ(resolve_path(c, ""), "");
  // The keys keep what was written: to_json round-trips the file.
  EXPECT_EQ(c.store, "sqlite:./var/sipws.db");
  EXPECT_EQ(to_json(c).at("tls_cert"), "tls/cert.pem");
}

TEST_F(ConfigPaths, AFileNamedRelativeToTheWorkingDirectoryGetsAnAbsoluteBase) {
  write_config("{}");
  const fs::path old = fs::current_path();
  fs::current_path(dir_);
  Config c;
  try {
    c = load_config("etc/sipws.json", {});
  } catch (...) {
    fs::current_path(old);
    throw;
  }
  fs::current_path(old);
  EXPECT_EQ(c.base_dir, (dir_ / "etc").string());
  EXPECT_EQ(resolve_store(c), "sqlite:" + (dir_ / "etc" / "var" / "sipws.db").string());
}

TEST_F(ConfigPaths, StateDirWinsAndIsItselfRelativeToTheFile) {
  const auto file = write_config(R"({"store": "sqlite:sipws.db", "state_dir": "../state"})");
  Config c = load_config(file, {});
  EXPECT_EQ(c.base_dir, (dir_ / "state").string());
  EXPECT_EQ(resolve_store(c), "sqlite:" + (dir_ / "state" / "sipws.db").string());
  // --set state_dir (the service unit's) overrides the file's.
  c = load_config(file, {"state_dir=/var/lib/sipws"});
  EXPECT_EQ(c.base_dir, "/var/lib/sipws");
  EXPECT_EQ(resolve_store(c), "sqlite:/var/lib/sipws/sipws.db");
  EXPECT_EQ(resolve_path(c, c.dev_cert_dir), "/var/lib/sipws/var/certs");
  EXPECT_EQ(to_json(c).at("state_dir"), "/var/lib/sipws");
}

TEST_F(ConfigPaths, StateDirWithoutAFileIsRelativeToTheWorkingDirectory) {
  const Config c = load_config(std::nullopt, {"state_dir=st"});
  EXPECT_EQ(c.base_dir, (fs::current_path() / "st").string());
}

TEST_F(ConfigPaths, OnlyRelativeSqlitePathsAreResolved) {
  const auto file = write_config("{}");
  for (const auto& [store, want] : std::vector<std::pair<std::string, std::string>>{
           {"sqlite:/srv/a.db", "sqlite:/srv/a.db"},
           {"sqlite:///srv/a.db", "sqlite:/srv/a.db"},
           {"sqlite://b.db", "sqlite:" + (dir_ / "etc" / "b.db").string()},
           {"sqlite::memory:", "sqlite::memory:"},
           {"postgresql://u:p@db:5432/sipws", "postgresql://u:p@db:5432/sipws"}}) {
    const Config c = load_config(file, {"store=" + store});
    EXPECT_EQ(resolve_store(c), want) << store;
  }
}

}  // namespace
}  // namespace sipws::app
