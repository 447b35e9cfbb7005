#include "common/memory.hpp"

#include <malloc.h>

#include <fstream>
#include <string>

// mimalloc's collection entry point: there only when the binary links mimalloc (weak: null
// otherwise, and glibc's malloc is the one in use).
extern "C" void mi_collect(bool force) __attribute__((weak));

namespace sipws {

void release_free_memory() {
  if (mi_collect != nullptr) {
    mi_collect(true);
  } else {
    ::malloc_trim(0);
  }
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
