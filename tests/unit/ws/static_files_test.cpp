#include "ws/static_files.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

namespace sipws::ws {
namespace {

namespace fs = std::filesystem;

class StaticFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "sipws-www-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    base_ = tmpl;
    root_ = base_ / "www";
    fs::create_directories(root_ / "sub");
    write(root_ / "index.html", "<h1>hi</h1>");
    write(root_ / "app.js", "let a = 1;");
    write(root_ / "sub" / "index.html", "sub index");
    write(root_ / "a b.css", "body{}");
    write(base_ / "secret.txt", "top secret");
  }
  void TearDown() override { fs::remove_all(base_); }
  static void write(const fs::path& p, const std::string& s) { std::ofstream(p) << s; }

  fs::path base_;
  fs::path root_;
};

TEST(ContentType, KnownAndUnknownExtensions) {
  EXPECT_EQ(content_type_for("index.html"), "text/html; charset=utf-8");
  EXPECT_EQ(content_type_for("a/b/app.js"), "text/javascript; charset=utf-8");
  EXPECT_EQ(content_type_for("style.css"), "text/css; charset=utf-8");
  EXPECT_EQ(content_type_for("logo.png"), "image/png");
  EXPECT_EQ(content_type_for("logo.svg"), "image/svg+xml");
  EXPECT_EQ(content_type_for("config.json"), "application/json");
  EXPECT_EQ(content_type_for("blob.bin"), "application/octet-stream");
  EXPECT_EQ(content_type_for("noext"), "application/octet-stream");
}

TEST_F(StaticFilesTest, RootServesIndexHtml) {
  const FileResponse r = serve_static_file(root_.string(), "/");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/html; charset=utf-8");
  EXPECT_EQ(r.body, "<h1>hi</h1>");
}

TEST_F(StaticFilesTest, FileWithQueryAndSubdirectoryIndex) {
  FileResponse r = serve_static_file(root_.string(), "/app.js?v=3#x");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/javascript; charset=utf-8");
  EXPECT_EQ(r.body, "let a = 1;");
  r = serve_static_file(root_.string(), "/sub/");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "sub index");
}

TEST_F(StaticFilesTest, PercentDecoded) {
  const FileResponse r = serve_static_file(root_.string(), "/a%20b.css");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "body{}");
  EXPECT_EQ(serve_static_file(root_.string(), "/a%2").status, 400);
  EXPECT_EQ(serve_static_file(root_.string(), "/a%zz").status, 400);
}

TEST_F(StaticFilesTest, MissingFileAndDirectoryAre404) {
  EXPECT_EQ(serve_static_file(root_.string(), "/nope.html").status, 404);
  EXPECT_EQ(serve_static_file(root_.string(), "/sub").status, 404);
}

TEST_F(StaticFilesTest, TraversalRefused) {
  for (const char* t :
       {"/../secret.txt", "/sub/../../secret.txt", "/%2e%2e/secret.txt", "/..%2fsecret.txt", "/..",
        "/sub/..", "/..\\secret.txt", "/%00index.html"}) {
    const FileResponse r = serve_static_file(root_.string(), t);
    EXPECT_EQ(r.status, 403) << t;
    EXPECT_EQ(r.body.find("top secret"), std::string::npos) << t;
  }
}

TEST_F(StaticFilesTest, SymlinkOutOfRootRefused) {
  fs::create_symlink(base_ / "secret.txt", root_ / "link.txt");
  const FileResponse r = serve_static_file(root_.string(), "/link.txt");
  EXPECT_EQ(r.status, 403);
}

TEST_F(StaticFilesTest, TargetMustBeAbsolutePath) {
  EXPECT_EQ(serve_static_file(root_.string(), "").status, 400);
  EXPECT_EQ(serve_static_file(root_.string(), "index.html").status, 400);
  EXPECT_EQ(serve_static_file(root_.string(), "http://x/index.html").status, 400);
}

}  // namespace
}  // namespace sipws::ws
