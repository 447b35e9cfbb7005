#pragma once
// Where the web files live (the demo phone on the WS/WSS ports, the web admin on the admin
// listener), in a build tree and in an installed prefix, and the web admin's resources under
// /admin/ (docs/operations.md).

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "app/config.hpp"
#include "ws/listener.hpp"

namespace sipws::app {

/// The folder of the web files `name` ("demo-jssip", "admin"): `configured` resolved by
/// resolve_path when not empty (whether or not it exists); else the first folder that exists of
/// `<exe>/../share/sipws/www/<name>` (an installed binary, `<prefix>/bin/sipws`),
/// `<exe>/../www/<name>` (the build tree, `build/sipws`) and, only when `cfg` has no base_dir
/// (no configuration file, no state_dir), `./www/<name>`. "" if none exists. `exe` is the
/// binary's path (/proc/self/exe). Thread: any (reads the file system).
std::string find_web_root(const Config& cfg, const std::string& configured, std::string_view name,
                          const std::filesystem::path& exe);

/// This binary's path, from /proc/self/exe; empty if it cannot be read.
std::filesystem::path self_exe();

/// The answer of the admin listener to a request for the web admin: `/admin` is redirected
/// (301) to `/admin/`; `/admin/<path>` is the file `<path>` below `root` (index.html for a folder
/// target) by ws::serve_static_file, which refuses with 403 every target that would leave `root`
/// (a `..` segment, percent-encoded or not, or a symlink out of it); other methods than GET get
/// 405. std::nullopt for any other resource (not the web admin's). An empty `root` (no web admin
/// installed) answers 404. Thread: any.
std::optional<ws::HttpResponse> serve_admin_www(const std::string& root, const ws::HttpRequest& r);

}  // namespace sipws::app
