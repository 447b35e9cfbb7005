#include "app/web_roots.hpp"

#include <system_error>
#include <utility>
#include <vector>

#include "ws/static_files.hpp"

namespace sipws::app {

namespace fs = std::filesystem;

std::string find_web_root(const Config& cfg, const std::string& configured, std::string_view name,
                          const fs::path& exe) {
  if (!configured.empty()) return resolve_path(cfg, configured);
  std::error_code ec;
  std::vector<fs::path> candidates;
  if (!exe.empty()) {
    const fs::path prefix = exe.parent_path().parent_path();
    candidates.push_back(prefix / "share" / "sipws" / "www" / name);
    candidates.push_back(prefix / "www" / name);
  }
  if (cfg.base_dir.empty()) {
    const fs::path cwd = fs::current_path(ec);
    if (!ec) candidates.push_back(cwd / "www" / name);
  }
  for (const auto& p : candidates) {
    if (fs::is_directory(p, ec)) return p.lexically_normal().string();
  }
  return {};
}

fs::path self_exe() {
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path() : exe;
}

std::optional<ws::HttpResponse> serve_admin_www(const std::string& root, const ws::HttpRequest& r) {
  constexpr std::string_view kPrefix = "/admin";
  const std::string_view target = r.resource;
  const std::string_view path = target.substr(0, target.find_first_of("?#"));
  if (path != kPrefix && !path.starts_with("/admin/")) return std::nullopt;
  ws::HttpResponse rsp;
  rsp.headers = {{"X-Content-Type-Options", "nosniff"},
                 {"X-Frame-Options", "DENY"},
                 {"Content-Security-Policy", "frame-ancestors 'none'"},
                 {"Referrer-Policy", "no-referrer"},
                 {"Cache-Control", "no-cache"}};
  if (r.method != "GET") {
    rsp.status = 405;
    rsp.headers.emplace_back("Allow", "GET");
    rsp.headers.emplace_back("Content-Type", "text/plain");
    rsp.body = "Method Not Allowed\n";
    return rsp;
  }
  if (path == kPrefix) {
    rsp.status = 301;
    rsp.headers.emplace_back("Location", "/admin/");
    rsp.headers.emplace_back("Content-Type", "text/plain");
    rsp.body = "Moved Permanently: /admin/\n";
    return rsp;
  }
  if (root.empty()) {
    rsp.status = 404;
    rsp.headers.emplace_back("Content-Type", "text/plain");
    rsp.body = "Not Found: no web admin installed (admin_www_root)\n";
    return rsp;
  }
  // "/admin/x" is "/x" below root: serve_static_file decodes it and refuses any way out.
  ws::FileResponse f = ws::serve_static_file(root, target.substr(kPrefix.size()));
  rsp.status = f.status;
  rsp.headers.emplace_back("Content-Type", std::move(f.content_type));
  rsp.body = std::move(f.body);
  return rsp;
}

}  // namespace sipws::app
