// The etcd JSON-gateway client against real etcd members: key/value and txn round trips,
// deadlines against a member that never answers, endpoint rotation, leases, and watches that
// survive a member dying, notice a lost quorum, and reset after compaction.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "etcd_test_util.h"
#include "store/etcd/client.h"

namespace steerdns::store::etcd {
namespace {

using steerdns::testing::EtcdCluster;
using steerdns::testing::free_tcp_port;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using steerdns::store::testing::Clock;
using steerdns::store::testing::elapsed_ms;
using steerdns::store::testing::eventually;

Options opts_for(std::vector<std::string> endpoints, int64_t timeout_ms = 2000) {
  Options o;
  o.endpoints = std::move(endpoints);
  o.timeout_ms = timeout_ms;
  return o;
}

// A listening socket nobody reads from: connections are accepted by the kernel, requests are
// never answered.
class BlackHole {
 public:
  BlackHole() { fd_ = steerdns::store::testing::listen_loopback(16, &port_); }
  ~BlackHole() { ::close(fd_); }
  std::string url() const { return steerdns::testing::loopback_url(port_); }

 private:
  int fd_ = -1;
  int port_ = 0;
};

// Records what a watch reports, for the test thread to wait on.
struct Recorder {
  std::mutex mu;
  std::vector<std::string> seen;  // "PUT key=value" / "DEL key"
  std::vector<std::pair<bool, std::string>> states;
  std::atomic<int> resets{0};

  WatchCallbacks callbacks() {
    WatchCallbacks cb;
    cb.on_events = [this](const std::vector<WatchEvent>& evs, int64_t) {
      std::lock_guard lock(mu);
      for (const auto& e : evs) {
        seen.push_back(e.deleted ? "DEL " + e.kv.key : "PUT " + e.kv.key + "=" + e.kv.value);
      }
    };
    cb.on_state = [this](bool up, const std::string& why) {
      std::lock_guard lock(mu);
      states.emplace_back(up, why);
    };
    cb.on_reset = [this] { resets++; };
    return cb;
  }
  size_t count() {
    std::lock_guard lock(mu);
    return seen.size();
  }
  std::vector<std::string> events() {
    std::lock_guard lock(mu);
    return seen;
  }
  // The last state reported (-1: none yet).
  int last_state() {
    std::lock_guard lock(mu);
    return states.empty() ? -1 : static_cast<int>(states.back().first);
  }
};

class EtcdClientTest : public ::testing::Test {
 protected:
  // The binary's etcd, shared with the store tests (their keys live under their own prefixes).
  static void SetUpTestSuite() { cluster_ = &steerdns::store::testing::shared_etcd(); }
  void SetUp() override { ASSERT_TRUE(cluster_->healthy()); }
  static EtcdCluster* cluster_;
};
EtcdCluster* EtcdClientTest::cluster_ = nullptr;

TEST(EtcdSpec, ParsesAndNamesTheBadPart) {
  auto o =
      parse_spec("etcd:http://127.0.0.1:23791,https://h.example:443/?timeout_ms=700&prefix=p/");
  ASSERT_TRUE(o.ok()) << o.error();
  EXPECT_EQ(o->endpoints,
            (std::vector<std::string>{"http://127.0.0.1:23791", "https://h.example:443"}));
  EXPECT_EQ(o->timeout_ms, 700);
  EXPECT_EQ(o->prefix, "p/");
  auto bad_scheme = parse_spec("etcd:ftp://x:1");
  ASSERT_FALSE(bad_scheme.ok());
  EXPECT_THAT(bad_scheme.error(), HasSubstr("'ftp://x:1'"));
  auto no_port = parse_spec("etcd:http://x");
  ASSERT_FALSE(no_port.ok());
  EXPECT_THAT(no_port.error(), HasSubstr("host:port"));
  auto bad_port = parse_spec("etcd:http://x:99999");
  ASSERT_FALSE(bad_port.ok());
  EXPECT_THAT(bad_port.error(), HasSubstr("bad port '99999'"));
  auto unknown = parse_spec("etcd:http://x:1?colour=red");
  ASSERT_FALSE(unknown.ok());
  EXPECT_THAT(unknown.error(), HasSubstr("unknown option 'colour'"));
  auto bad_timeout = parse_spec("etcd:http://x:1?timeout_ms=soon");
  ASSERT_FALSE(bad_timeout.ok());
  EXPECT_THAT(bad_timeout.error(), HasSubstr("timeout_ms='soon'"));
  EXPECT_FALSE(parse_spec("etcd:").ok());
  EXPECT_FALSE(parse_spec("etcd:http://x:1,,http://y:2").ok());
  auto no_file = parse_spec("etcd:http://x:1?user=u&password_file=/nonexistent/pw");
  ASSERT_FALSE(no_file.ok());
  EXPECT_THAT(no_file.error(), HasSubstr("/nonexistent/pw"));
  EXPECT_EQ(prefix_end("a/"), "a0");
  EXPECT_EQ(prefix_end(std::string("a\xff", 2)), "b");
}

TEST_F(EtcdClientTest, KeyValueAndTxnRoundTrip) {
  Client c(opts_for(cluster_->endpoints()));
  const std::string pre = std::string("rt/\x00\xff", 5);
  const std::string k1 = pre + "a";
  const std::string v1("bin\x00\x01\xfe value", 12);
  auto rev = c.put(k1, v1);
  ASSERT_TRUE(rev.ok()) << rev.error();
  EXPECT_GT(*rev, 0);
  ASSERT_TRUE(c.put(pre + "b", "2").ok());
  ASSERT_TRUE(c.put(pre + "c", "3").ok());
  EXPECT_EQ(c.current_endpoint(), cluster_->endpoint(0));

  RangeRequest all;
  all.key = pre;
  all.range_end = prefix_end(pre);
  auto r = c.range(all);
  ASSERT_TRUE(r.ok()) << r.error();
  ASSERT_EQ(r->kvs.size(), 3u);
  EXPECT_EQ(r->kvs[0].key, k1);
  EXPECT_EQ(r->kvs[0].value, v1);
  EXPECT_EQ(r->kvs[0].create_revision, *rev);
  EXPECT_EQ(r->kvs[0].version, 1);
  EXPECT_EQ(r->count, 3);
  EXPECT_GE(r->revision, *rev + 2);

  RangeRequest page = all;
  page.limit = 2;
  page.sort_target = "KEY";
  page.sort_order = "DESCEND";
  auto p = c.range(page);
  ASSERT_TRUE(p.ok());
  ASSERT_EQ(p->kvs.size(), 2u);
  EXPECT_EQ(p->kvs[0].key, pre + "c");
  EXPECT_TRUE(p->more);

  // Compare-and-swap: a stale mod_revision takes the failure branch, which reads.
  Txn stale;
  stale.compare.push_back(Compare{k1, "MOD", "EQUAL", *rev - 1, ""});
  stale.success.push_back(TxnOp::put(k1, "nope"));
  stale.failure.push_back(TxnOp::get(k1));
  auto t = c.txn(stale);
  ASSERT_TRUE(t.ok()) << t.error();
  EXPECT_FALSE(t->succeeded);
  ASSERT_EQ(t->ranges.size(), 1u);
  ASSERT_EQ(t->ranges[0].kvs.size(), 1u);
  EXPECT_EQ(t->ranges[0].kvs[0].value, v1);
  Txn good;
  good.compare.push_back(Compare{k1, "MOD", "EQUAL", *rev, ""});
  good.compare.push_back(Compare{k1, "VALUE", "EQUAL", 0, v1});
  good.success.push_back(TxnOp::put(k1, "new"));
  good.success.push_back(TxnOp::del(pre + "b"));
  good.success.push_back(TxnOp::get(pre, prefix_end(pre)));
  t = c.txn(good);
  ASSERT_TRUE(t.ok()) << t.error();
  EXPECT_TRUE(t->succeeded);
  ASSERT_EQ(t->ranges.size(), 3u);
  ASSERT_EQ(t->ranges[2].kvs.size(), 2u);
  EXPECT_EQ(t->ranges[2].kvs[0].value, "new");

  auto d = c.del(pre, prefix_end(pre));
  ASSERT_TRUE(d.ok()) << d.error();
  r = c.range(all);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->kvs.empty());

  // etcd's own refusals are errors, not "unavailable".
  Txn dup;
  dup.success.push_back(TxnOp::put(k1, "1"));
  dup.success.push_back(TxnOp::put(k1, "2"));
  auto e = c.txn(dup);
  ASSERT_FALSE(e.ok());
  EXPECT_THAT(e.error(), HasSubstr("duplicate key"));
  EXPECT_THAT(e.error(), ::testing::Not(StartsWith("unavailable")));

  auto st = c.member_status();
  ASSERT_EQ(st.size(), 1u);
  EXPECT_TRUE(st[0].reachable) << st[0].error;
  EXPECT_NE(st[0].leader, 0);
  EXPECT_EQ(st[0].leader, st[0].member_id);  // uint64 ids survive the int64 fields
  EXPECT_GT(st[0].raft_term, 0);
  EXPECT_EQ(st[0].version, "3.4.23");
}

TEST_F(EtcdClientTest, DeadlineAgainstAMemberThatNeverAnswers) {
  BlackHole hole;
  // The black hole first: the read fails within the deadline, not after curl's defaults.
  Client c(opts_for({hole.url()}, 800));
  auto t0 = Clock::now();
  RangeRequest r;
  r.key = "x";
  auto got = c.range(r);
  const int64_t took = elapsed_ms(t0);
  ASSERT_FALSE(got.ok());
  EXPECT_THAT(got.error(), StartsWith("unavailable: etcd " + hole.url()));
  EXPECT_THAT(got.error(), HasSubstr("timeout"));
  EXPECT_GE(took, 700);
  EXPECT_LT(took, 1500);

  // A write that may have been delivered is not sent to the next endpoint.
  Client w(opts_for({hole.url(), cluster_->endpoint(0)}, 800));
  t0 = Clock::now();
  auto put = w.put("deadline/key", "v");
  ASSERT_FALSE(put.ok());
  EXPECT_LT(elapsed_ms(t0), 1500);
  EXPECT_THAT(put.error(), StartsWith("unavailable: etcd " + hole.url()));
  EXPECT_THAT(put.error(), HasSubstr("may or may not"));
  Client live(opts_for({cluster_->endpoint(0)}));
  r.key = "deadline/key";
  auto check = live.range(r);
  ASSERT_TRUE(check.ok()) << check.error();
  EXPECT_TRUE(check->kvs.empty());
  // The next call starts on the other endpoint.
  auto again = w.put("deadline/key2", "v");
  ASSERT_TRUE(again.ok()) << again.error();
}

TEST_F(EtcdClientTest, RotatesPastADeadEndpoint) {
  const std::string dead = steerdns::testing::loopback_url(free_tcp_port());
  Client c(opts_for({dead, cluster_->endpoint(0)}));
  auto put = c.put("rotate/k", "v");  // never sent to the dead one: safe to try the next
  ASSERT_TRUE(put.ok()) << put.error();
  EXPECT_EQ(c.current_endpoint(), cluster_->endpoint(0));

  const std::string dead2 = steerdns::testing::loopback_url(free_tcp_port());
  Client none(opts_for({dead, dead2}, 1000));
  auto t0 = Clock::now();
  RangeRequest r;
  r.key = "rotate/k";
  auto got = none.range(r);
  ASSERT_FALSE(got.ok());
  EXPECT_LT(elapsed_ms(t0), 1100);
  EXPECT_THAT(got.error(), StartsWith("unavailable: "));
  EXPECT_THAT(got.error(), HasSubstr("etcd " + dead + ": connection refused"));
  EXPECT_THAT(got.error(), HasSubstr("etcd " + dead2 + ": connection refused"));
}

TEST_F(EtcdClientTest, LeasesGrantKeepaliveExpire) {
  Client c(opts_for(cluster_->endpoints()));
  int64_t ttl = 0;
  auto id = c.lease_grant(2, &ttl);
  ASSERT_TRUE(id.ok()) << id.error();
  EXPECT_NE(*id, 0);
  EXPECT_EQ(ttl, 2);
  ASSERT_TRUE(c.put("lease/a", "held", *id).ok());
  RangeRequest r;
  r.key = "lease/a";
  auto got = c.range(r);
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->kvs.size(), 1u);
  EXPECT_EQ(got->kvs[0].lease, *id);
  // Kept alive past its TTL, the key stays.
  for (int i = 0; i < 6; ++i) {
    auto left = c.lease_keepalive(*id);
    ASSERT_TRUE(left.ok()) << left.error();
    EXPECT_GT(*left, 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  got = c.range(r);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->kvs.size(), 1u);
  // Left alone, it expires and takes the key with it.
  EXPECT_TRUE(eventually(
      [&] {
        auto g = c.range(r);
        return g.ok() && g->kvs.empty();
      },
      5000));
  auto gone = c.lease_keepalive(*id);
  ASSERT_FALSE(gone.ok());
  EXPECT_THAT(gone.error(), HasSubstr("not found"));

  auto id2 = c.lease_grant(30);
  ASSERT_TRUE(id2.ok());
  ASSERT_TRUE(c.put("lease/b", "held", *id2).ok());
  ASSERT_TRUE(c.lease_revoke(*id2).ok());
  r.key = "lease/b";
  got = c.range(r);
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(got->kvs.empty());
}

TEST_F(EtcdClientTest, WatchSeesPutsAndDeletesInOrder) {
  Client c(opts_for(cluster_->endpoints()));
  Recorder rec;
  Watch w(c, "w1/", prefix_end("w1/"), 0, rec.callbacks());
  ASSERT_TRUE(eventually([&] { return w.connected(); }, 5000));
  ASSERT_TRUE(c.put("w1/a", "1").ok());
  ASSERT_TRUE(c.put("w1/b", "2").ok());
  ASSERT_TRUE(c.put("w1/a", "3").ok());
  ASSERT_TRUE(c.del("w1/b").ok());
  ASSERT_TRUE(c.put("other/x", "ignored").ok());
  Txn t;
  t.success.push_back(TxnOp::put("w1/c", "4"));
  t.success.push_back(TxnOp::del("w1/a"));
  ASSERT_TRUE(c.txn(t).ok());
  ASSERT_TRUE(eventually([&] { return rec.count() >= 6; }, 5000)) << rec.count();
  EXPECT_EQ(rec.events(), (std::vector<std::string>{"PUT w1/a=1", "PUT w1/b=2", "PUT w1/a=3",
                                                    "DEL w1/b", "PUT w1/c=4", "DEL w1/a"}));
  EXPECT_EQ(rec.last_state(), 1);
  auto t0 = Clock::now();
  w.stop();
  EXPECT_LT(elapsed_ms(t0), 500);  // stop() wakes the blocked stream at once
  EXPECT_FALSE(w.connected());
}

TEST_F(EtcdClientTest, CompactionResets) {
  Client c(opts_for(cluster_->endpoints()));
  auto first = c.put("w2/k", "0");
  ASSERT_TRUE(first.ok());
  int64_t last = 0;
  for (int i = 1; i <= 5; ++i) {
    auto r = c.put("w2/k", std::to_string(i));
    ASSERT_TRUE(r.ok());
    last = *r;
  }
  ASSERT_TRUE(c.compact(last).ok());
  Recorder rec;
  // Starting before the compacted revision: the history is gone, the watch says so.
  Watch w(c, "w2/", prefix_end("w2/"), *first, rec.callbacks());
  ASSERT_TRUE(eventually([&] { return rec.resets.load() >= 1; }, 5000));
  ASSERT_TRUE(eventually([&] { return w.connected(); }, 5000));
  ASSERT_TRUE(c.put("w2/k", "after").ok());
  ASSERT_TRUE(eventually([&] { return rec.count() >= 1; }, 5000));
  EXPECT_EQ(rec.events().back(), "PUT w2/k=after");
  EXPECT_EQ(rec.resets.load(), 1);
}

// etcdctl against one endpoint (as root once auth is on); true when it exits 0.
bool etcdctl(const std::string& endpoint, const std::string& args, const std::string& user = "") {
  std::string cmd = "ETCDCTL_API=3 /usr/bin/etcdctl --dial-timeout=3s --endpoints=";
  cmd.append(endpoint);
  if (!user.empty()) {
    cmd.append(" --user=").append(user);
  }
  cmd.append(" ").append(args).append(" >/dev/null 2>&1");
  return std::system(cmd.c_str()) == 0;
}

TEST(EtcdClientAuth, TokenFirstAgainAfterItIsInvalidAndWrongPassword) {
  EtcdCluster cluster(1);
  ASSERT_TRUE(cluster.healthy());
  const std::string ep = cluster.endpoint(0);
  ASSERT_TRUE(etcdctl(ep, "user add root:rootpw"));
  ASSERT_TRUE(etcdctl(ep, "user grant-role root root"));
  ASSERT_TRUE(etcdctl(ep, "auth enable"));

  Client anonymous(opts_for({ep}));
  auto denied = anonymous.put("auth/k", "v");
  ASSERT_FALSE(denied.ok());
  EXPECT_THAT(denied.error(), HasSubstr("etcd " + ep));

  Options o = opts_for({ep});
  o.user = "root";
  o.password = "rootpw";
  Client c(o);
  auto put = c.put("auth/k", "v");
  ASSERT_TRUE(put.ok()) << put.error();
  // Turning auth off and on drops every token: the client authenticates again, once.
  ASSERT_TRUE(etcdctl(ep, "auth disable", "root:rootpw"));
  ASSERT_TRUE(etcdctl(ep, "auth enable"));
  RangeRequest r;
  r.key = "auth/k";
  auto got = c.range(r);
  ASSERT_TRUE(got.ok()) << got.error();
  ASSERT_EQ(got->kvs.size(), 1u);
  EXPECT_EQ(got->kvs[0].value, "v");

  o.password = "wrong";
  Client bad(o);
  got = bad.range(r);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error(),
            "unavailable: etcd " + ep + ": authentication failed: invalid user ID or password");
}

// A CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl.
struct TestPki {
  steerdns::testing::TempDir dir;
  std::string ca, server_cert, server_key, client_cert, client_key;
  bool ok = false;
  TestPki() {
    dir.write("pki.sh", R"(set -e
K="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
openssl req -x509 $K -keyout ca.key -out ca.crt -days 2 -subj /CN=steerdns-test-ca
printf 'subjectAltName=IP:127.0.0.1\n' > san.ext
openssl req $K -keyout server.key -out server.csr -subj /CN=127.0.0.1
openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt \
  -days 2 -extfile san.ext
openssl req $K -keyout client.key -out client.csr -subj /CN=root
openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out client.crt -days 2
)");
    std::string cmd = "cd '";
    cmd.append(dir.path()).append("' && sh pki.sh >pki.log 2>&1");
    ok = std::system(cmd.c_str()) == 0;
    ca = dir.file("ca.crt");
    server_cert = dir.file("server.crt");
    server_key = dir.file("server.key");
    client_cert = dir.file("client.crt");
    client_key = dir.file("client.key");
  }
};

TEST(EtcdClientTls, CertificatesAreCheckedBothWays) {
  TestPki pki;
  ASSERT_TRUE(pki.ok) << "openssl failed in " << pki.dir.path();
  steerdns::testing::EtcdClusterOptions co;
  co.ca_file = pki.ca;
  co.cert_file = pki.server_cert;
  co.key_file = pki.server_key;
  co.client_cert = pki.client_cert;
  co.client_key = pki.client_key;
  co.extra_args = {"--client-cert-auth", "--trusted-ca-file", pki.ca};
  EtcdCluster cluster(co);
  ASSERT_TRUE(cluster.healthy());
  const std::string ep = cluster.endpoint(0);
  ASSERT_THAT(ep, StartsWith("https://"));

  Options o = opts_for({ep});
  o.ca_file = pki.ca;
  o.cert_file = pki.client_cert;
  o.key_file = pki.client_key;
  Client c(o);
  auto put = c.put("tls/k", "v");
  ASSERT_TRUE(put.ok()) << put.error();

  // Not trusting the members' CA: the handshake fails before anything is sent.
  Options untrusting = o;
  untrusting.ca_file.clear();
  Client u(untrusting);
  RangeRequest r;
  r.key = "tls/k";
  auto got = u.range(r);
  ASSERT_FALSE(got.ok());
  EXPECT_THAT(got.error(),
              StartsWith("unavailable: etcd " + ep + ": TLS: certificate verify failed"));

  // No client certificate where the members require one.
  Options anonymous = o;
  anonymous.cert_file.clear();
  anonymous.key_file.clear();
  Client a(anonymous);
  got = a.range(r);
  ASSERT_FALSE(got.ok());
  EXPECT_THAT(got.error(), StartsWith("unavailable: etcd " + ep + ": "));

  auto spec = parse_spec("etcd:" + ep + "?ca=" + pki.ca + "&cert=" + pki.client_cert +
                         "&key=" + pki.client_key);
  ASSERT_TRUE(spec.ok()) << spec.error();
  Client from_spec(*spec);
  got = from_spec.range(r);
  ASSERT_TRUE(got.ok()) << got.error();
  ASSERT_EQ(got->kvs.size(), 1u);
}

class EtcdClientClusterTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { cluster_ = new EtcdCluster(3); }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }
  void SetUp() override { ASSERT_TRUE(cluster_->healthy()); }
  void TearDown() override {
    for (int i = 0; i < 3; ++i) {
      cluster_->start(i);
    }
    EXPECT_TRUE(cluster_->wait_healthy(std::chrono::seconds(15)));
  }
  static EtcdCluster* cluster_;
};
EtcdCluster* EtcdClientClusterTest::cluster_ = nullptr;

TEST_F(EtcdClientClusterTest, WatchResumesAfterItsMemberDies) {
  // The watch goes to a follower, so that killing it does not hold up the writes: they land
  // while the watch is reconnecting, and must be replayed from the last revision it saw.
  Client any(opts_for(cluster_->endpoints()));
  auto status = any.member_status();
  ASSERT_EQ(status.size(), 3u);
  int follower = -1;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(status[i].reachable) << status[i].error;
    if (status[i].member_id != status[i].leader && follower < 0) {
      follower = i;
    }
  }
  ASSERT_GE(follower, 0);
  std::vector<std::string> eps = {cluster_->endpoint(follower)};
  for (int i = 0; i < 3; ++i) {
    if (i != follower) {
      eps.push_back(cluster_->endpoint(i));
    }
  }
  Client c(opts_for(eps));
  Recorder rec;
  Watch w(c, "r/", prefix_end("r/"), 0, rec.callbacks(), 3000);
  ASSERT_TRUE(eventually([&] { return w.connected(); }, 5000));
  Client writer(opts_for({eps[1], eps[2]}, 5000));
  ASSERT_TRUE(writer.put("r/k", "1").ok());
  ASSERT_TRUE(eventually([&] { return rec.count() >= 1; }, 5000));
  cluster_->kill(follower);  // the watch's member
  for (int i = 2; i <= 6; ++i) {
    auto p = writer.put("r/k", std::to_string(i));
    ASSERT_TRUE(p.ok()) << p.error();
  }
  ASSERT_TRUE(eventually([&] { return rec.count() >= 6; }, 10000)) << rec.count();
  // Resumed after the last revision seen: nothing lost, nothing twice.
  EXPECT_EQ(rec.events(), (std::vector<std::string>{"PUT r/k=1", "PUT r/k=2", "PUT r/k=3",
                                                    "PUT r/k=4", "PUT r/k=5", "PUT r/k=6"}));
  std::lock_guard lock(rec.mu);
  ASSERT_GE(rec.states.size(), 3u);  // up, lost, up again
  EXPECT_FALSE(rec.states[1].first);
  EXPECT_THAT(rec.states[1].second, HasSubstr(cluster_->endpoint(follower)));
  EXPECT_TRUE(rec.states.back().first);
}

TEST_F(EtcdClientClusterTest, WatchOnAMemberWithoutQuorumSaysSo) {
  Client c(opts_for({cluster_->endpoint(2)}, 1000));
  Recorder rec;
  // The idle check (15 s) is far off: this is the server ending the stream (hasleader).
  Watch w(c, "q/", prefix_end("q/"), 0, rec.callbacks());
  ASSERT_TRUE(eventually([&] { return w.connected(); }, 5000));
  auto t0 = Clock::now();
  cluster_->stop(0);
  cluster_->stop(1);
  // Without hasleader the survivor would keep the stream open and silent forever.
  ASSERT_TRUE(eventually([&] { return rec.last_state() == 0; }, 8000))
      << "no on_state(false) after " << elapsed_ms(t0) << " ms";
  const int64_t took = elapsed_ms(t0);
  EXPECT_LT(took, 8000);
  {
    std::lock_guard lock(rec.mu);
    EXPECT_THAT(rec.states.back().second, HasSubstr(cluster_->endpoint(2)));
  }
  // Reads fail as "unavailable" too, within the deadline.
  RangeRequest r;
  r.key = "q/x";
  auto got = c.range(r);
  ASSERT_FALSE(got.ok());
  EXPECT_THAT(got.error(), StartsWith("unavailable: "));
  cluster_->start(0);
  cluster_->start(1);
  ASSERT_TRUE(cluster_->wait_healthy(std::chrono::seconds(15)));
  ASSERT_TRUE(eventually([&] { return rec.last_state() == 1; }, 10000));
  std::printf("[measure] watch on a member without quorum reported lost after %lld ms\n",
              static_cast<long long>(took));
}

}  // namespace
}  // namespace steerdns::store::etcd
