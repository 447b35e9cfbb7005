// Google Benchmark: SRTP protect and unprotect of a 172-byte RTP packet (12-byte header + 160
// bytes of G.711, one 20 ms frame) for both DTLS-SRTP profiles. items_per_second = packets/s
// on one core; each iteration also copies the packet into the work buffer (172-188 bytes), as
// a relay does when it moves a packet from the receive buffer to the send buffer.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "bridge/srtp.hpp"

namespace {

using sipws::bridge::SrtpProfile;
using sipws::bridge::SrtpSession;

constexpr std::size_t kHeader = 12;
constexpr std::size_t kPayload = 160;

std::vector<std::uint8_t> key_for(SrtpProfile p) {
  std::vector<std::uint8_t> k(sipws::bridge::srtp_key_length(p) +
                              sipws::bridge::srtp_salt_length(p));
  for (std::size_t i = 0; i < k.size(); ++i) k[i] = static_cast<std::uint8_t>(i * 37 + 1);
  return k;
}

std::vector<std::uint8_t> rtp_packet() {
  std::vector<std::uint8_t> p(kHeader + kPayload, 0xd5);  // PCMA silence
  const std::uint8_t hdr[kHeader] = {0x80, 0x08, 0, 0, 0, 0, 0, 0, 0x12, 0x34, 0x56, 0x78};
  std::memcpy(p.data(), hdr, kHeader);
  return p;
}

void set_seq_ts(std::uint8_t* p, std::uint32_t n) {
  p[2] = static_cast<std::uint8_t>(n >> 8);
  p[3] = static_cast<std::uint8_t>(n);
  const std::uint32_t ts = n * 160;
  p[4] = static_cast<std::uint8_t>(ts >> 24);
  p[5] = static_cast<std::uint8_t>(ts >> 16);
  p[6] = static_cast<std::uint8_t>(ts >> 8);
  p[7] = static_cast<std::uint8_t>(ts);
}

void BM_SrtpProtect(benchmark::State& state, SrtpProfile profile) {
  auto out = SrtpSession::make(profile, key_for(profile), SrtpSession::Direction::Outbound);
  if (!out) {
    state.SkipWithError("SrtpSession::make failed");
    return;
  }
  const auto plain = rtp_packet();
  std::vector<std::uint8_t> buf(plain.size() + SrtpSession::kMaxTrailer);
  std::uint32_t n = 0;
  for (auto _ : state) {
    std::memcpy(buf.data(), plain.data(), plain.size());
    set_seq_ts(buf.data(), n++);
    std::size_t len = plain.size();
    if (out->protect_rtp(buf, len)) {
      state.SkipWithError("protect failed");
      break;
    }
    benchmark::DoNotOptimize(buf.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(plain.size()));
}

void BM_SrtpUnprotect(benchmark::State& state, SrtpProfile profile) {
  const auto key = key_for(profile);
  auto out = SrtpSession::make(profile, key, SrtpSession::Direction::Outbound);
  auto in = SrtpSession::make(profile, key, SrtpSession::Direction::Inbound);
  if (!out || !in) {
    state.SkipWithError("SrtpSession::make failed");
    return;
  }
  // Protected packets are made ahead in batches (untimed), continuing the sequence so the
  // receiver sees an endless in-order stream, rollover counter included.
  constexpr std::size_t kBatch = 4096;
  const auto plain = rtp_packet();
  const std::size_t stride = plain.size() + SrtpSession::kMaxTrailer;
  std::vector<std::uint8_t> batch(kBatch * stride);
  std::vector<std::size_t> lens(kBatch);
  std::uint32_t n = 0;
  auto refill = [&] {
    for (std::size_t i = 0; i < kBatch; ++i) {
      std::uint8_t* p = batch.data() + i * stride;
      std::memcpy(p, plain.data(), plain.size());
      set_seq_ts(p, n++);
      lens[i] = plain.size();
      if (out->protect_rtp(std::span(p, stride), lens[i])) return false;
    }
    return true;
  };
  if (!refill()) {
    state.SkipWithError("protect failed");
    return;
  }
  std::vector<std::uint8_t> work(stride);
  std::size_t i = 0;
  for (auto _ : state) {
    if (i == kBatch) {
      state.PauseTiming();
      const bool ok = refill();
      state.ResumeTiming();
      if (!ok) {
        state.SkipWithError("protect failed");
        break;
      }
      i = 0;
    }
    std::size_t len = lens[i];
    std::memcpy(work.data(), batch.data() + i * stride, len);
    ++i;
    if (in->unprotect_rtp(work, len)) {
      state.SkipWithError("unprotect failed");
      break;
    }
    benchmark::DoNotOptimize(work.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(plain.size()));
}

}  // namespace

BENCHMARK_CAPTURE(BM_SrtpProtect, AesCm128HmacSha1_80, SrtpProfile::Aes128CmSha1_80);
BENCHMARK_CAPTURE(BM_SrtpProtect, AeadAes128Gcm, SrtpProfile::AeadAes128Gcm);
BENCHMARK_CAPTURE(BM_SrtpUnprotect, AesCm128HmacSha1_80, SrtpProfile::Aes128CmSha1_80);
BENCHMARK_CAPTURE(BM_SrtpUnprotect, AeadAes128Gcm, SrtpProfile::AeadAes128Gcm);
