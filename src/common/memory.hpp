#pragma once
// Giving freed heap memory back to the system after a burst (issue 18: "memory freed after a
// burst goes back to the system"). Works with whichever malloc the process links: mimalloc (the
// sipws binary) or glibc's (tests, sanitizer builds).

#include <cstddef>

namespace sipws {

/// Returns free heap memory to the system: with mimalloc, mi_collect(true) (the calling thread's
/// heap and what other threads freed into it: call it on each thread that allocates; mimalloc
/// 2.0 gives back the segments it emptied, while pages whose decommit it delayed stay resident
/// until reused); with glibc, malloc_trim(0) (every arena, nearly all); under AddressSanitizer,
/// nothing (its allocator is not glibc's). Walks the heap: call it
/// every few seconds, not per request (docs/performance.md has the cost). Thread: any.
void release_free_memory();

/// Resident set size of this process, bytes (VmRSS of /proc/self/status); 0 when unknown.
std::size_t resident_bytes();

}  // namespace sipws
