// The routing services' request and failure processors: retarget (Diversion, History-Info,
// loops), call-forward, forward-on-failure, call-class, gateway-route and alias. The store is a
// real SQLite file in a temp dir behind a real AsyncStore whose callbacks land on a test queue
// (the core io thread's stand-in); a Pause is completed by draining that queue.

#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "../store/store_fixtures.hpp"
#include "common/counters.hpp"
#include "common/random.hpp"
#include "common/reloadable.hpp"
#include "proxy/domains.hpp"
#include "proxy/request_context.hpp"
#include "routing/alias.hpp"
#include "routing/call_class.hpp"
#include "routing/call_forward.hpp"
#include "routing/dial_plan.hpp"
#include "routing/forward_on_failure.hpp"
#include "routing/gateway_route.hpp"
#include "routing/retarget.hpp"
#include "sip/parser.hpp"
#include "sip/text.hpp"
#include "store/store.hpp"

namespace sipws::routing {
namespace {

using namespace std::chrono_literals;
using proxy::Action;
using proxy::RequestContext;

class TempDir {
 public:
  TempDir()
      : path_(std::filesystem::temp_directory_path() / ("sipws-routing-" + random_token(12))) {
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string file() const { return (path_ / "sipws.db").string(); }
  std::string uri() const { return "sqlite:" + file(); }

 private:
  std::filesystem::path path_;
};

/// Stands in for the core io_context: AsyncStore posts results here; the test drains it.
struct TestQueue {
  std::mutex mu;
  std::deque<std::function<void()>> q;
  void push(std::function<void()> fn) {
    std::lock_guard lock(mu);
    q.push_back(std::move(fn));
  }
  void drain() {
    for (;;) {
      std::function<void()> fn;
      {
        std::lock_guard lock(mu);
        if (q.empty()) return;
        fn = std::move(q.front());
        q.pop_front();
      }
      fn();
    }
  }
};

/// Returns 0 for every draw (the first gateway of equal weight); counts the draws.
class ZeroRandom final : public Random {
 public:
  std::uint32_t uniform(std::uint32_t) override {
    ++calls;
    return 0;
  }
  int calls = 0;
};

sip::Message parse(const std::string& text) {
  auto m = sip::parse(text);
  if (!m) {
    ADD_FAILURE() << "parse failed: " << m.error().reason << "\n" << text;
    return {};
  }
  return std::move(m.value());
}

sip::Message request(const std::string& method, const std::string& ruri,
                     const std::string& from = "sip:alice@example.com",
                     const std::vector<std::string>& extra = {}) {
  std::string t = method + " " + ruri +
                  " SIP/2.0\r\n"
                  "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK74bf9\r\n"
                  "Max-Forwards: 70\r\n"
                  "To: <" +
                  ruri + ">\r\nFrom: <" + from +
                  ">;tag=9fxced76sl\r\n"
                  "Call-ID: 3848276298220188511@192.0.2.10\r\n"
                  "CSeq: 1 " +
                  method + "\r\n";
  for (const auto& h : extra) t += h + "\r\n";
  t += "Content-Length: 0\r\n\r\n";
  return parse(t);
}

sip::Message invite(const std::string& ruri, const std::string& from = "sip:alice@example.com",
                    const std::vector<std::string>& extra = {}) {
  return request("INVITE", ruri, from, extra);
}

/// Values of every header called `name` (Diversion, History-Info), in order.
std::vector<std::string> values(const sip::Message& m, std::string_view name) {
  std::vector<std::string> out;
  for (const auto& h : m.headers()) {
    if (sip::text::iequal(h.name, name)) out.emplace_back(h.value);
  }
  return out;
}

/// Header values in a fixed order, where the test checks content and not position.
std::vector<std::string> sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

std::string ruri_of(RequestContext& ctx) { return std::string(ctx.request().request_uri().raw); }

std::uint64_t counter(const char* name) { return counters().get(name).value(); }

store::ForwardRule rule(std::string aor, store::ForwardKind kind, std::string target,
                        std::uint32_t ring_s = 0) {
  store::ForwardRule r;
  r.aor = std::move(aor);
  r.kind = kind;
  r.target = std::move(target);
  r.ring_timeout_s = ring_s;
  return r;
}

CallClass call_class(std::string name, std::string re, std::string group, std::string reason = {},
                     bool emergency = false) {
  CallClass c;
  c.name = std::move(name);
  c.match_text = std::move(re);
  c.match = std::regex(c.match_text);
  c.group = std::move(group);
  c.reason = std::move(reason);
  c.emergency = emergency;
  return c;
}

Gateway gateway(std::string name, std::string uri, std::uint32_t priority, bool enabled = true) {
  Gateway g;
  g.name = std::move(name);
  g.uri = std::move(uri);
  g.priority = priority;
  g.enabled = enabled;
  return g;
}

Route lcr_route(std::string re, std::vector<std::string> gws, std::vector<int> failover_on) {
  Route r;
  r.match_text = std::move(re);
  r.match = std::regex(r.match_text);
  r.gateways = std::move(gws);
  r.failover_on = std::move(failover_on);
  return r;
}

constexpr const char* kLd = "No permissions for long distance calls";

/// The example dial plan of issue 13 (call classes, two gateways, voicemail b/u prefixes).
std::shared_ptr<DialPlan> example_plan(bool gw1_enabled = true, bool gw2_enabled = true) {
  auto p = std::make_shared<DialPlan>();
  p->classes = CallClasses({call_class("emergency", "^(911|112)$", "", "", /*emergency=*/true),
                            call_class("long distance", "^[0-9]{10}$", "ld", kLd),
                            call_class("international", "^00[0-9]+$", "int")});
  Gateway gw2 = gateway("GW2", "sip:127.0.0.1:33072;transport=udp", 2, gw2_enabled);
  gw2.strip = 1;
  gw2.prefix = "00";
  gw2.strip_headers = {"P-Asserted-Identity", "User-Agent"};
  p->gateways =
      GatewayTable({gateway("GW1", "sip:127.0.0.1:33071;transport=udp", 1, gw1_enabled), gw2},
                   {lcr_route("^9[0-9]{7,}$", {"GW1", "GW2"}, {408, 503})});
  p->voicemail.busy = "sip:b{user}@vm.example.com";
  p->voicemail.no_answer = "sip:u{user}@vm.example.com";
  p->gateway_timeout = 2500ms;
  p->ring_timeout = 15000ms;
  return p;
}

class ServicesTest : public ::testing::Test {
 protected:
  ServicesTest()
      : store_(store::Store::open(dir_.uri()),
               [this](std::function<void()> fn) { queue_.push(std::move(fn)); }),
        plan_(example_plan()) {
    domains_.add_domain("example.com");
    domains_.add_domain("second.example");
    domains_.add_alias("127.0.0.1");
    domains_.add_port(5060);
    for (const char* u : {"alice", "bob", "carol"}) add_subscriber(u);
  }

  void add_subscriber(const std::string& user, const std::string& domain = "example.com") {
    store_.sync().put_subscriber(store::Subscriber{user, domain, "0123", "4567"});
  }

  /// Fault injection: drops `table` behind the store's back (a second SQLite connection), so
  /// the store's next read of it fails.
  void drop_table(const char* table) {
    store::test::exec_sql(dir_.file(), std::string("DROP TABLE ") + table);
  }

  /// The status and Retry-After of ctx's response: "503 5".
  static std::string answer(RequestContext& ctx) {
    if (!ctx.response()) return "none";
    const sip::Header* retry = ctx.response()->find("Retry-After");
    return std::to_string(ctx.response()->status()) +
           (retry ? " " + std::string(retry->value) : "");
  }

  void settle() {
    store_.flush();
    queue_.drain();
  }

  /// Runs `p` the way the proxy core does: a Pause is completed by letting the store answer
  /// (possibly several chained lookups) and draining the callback queue. Sets paused_.
  Action run(proxy::RequestProcessor& p, RequestContext& ctx) {
    std::optional<Action> resumed;
    int resumes = 0;
    ctx.set_resume_factory([&] {
      return std::function<void(Action)>([&](Action a) {
        resumed = a;
        ++resumes;
      });
    });
    const Action a = p.process(ctx);
    paused_ = a == Action::Pause;
    if (!paused_) {
      settle();
      EXPECT_EQ(resumes, 0);
      return a;
    }
    EXPECT_FALSE(resumed) << "resumed before process() returned";
    for (int i = 0; i < 20 && !resumed; ++i) settle();
    EXPECT_EQ(resumes, 1);
    ctx.set_resume_factory(nullptr);
    return resumed.value_or(Action::Pause);
  }

  TempDir dir_;
  TestQueue queue_;
  store::AsyncStore store_;
  proxy::Domains domains_;
  Reloadable<DialPlan> plan_;
  Source src_;
  bool paused_ = false;
};

// ---- retarget() and forward_target() ------------------------------------------------------

TEST(Retarget, AddsDiversionAndHistoryInfoAndMarksTheCallForwarded) {
  RequestContext ctx(invite("sip:alice@example.com"), Source{}, 1);
  ctx.set_local_user("alice@example.com");
  ASSERT_FALSE(retarget(ctx, "sip:bob@foreign.test", ForwardReason::Unconditional));
  EXPECT_EQ(ruri_of(ctx), "sip:bob@foreign.test");
  EXPECT_EQ(values(ctx.request(), "Diversion"),
            std::vector<std::string>{"<sip:alice@example.com>;reason=unconditional;counter=1"});
  EXPECT_EQ(values(ctx.request(), "History-Info"),
            (std::vector<std::string>{"<sip:alice@example.com>;index=1",
                                      "<sip:bob@foreign.test;cause=302>;index=1.1;mp=1"}));
  EXPECT_EQ(ctx.retargets(),
            (std::vector<std::string>{"sip:alice@example.com", "sip:bob@foreign.test"}));
  EXPECT_TRUE(ctx.forwarded());
  EXPECT_TRUE(ctx.may_leave());  // on the forwarding user's behalf
  EXPECT_TRUE(ctx.local_user().empty());
}

TEST(Retarget, EachFurtherRetargetIsAChildEntryWithItsCause) {
  RequestContext ctx(invite("sip:alice@example.com"), Source{}, 1);
  ASSERT_FALSE(retarget(ctx, "sip:bob@example.com", ForwardReason::UserBusy));
  ASSERT_FALSE(retarget(ctx, "sip:ubob@vm.example.com", ForwardReason::NoAnswer));
  EXPECT_EQ(ruri_of(ctx), "sip:ubob@vm.example.com");
  // One entry per diversion; `counter` orders them (RFC 5806 s.4).
  EXPECT_EQ(sorted(values(ctx.request(), "Diversion")),
            (std::vector<std::string>{"<sip:alice@example.com>;reason=user-busy;counter=1",
                                      "<sip:bob@example.com>;reason=no-answer;counter=2"}));
  EXPECT_EQ(values(ctx.request(), "History-Info"),
            (std::vector<std::string>{"<sip:alice@example.com>;index=1",
                                      "<sip:bob@example.com;cause=486>;index=1.1;mp=1",
                                      "<sip:ubob@vm.example.com;cause=408>;index=1.1.1;mp=1.1"}));
}

TEST(Retarget, KeepsAnUpstreamFirstEntry) {
  RequestContext ctx(invite("sip:alice@example.com", "sip:carol@other.example",
                            {"History-Info: <sip:alice@example.com>;index=1"}),
                     Source{}, 1);
  ASSERT_FALSE(retarget(ctx, "sip:bob@example.com", ForwardReason::Unconditional));
  EXPECT_EQ(values(ctx.request(), "History-Info"),
            (std::vector<std::string>{"<sip:alice@example.com>;index=1",
                                      "<sip:bob@example.com;cause=302>;index=1.1;mp=1"}));
}

// A call already retargeted upstream (index 1 -> 1.1 = our user) continues the same tree
// (RFC 7044 s.10.3): the new entry is a child of the current target's, 1.1.1 with mp=1.1.
TEST(Retarget, ContinuesTheUpstreamIndexTree) {
  RequestContext ctx(invite("sip:alice@example.com", "sip:carol@other.example",
                            {"History-Info: <sip:info@other.example>;index=1",
                             "History-Info: <sip:alice@example.com>;index=1.1;mp=1"}),
                     Source{}, 1);
  ASSERT_FALSE(retarget(ctx, "sip:bob@example.com", ForwardReason::Unconditional));
  const auto hi = values(ctx.request(), "History-Info");
  ASSERT_EQ(hi.size(), 3u);
  EXPECT_EQ(hi[2], "<sip:bob@example.com;cause=302>;index=1.1.1;mp=1.1");
}

TEST(Retarget, RefusesALoopWith482AndChangesNothing) {
  RequestContext ctx(invite("sip:alice@example.com"), Source{}, 1);
  const auto before = counter("forward_loops");
  // Back to the original Request-URI (host compared case-insensitively, RFC 3261 s.19.1.4).
  auto err = retarget(ctx, "sip:alice@EXAMPLE.com", ForwardReason::Unconditional);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->status, 482);
  EXPECT_EQ(ruri_of(ctx), "sip:alice@example.com");
  EXPECT_TRUE(values(ctx.request(), "Diversion").empty());
  EXPECT_TRUE(values(ctx.request(), "History-Info").empty());
  EXPECT_FALSE(ctx.forwarded());

  // A -> B -> A.
  ASSERT_FALSE(retarget(ctx, "sip:bob@example.com", ForwardReason::Unconditional));
  err = retarget(ctx, "sip:alice@example.com", ForwardReason::UserBusy);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->status, 482);
  EXPECT_EQ(ruri_of(ctx), "sip:bob@example.com");
  EXPECT_EQ(values(ctx.request(), "Diversion").size(), 1u);
  EXPECT_EQ(values(ctx.request(), "History-Info").size(), 2u);
  EXPECT_EQ(counter("forward_loops"), before + 2);
}

TEST(Retarget, RefusesMoreThanKMaxForwardsWith480) {
  RequestContext ctx(invite("sip:u0@example.com"), Source{}, 1);
  for (std::size_t i = 1; i <= kMaxForwards; ++i) {
    ASSERT_FALSE(
        retarget(ctx, "sip:u" + std::to_string(i) + "@example.com", ForwardReason::Unconditional))
        << i;
  }
  auto err = retarget(ctx, "sip:u99@example.com", ForwardReason::Unconditional);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->status, 480);
  EXPECT_EQ(ruri_of(ctx), "sip:u" + std::to_string(kMaxForwards) + "@example.com");
  EXPECT_EQ(values(ctx.request(), "Diversion").size(), kMaxForwards);
  EXPECT_EQ(ctx.retargets().size(), kMaxForwards + 1);
}

TEST(Retarget, RefusesATargetThatIsNoSipUriWith500) {
  RequestContext ctx(invite("sip:alice@example.com"), Source{}, 1);
  for (const char* t : {"tel:+15551230001", "mailto:alice@example.com", "not a uri"}) {
    auto err = retarget(ctx, t, ForwardReason::Unconditional);
    ASSERT_TRUE(err) << t;
    EXPECT_EQ(err->status, 500) << t;
  }
  EXPECT_EQ(ruri_of(ctx), "sip:alice@example.com");
  EXPECT_TRUE(values(ctx.request(), "Diversion").empty());
  EXPECT_TRUE(ctx.retargets().empty());
  EXPECT_FALSE(ctx.forwarded());
}

TEST(ForwardTarget, ExpandsVoicemailPerKind) {
  VoicemailTemplates vm;
  vm.busy = "sip:b{user}@vm.example.com";
  vm.no_answer = "sip:u{user}@vm.example.com";
  using store::ForwardKind;
  EXPECT_EQ(forward_target(rule("1001@example.com", ForwardKind::Busy, "voicemail"), vm),
            "sip:b1001@vm.example.com");
  EXPECT_EQ(forward_target(rule("1001@example.com", ForwardKind::NoAnswer, "voicemail"), vm),
            "sip:u1001@vm.example.com");
  // Unconditional uses the no-answer template unless it has its own.
  EXPECT_EQ(forward_target(rule("1001@example.com", ForwardKind::Unconditional, "voicemail"), vm),
            "sip:u1001@vm.example.com");
  vm.unconditional = "sip:a{user}@vm.example.com";
  EXPECT_EQ(forward_target(rule("1001@example.com", ForwardKind::Unconditional, "voicemail"), vm),
            "sip:a1001@vm.example.com");
  // A URI is itself; a missing template gives nothing.
  EXPECT_EQ(forward_target(rule("1001@example.com", ForwardKind::Busy, "sip:bob@example.com"), vm),
            "sip:bob@example.com");
  EXPECT_EQ(forward_target(rule("1001@example.com", ForwardKind::Busy, "voicemail"),
                           VoicemailTemplates{}),
            "");
}

// ---- call-forward -------------------------------------------------------------------------

class CallForwardTest : public ServicesTest {
 protected:
  CallForwardTest() : proc_(domains_, store_, plan_) {}
  void forward(const std::string& aor, store::ForwardKind kind, const std::string& target,
               std::uint32_t ring_s = 0) {
    store_.sync().put_forward(rule(aor, kind, target, ring_s));
  }
  CallForwardProcessor proc_;
};

TEST_F(CallForwardTest, UnconditionalRetargetsBeforeLocationLookup) {
  forward("alice@example.com", store::ForwardKind::Unconditional, "sip:dave@foreign.test");
  RequestContext ctx(invite("sip:alice@example.com", "sip:carol@other.example"), src_, 1);
  ASSERT_EQ(run(proc_, ctx), Action::Continue);
  EXPECT_TRUE(paused_);
  EXPECT_EQ(ruri_of(ctx), "sip:dave@foreign.test");
  EXPECT_EQ(values(ctx.request(), "Diversion"),
            std::vector<std::string>{"<sip:alice@example.com>;reason=unconditional;counter=1"});
  EXPECT_EQ(values(ctx.request(), "History-Info").size(), 2u);
  EXPECT_TRUE(ctx.forwarded());
  EXPECT_TRUE(ctx.local_user().empty());  // the new target is not ours
  EXPECT_TRUE(ctx.failure_forward().busy.empty());
}

TEST_F(CallForwardTest, UnconditionalToVoicemailUsesTheNoAnswerTemplate) {
  forward("alice@example.com", store::ForwardKind::Unconditional, "voicemail");
  RequestContext ctx(invite("sip:alice@127.0.0.1:5060"), src_, 1);  // our address, our port
  ASSERT_EQ(run(proc_, ctx), Action::Continue);
  EXPECT_EQ(ruri_of(ctx), "sip:ualice@vm.example.com");
}

TEST_F(CallForwardTest, ChainsThroughASecondLocalUserWithItsOwnRules) {
  forward("alice@example.com", store::ForwardKind::Unconditional, "sip:bob@example.com");
  forward("bob@example.com", store::ForwardKind::Unconditional, "sip:dave@foreign.test");
  RequestContext ctx(invite("sip:alice@example.com"), src_, 1);
  ASSERT_EQ(run(proc_, ctx), Action::Continue);
  EXPECT_EQ(ruri_of(ctx), "sip:dave@foreign.test");
  EXPECT_EQ(sorted(values(ctx.request(), "Diversion")),
            (std::vector<std::string>{"<sip:alice@example.com>;reason=unconditional;counter=1",
                                      "<sip:bob@example.com>;reason=unconditional;counter=2"}));
  EXPECT_EQ(ctx.retargets().size(), 3u);
}

TEST_F(CallForwardTest, ChainedLocalUserKeepsItsFailureRules) {
  forward("alice@example.com", store::ForwardKind::Unconditional, "sip:bob@example.com");
  forward("alice@example.com", store::ForwardKind::Busy, "sip:alice-busy@foreign.test");
  forward("bob@example.com", store::ForwardKind::Busy, "voicemail");
  RequestContext ctx(invite("sip:alice@example.com"), src_, 1);
  ASSERT_EQ(run(proc_, ctx), Action::Continue);
  EXPECT_EQ(ruri_of(ctx), "sip:bob@example.com");
  EXPECT_EQ(ctx.local_user(), "bob@example.com");
  EXPECT_EQ(ctx.failure_forward().aor, "bob@example.com");
  EXPECT_EQ(ctx.failure_forward().busy, "sip:bbob@vm.example.com");
  EXPECT_TRUE(ctx.failure_forward().no_answer.empty());
}

TEST_F(CallForwardTest, LoopAToBToAEndsWith482) {
  forward("alice@example.com", store::ForwardKind::Unconditional, "sip:bob@example.com");
  forward("bob@example.com", store::ForwardKind::Unconditional, "sip:alice@example.com");
  RequestContext ctx(invite("sip:alice@example.com"), src_, 1);
  ASSERT_EQ(run(proc_, ctx), Action::Respond);
  ASSERT_TRUE(ctx.response());
  EXPECT_EQ(ctx.response()->status(), 482);
}

TEST_F(CallForwardTest, TooManyForwardsEndWith480) {
  for (std::size_t i = 0; i <= kMaxForwards + 1; ++i) add_subscriber("u" + std::to_string(i));
  for (std::size_t i = 0; i <= kMaxForwards; ++i) {
    forward("u" + std::to_string(i) + "@example.com", store::ForwardKind::Unconditional,
            "sip:u" + std::to_string(i + 1) + "@example.com");
  }
  RequestContext ctx(invite("sip:u0@example.com"), src_, 1);
  ASSERT_EQ(run(proc_, ctx), Action::Respond);
  ASSERT_TRUE(ctx.response());
  EXPECT_EQ(ctx.response()->status(), 480);
}

TEST_F(CallForwardTest, BusyAndNoAnswerRulesGoToFailureForwardWithTheRulesRingTimeout) {
  forward("alice@example.com", store::ForwardKind::Busy, "voicemail");
  forward("alice@example.com", store::ForwardKind::NoAnswer, "voicemail", 4);
  RequestContext ctx(invite("sip:alice@example.com"), src_, 1);
  ASSERT_EQ(run(proc_, ctx), Action::Continue);
  EXPECT_EQ(ruri_of(ctx), "sip:alice@example.com");  // not retargeted yet
  EXPECT_TRUE(values(ctx.request(), "Diversion").empty());
  EXPECT_FALSE(ctx.forwarded());
  EXPECT_EQ(ctx.local_user(), "alice@example.com");
  EXPECT_EQ(ctx.failure_forward().aor, "alice@example.com");
  EXPECT_EQ(ctx.failure_forward().busy, "sip:balice@vm.example.com");
  EXPECT_EQ(ctx.failure_forward().no_answer, "sip:ualice@vm.example.com");
  EXPECT_EQ(ctx.take_ring_timeout(), 4000ms);
  EXPECT_EQ(ctx.take_ring_timeout(), 0ms);  // consumed
}

TEST_F(CallForwardTest, NoAnswerRuleWithoutItsOwnTimeoutUsesThePlansDefault) {
  forward("bob@example.com", store::ForwardKind::NoAnswer, "sip:carol@example.com");
  RequestContext ctx(invite("sip:bob@example.com"), src_, 1);
  ASSERT_EQ(run(proc_, ctx), Action::Continue);
  EXPECT_EQ(ctx.failure_forward().no_answer, "sip:carol@example.com");
  EXPECT_TRUE(ctx.failure_forward().busy.empty());
  EXPECT_EQ(ctx.take_ring_timeout(), 15000ms);
}

TEST_F(CallForwardTest, BusyRuleAloneSetsNoRingTimeout) {
  forward("bob@example.com", store::ForwardKind::Busy, "sip:carol@example.com");
  RequestContext ctx(invite("sip:bob@example.com"), src_, 1);
  ASSERT_EQ(run(proc_, ctx), Action::Continue);
  EXPECT_EQ(ctx.failure_forward().busy, "sip:carol@example.com");
  EXPECT_EQ(ctx.take_ring_timeout(), 0ms);
}

TEST_F(CallForwardTest, SubscriberWithoutRulesIsMarkedLocalAndNotForwarded) {
  RequestContext ctx(invite("sip:carol@example.com"), src_, 1);
  ASSERT_EQ(run(proc_, ctx), Action::Continue);
  EXPECT_TRUE(paused_);
  EXPECT_EQ(ctx.local_user(), "carol@example.com");
  EXPECT_EQ(ruri_of(ctx), "sip:carol@example.com");
  EXPECT_TRUE(ctx.failure_forward().busy.empty());
  EXPECT_TRUE(ctx.failure_forward().no_answer.empty());
}

TEST_F(CallForwardTest, NonSubscriberIsUntouchedEvenWithRulesInTheStore) {
  forward("ghost@example.com", store::ForwardKind::Unconditional, "sip:dave@foreign.test");
  forward("ghost@example.com", store::ForwardKind::Busy, "voicemail");
  RequestContext ctx(invite("sip:ghost@example.com"), src_, 1);
  ASSERT_EQ(run(proc_, ctx), Action::Continue);
  EXPECT_EQ(ruri_of(ctx), "sip:ghost@example.com");
  EXPECT_TRUE(ctx.local_user().empty());
  EXPECT_FALSE(ctx.forwarded());
  EXPECT_TRUE(ctx.failure_forward().busy.empty());
}

TEST_F(CallForwardTest, StoreErrorAnswers503NeverRingsAUserWhoseRulesAreUnknown) {
  forward("alice@example.com", store::ForwardKind::Unconditional, "sip:dave@foreign.test");
  drop_table("call_forward");
  const auto before = counter("store_read_errors");
  const auto unavailable = counter("store_unavailable_responses");
  RequestContext ctx(invite("sip:alice@example.com"), src_, 1);
  ASSERT_EQ(run(proc_, ctx), Action::Respond);
  EXPECT_TRUE(paused_);
  EXPECT_EQ(counter("store_read_errors"), before + 1);
  EXPECT_EQ(counter("store_unavailable_responses"), unavailable + 1);
  EXPECT_EQ(answer(ctx), "503 5");
  EXPECT_EQ(ruri_of(ctx), "sip:alice@example.com");
  EXPECT_FALSE(ctx.forwarded());
}

TEST_F(CallForwardTest, GruuIsUntouched) {
  forward("alice@example.com", store::ForwardKind::Unconditional, "sip:dave@foreign.test");
  RequestContext ctx(
      invite("sip:alice@example.com;gr=urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6"), src_, 1);
  ASSERT_EQ(run(proc_, ctx), Action::Continue);
  EXPECT_FALSE(paused_);  // no store trip
  EXPECT_EQ(ruri_of(ctx), "sip:alice@example.com;gr=urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6");
  EXPECT_TRUE(ctx.local_user().empty());
}

TEST_F(CallForwardTest, OnlyInitialInvitesToLocalUsersAreLookedUp) {
  forward("alice@example.com", store::ForwardKind::Unconditional, "sip:dave@foreign.test");
  for (auto req : {request("MESSAGE", "sip:alice@example.com"), invite("sip:alice@foreign.test"),
                   invite("sip:alice@127.0.0.1:32070"),
                   invite("sip:alice@example.com", "sip:bob@example.com",
                          {"Route: <sip:proxy.foreign.test;lr>"})}) {
    RequestContext ctx(req, src_, 1);
    ASSERT_EQ(run(proc_, ctx), Action::Continue);
    EXPECT_FALSE(paused_) << req.request_uri().raw;
    EXPECT_FALSE(ctx.forwarded());
  }
}

// ---- forward-on-failure -------------------------------------------------------------------

class ForwardOnFailureTest : public ::testing::Test {
 protected:
  ForwardOnFailureTest() {
    ctx_.failure_forward() = {"alice@example.com", "sip:balice@vm.example.com",
                              "sip:ualice@vm.example.com"};
  }
  static proxy::StepOutcome outcome(int status, bool all_busy, bool no_answer) {
    proxy::StepOutcome o;
    o.best_status = status;
    o.all_busy = all_busy;
    o.no_answer = no_answer;
    return o;
  }
  ForwardOnFailure proc_;
  RequestContext ctx_{invite("sip:alice@example.com", "sip:carol@other.example"), Source{}, 1};
};

TEST_F(ForwardOnFailureTest, AllBusyForwardsToTheBusyTarget) {
  ASSERT_TRUE(proc_.on_failure(ctx_, outcome(486, true, false)));
  EXPECT_EQ(ruri_of(ctx_), "sip:balice@vm.example.com");
  EXPECT_EQ(values(ctx_.request(), "Diversion"),
            std::vector<std::string>{"<sip:alice@example.com>;reason=user-busy;counter=1"});
  EXPECT_EQ(values(ctx_.request(), "History-Info").back(),
            "<sip:balice@vm.example.com;cause=486>;index=1.1;mp=1");
  EXPECT_TRUE(ctx_.forwarded());
  // The rules are used up.
  EXPECT_TRUE(ctx_.failure_forward().busy.empty());
  EXPECT_TRUE(ctx_.failure_forward().no_answer.empty());
  EXPECT_TRUE(ctx_.failure_forward().aor.empty());
}

TEST_F(ForwardOnFailureTest, NoAnswerForwardsToTheNoAnswerTarget) {
  ASSERT_TRUE(proc_.on_failure(ctx_, outcome(408, false, true)));
  EXPECT_EQ(ruri_of(ctx_), "sip:ualice@vm.example.com");
  EXPECT_EQ(values(ctx_.request(), "Diversion"),
            std::vector<std::string>{"<sip:alice@example.com>;reason=no-answer;counter=1"});
  EXPECT_EQ(values(ctx_.request(), "History-Info").back(),
            "<sip:ualice@vm.example.com;cause=408>;index=1.1;mp=1");
  EXPECT_TRUE(ctx_.failure_forward().busy.empty());
  EXPECT_TRUE(ctx_.failure_forward().no_answer.empty());
}

TEST_F(ForwardOnFailureTest, AnyOtherFailureIsNotItsCase) {
  for (int status : {404, 403, 500, 603}) {
    EXPECT_FALSE(proc_.on_failure(ctx_, outcome(status, false, false))) << status;
  }
  EXPECT_EQ(ruri_of(ctx_), "sip:alice@example.com");
  EXPECT_TRUE(values(ctx_.request(), "Diversion").empty());
  EXPECT_FALSE(ctx_.forwarded());
}

TEST_F(ForwardOnFailureTest, BusyWithoutABusyRuleIsNotForwardedToTheNoAnswerTarget) {
  ctx_.failure_forward().busy.clear();
  EXPECT_FALSE(proc_.on_failure(ctx_, outcome(486, true, false)));
  EXPECT_EQ(ruri_of(ctx_), "sip:alice@example.com");
  ctx_.failure_forward() = {"alice@example.com", "sip:balice@vm.example.com", ""};
  EXPECT_FALSE(proc_.on_failure(ctx_, outcome(408, false, true)));
  EXPECT_EQ(ruri_of(ctx_), "sip:alice@example.com");
}

TEST_F(ForwardOnFailureTest, ALoopLeavesTheCallToItsBestResponse) {
  ctx_.failure_forward().busy = "sip:alice@example.com";  // forwards to itself
  EXPECT_FALSE(proc_.on_failure(ctx_, outcome(486, true, false)));
  EXPECT_EQ(ruri_of(ctx_), "sip:alice@example.com");
  EXPECT_TRUE(values(ctx_.request(), "Diversion").empty());
  EXPECT_FALSE(ctx_.forwarded());
}

// ---- call-class ---------------------------------------------------------------------------

class CallClassTest : public ServicesTest {
 protected:
  CallClassTest() : proc_(store_, plan_) { store_.sync().add_group("bob@example.com", "ld"); }
  RequestContext ctx(const std::string& ruri, const std::string& identity) {
    RequestContext c(invite(ruri), src_, 1);
    c.set_identity(identity);
    return c;
  }
  CallClassProcessor proc_;
};

TEST_F(CallClassTest, EmergencyNumbersAlwaysPass) {
  for (const char* ruri : {"sip:911@example.com", "sip:112@example.com;user=phone", "tel:911"}) {
    RequestContext c = ctx(ruri, "");
    EXPECT_EQ(run(proc_, c), Action::Continue) << ruri;
    EXPECT_FALSE(paused_) << ruri;
  }
}

TEST_F(CallClassTest, NumberInNoClassPasses) {
  RequestContext c = ctx("sip:5551234@example.com", "");
  EXPECT_EQ(run(proc_, c), Action::Continue);
  EXPECT_FALSE(paused_);
}

TEST_F(CallClassTest, StrangerIsBlockedWithoutAStoreTrip) {
  const auto before = counter("call_class_denied");
  for (const char* ruri : {"sip:5551234567@example.com", "sip:555-123-4567@example.com;user=phone",
                           "tel:555.123.4567", "tel:5551234567"}) {
    RequestContext c = ctx(ruri, "");
    ASSERT_EQ(run(proc_, c), Action::Respond) << ruri;
    EXPECT_FALSE(paused_);
    EXPECT_EQ(c.response()->status(), 403) << ruri;
    EXPECT_EQ(c.response()->reason(), kLd) << ruri;
  }
  EXPECT_EQ(counter("call_class_denied"), before + 4);
}

TEST_F(CallClassTest, SubscriberWithoutTheGroupGets403WithTheClassReason) {
  RequestContext c = ctx("sip:5551234567@example.com", "alice@example.com");
  ASSERT_EQ(run(proc_, c), Action::Respond);
  EXPECT_TRUE(paused_);
  EXPECT_EQ(c.response()->status(), 403);
  EXPECT_EQ(c.response()->reason(), kLd);
  ASSERT_TRUE(c.caller_groups());
  EXPECT_TRUE(c.caller_groups()->empty());
}

TEST_F(CallClassTest, ClassWithoutAReasonGetsTheDefaultPhrase) {
  RequestContext c = ctx("sip:0044207946000@example.com", "bob@example.com");
  ASSERT_EQ(run(proc_, c), Action::Respond);
  EXPECT_EQ(c.response()->status(), 403);
  EXPECT_EQ(c.response()->reason(), "Forbidden - call class international");
}

TEST_F(CallClassTest, SubscriberWithTheGroupPasses) {
  RequestContext c = ctx("sip:5551234567@example.com", "bob@example.com");
  ASSERT_EQ(run(proc_, c), Action::Continue);
  EXPECT_TRUE(paused_);
  EXPECT_FALSE(c.response());
}

TEST_F(CallClassTest, TrustedPeerAndLocalUserSkipTheClasses) {
  RequestContext peer = ctx("sip:0044207946000@example.com", "");
  peer.set_trusted_peer("gw", /*may_relay=*/false);
  EXPECT_EQ(run(proc_, peer), Action::Continue);
  EXPECT_FALSE(paused_);
  RequestContext local = ctx("sip:5551234567@example.com", "alice@example.com");
  local.set_local_user("5551234567@example.com");
  EXPECT_EQ(run(proc_, local), Action::Continue);
  EXPECT_FALSE(paused_);
}

TEST_F(CallClassTest, GroupsAreFetchedOnceAndCached) {
  RequestContext c = ctx("sip:5551234567@example.com", "bob@example.com");
  ASSERT_EQ(run(proc_, c), Action::Continue);
  EXPECT_TRUE(paused_);
  ASSERT_TRUE(c.caller_groups());
  EXPECT_EQ(*c.caller_groups(), std::vector<std::string>{"ld"});
  // The store changes; the same request (re-run after a forward) keeps its snapshot.
  store_.sync().delete_group("bob@example.com", "ld");
  c.request().set_request_uri("sip:5559876543@example.com");
  EXPECT_EQ(run(proc_, c), Action::Continue);
  EXPECT_FALSE(paused_);
  c.request().set_request_uri("sip:0044207946000@example.com");
  EXPECT_EQ(run(proc_, c), Action::Respond);
  EXPECT_FALSE(paused_);
  EXPECT_EQ(c.response()->status(), 403);
}

TEST_F(CallClassTest, StoreErrorAnswers503NeverASilentAllow) {
  drop_table("subscriber_group");
  RequestContext c = ctx("sip:5551234567@example.com", "bob@example.com");
  ASSERT_EQ(run(proc_, c), Action::Respond);
  EXPECT_TRUE(paused_);
  EXPECT_EQ(answer(c), "503 5");
  EXPECT_FALSE(c.caller_groups());  // nothing cached from a failed read
}

TEST_F(CallClassTest, OnlyInitialInvitesAreClassified) {
  RequestContext c(request("MESSAGE", "sip:5551234567@example.com"), src_, 1);
  EXPECT_EQ(run(proc_, c), Action::Continue);
  EXPECT_FALSE(paused_);
}

// ---- gateway-route ------------------------------------------------------------------------

class GatewayRouteTest : public ServicesTest {
 protected:
  GatewayRouteTest()
      : proc_(
            domains_, plan_,
            [this](const std::string& aor) {
              asked_.push_back(aor);
              return aor == registered_;
            },
            random_) {}
  RequestContext subscriber_call(const std::string& ruri) {
    RequestContext c(invite(ruri), src_, 1);
    c.set_identity("alice@example.com");
    return c;
  }
  ZeroRandom random_;
  std::vector<std::string> asked_;
  std::string registered_;
  GatewayRouteProcessor proc_;
};

TEST_F(GatewayRouteTest, NumberWithARouteBecomesSerialGatewayTargets) {
  const auto before = counter("lcr_routed");
  RequestContext c = subscriber_call("sip:912345678@example.com");
  ASSERT_EQ(run(proc_, c), Action::SkipChain);
  EXPECT_FALSE(paused_);
  ASSERT_EQ(c.targets().size(), 2u);
  const auto& t1 = c.targets()[0];
  const auto& t2 = c.targets()[1];
  EXPECT_EQ(t1.uri, "sip:912345678@127.0.0.1:33071;transport=udp;user=phone");
  EXPECT_EQ(t2.uri, "sip:0012345678@127.0.0.1:33072;transport=udp;user=phone");  // strip 1, "00"
  EXPECT_GT(t1.q, t2.q);  // serial, GW1 first
  for (const auto& t : c.targets()) {
    EXPECT_EQ(t.continue_on, (std::vector<int>{408, 503}));
    EXPECT_EQ(t.response_timeout, 2500ms);
  }
  EXPECT_EQ(asked_, std::vector<std::string>{"912345678@example.com"});
  EXPECT_EQ(counter("lcr_routed"), before + 1);
}

TEST_F(GatewayRouteTest, AGatewayWithStripHeadersGetsTheRequestWithoutThem) {
  RequestContext c = subscriber_call("sip:912345678@example.com");
  ASSERT_EQ(run(proc_, c), Action::SkipChain);
  ASSERT_EQ(c.targets().size(), 2u);
  EXPECT_FALSE(c.targets()[0].before_send);  // GW1 strips nothing
  ASSERT_TRUE(c.targets()[1].before_send);
  sip::Message m = invite("sip:912345678@example.com");
  m.append(std::string("P-Asserted-Identity"), "<sip:alice@example.com>");
  m.append(sip::HeaderId::UserAgent, "JsSIP");
  m.append(std::string("X-Keep"), "1");
  c.targets()[1].before_send(m, ListenPoint{});
  EXPECT_EQ(m.find("P-Asserted-Identity"), nullptr);
  EXPECT_EQ(m.find(sip::HeaderId::UserAgent), nullptr);
  EXPECT_NE(m.find("X-Keep"), nullptr);
  EXPECT_NE(m.find(sip::HeaderId::Via), nullptr);
}

TEST_F(GatewayRouteTest, EveryAllowedCallerMayLeave) {
  RequestContext peer(invite("sip:912345678@127.0.0.1:5060", "sip:100@pbx.example"), src_, 1);
  peer.set_trusted_peer("pbx", /*may_relay=*/true);
  EXPECT_EQ(run(proc_, peer), Action::SkipChain);
  RequestContext fwd(invite("sip:912345678@second.example", "sip:carol@other.example"), src_, 1);
  fwd.set_forwarded();
  EXPECT_EQ(run(proc_, fwd), Action::SkipChain);
  EXPECT_EQ(fwd.targets().size(), 2u);
}

TEST_F(GatewayRouteTest, CallerWhoMayNotLeaveGets403) {
  const auto before = counter("lcr_denied");
  RequestContext stranger(invite("sip:912345678@example.com", "sip:carol@other.example"), src_, 1);
  ASSERT_EQ(run(proc_, stranger), Action::Respond);
  EXPECT_EQ(stranger.response()->status(), 403);
  EXPECT_EQ(stranger.response()->reason(), "Relaying denied");
  EXPECT_TRUE(stranger.targets().empty());

  RequestContext peer(invite("sip:912345678@example.com", "sip:100@pbx.example"), src_, 1);
  peer.set_trusted_peer("pbx", /*may_relay=*/false);
  ASSERT_EQ(run(proc_, peer), Action::Respond);
  EXPECT_EQ(peer.response()->status(), 403);
  EXPECT_EQ(counter("lcr_denied"), before + 2);
}

TEST_F(GatewayRouteTest, RegisteredUserIsNeverRoutedToAGateway) {
  registered_ = "912345678@example.com";
  RequestContext c = subscriber_call("sip:912345678@example.com");
  EXPECT_EQ(run(proc_, c), Action::Continue);
  EXPECT_TRUE(c.targets().empty());
  EXPECT_FALSE(c.response());
}

TEST_F(GatewayRouteTest, LocalUserIsLeftAlone) {
  RequestContext c = subscriber_call("sip:912345678@example.com");
  c.set_local_user("912345678@example.com");
  EXPECT_EQ(run(proc_, c), Action::Continue);
  EXPECT_TRUE(c.targets().empty());
}

TEST_F(GatewayRouteTest, NoRouteContinuesToLocationLookup) {
  for (const char* ruri : {"sip:5551234@example.com", "sip:bob@example.com"}) {
    // Not even a stranger is refused: nothing would leave sipws.
    RequestContext c(invite(ruri, "sip:carol@other.example"), src_, 1);
    EXPECT_EQ(run(proc_, c), Action::Continue) << ruri;
    EXPECT_TRUE(c.targets().empty());
    EXPECT_FALSE(c.response());
  }
}

TEST_F(GatewayRouteTest, NonLocalOrRoutedRequestUriIsLeftAlone) {
  for (auto req : {invite("sip:912345678@foreign.test"), invite("sip:912345678@127.0.0.1:32070"),
                   invite("sip:912345678@example.com", "sip:alice@example.com",
                          {"Route: <sip:proxy.foreign.test;lr>"}),
                   request("MESSAGE", "sip:912345678@example.com")}) {
    RequestContext c(req, src_, 1);
    c.set_identity("alice@example.com");
    EXPECT_EQ(run(proc_, c), Action::Continue) << req.request_uri().raw;
    EXPECT_TRUE(c.targets().empty());
  }
  EXPECT_TRUE(asked_.empty());
}

TEST_F(GatewayRouteTest, RouteWithEveryGatewayDisabledIs503) {
  plan_.set(example_plan(/*gw1_enabled=*/false, /*gw2_enabled=*/false));
  RequestContext c = subscriber_call("sip:912345678@example.com");
  ASSERT_EQ(run(proc_, c), Action::Respond);
  EXPECT_EQ(c.response()->status(), 503);
  EXPECT_TRUE(c.targets().empty());
}

TEST_F(GatewayRouteTest, DisabledGatewayIsLeftOut) {
  plan_.set(example_plan(/*gw1_enabled=*/false));
  RequestContext c = subscriber_call("sip:912345678@example.com");
  ASSERT_EQ(run(proc_, c), Action::SkipChain);
  ASSERT_EQ(c.targets().size(), 1u);
  EXPECT_EQ(c.targets()[0].uri, "sip:0012345678@127.0.0.1:33072;transport=udp;user=phone");
}

// ---- alias --------------------------------------------------------------------------------

class AliasTest : public ServicesTest {
 protected:
  AliasTest()
      : proc_(domains_, store_, [this](const std::string& aor) {
          asked_.push_back(aor);
          return aor == registered_;
        }) {
    store_.sync().put_alias({"+15551230001", "alice@example.com"});
    store_.sync().put_alias({"bob", "carol@example.com"});
  }
  std::vector<std::string> asked_;
  std::string registered_;
  AliasProcessor proc_;
};

TEST_F(AliasTest, TelUriBecomesASipUriWithUserPhoneInThePrimaryDomain) {
  RequestContext c(invite("tel:+44-20-7946-0000"), src_, 1);
  ASSERT_EQ(run(proc_, c), Action::Continue);
  EXPECT_TRUE(paused_);  // looked up as an alias, missed
  EXPECT_EQ(ruri_of(c), "sip:+442079460000@example.com;user=phone");
  EXPECT_EQ(c.request().request_uri().scheme, sip::Scheme::Sip);
}

TEST_F(AliasTest, TelUriOfAnAliasReachesItsUser) {
  RequestContext c(invite("tel:+1-555-123-0001"), src_, 1);
  ASSERT_EQ(run(proc_, c), Action::Continue);
  EXPECT_EQ(ruri_of(c), "sip:alice@example.com");
}

TEST_F(AliasTest, AliasHitRewritesTheRequestUri) {
  const auto before = counter("alias_hits");
  for (const char* ruri :
       {"sip:+15551230001@example.com", "sip:+1-555-123-0001@example.com;user=phone",
        "sip:+15551230001@second.example", "sip:+15551230001@127.0.0.1:5060"}) {
    RequestContext c(invite(ruri, "sip:carol@other.example"), src_, 1);
    ASSERT_EQ(run(proc_, c), Action::Continue) << ruri;
    EXPECT_TRUE(paused_);
    EXPECT_EQ(ruri_of(c), "sip:alice@example.com") << ruri;
  }
  RequestContext msg(request("MESSAGE", "sip:+15551230001@example.com"), src_, 1);
  ASSERT_EQ(run(proc_, msg), Action::Continue);
  EXPECT_EQ(ruri_of(msg), "sip:alice@example.com");
  EXPECT_EQ(counter("alias_hits"), before + 5);
}

TEST_F(AliasTest, MissContinuesUnchanged) {
  RequestContext c(invite("sip:nobody@example.com"), src_, 1);
  ASSERT_EQ(run(proc_, c), Action::Continue);
  EXPECT_TRUE(paused_);
  EXPECT_EQ(ruri_of(c), "sip:nobody@example.com");
}

TEST_F(AliasTest, StoreErrorAnswers503NotAMiss) {
  drop_table("alias");
  const auto before = counter("store_read_errors");
  RequestContext c(invite("sip:+15551230001@example.com"), src_, 1);
  ASSERT_EQ(run(proc_, c), Action::Respond);
  EXPECT_TRUE(paused_);
  EXPECT_EQ(counter("store_read_errors"), before + 1);
  EXPECT_EQ(answer(c), "503 5");
  EXPECT_EQ(ruri_of(c), "sip:+15551230001@example.com");
}

TEST_F(AliasTest, RegisteredUserSkipsTheStore) {
  registered_ = "bob@example.com";  // also an alias of carol: the binding wins
  RequestContext c(invite("sip:bob@example.com"), src_, 1);
  ASSERT_EQ(run(proc_, c), Action::Continue);
  EXPECT_FALSE(paused_);
  EXPECT_EQ(ruri_of(c), "sip:bob@example.com");
  EXPECT_EQ(asked_, std::vector<std::string>{"bob@example.com"});
}

TEST_F(AliasTest, UnregisteredUserNamedLikeAnAliasIsRewritten) {
  RequestContext c(invite("sip:bob@example.com"), src_, 1);
  ASSERT_EQ(run(proc_, c), Action::Continue);
  EXPECT_TRUE(paused_);
  EXPECT_EQ(ruri_of(c), "sip:carol@example.com");
}

TEST_F(AliasTest, ForeignRoutedAndNonInitialMethodsAreLeftAlone) {
  for (auto req :
       {invite("sip:+15551230001@foreign.test"), invite("sip:+15551230001@127.0.0.1:32070"),
        invite("sip:+15551230001@example.com", "sip:alice@example.com",
               {"Route: <sip:proxy.foreign.test;lr>"}),
        request("REGISTER", "sip:example.com", "sip:+15551230001@example.com"),
        request("ACK", "sip:+15551230001@example.com"),
        request("CANCEL", "sip:+15551230001@example.com")}) {
    RequestContext c(req, src_, 1);
    const std::string before(req.request_uri().raw);
    ASSERT_EQ(run(proc_, c), Action::Continue) << before;
    EXPECT_FALSE(paused_) << before;
    EXPECT_EQ(ruri_of(c), before);
  }
}

}  // namespace
}  // namespace sipws::routing
