#pragma once
// Static files for plain HTTP(S) GETs on the WS/WSS port (the demo web phone). I/O-free except
// for reading the file it resolves; no websocketpp type here.

#include <string>
#include <string_view>

namespace sipws::ws {

/// An HTTP response for a static file request.
struct FileResponse {
  int status = 404;          ///< 200, 400 (bad target), 403 (escapes the root), 404
  std::string content_type;  ///< set for 200 (and "text/plain" for errors)
  std::string body;
};

/// The Content-Type for a file name by its extension (html, js, css, png, svg, json, ico, txt,
/// wasm, map); "application/octet-stream" otherwise.
std::string_view content_type_for(std::string_view path);

/// Resolves a request target ("/", "/app.js?v=2") inside `root` and reads the file. "/" and any
/// target ending in "/" serve index.html. The target is percent-decoded; a ".." segment, a
/// backslash, a NUL, or a path that resolves (through symlinks) outside `root` is refused with
/// 403; a missing file or a directory is 404. Never throws. Thread: any.
FileResponse serve_static_file(const std::string& root, std::string_view target);

}  // namespace sipws::ws
