// LocationService shared by several threads (one per shard in the daemon): each thread
// registers, refreshes and removes its own AORs, closes its own flows, refreshes its own
// contact of one AOR every thread shares, and looks up the others' AORs meanwhile. The final
// state, in memory and in the store, must be exactly what each thread's operations imply.
// Run it under ASan/UBSan too; it has no sleeps and a bounded number of iterations.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "registrar/location.hpp"
#include "registrar_test_util.hpp"
#include "store/store.hpp"

namespace sipws::registrar {
namespace {

constexpr int kThreads = 4;
constexpr int kIterations = 3000;
constexpr int kAorsPerThread = 8;
constexpr std::string_view kShared = "shared@example.com";

std::string own_aor(int thread, int j) {
  return "t" + std::to_string(thread) + "u" + std::to_string(j) + "@Example.com";
}
std::string udp_contact(int thread, int j) {
  return "sip:t" + std::to_string(thread) + "@192.0.2." + std::to_string(thread + 1) + ":" +
         std::to_string(5060 + j);
}
std::string ws_contact(int thread, int i) {
  return "sip:w" + std::to_string(thread) + "x" + std::to_string(i) + "@ws.invalid;transport=ws";
}
std::string tcp_contact(int thread, int j) {
  return "sip:o" + std::to_string(thread) + "@192.0.2.99:" + std::to_string(6000 + j) +
         ";transport=tcp";
}
std::string shared_contact(int thread) { return "sip:s" + std::to_string(thread) + "@192.0.2.50"; }
/// Flows of thread `t` never collide with another thread's.
FlowId flow_of(int thread, int i) { return static_cast<FlowId>((thread + 1) * 1'000'000 + i); }

RegisterUpdate reg(std::string aor, std::string contact, std::string call_id, std::uint32_t cseq,
                   Source src) {
  return test::one(std::move(aor), std::move(contact), 600, src, std::move(call_id), cseq);
}

/// What one thread expects of one of its AORs at the end.
struct Expected {
  bool udp = false;       ///< its UDP contact is bound
  bool tcp = false;       ///< its Outbound TCP contact is bound...
  bool tcp_dead = false;  ///< ...and its flow was closed since
};

TEST(LocationConcurrency, ThreadsOnTheirOwnAorsLeaveExactlyTheStateTheirOperationsImply) {
  test::TempDir dir;
  store::AsyncStore astore(store::Store::open(dir.db_uri()),
                           [](std::function<void()> fn) { fn(); });
  // The sweep is armed here, on this thread; the clock never moves while the threads run
  // (ManualTimerService::now() is then a plain read), so nothing expires.
  ManualTimerService timers;
  LocationService loc(timers, &astore);
  std::atomic<int> failures{0};
  std::atomic<bool> go{false};

  std::vector<std::vector<Expected>> expected(kThreads, std::vector<Expected>(kAorsPerThread));
  auto worker = [&](int me) {
    std::vector<Expected>& mine = expected[me];
    std::vector<std::uint32_t> cseq(kAorsPerThread, 0);
    std::vector<std::uint32_t> tcp_cseq(kAorsPerThread, 0);
    std::vector<FlowId> tcp_flow(kAorsPerThread, kNoFlow);
    std::uint32_t shared_cseq = 0;
    std::mt19937 rng(static_cast<unsigned>(me));
    auto fail = [&failures] { failures.fetch_add(1, std::memory_order_relaxed); };
    while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
    for (int i = 0; i < kIterations; ++i) {
      const int j = i % kAorsPerThread;
      const std::string aor = own_aor(me, j);
      switch (i % 7) {
        case 0:
        case 1: {  // register or refresh the UDP contact
          const Source udp = test::source(Protocol::Udp, "192.0.2.1", 5060, kNoFlow);
          auto r =
              loc.update(reg(aor, udp_contact(me, j), "udp" + std::to_string(j), ++cseq[j], udp));
          if (!r) fail();
          mine[j].udp = true;
          break;
        }
        case 2: {  // a WebSocket binding, then its flow closes: it is gone at once
          const FlowId f = flow_of(me, i);
          const Source ws = test::source(Protocol::Wss, "198.51.100.1", 40000, f);
          if (!loc.update(reg(aor, ws_contact(me, i), "ws" + std::to_string(i), 1, ws))) fail();
          loc.on_flow_closed(f);
          break;
        }
        case 3: {  // an Outbound TCP binding on a new flow (revives a dead one)
          const FlowId f = flow_of(me, i);
          const Source tcp = test::source(Protocol::Tcp, "192.0.2.99", 6000, f);
          RegisterUpdate u =
              reg(aor, tcp_contact(me, j), "tcp" + std::to_string(j), ++tcp_cseq[j], tcp);
          u.contacts[0].instance =
              "<urn:uuid:" + std::to_string(me) + "-" + std::to_string(j) + ">";
          u.contacts[0].reg_id = 1;
          if (!loc.update(u)) fail();
          tcp_flow[j] = f;
          mine[j].tcp = true;
          mine[j].tcp_dead = false;
          break;
        }
        case 4: {  // close the TCP flow (every other time), or remove the UDP contact
          if ((i / 7) % 2 == 0) {
            if (tcp_flow[j] != kNoFlow) {
              loc.on_flow_closed(tcp_flow[j]);
              tcp_flow[j] = kNoFlow;
              mine[j].tcp_dead = mine[j].tcp;
            }
          } else {
            if (loc.remove(aor, udp_contact(me, j)) != mine[j].udp) fail();
            mine[j].udp = false;
          }
          break;
        }
        case 5: {  // refresh this thread's contact of the shared AOR
          const Source udp = test::source(Protocol::Udp, "192.0.2.50", 5060, kNoFlow);
          if (!loc.update(reg(std::string(kShared), shared_contact(me),
                              "shared" + std::to_string(me), ++shared_cseq, udp))) {
            fail();
          }
          break;
        }
        case 6: {  // read the others' AORs: whatever state they are in, it is consistent
          const int other = static_cast<int>(rng() % kThreads);
          const std::string theirs = own_aor(other, static_cast<int>(rng() % kAorsPerThread));
          const std::string norm = LocationService::normalize_aor(theirs);
          float last_q = 2.0f;
          std::uint64_t last_id = ~std::uint64_t{0};
          loc.visit(theirs, [&](const Binding& b) {
            if (b.aor != norm || b.id == 0) fail();
            if (b.q > last_q || (b.q == last_q && b.id >= last_id)) fail();  // lookup order
            last_q = b.q;
            last_id = b.id;
          });
          for (const Binding& b : loc.lookup(theirs)) {
            if (b.aor != norm) fail();
            if (!b.temp_gruu.empty()) {
              // The token may have changed hands meanwhile; if found, it is this AOR's.
              auto g = loc.find_temp_gruu(b.temp_gruu);
              if (g && g->aor != norm) fail();
            }
          }
          (void)loc.has_bindings(theirs);
          (void)loc.find_instance(theirs, "<urn:uuid:0-0>");
          for (const Binding& b : loc.lookup(kShared)) {
            if (b.aor != kShared) fail();
          }
          loc.on_flow_closed(flow_of(kThreads + 1, i));  // nobody's flow: no effect
          break;
        }
      }
    }
  };

  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) threads.emplace_back(worker, t);
  go.store(true, std::memory_order_release);
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);

  // Memory: each AOR holds exactly its thread's expected bindings, no WebSocket one left.
  std::size_t total = 0;
  std::set<std::pair<std::string, std::string>> persisted;  // (aor, contact) the store must hold
  for (int t = 0; t < kThreads; ++t) {
    for (int j = 0; j < kAorsPerThread; ++j) {
      const std::string aor = LocationService::normalize_aor(own_aor(t, j));
      const Expected& e = expected[t][j];
      std::map<std::string, Binding> got;
      for (auto& b : loc.lookup(aor)) got.emplace(b.contact, b);
      std::size_t want = 0;
      EXPECT_EQ(got.count(udp_contact(t, j)), e.udp ? 1u : 0u) << aor;
      if (e.udp) {
        ++want;
        persisted.emplace(aor, udp_contact(t, j));
      }
      EXPECT_EQ(got.count(tcp_contact(t, j)), e.tcp ? 1u : 0u) << aor;
      if (e.tcp) {
        ++want;
        persisted.emplace(aor, tcp_contact(t, j));
        auto it = got.find(tcp_contact(t, j));
        if (it != got.end()) {
          EXPECT_EQ(it->second.flow_dead, e.tcp_dead) << aor;
          EXPECT_EQ(it->second.source.flow == kNoFlow, e.tcp_dead) << aor;
        }
      }
      EXPECT_EQ(got.size(), want) << aor;  // so no WebSocket binding survived its flow
      EXPECT_TRUE(loc.known(aor));
      total += want;
    }
  }
  const auto shared = loc.lookup(kShared);
  ASSERT_EQ(shared.size(), static_cast<std::size_t>(kThreads));
  for (int t = 0; t < kThreads; ++t) {
    const auto it = std::find_if(shared.begin(), shared.end(),
                                 [t](const Binding& b) { return b.contact == shared_contact(t); });
    ASSERT_NE(it, shared.end()) << t;
    // Every refresh of the shared AOR was applied, none lost to another thread's.
    EXPECT_EQ(it->cseq,
              static_cast<std::uint32_t>((kIterations / 7) + (kIterations % 7 > 5 ? 1 : 0)));
    persisted.emplace(std::string(kShared), shared_contact(t));
  }
  total += shared.size();
  EXPECT_EQ(loc.size(), total);

  // Store: the write-behind queue saw each AOR's writes in order, so it holds exactly the
  // non-WebSocket bindings left in memory.
  astore.flush();
  std::set<std::pair<std::string, std::string>> rows;
  for (const auto& r : astore.sync().load_bindings()) rows.emplace(r.aor, r.contact);
  EXPECT_EQ(rows, persisted);
}

}  // namespace
}  // namespace sipws::registrar
