// The web roots of a build tree and of an installed prefix, and the web admin under /admin/ on
// the admin listener, with the ways out of its folder that must be refused.
#include "app/web_roots.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace sipws::app {
namespace {

namespace fs = std::filesystem;

class WebRoots : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("sipws-web-roots-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  void write(const fs::path& rel, const std::string& text) {
    fs::create_directories((dir_ / rel).parent_path());
    std::ofstream(dir_ / rel) << text;
  }
  fs::path dir_;
};

ws::HttpRequest get(std::string resource, std::string method = "GET") {
  ws::HttpRequest r;
  r.method = std::move(method);
  r.resource = std::move(resource);
  return r;
}

std::string header(const ws::HttpResponse& r, const std::string& name) {
  for (const auto& [k, v] : r.headers) {
    if (k == name) return v;
  }
  return "";
}

TEST_F(WebRoots, AnInstalledBinaryFindsShareSipwsWww) {
  write("prefix/share/sipws/www/demo-jssip/index.html", "demo");
  write("prefix/share/sipws/www/admin/index.html", "admin");
  const Config cfg = load_config(std::nullopt, {"state_dir=/nonexistent"});
  const fs::path exe = dir_ / "prefix" / "bin" / "sipws";
  EXPECT_EQ(find_web_root(cfg, "", "demo-jssip", exe),
            (dir_ / "prefix/share/sipws/www/demo-jssip").string());
  EXPECT_EQ(find_web_root(cfg, "", "admin", exe), (dir_ / "prefix/share/sipws/www/admin").string());
}

TEST_F(WebRoots, ABuildTreeBinaryFindsTheSourceTreesWww) {
  write("repo/www/demo-jssip/index.html", "demo");
  const Config cfg = load_config(std::nullopt, {"state_dir=/nonexistent"});
  EXPECT_EQ(find_web_root(cfg, "", "demo-jssip", dir_ / "repo" / "build" / "sipws"),
            (dir_ / "repo/www/demo-jssip").string());
  // Not there (no www/admin yet): none, and no guess in the working directory with a state dir.
  EXPECT_EQ(find_web_root(cfg, "", "admin", dir_ / "repo" / "build" / "sipws"), "");
}

TEST_F(WebRoots, AConfiguredRootResolvesLikeEveryPath) {
  std::ofstream(dir_ / "sipws.json") << "{}";
  const Config cfg = load_config((dir_ / "sipws.json").string(), {});
  EXPECT_EQ(find_web_root(cfg, "web/admin", "admin", "/usr/bin/sipws"),
            (dir_ / "web/admin").string());
  EXPECT_EQ(find_web_root(cfg, "/srv/admin", "admin", "/usr/bin/sipws"), "/srv/admin");
}

TEST_F(WebRoots, AdminIndexAndFiles) {
  write("admin/index.html", "<h1>admin</h1>");
  write("admin/app.js", "let x;");
  write("admin/sub/index.html", "sub");
  const std::string root = (dir_ / "admin").string();
  auto r = serve_admin_www(root, get("/admin/"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "<h1>admin</h1>");
  EXPECT_EQ(header(*r, "Content-Type"), "text/html; charset=utf-8");
  EXPECT_EQ(header(*r, "X-Frame-Options"), "DENY");
  EXPECT_EQ(header(*r, "X-Content-Type-Options"), "nosniff");
  r = serve_admin_www(root, get("/admin/app.js?v=2"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "let x;");
  EXPECT_EQ(header(*r, "Content-Type"), "text/javascript; charset=utf-8");
  r = serve_admin_www(root, get("/admin/sub/"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "sub");
  r = serve_admin_www(root, get("/admin/missing.js"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
}

TEST_F(WebRoots, AdminWithoutSlashRedirects) {
  for (const char* target : {"/admin", "/admin?x=1"}) {
    auto r = serve_admin_www((dir_ / "admin").string(), get(target));
    ASSERT_TRUE(r) << target;
    EXPECT_EQ(r->status, 301) << target;
    EXPECT_EQ(header(*r, "Location"), "/admin/") << target;
  }
}

TEST_F(WebRoots, OtherResourcesAreNotTheAdmins) {
  const std::string root = (dir_ / "admin").string();
  for (const char* target :
       {"/", "/adminx", "/administrator/", "/metrics", "/api/v1/calls", "/x/admin/"}) {
    EXPECT_FALSE(serve_admin_www(root, get(target))) << target;
  }
}

TEST_F(WebRoots, NothingOutsideTheAdminFolderIsServed) {
  write("admin/index.html", "admin");
  write("secret.txt", "secret");
  write("admin-other/x.txt", "other");
  fs::create_symlink(dir_ / "secret.txt", dir_ / "admin" / "link.txt");
  const std::string root = (dir_ / "admin").string();
  for (const char* target :
       {"/admin/../secret.txt", "/admin/%2e%2e/secret.txt", "/admin/%2E%2E%2Fsecret.txt",
        "/admin/..%2fsecret.txt", "/admin/sub/../../secret.txt", "/admin/..", "/admin/../",
        "/admin/..\\secret.txt", "/admin/%5c..%5csecret.txt", "/admin/link.txt",
        "/admin/../admin-other/x.txt", "/admin/%00index.html"}) {
    auto r = serve_admin_www(root, get(target));
    ASSERT_TRUE(r) << target;
    EXPECT_TRUE(r->status == 403 || r->status == 400 || r->status == 404)
        << target << " -> " << r->status;
    EXPECT_EQ(r->body.find("secret"), std::string::npos) << target;
    EXPECT_EQ(r->body.find("other"), std::string::npos) << target;
  }
  // An absolute path in the target stays below the root.
  auto r = serve_admin_www(root, get("/admin//etc/passwd"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
}

TEST_F(WebRoots, OnlyGetAndNothingWithoutARoot) {
  write("admin/index.html", "admin");
  auto r = serve_admin_www((dir_ / "admin").string(), get("/admin/", "POST"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(header(*r, "Allow"), "GET");
  r = serve_admin_www("", get("/admin/"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
}

}  // namespace
}  // namespace sipws::app
