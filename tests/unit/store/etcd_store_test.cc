// What the etcd store does beyond the Store contract (store_contract_test.cc runs that on
// every backend), against real etcd: two nodes on one catalog (watch, conflicts, per-node
// state, interleaved events), the key layout check, commits whose answer is lost, and
// failures that say "unavailable" within the deadline instead of hanging.
#include "store/etcd/etcd_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <set>
#include <thread>

#include "etcd_test_util.h"

namespace steerdns::store {
namespace {

using steerdns::testing::EtcdCluster;
using steerdns::testing::free_tcp_port;
using testing::change_row;
using testing::Clock;
using testing::elapsed_ms;
using testing::eventually;
using ::testing::HasSubstr;
using testing::numbered;
using testing::put_check;
using testing::put_zone;
using ::testing::StartsWith;
using testing::zone_row;

class EtcdStoreTest : public ::testing::Test {
 protected:
  // The binary's etcd, shared with etcd_client_test.cc and the contract tests.
  static void SetUpTestSuite() { cluster_ = &testing::shared_etcd(); }
  void SetUp() override {
    ASSERT_TRUE(cluster_->healthy());
    // Every test on its own key prefix: one cluster serves the whole binary.
    prefix_ = testing::fresh_prefix();
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

  static EtcdCluster* cluster_;
  std::string prefix_;
  std::unique_ptr<EtcdStore> store_;
};
EtcdCluster* EtcdStoreTest::cluster_ = nullptr;

// The contract's empty store is in store_contract_test.cc; this is what etcd adds to it.
TEST_F(EtcdStoreTest, DescribeAndLayout) {
  EXPECT_EQ(store_->describe(), "etcd:" + cluster_->endpoint(0) + " (node a)");
  EXPECT_EQ(store_->schema_version(), 1);
  EXPECT_TRUE(store_->shared());
  etcd::RangeRequest r;
  r.key = prefix_ + "layout";
  auto got = store_->client().range(r);
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->kvs.size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(got->kvs[0].value), (nlohmann::json{{"version", 1}}));
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
    fd_ = testing::listen_loopback(64, &port_);
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

// A commit of one health check with its change batch.
Commit check_commit(const std::string& check, const std::string& change_id) {
  Commit c;
  c.ops.push_back(put_check(check, 1, {}));
  c.change = change_row(change_id);
  return c;
}

// Commits `c`, which must fail as "unavailable" within `limit_ms`; returns the error.
std::string commit_unavailable(EtcdStore& s, const Commit& c, int64_t limit_ms, const char* when) {
  auto t0 = Clock::now();
  auto r = s.commit(c);
  const int64_t took = elapsed_ms(t0);
  EXPECT_FALSE(r.ok()) << when;
  const std::string err = r.ok() ? "" : r.error();
  EXPECT_THAT(err, StartsWith("unavailable: ")) << when;
  EXPECT_LT(took, limit_ms) << when;
  std::printf("[measure] commit %s failed after %lld ms: %s\n", when,
              static_cast<long long>(took), err.c_str());
  return err;
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
  ASSERT_TRUE(s.commit(check_commit("h1", "C1")).ok());
  // Quorum lost (one member left, without a leader): the commit fails as "unavailable"
  // within about the deadline, the read that checks whether it landed included.
  cluster.stop(0);
  cluster.stop(1);
  commit_unavailable(s, check_commit("hq", "CQ"), 4000, "without quorum");
  cluster.stop(2);
  const Commit d = check_commit("h2", "C2");
  EXPECT_THAT(commit_unavailable(s, d, 3000, "with every member down"),
              HasSubstr(cluster.endpoint(0)));
  auto l = s.load();
  ASSERT_FALSE(l.ok());
  EXPECT_THAT(l.error(), StartsWith("unavailable: "));
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
