#include "ws/static_files.hpp"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <system_error>

#include "common/text.hpp"

namespace sipws::ws {
namespace {

namespace fs = std::filesystem;

bool has_dotdot_segment(std::string_view path) {
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    if (path.substr(start, end - start) == "..") return true;
    start = end + 1;
  }
  return false;
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

FileResponse error(int status, std::string_view text) {
  FileResponse r;
  r.status = status;
  r.content_type = "text/plain";
  r.body = std::string(text);
  return r;
}

/// True if `p` is `root` or lies below it (both canonical).
bool is_inside(const fs::path& root, const fs::path& p) {
  auto r = root.begin();
  auto q = p.begin();
  for (; r != root.end(); ++r, ++q) {
    if (r->empty()) continue;  // trailing separator of the root
    if (q == p.end() || *r != *q) return false;
  }
  return true;
}

}  // namespace

std::string_view content_type_for(std::string_view path) {
  struct Entry {
    std::string_view ext;
    std::string_view type;
  };
  static constexpr Entry kTypes[] = {
      {".html", "text/html; charset=utf-8"},
      {".htm", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".png", "image/png"},
      {".svg", "image/svg+xml"},
      {".json", "application/json"},
      {".map", "application/json"},
      {".ico", "image/x-icon"},
      {".txt", "text/plain; charset=utf-8"},
      {".wasm", "application/wasm"},
  };
  for (const auto& e : kTypes) {
    if (ends_with(path, e.ext)) return e.type;
  }
  return "application/octet-stream";
}

FileResponse serve_static_file(const std::string& root, std::string_view target) {
  const std::size_t q = target.find_first_of("?#");
  if (q != std::string_view::npos) target = target.substr(0, q);
  if (target.empty() || target.front() != '/') return error(400, "Bad Request\n");
  const auto decoded = text::percent_decode(target);
  if (!decoded) return error(400, "Bad Request\n");
  std::string rel = *decoded;
  if (rel.find('\0') != std::string::npos || rel.find('\\') != std::string::npos ||
      has_dotdot_segment(rel)) {
    return error(403, "Forbidden\n");
  }
  if (rel.back() == '/') rel += "index.html";
  while (!rel.empty() && rel.front() == '/') rel.erase(0, 1);

  std::error_code ec;
  const fs::path root_canon = fs::weakly_canonical(fs::path(root), ec);
  if (ec) return error(404, "Not Found\n");
  const fs::path file = fs::weakly_canonical(root_canon / rel, ec);
  if (ec) return error(404, "Not Found\n");
  if (!is_inside(root_canon, file)) return error(403, "Forbidden\n");
  if (!fs::is_regular_file(file, ec)) return error(404, "Not Found\n");

  std::ifstream in(file, std::ios::binary);
  if (!in) return error(404, "Not Found\n");
  FileResponse r;
  r.status = 200;
  r.content_type = std::string(content_type_for(file.filename().string()));
  r.body.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  if (in.bad()) return error(404, "Not Found\n");
  return r;
}

}  // namespace sipws::ws
