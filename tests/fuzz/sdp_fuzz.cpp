// libFuzzer target for the SDP parser: parse, the per-media lookups, and the invariant that
// serialize() output parses again to the same text (serialize is idempotent after one parse).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "sip/sdp.hpp"

namespace {

void check(bool ok) {
  if (!ok) std::abort();  // an invariant of our own code broke: let the fuzzer report it
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace sipws::sdp;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto s = parse(text);
  if (!s) {
    check(!s.error().message.empty());
    return 0;
  }
  for (const auto& m : s->media) {
    (void)direction(*s, m);
    (void)connection(*s, m);
    for (const auto& f : m.formats) {
      if (auto pt = payload_type(f)) {
        (void)rtpmap(m, *pt);
        (void)fmtp(m, *pt);
      }
    }
  }
  const std::string once = serialize(*s);
  auto again = parse(once);
  check(again.has_value());
  check(serialize(*again) == once);
  return 0;
}
