#include "common/memory.hpp"

#include <malloc.h>

#include <fstream>
#include <string>

// mimalloc's collection entry point: there only when the binary links mimalloc (weak: null
// otherwise, and glibc's malloc is the one in use).
extern "C" void mi_collect(bool force) __attribute__((weak));

// Under AddressSanitizer (GCC: __SANITIZE_ADDRESS__, clang: __has_feature) the sanitizer's
// allocator serves every malloc: glibc's arenas are never set up, and malloc_trim on them crashed
// the ASan soak (SEGV in mtrim). There is nothing of glibc's to give back then.
#if defined(__SANITIZE_ADDRESS__)
#define SIPWS_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SIPWS_ASAN 1
#endif
#endif

namespace sipws {

void release_free_memory() {
#ifdef SIPWS_ASAN
  return;
#else
  if (mi_collect != nullptr) {
    mi_collect(true);
  } else {
    ::malloc_trim(0);
  }
#endif
}

std::size_t resident_bytes() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      try {
        return std::stoull(line.substr(6)) * 1024;
      } catch (...) {
        return 0;
      }
    }
  }
  return 0;
}

}  // namespace sipws
