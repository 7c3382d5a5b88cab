// The etcd store against real etcd: the SQLite store's behaviour (store.h) on a shared
// catalog, two nodes on one cluster (watch, conflicts, per-node state), the key layout check,
// and failures that say "unavailable" within the deadline instead of hanging.
#include "store/etcd/etcd_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <set>
#include <thread>

#include "store_test_util.h"
#include "testlib/etcd_cluster.h"

namespace steerdns::store {
namespace {

using steerdns::testing::EtcdCluster;
using steerdns::testing::free_tcp_port;
using testing::change_row;
using testing::del;
using ::testing::HasSubstr;
using testing::put_check;
using testing::put_record;
using testing::put_settings;
using testing::put_zone;
using ::testing::StartsWith;
using testing::zone_row;
using Clock = std::chrono::steady_clock;

std::string numbered(const char* prefix, int64_t n) {
  std::string s(prefix);
  s.append(std::to_string(n));
  return s;
}

int64_t elapsed_ms(Clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
}

template <class Pred>
bool eventually(Pred pred, int64_t ms) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(ms);
  while (Clock::now() < deadline) {
    if (pred()) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return pred();
}

class EtcdStoreTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { cluster_ = new EtcdCluster(1); }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }
  void SetUp() override {
    ASSERT_TRUE(cluster_->healthy());
    // Every test on its own key prefix: one cluster serves the whole suite.
    prefix_ = numbered("t", counter_++) + "-" + make_id('P') + "/";
    store_ = open_node("a");
    ASSERT_NE(store_, nullptr);
  }
  etcd::Options options(int64_t timeout_ms = 2000) const {
    etcd::Options o;
    o.endpoints = cluster_->endpoints();
    o.timeout_ms = timeout_ms;
    o.prefix = prefix_;
    return o;
  }
  std::unique_ptr<EtcdStore> open_node(const std::string& node, EtcdStoreOptions so = {}) {
    auto s = EtcdStore::open(options(), node, so);
    EXPECT_TRUE(s.ok()) << s.error();
    return s.ok() ? std::move(s).value() : nullptr;
  }
  void reopen() {
    store_.reset();
    store_ = open_node("a");
    ASSERT_NE(store_, nullptr);
  }

  static EtcdCluster* cluster_;
  static int counter_;
  std::string prefix_;
  std::unique_ptr<EtcdStore> store_;
};
EtcdCluster* EtcdStoreTest::cluster_ = nullptr;
int EtcdStoreTest::counter_ = 0;

TEST_F(EtcdStoreTest, EmptyStoreAndLayout) {
  EXPECT_EQ(store_->describe(), "etcd:" + cluster_->endpoint(0) + " (node a)");
  EXPECT_EQ(store_->schema_version(), 1);
  EXPECT_TRUE(store_->shared());
  auto rows = store_->load();
  ASSERT_TRUE(rows.ok()) << rows.error();
  EXPECT_EQ(rows->revision, 0);
  EXPECT_TRUE(rows->zones.empty());
  EXPECT_EQ(rows->settings, nlohmann::json::object());
  etcd::RangeRequest r;
  r.key = prefix_ + "layout";
  auto got = store_->client().range(r);
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->kvs.size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(got->kvs[0].value), (nlohmann::json{{"version", 1}}));
}

TEST_F(EtcdStoreTest, RoundTripEveryRowKind) {
  Commit c;
  c.ops.push_back(put_zone(zone_row("ZB", "b.test.")));
  c.ops.push_back(put_zone(zone_row("ZA", "a.test.")));
  c.ops.push_back(put_record("ZB", "www.b.test./A", {{"ttl", 60}, {"values", {"192.0.2.1"}}}));
  c.ops.push_back(put_record("ZA", "x.a.test./TXT", {{"values", {"h\u00e9llo \"q\""}}}));
  c.ops.push_back(put_record("ZA", "a.test./MX", {{"values", {"10 mx.a.test."}}}));
  c.ops.push_back(put_check("primary", 3, {{"type", "http"}, {"port", 8080}}));
  c.ops.push_back(put_check("backup", 1, {{"type", "tcp"}}));
  c.ops.push_back(put_settings({{"latency_map", {{"eu", "10.0.0.0/8"}}}}));
  c.change = change_row("C1", "first");
  auto rev = store_->commit(c);
  ASSERT_TRUE(rev.ok()) << rev.error();
  EXPECT_EQ(*rev, 1);
  for (int pass = 0; pass < 2; ++pass) {
    auto rows = store_->load();
    ASSERT_TRUE(rows.ok()) << rows.error();
    EXPECT_EQ(rows->revision, 1);
    ASSERT_EQ(rows->zones.size(), 2u);
    EXPECT_EQ(rows->zones[0].id, "ZA");
    EXPECT_EQ(rows->zones[0].name, "a.test.");
    EXPECT_EQ(rows->zones[0].caller_ref, "ref-ZA");
    EXPECT_EQ(rows->zones[0].comment, "zone a.test.");
    EXPECT_EQ(rows->zones[0].settings, zone_row("ZA", "a.test.").settings);
    EXPECT_EQ(rows->zones[0].created_ms, 1700000000000);
    EXPECT_EQ(rows->zones[1].name, "b.test.");
    ASSERT_EQ(rows->records.size(), 3u);
    EXPECT_EQ(rows->records[0].zone_id, "ZA");
    EXPECT_EQ(rows->records[0].key, "a.test./MX");
    EXPECT_EQ(rows->records[1].key, "x.a.test./TXT");
    EXPECT_EQ(rows->records[1].body["values"][0], "h\u00e9llo \"q\"");
    EXPECT_EQ(rows->records[2].zone_id, "ZB");
    EXPECT_EQ(rows->records[2].body["ttl"], 60);
    ASSERT_EQ(rows->checks.size(), 2u);
    EXPECT_EQ(rows->checks[0].id, "backup");
    EXPECT_EQ(rows->checks[1].id, "primary");
    EXPECT_EQ(rows->checks[1].version, 3);
    EXPECT_EQ(rows->checks[1].caller_ref, "cref-primary");
    EXPECT_EQ(rows->checks[1].body["port"], 8080);
    EXPECT_EQ(rows->settings["latency_map"]["eu"], "10.0.0.0/8");
    reopen();
  }
  auto ch = store_->change("C1");
  ASSERT_TRUE(ch.ok()) << ch.error();
  ASSERT_TRUE(ch->has_value());
  EXPECT_EQ((*ch)->revision, 1);
  EXPECT_EQ((*ch)->status, "PENDING");
  EXPECT_EQ((*ch)->author, "test");
  EXPECT_EQ((*ch)->comment, "first");
  EXPECT_EQ((*ch)->submitted_ms, 1700000000123);
  EXPECT_EQ((*ch)->changes, change_row("C1", "first").changes);
  auto missing = store_->change("CNOPE");
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());
}

TEST_F(EtcdStoreTest, UpdatesDeletesAndZoneCascade) {
  Commit c;
  c.ops.push_back(put_zone(zone_row("ZA", "a.test.")));
  c.ops.push_back(put_zone(zone_row("ZB", "b.test.")));
  c.ops.push_back(put_record("ZA", "w./A", {{"v", 1}}));
  c.ops.push_back(put_record("ZA", "x./A", {{"v", 1}}));
  c.ops.push_back(put_record("ZB", "w./A", {{"v", 1}}));
  c.ops.push_back(put_check("h", 1, {{"v", 1}}));
  ASSERT_TRUE(store_->commit(c).ok());
  Commit u;
  auto z = zone_row("ZA", "a.test.");
  z.comment = "renamed comment";
  u.ops.push_back(put_zone(z));  // an update keeps the zone's records
  u.ops.push_back(put_record("ZA", "w./A", {{"v", 2}}));
  u.ops.push_back(put_check("h", 2, {{"v", 2}}));
  auto rev = store_->commit(u);
  ASSERT_TRUE(rev.ok()) << rev.error();
  EXPECT_EQ(*rev, 2);
  auto rows = store_->load();
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows->zones.at(0).comment, "renamed comment");
  ASSERT_EQ(rows->records.size(), 3u);
  EXPECT_EQ(rows->records[0].body["v"], 2);
  EXPECT_EQ(rows->checks.at(0).version, 2);

  Commit d;
  d.ops.push_back(del("check", "h"));
  d.ops.push_back(del("settings", ""));
  d.ops.push_back(del("zone", "ZA"));  // and its records with it
  ASSERT_TRUE(store_->commit(d).ok());
  rows = store_->load();
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->zones.size(), 1u);
  EXPECT_EQ(rows->zones[0].id, "ZB");
  ASSERT_EQ(rows->records.size(), 1u);
  EXPECT_EQ(rows->records[0].zone_id, "ZB");
  EXPECT_TRUE(rows->checks.empty());
  EXPECT_EQ(rows->revision, 3);
}

TEST_F(EtcdStoreTest, FailingOpLeavesNothingWritten) {
  Commit c;
  c.ops.push_back(put_zone(zone_row("ZA", "a.test.")));
  ASSERT_TRUE(store_->commit(c).ok());
  Commit bad;
  bad.ops.push_back(put_zone(zone_row("ZB", "b.test.")));
  bad.ops.push_back(put_record("ZA", "w.a.test./A", {{"v", 1}}));
  bad.ops.push_back(put_record("ZMISSING", "w.gone.test./A", {{"v", 1}}));
  bad.ops.push_back(put_check("h", 1, {}));
  bad.change = change_row("CBAD");
  auto r = store_->commit(bad);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error(), HasSubstr("op 2"));
  EXPECT_THAT(r.error(), HasSubstr("zone 'ZMISSING' does not exist"));
  EXPECT_THAT(r.error(), HasSubstr(cluster_->endpoint(0)));
  Commit unknown;
  unknown.ops.push_back(put_check("h", 1, {}));
  unknown.ops.push_back(del("bogus", "k"));
  r = store_->commit(unknown);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error(), HasSubstr("unknown kind 'bogus'"));
  Commit not_object;
  not_object.ops.push_back(put_settings(nlohmann::json::array()));
  r = store_->commit(not_object);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error(), HasSubstr("settings must be a JSON object"));
  auto rows = store_->load();
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows->revision, 1);
  ASSERT_EQ(rows->zones.size(), 1u);
  EXPECT_TRUE(rows->records.empty());
  EXPECT_TRUE(rows->checks.empty());
  EXPECT_FALSE(store_->change("CBAD")->has_value());
  auto ok = store_->commit(c);
  ASSERT_TRUE(ok.ok()) << ok.error();
  EXPECT_EQ(*ok, 2);
}

TEST_F(EtcdStoreTest, ExpectRevisionConflictWritesNothing) {
  Commit c;
  c.expect_revision = 0;
  c.ops.push_back(put_zone(zone_row("ZA", "a.test.")));
  ASSERT_TRUE(store_->commit(c).ok());
  Commit stale;
  stale.expect_revision = 0;
  stale.ops.push_back(put_check("h", 1, {}));
  stale.change = change_row("C2");
  stale.events.emplace_back(1, nlohmann::json{{"type", "x"}});
  auto r = store_->commit(stale);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error(), StartsWith("conflict: catalog revision is 1, expected 0"));
  auto rows = store_->load();
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows->revision, 1);
  EXPECT_TRUE(rows->checks.empty());
  EXPECT_FALSE(store_->change("C2")->has_value());
  EXPECT_TRUE(store_->last_events(0)->empty());
  stale.expect_revision = 1;
  auto ok = store_->commit(stale);
  ASSERT_TRUE(ok.ok()) << ok.error();
  EXPECT_EQ(*ok, 2);
  EXPECT_EQ(store_->last_events(0)->size(), 1u);
}

TEST_F(EtcdStoreTest, ChangesListingPagingAndInsync) {
  for (int i = 1; i <= 7; ++i) {
    Commit c;
    c.ops.push_back(put_check("h", i, {{"i", i}}));
    c.change = change_row(numbered("C", i), numbered("batch ", i));
    auto r = store_->commit(c);
    ASSERT_TRUE(r.ok()) << r.error();
    EXPECT_EQ(*r, i);
  }
  {
    Commit no_change;
    no_change.ops.push_back(put_check("h", 8, {}));
    ASSERT_EQ(*store_->commit(no_change), 8);
  }
  auto page1 = store_->changes(3);
  ASSERT_TRUE(page1.ok()) << page1.error();
  ASSERT_EQ(page1->size(), 3u);
  EXPECT_EQ((*page1)[0].id, "C7");
  EXPECT_EQ((*page1)[1].id, "C6");
  EXPECT_EQ((*page1)[2].revision, 5);
  auto page2 = store_->changes(3, page1->back().revision);
  ASSERT_TRUE(page2.ok());
  ASSERT_EQ(page2->size(), 3u);
  EXPECT_EQ((*page2)[0].revision, 4);
  EXPECT_EQ((*page2)[2].revision, 2);
  auto page3 = store_->changes(3, page2->back().revision);
  ASSERT_TRUE(page3.ok());
  ASSERT_EQ(page3->size(), 1u);
  EXPECT_EQ((*page3)[0].id, "C1");

  auto pending = store_->pending_changes();
  ASSERT_TRUE(pending.ok());
  EXPECT_EQ(pending->size(), 7u);
  ASSERT_TRUE(store_->mark_insync({"C1", "C2", "C5"}, 1700000009999).ok());
  ASSERT_TRUE(store_->mark_insync({"C1"}, 1800000000000).ok());  // already INSYNC: kept
  auto bad = store_->mark_insync({"C3", "CNOPE"}, 1);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.error(), HasSubstr("CNOPE"));
  reopen();
  pending = store_->pending_changes();
  ASSERT_TRUE(pending.ok());
  std::vector<std::string> ids;
  for (const auto& ch : *pending) {
    ids.push_back(ch.id);
  }
  EXPECT_EQ(ids, (std::vector<std::string>{"C3", "C4", "C6", "C7"}));
  auto c1 = store_->change("C1");
  ASSERT_TRUE(c1.ok() && c1->has_value());
  EXPECT_EQ((*c1)->status, "INSYNC");
  EXPECT_EQ((*c1)->insync_ms, 1700000009999);
  EXPECT_TRUE(store_->changes(0)->empty());
}

TEST_F(EtcdStoreTest, DuplicateChangeIdFailsWholeCommit) {
  Commit c;
  c.change = change_row("CSAME");
  ASSERT_TRUE(store_->commit(c).ok());
  c.ops.push_back(put_check("h", 1, {}));
  auto r = store_->commit(c);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error(), HasSubstr("CSAME"));
  auto rows = store_->load();
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows->revision, 1);
  EXPECT_TRUE(rows->checks.empty());
}

TEST_F(EtcdStoreTest, CommitGroupIsAllOrNothing) {
  Commit a;
  a.ops.push_back(put_zone(zone_row("ZA", "a.test.")));
  a.ops.push_back(put_check("h", 1, {{"from", "a"}}));
  a.change = change_row("CA");
  Commit b;
  b.ops.push_back(put_record("ZA", "w.a.test./A", {{"v", 1}}));
  b.ops.push_back(put_check("h", 2, {{"from", "b"}}));  // the same key twice in one txn
  b.change = change_row("CB");
  b.expect_revision = 1;  // checked against the group's running revision
  auto revs = store_->commit_group({a, b});
  ASSERT_TRUE(revs.ok()) << revs.error();
  EXPECT_EQ(*revs, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ((*store_->change("CA"))->revision, 1);
  EXPECT_EQ((*store_->change("CB"))->revision, 2);
  EXPECT_EQ(store_->load()->checks.at(0).body["from"], "b");

  Commit c;
  c.ops.push_back(put_check("h2", 1, {}));
  c.change = change_row("CC");
  Commit bad;
  bad.ops.push_back(put_record("ZMISSING", "x./A", {}));
  bad.change = change_row("CBAD");
  auto r = store_->commit_group({c, bad});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error(), HasSubstr("commit 1 of a group of 2"));
  EXPECT_THAT(r.error(), HasSubstr("'ZMISSING' does not exist"));
  auto rows = store_->load();
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows->revision, 2);
  EXPECT_EQ(rows->checks.size(), 1u);
  EXPECT_FALSE(store_->change("CC")->has_value());

  Commit stale;
  stale.expect_revision = 1;
  r = store_->commit_group({c, stale});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error(), StartsWith("conflict: catalog revision is 3, expected 1"));
  EXPECT_EQ(store_->load()->revision, 2);
  auto empty = store_->commit_group({});
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST_F(EtcdStoreTest, EventsOrderAfterSeqAndPruning) {
  EtcdStoreOptions so;
  so.retain_events = 5;
  so.prune_every = 1;
  auto s = open_node("a", so);
  ASSERT_NE(s, nullptr);
  int64_t last = 0;
  for (int i = 1; i <= 12; ++i) {
    auto seq = s->append_event(1000 + i, {{"type", "t"}, {"i", i}});
    ASSERT_TRUE(seq.ok()) << seq.error();
    EXPECT_GT(*seq, last);
    last = *seq;
  }
  auto all = s->events(0, 100);
  ASSERT_TRUE(all.ok()) << all.error();
  ASSERT_EQ(all->size(), 5u);
  EXPECT_EQ((*all)[0].body["i"], 8);
  EXPECT_EQ((*all)[4].body["i"], 12);
  EXPECT_EQ((*all)[4].seq, last);
  EXPECT_EQ((*all)[4].time_ms, 1012);
  auto after = s->events((*all)[1].seq, 2);
  ASSERT_TRUE(after.ok());
  ASSERT_EQ(after->size(), 2u);
  EXPECT_EQ((*after)[0].body["i"], 10);
  EXPECT_EQ((*after)[1].body["i"], 11);
  EXPECT_TRUE(s->events(last, 10)->empty());

  // A batch shares one etcd revision; seq still orders it, and paging splits it correctly.
  std::vector<std::pair<int64_t, nlohmann::json>> batch;
  for (int i = 13; i <= 16; ++i) {
    batch.emplace_back(2000 + i, nlohmann::json{{"i", i}});
  }
  ASSERT_TRUE(s->append_events(batch).ok());
  ASSERT_TRUE(s->append_events({}).ok());
  auto tail = s->events(last, 2);
  ASSERT_TRUE(tail.ok());
  ASSERT_EQ(tail->size(), 2u);
  EXPECT_EQ((*tail)[0].body["i"], 13);
  EXPECT_EQ((*tail)[1].body["i"], 14);
  auto rest = s->events(tail->back().seq, 10);
  ASSERT_TRUE(rest.ok());
  ASSERT_EQ(rest->size(), 2u);
  EXPECT_EQ((*rest)[0].body["i"], 15);
  EXPECT_EQ((*rest)[1].body["i"], 16);
  auto last2 = s->last_events(2);
  ASSERT_TRUE(last2.ok());
  ASSERT_EQ(last2->size(), 2u);
  EXPECT_EQ((*last2)[0].body["i"], 15);  // oldest first
  EXPECT_EQ((*last2)[1].time_ms, 2016);
  auto kept = s->last_events(0);
  ASSERT_TRUE(kept.ok());
  ASSERT_EQ(kept->size(), 5u);  // pruned to retain after the batch
  EXPECT_EQ(kept->front().body["i"], 12);
}

TEST_F(EtcdStoreTest, EventsOfTwoNodesInterleaveInEtcdOrder) {
  auto b = open_node("b");
  ASSERT_NE(b, nullptr);
  ASSERT_TRUE(store_->append_event(1, {{"n", 1}}).ok());
  ASSERT_TRUE(b->append_event(2, {{"n", 2}}).ok());
  Commit c;
  c.events.emplace_back(3, nlohmann::json{{"n", 3}});
  c.events.emplace_back(4, nlohmann::json{{"n", 4}});
  ASSERT_TRUE(store_->commit(c).ok());
  ASSERT_TRUE(b->append_event(5, {{"n", 5}}).ok());
  for (auto* s : {store_.get(), b.get()}) {
    auto evs = s->events(0, 10);
    ASSERT_TRUE(evs.ok()) << evs.error();
    std::vector<int> ns;
    for (const auto& e : *evs) {
      ns.push_back(e.body["n"].get<int>());
    }
    EXPECT_EQ(ns, (std::vector<int>{1, 2, 3, 4, 5}));
  }
}

TEST_F(EtcdStoreTest, StateIsPerNodeExceptFleetWideKeys) {
  auto b = open_node("b");
  ASSERT_NE(b, nullptr);
  EXPECT_FALSE(store_->get_state("health")->has_value());
  ASSERT_TRUE(store_->put_state("health", {{"a", "up"}}).ok());
  ASSERT_TRUE(store_->put_state("health", {{"a", "down"}}).ok());
  ASSERT_TRUE(b->put_state("health", {{"b", "up"}}).ok());
  ASSERT_TRUE(store_->put_state("slo", {{"budget", 1}}).ok());
  ASSERT_TRUE(b->put_state("alerts-cursor", 42).ok());
  EXPECT_EQ(**store_->get_state("health"), (nlohmann::json{{"a", "down"}}));
  EXPECT_EQ(**b->get_state("health"), (nlohmann::json{{"b", "up"}}));
  EXPECT_EQ(**b->get_state("slo"), (nlohmann::json{{"budget", 1}}));
  EXPECT_EQ(**store_->get_state("alerts-cursor"), 42);
  etcd::RangeRequest r;
  r.key = prefix_ + "node/a/state/health";
  auto got = store_->client().range(r);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->kvs.size(), 1u);
}

TEST_F(EtcdStoreTest, AlertsAndOutbox) {
  EtcdStoreOptions so;
  so.prune_alerts_every = 1;
  so.retain_alerts_ms = 1000;
  auto s = open_node("a", so);
  ASSERT_NE(s, nullptr);
  auto row = [](const std::string& alert, const std::string& dedup, int64_t t) {
    OutboxRow o;
    o.alert_id = alert;
    o.channel = "webhook";
    o.dedup_key = dedup;
    o.payload = {{"text", dedup}};
    o.created_ms = t;
    o.next_attempt_ms = t;
    return o;
  };
  AlertCommit first;  // alerts are listed oldest first (by the step that created them)
  first.alerts.push_back({"A2", {{"state", "firing"}, {"updated_ms", 90}}});
  ASSERT_TRUE(s->commit_alerts(first).ok());
  AlertCommit c;
  c.alerts.push_back({"A1", {{"state", "firing"}, {"updated_ms", 100}}});
  c.alerts.push_back({"A2", {{"state", "firing"}, {"updated_ms", 100}}});
  c.enqueue.push_back(row("A2", "A2/firing", 100));
  c.enqueue.push_back(row("A1", "A1/firing", 101));
  c.enqueue.push_back(row("A1", "A1/firing", 101));  // the same key twice: once
  c.state.emplace_back("alerts-cursor", 7);
  ASSERT_TRUE(s->commit_alerts(c).ok());
  ASSERT_TRUE(s->commit_alerts(c).ok());  // replayed after a crash: nothing queued twice
  auto alerts = s->alerts();
  ASSERT_TRUE(alerts.ok()) << alerts.error();
  ASSERT_EQ(alerts->size(), 2u);
  EXPECT_EQ((*alerts)[0].id, "A2");  // oldest first
  EXPECT_EQ(**s->get_state("alerts-cursor"), 7);
  auto due = s->outbox_due(100, 10);
  ASSERT_TRUE(due.ok()) << due.error();
  ASSERT_EQ(due->size(), 1u);
  EXPECT_EQ((*due)[0].dedup_key, "A2/firing");
  due = s->outbox_due(200, 10);
  ASSERT_TRUE(due.ok());
  ASSERT_EQ(due->size(), 2u);
  const int64_t id1 = (*due)[0].id;
  const int64_t id2 = (*due)[1].id;
  EXPECT_LT(id1, id2);
  EXPECT_EQ((*due)[1].payload["text"], "A1/firing");

  ASSERT_TRUE(s->outbox_attempt(id1, "pending", 500, {{"ok", false}, {"detail", "503"}}, 150).ok());
  ASSERT_TRUE(s->outbox_attempt(id2, "delivered", 0, {{"ok", true}}, 160).ok());
  auto bad = s->outbox_attempt(id1, "lost", 0, {}, 1);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.error(), HasSubstr("status 'lost'"));
  auto none = s->outbox_attempt(999, "dead", 0, {}, 1);
  ASSERT_FALSE(none.ok());
  EXPECT_THAT(none.error(), HasSubstr("no outbox row 999"));
  EXPECT_TRUE(s->outbox_due(200, 10)->empty());
  auto rows = s->outbox(10, "");
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[0].id, id2);  // newest first
  EXPECT_EQ((*rows)[0].status, "delivered");
  EXPECT_EQ((*rows)[0].done_ms, 160);
  EXPECT_EQ((*rows)[1].attempts, 1);
  EXPECT_EQ((*rows)[1].next_attempt_ms, 500);
  ASSERT_EQ((*rows)[1].history.size(), 1u);
  EXPECT_EQ((*rows)[1].history[0]["detail"], "503");
  auto for_a2 = s->outbox(10, "A2");
  ASSERT_TRUE(for_a2.ok());
  ASSERT_EQ(for_a2->size(), 1u);
  EXPECT_EQ((*for_a2)[0].id, id1);
  auto stats = s->outbox_stats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->pending, 1);
  EXPECT_EQ(stats->delivered, 1);
  EXPECT_EQ(stats->dead, 0);
  EXPECT_EQ(stats->oldest_pending_ms, 100);

  // Much later: the resolved alert and the delivered row are pruned, dedup key included.
  AlertCommit later;
  later.alerts.push_back({"A1", {{"state", "resolved"}, {"updated_ms", 200}}});
  ASSERT_TRUE(s->commit_alerts(later).ok());
  AlertCommit much_later;
  much_later.alerts.push_back({"A3", {{"state", "firing"}, {"updated_ms", 5000}}});
  ASSERT_TRUE(s->commit_alerts(much_later).ok());
  alerts = s->alerts();
  ASSERT_TRUE(alerts.ok());
  std::vector<std::string> ids;
  for (const auto& a : *alerts) {
    ids.push_back(a.id);
  }
  EXPECT_EQ(ids, (std::vector<std::string>{"A2", "A3"}));
  rows = s->outbox(10, "");
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].id, id1);
  AlertCommit again;
  again.enqueue.push_back(row("A1", "A1/firing", 6000));
  ASSERT_TRUE(s->commit_alerts(again).ok());
  EXPECT_EQ(s->outbox_stats()->pending, 2);
}

TEST_F(EtcdStoreTest, TwoNodesWatchAndConflict) {
  auto b = open_node("b");
  ASSERT_NE(b, nullptr);
  std::atomic<int64_t> seen{-1};
  std::atomic<int> calls{0};
  ASSERT_TRUE(b->watch_catalog([&](int64_t rev) {
                 seen = rev;
                 calls++;
               }).ok());
  EXPECT_FALSE(b->watch_catalog([](int64_t) {}).ok());  // one watch per store
  ASSERT_TRUE(eventually([&] { return calls.load() >= 1; }, 5000));
  EXPECT_EQ(seen.load(), 0);  // the current revision, right after connecting

  Commit c;
  c.expect_revision = 0;
  c.ops.push_back(put_zone(zone_row("ZA", "a.test.")));
  c.change = change_row("CA");
  auto t0 = Clock::now();
  ASSERT_TRUE(store_->commit(c).ok());
  ASSERT_TRUE(eventually([&] { return seen.load() == 1; }, 5000));
  std::printf("[measure] node b saw node a's commit after %lld ms\n",
              static_cast<long long>(elapsed_ms(t0)));
  auto rows = b->load();
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows->zones.size(), 1u);

  Commit stale;
  stale.expect_revision = 0;  // b had not reloaded
  stale.ops.push_back(put_check("h", 1, {}));
  stale.change = change_row("CB");
  auto r = b->commit(stale);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error(), StartsWith("conflict: catalog revision is 1, expected 0"));
  stale.expect_revision = 1;
  ASSERT_TRUE(b->commit(stale).ok());
  ASSERT_TRUE(eventually([&] { return seen.load() == 2; }, 5000));
}

TEST_F(EtcdStoreTest, ConcurrentCommitsOfTwoNodesAllLand) {
  auto b = open_node("b");
  ASSERT_NE(b, nullptr);
  constexpr int kPer = 10;
  std::vector<int64_t> revs[2];
  std::vector<std::thread> threads;
  EtcdStore* stores[2] = {store_.get(), b.get()};
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPer; ++i) {
        Commit c;  // expect_revision -1: "don't check", so a lost race is retried
        c.ops.push_back(put_check(numbered("h", t) + numbered("-", i), 1, {}));
        c.change = change_row(make_id('C'));
        auto r = stores[t]->commit(c);
        EXPECT_TRUE(r.ok()) << r.error();
        if (r.ok()) {
          revs[t].push_back(*r);
        }
      }
    });
  }
  for (auto& th : threads) {
    th.join();
  }
  std::set<int64_t> all(revs[0].begin(), revs[0].end());
  all.insert(revs[1].begin(), revs[1].end());
  EXPECT_EQ(all.size(), 2u * kPer);
  EXPECT_EQ(*all.rbegin(), 2 * kPer);
  auto rows = store_->load();
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows->revision, 2 * kPer);
  EXPECT_EQ(rows->checks.size(), 2u * kPer);
}

// A TCP proxy in front of one etcd member that can lose the answer of the next write
// transaction: the request reaches etcd (and is applied), the client gets a closed connection,
// as when a leader dies after committing. Everything else passes through.
class LossyProxy {
 public:
  explicit LossyProxy(int upstream_port) : upstream_(upstream_port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    EXPECT_EQ(::listen(fd_, 64), 0);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { accept_loop(); });
  }
  ~LossyProxy() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
    for (auto& t : conns_) {
      t.join();
    }
  }
  std::string url() const { return steerdns::testing::loopback_url(port_); }
  // The next txn with a put is delivered, its answer dropped.
  void lose_next_write_answer() { lose_answer_ = true; }
  // The next txn with a put is dropped before it reaches etcd.
  void lose_next_write_request() { lose_request_ = true; }
  int lost() const { return lost_.load(); }

 private:
  void accept_loop() {
    while (!stop_) {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) {
        return;
      }
      conns_.emplace_back([this, c] { serve(c); });
    }
  }
  static bool read_request(int fd, std::string* req) {
    char buf[65536];
    for (;;) {
      auto hdr_end = req->find("\r\n\r\n");
      if (hdr_end != std::string::npos) {
        size_t len = 0;
        auto cl = req->find("Content-Length: ");
        if (cl != std::string::npos && cl < hdr_end) {
          len = std::stoul(req->substr(cl + 16));
        }
        if (req->size() >= hdr_end + 4 + len) {
          return true;
        }
      }
      ssize_t n = ::read(fd, buf, sizeof(buf));
      if (n <= 0) {
        return false;
      }
      req->append(buf, static_cast<size_t>(n));
    }
  }
  void serve(int c) {
    std::string req;
    if (!read_request(c, &req)) {
      ::close(c);
      return;
    }
    const bool write = req.find("POST /v3/kv/txn") != std::string::npos &&
                       req.find("request_put") != std::string::npos;
    if (write && lose_request_.exchange(false)) {
      lost_++;
      ::close(c);
      return;
    }
    int u = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<uint16_t>(upstream_));
    if (::connect(u, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
        ::write(u, req.data(), req.size()) != static_cast<ssize_t>(req.size())) {
      ::close(u);
      ::close(c);
      return;
    }
    const bool lose = write && lose_answer_.exchange(false);
    char buf[65536];
    pollfd fds[2] = {{c, POLLIN, 0}, {u, POLLIN, 0}};
    while (!stop_ && ::poll(fds, 2, 200) >= 0) {
      if (fds[1].revents != 0) {
        ssize_t n = ::read(u, buf, sizeof(buf));
        if (n <= 0) {
          break;
        }
        if (lose) {
          lost_++;  // etcd answered: the write is applied; the client never hears of it
          break;
        }
        if (::write(c, buf, static_cast<size_t>(n)) != n) {
          break;
        }
      }
      if (fds[0].revents != 0) {
        ssize_t n = ::read(c, buf, sizeof(buf));
        if (n <= 0 || ::write(u, buf, static_cast<size_t>(n)) != n) {
          break;
        }
      }
    }
    ::close(u);
    ::close(c);
  }

  int upstream_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<bool> lose_answer_{false};
  std::atomic<bool> lose_request_{false};
  std::atomic<int> lost_{0};
  std::thread thread_;
  std::vector<std::thread> conns_;
};

TEST_F(EtcdStoreTest, CommitWhoseAnswerIsLostIsNotAppliedTwice) {
  auto port = std::stoi(cluster_->endpoint(0).substr(cluster_->endpoint(0).rfind(':') + 1));
  LossyProxy proxy(port);
  etcd::Options o = options();
  o.endpoints = {proxy.url()};
  auto opened = EtcdStore::open(o, "p");
  ASSERT_TRUE(opened.ok()) << opened.error();
  auto& s = **opened;
  for (bool with_change : {true, false}) {
    const int64_t before = s.load()->revision;
    // Applied, answer lost: the store finds its change batch (or commit token) and reports
    // the commit instead of applying it a second time.
    proxy.lose_next_write_answer();
    Commit c;
    c.ops.push_back(put_check(with_change ? "lost-answer" : "lost-answer-2", 1, {}));
    c.events.emplace_back(1, nlohmann::json{{"lost", with_change}});
    if (with_change) {
      c.change = change_row("CLOST");
    }
    const int lost = proxy.lost();
    auto r = s.commit(c);
    ASSERT_TRUE(r.ok()) << r.error();
    EXPECT_EQ(proxy.lost(), lost + 1);
    EXPECT_EQ(*r, before + 1);
    EXPECT_EQ(s.load()->revision, before + 1);
  }
  EXPECT_EQ(s.last_events(0)->size(), 2u);  // each commit's event once
  // Lost before reaching etcd: retried, applied once.
  proxy.lose_next_write_request();
  Commit d;
  d.ops.push_back(put_check("lost-request", 1, {}));
  d.change = change_row("CLOST2");
  d.expect_revision = 2;
  auto r = s.commit(d);
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(*r, 3);
  auto rows = s.load();
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows->revision, 3);
  EXPECT_EQ(rows->checks.size(), 3u);
  EXPECT_EQ((*s.change("CLOST2"))->revision, 3);
}

TEST_F(EtcdStoreTest, NewerLayoutIsRefused) {
  ASSERT_TRUE(store_->client().put(prefix_ + "layout", R"({"version":2})").ok());
  auto s = EtcdStore::open(options(), "a");
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.error(), HasSubstr("etcd " + cluster_->endpoint(0) +
                                   ": the key layout is version 2, newer than this binary's 1 "
                                   "(upgrade steerdns)"));
}

TEST_F(EtcdStoreTest, OpenStoreSpecNeedsNodeId) {
  std::string spec = cluster_->spec() + "?prefix=" + prefix_;
  auto none = open_store(spec);
  ASSERT_FALSE(none.ok());
  EXPECT_THAT(none.error(), HasSubstr("etcd store needs --node-id"));
  auto s = open_store(spec, OpenOptions{"n1"});
  ASSERT_TRUE(s.ok()) << s.error();
  EXPECT_EQ((*s)->describe(), "etcd:" + cluster_->endpoint(0) + " (node n1)");
  EXPECT_EQ((*s)->load()->revision, 0);
}

TEST(EtcdStoreUnreachable, OpenFailsWithinTheDeadline) {
  etcd::Options o;
  const std::string dead = steerdns::testing::loopback_url(free_tcp_port());
  o.endpoints = {dead};
  o.timeout_ms = 1000;
  auto t0 = Clock::now();
  auto s = EtcdStore::open(o, "a");
  ASSERT_FALSE(s.ok());
  EXPECT_LT(elapsed_ms(t0), 1500);
  EXPECT_THAT(s.error(), StartsWith("unavailable: "));
  EXPECT_THAT(s.error(), HasSubstr("etcd " + dead + ": connection refused"));
}

TEST(EtcdStoreOutage, AllMembersDownThenBack) {
  EtcdCluster cluster(3);
  ASSERT_TRUE(cluster.healthy());
  etcd::Options o;
  o.endpoints = cluster.endpoints();
  o.timeout_ms = 1500;
  auto opened = EtcdStore::open(o, "a");
  ASSERT_TRUE(opened.ok()) << opened.error();
  auto& s = **opened;
  Commit c;
  c.ops.push_back(put_check("h1", 1, {}));
  c.change = change_row("C1");
  ASSERT_TRUE(s.commit(c).ok());
  // Quorum lost (one member left, without a leader): the commit fails as "unavailable"
  // within about the deadline, the read that checks whether it landed included.
  cluster.stop(0);
  cluster.stop(1);
  Commit q;
  q.ops.push_back(put_check("hq", 1, {}));
  q.change = change_row("CQ");
  auto tq = Clock::now();
  auto rq = s.commit(q);
  const int64_t took_q = elapsed_ms(tq);
  ASSERT_FALSE(rq.ok());
  EXPECT_THAT(rq.error(), StartsWith("unavailable: "));
  EXPECT_LT(took_q, 4000);
  std::printf("[measure] commit without quorum failed after %lld ms: %s\n",
              static_cast<long long>(took_q), rq.error().c_str());
  cluster.stop(2);
  Commit d;
  d.ops.push_back(put_check("h2", 1, {}));
  d.change = change_row("C2");
  auto t0 = Clock::now();
  auto r = s.commit(d);
  const int64_t took = elapsed_ms(t0);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error(), StartsWith("unavailable: "));
  EXPECT_THAT(r.error(), HasSubstr(cluster.endpoint(0)));
  EXPECT_LT(took, 3000);
  auto l = s.load();
  ASSERT_FALSE(l.ok());
  EXPECT_THAT(l.error(), StartsWith("unavailable: "));
  std::printf("[measure] commit with every member down failed after %lld ms\n",
              static_cast<long long>(took));
  for (int i = 0; i < 3; ++i) {
    cluster.start(i);
  }
  ASSERT_TRUE(cluster.wait_healthy(std::chrono::seconds(15)));
  // The same store object works again: nothing to reopen.
  auto ok = s.commit(d);
  ASSERT_TRUE(ok.ok()) << ok.error();
  auto rows = s.load();
  ASSERT_TRUE(rows.ok());
  // The commit without quorum either never landed or landed once (its answer was lost):
  // never half, never twice.
  const bool q_landed = (*s.change("CQ")).has_value();
  EXPECT_EQ(*ok, q_landed ? 3 : 2);
  EXPECT_EQ(rows->revision, *ok);
  EXPECT_EQ(rows->checks.size(), q_landed ? 3u : 2u);
}

}  // namespace
}  // namespace steerdns::store
