// release_free_memory() against the process's real allocator: glibc's malloc, or mimalloc where
// the unit tests link it as sipws does (CMakeLists.txt).
#include "common/memory.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <vector>

namespace sipws {
namespace {

TEST(Memory, ResidentBytesIsTheProcessRss) {
  const std::size_t before = resident_bytes();
  ASSERT_GT(before, 0u);
  constexpr std::size_t kSize = 32 << 20;
  auto block = std::make_unique<char[]>(kSize);
  std::memset(block.get(), 1, kSize);
  EXPECT_GE(resident_bytes(), before + kSize / 2);
}

// What a burst of connections leaves: many small blocks freed, with a few survivors in between
// (a later connection's state) so that no allocator can hand the whole range back by itself.
TEST(Memory, FreedSmallBlocksGoBackToTheSystemOnRelease) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer keeps freed memory in its quarantine";
#else
  constexpr std::size_t kBlock = 2048;
  constexpr std::size_t kBlocks = 24000;  // about 48 MB
  std::vector<std::unique_ptr<char[]> > burst;
  std::vector<std::unique_ptr<char[]> > survivors;
  burst.reserve(kBlocks);
  for (std::size_t i = 0; i < kBlocks; ++i) {
    burst.push_back(std::make_unique<char[]>(kBlock));
    std::memset(burst.back().get(), 1, kBlock);
    if (i % 4096 == 4095) survivors.push_back(std::make_unique<char[]>(64));
  }
  const std::size_t peak = resident_bytes();
  burst.clear();
  burst.shrink_to_fit();
  release_free_memory();
  const std::size_t after = resident_bytes();

  // glibc gives back nearly all of it (malloc_trim); mimalloc 2.0 the segments it emptied (a
  // third here: pages whose decommit it delayed stay resident until reused).
  EXPECT_LT(after + kBlock * kBlocks / 4, peak)
      << "peak " << (peak >> 10) << " kB, after release " << (after >> 10) << " kB";
#endif
}

}  // namespace
}  // namespace sipws
