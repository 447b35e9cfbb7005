// Google Benchmark: the in-dialog fast path's extra cost since Record-Route entries are signed
// (issue 13): sign once per dialog-creating branch, verify per in-dialog request (one HMAC-SHA256
// over Call-ID and a tag; a callee-to-caller request matches on the second tag: two).
#include <benchmark/benchmark.h>

#include <string>

#include "proxy/routing.hpp"

namespace {

using sipws::proxy::RouteSigner;

const std::string kCallId = "a84b4c76e66710-Zm9vYmFy@pc33.atlanta.example.com";  // 49 bytes
const std::string kCallerTag = "1928301774";
const std::string kCalleeTag = "a6c85cf";

void BM_RouteSign(benchmark::State& state) {
  RouteSigner signer("bench-route-secret-0123456789abcdef");
  for (auto _ : state) benchmark::DoNotOptimize(signer.sign(kCallId, kCallerTag));
}
BENCHMARK(BM_RouteSign);

/// Caller to callee: the From tag is the signed one (one HMAC).
void BM_RouteVerifyFromTag(benchmark::State& state) {
  RouteSigner signer("bench-route-secret-0123456789abcdef");
  const std::string sig = signer.sign(kCallId, kCallerTag);
  for (auto _ : state) {
    benchmark::DoNotOptimize(signer.verify(sig, kCallId, kCallerTag, kCalleeTag));
  }
}
BENCHMARK(BM_RouteVerifyFromTag);

/// Callee to caller: the signed tag is the To tag (two HMACs).
void BM_RouteVerifyToTag(benchmark::State& state) {
  RouteSigner signer("bench-route-secret-0123456789abcdef");
  const std::string sig = signer.sign(kCallId, kCallerTag);
  for (auto _ : state) {
    benchmark::DoNotOptimize(signer.verify(sig, kCallId, kCalleeTag, kCallerTag));
  }
}
BENCHMARK(BM_RouteVerifyToTag);

}  // namespace
