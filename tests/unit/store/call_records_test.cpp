// Call records in the store (schema version 3, the `cdrs` table): written in one transaction,
// read back newest first with filters and paging, kept across a reopen (a restart). Real
// SQLite files in a temporary directory.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "backends.hpp"
#include "store/store.hpp"
#include "store_fixtures.hpp"

namespace sipws::store::test {
namespace {

SIPWS_STORE_BACKENDS(CallRecordsOnEachBackend);

CallRecord record(std::string call_id, std::string from, std::string to, int status,
                  std::int64_t start_ms) {
  CallRecord r;
  r.call_id = std::move(call_id);
  r.from = std::move(from);
  r.to = std::move(to);
  r.request_uri = r.to;
  r.source = "ws:127.0.0.1:50000";
  r.status = status;
  r.reason = status == 200 ? "OK" : "Busy Here";
  r.start_ms = start_ms;
  r.end_ms = start_ms + 5000;
  return r;
}

TEST_P(CallRecordsOnEachBackend, AreStoredWithEveryFieldAndSurviveAReopen) {
  const test::BackendDir& dir = backend_dir();
  std::vector<CallRecord> rs{
      record("a@x", "sip:alice@example.com", "sip:bob@example.com", 200, 1700000000000)};
  rs[0].user = "alice@example.com";
  rs[0].answer_ms = 1700000001000;
  rs[0].hangup = "callee";
  rs[0].route = "^0[1-9]";
  rs[0].gateways = {"GW1", "GW2"};
  rs[0].forwarded = {"sip:carol@example.com"};
  rs[0].media_anchored = true;
  rs[0].caller_leg = {250, 43000};
  rs[0].callee_leg = {249, 42828};
  Store::open(dir.uri())->add_call_records(rs);
  EXPECT_GT(rs[0].id, 0);

  auto db = Store::open(dir.uri());  // a restart
  std::size_t total = 0;
  const auto got = db->list_call_records({}, &total);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(total, 1u);
  const CallRecord& r = got[0];
  EXPECT_EQ(r.id, rs[0].id);
  EXPECT_EQ(r.call_id, "a@x");
  EXPECT_EQ(r.from, "sip:alice@example.com");
  EXPECT_EQ(r.to, "sip:bob@example.com");
  EXPECT_EQ(r.source, "ws:127.0.0.1:50000");
  EXPECT_EQ(r.user, "alice@example.com");
  EXPECT_EQ(r.start_ms, 1700000000000);
  EXPECT_EQ(r.answer_ms, 1700000001000);
  EXPECT_EQ(r.end_ms, 1700000005000);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.hangup, "callee");
  EXPECT_EQ(r.route, "^0[1-9]");
  EXPECT_EQ(r.gateways, (std::vector<std::string>{"GW1", "GW2"}));
  EXPECT_EQ(r.forwarded, (std::vector<std::string>{"sip:carol@example.com"}));
  EXPECT_TRUE(r.media_anchored);
  EXPECT_EQ(r.caller_leg.packets, 250u);
  EXPECT_EQ(r.callee_leg.bytes, 42828u);
}

TEST_P(CallRecordsOnEachBackend, FiltersAndPagesNewestFirst) {
  const test::BackendDir& dir = backend_dir();
  auto db = Store::open(dir.uri());
  std::vector<CallRecord> rs;
  for (int i = 0; i < 10; ++i) {
    rs.push_back(record("c" + std::to_string(i), i % 2 ? "sip:alice@example.com" : "sip:bob@x",
                        "sip:100@example.com", i % 3 ? 200 : 486, 1700000000000 + i * 1000));
  }
  db->add_call_records(rs);
  std::size_t total = 0;
  CallRecordQuery q;
  q.limit = 3;
  auto page = db->list_call_records(q, &total);
  EXPECT_EQ(total, 10u);
  ASSERT_EQ(page.size(), 3u);
  EXPECT_EQ(page[0].call_id, "c9");
  EXPECT_EQ(page[2].call_id, "c7");
  q.offset = 9;
  page = db->list_call_records(q, &total);
  ASSERT_EQ(page.size(), 1u);
  EXPECT_EQ(page[0].call_id, "c0");

  CallRecordQuery f;
  f.from = "alice";
  EXPECT_EQ(db->list_call_records(f, &total).size(), 5u);
  f.status = 486;  // i = 3, 9
  page = db->list_call_records(f, &total);
  ASSERT_EQ(page.size(), 2u);
  EXPECT_EQ(total, 2u);
  EXPECT_EQ(page[0].call_id, "c9");

  CallRecordQuery t;
  t.since_ms = 1700000000000 + 2000;
  t.until_ms = 1700000000000 + 5000;  // c2, c3, c4
  EXPECT_EQ(db->list_call_records(t, &total).size(), 3u);
  CallRecordQuery c;
  c.call_id = "c4";
  page = db->list_call_records(c, nullptr);
  ASSERT_EQ(page.size(), 1u);
  EXPECT_EQ(page[0].call_id, "c4");
  // A filter value is data, never SQL.
  c.call_id = "x' OR '1'='1";
  EXPECT_TRUE(db->list_call_records(c, &total).empty());
  EXPECT_EQ(total, 0u);
}

}  // namespace
}  // namespace sipws::store::test
