// The native JSON API over real HTTP on loopback: a control plane on an in-memory store whose
// publish hook records what it served, a fake steering service and answerer behind Services.
#include "api/native_routes.h"

#include <gtest/gtest.h>

#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "api/server.h"
#include "config/catalog.h"
#include "control/plane.h"
#include "store/store.h"
#include "test_client.h"

namespace steerdns::api {
namespace {

using nlohmann::json;
using testing::Client;
using testing::Reply;

const char* kZoneBody = R"({"name": "example.test", "comment": "test zone", "settings": {
  "ttl": 300,
  "soa": {"mname": "ns1.example.test.", "rname": "hostmaster.example.test.", "minimum": 60},
  "ns": ["ns1.example.test."]}})";

class NativeApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto st = store::open_store("sqlite::memory:");
    ASSERT_TRUE(st) << st.error();
    control::Hooks hooks;
    hooks.publish = [this](const config::LoadedConfig& c) {
      std::lock_guard lk(mu_);
      ++publishes_;
      last_published_ = c;
      return OkStatus();
    };
    plane_ = std::make_unique<control::Plane>(std::move(*st), config::ServerSettings{}, hooks);
    auto started = plane_->start(nullptr, "");
    ASSERT_TRUE(started) << started.error();

    Services s;
    s.plane = plane_.get();
    s.health_report = [] {
      return json{
          {"checks", json::array({{{"id", "web"}, {"kind", "external"}, {"status", "healthy"}}})}};
    };
    s.set_external = [](const std::string&, bool, const std::string&) { return OkStatus(); };
    s.steering = [this](const json& cmd) -> Result<json> {
      std::lock_guard lk(mu_);
      steering_cmds_.push_back(cmd);
      std::string c = cmd.value("cmd", "");
      if (c == "status") {
        return json{{"sets", json::array()}, {"drills", json::array({{{"name", "d1"}}})}};
      }
      if (c == "explain" && cmd.value("name", "") == "nowhere.test.") {
        return Error{"explain: no record set 'nowhere.test./A'"};
      }
      if (c == "override-set" && cmd.value("scope", "") == "planet") {
        return Error{"override: scope 'planet' is not check, member or set"};
      }
      return json{{"ok", true}, {"echo", cmd}};
    };
    s.answer = [](const Question& q) -> Result<json> {
      return json{{"rcode", "NOERROR"},
                  {"name", q.name},
                  {"type", q.type},
                  {"client", q.client_ip},
                  {"ecs", q.ecs}};
    };
    Router r;
    add_native_routes(r, s);
    Auth auth;
    ASSERT_TRUE(auth.add_token("ops", "rw-secret", true));
    ASSERT_TRUE(auth.add_token("viewer", "ro-secret", false));
    ServerOptions o;
    o.listen = "127.0.0.1:0";
    o.max_body_bytes = 256 * 1024;
    server_ = std::make_unique<Server>(o, std::move(auth), std::move(r));
    auto ok = server_->start();
    ASSERT_TRUE(ok) << ok.error();
  }

  void TearDown() override {
    if (server_) {
      server_->stop();
    }
    if (plane_) {
      plane_->stop();
    }
  }

  Reply call(http::verb m, const std::string& target, const std::string& body = "",
             const std::string& token = "rw-secret",
             std::vector<std::pair<std::string, std::string>> extra = {}) {
    Client c(server_->port());
    if (!token.empty()) {
      extra.emplace_back("Authorization", "Bearer " + token);
    }
    return c.request(m, target, body, extra);
  }

  json catalog() {
    auto r = call(http::verb::get, "/v1/catalog");
    EXPECT_EQ(r.status, 200u) << r.body;
    return r.json();
  }

  void create_zone() {
    auto r = call(http::verb::post, "/v1/zones", kZoneBody);
    ASSERT_EQ(r.status, 201u) << r.body;
  }

  void put_a(const std::string& name, const std::string& value) {
    auto r = call(http::verb::put, "/v1/zones/example.test/rrsets/" + name + "/A",
                  R"({"ttl": 60, "values": [")" + value + R"("]})");
    ASSERT_EQ(r.status, 200u) << r.body;
  }

  std::vector<json> steering_cmds() {
    std::lock_guard lk(mu_);
    return steering_cmds_;
  }

  std::mutex mu_;
  int publishes_ = 0;
  std::optional<config::LoadedConfig> last_published_;
  std::vector<json> steering_cmds_;
  std::unique_ptr<control::Plane> plane_;
  std::unique_ptr<Server> server_;
};

// ---- Metrics ----

// /metrics is public (Prometheus scrapes without a token) and says so when the daemon gave
// the API no metrics.
TEST_F(NativeApiTest, MetricsArePublicAndAbsentMetricsAre503) {
  auto none = call(http::verb::get, "/metrics", "", "");
  EXPECT_EQ(none.status, 503u) << none.body;
  EXPECT_EQ(none.error_message(), "metrics are not available");

  Services s;
  s.metrics = [] { return std::string("# TYPE steerdns_x gauge\nsteerdns_x 1\n"); };
  Router r;
  add_native_routes(r, s);
  Auth auth;
  ASSERT_TRUE(auth.add_token("ops", "rw-secret", true));
  ServerOptions o;
  o.listen = "127.0.0.1:0";
  Server srv(o, std::move(auth), std::move(r));
  ASSERT_TRUE(srv.start());
  Client c(srv.port());
  auto got = c.request(http::verb::get, "/metrics", "", {});
  EXPECT_EQ(got.status, 200u) << got.body;
  EXPECT_EQ(got.body, "# TYPE steerdns_x gauge\nsteerdns_x 1\n");
  EXPECT_EQ(got.header("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  Client c2(srv.port());  // the rest of the API is not public
  EXPECT_EQ(c2.request(http::verb::get, "/v1/zones", "", {}).status, 401u);
  srv.stop();
}

// ---- Zones ----

TEST_F(NativeApiTest, ZonesCreateGetListDelete) {
  auto r = call(http::verb::post, "/v1/zones", kZoneBody);
  ASSERT_EQ(r.status, 201u) << r.body;
  std::string id = r.json()["zone"]["id"];
  EXPECT_EQ(id.size(), 21u);
  EXPECT_EQ(r.json()["zone"]["name"], "example.test.");
  EXPECT_EQ(r.json()["change"]["status"].get<std::string>().empty(), false);

  auto list = call(http::verb::get, "/v1/zones", "", "ro-secret");
  ASSERT_EQ(list.status, 200u);
  ASSERT_EQ(list.json()["zones"].size(), 1u);
  EXPECT_EQ(list.json()["zones"][0]["id"], id);

  // By id, by name with and without the final dot, any case.
  for (std::string z : {id, std::string("example.test"), std::string("Example.Test.")}) {
    auto g = call(http::verb::get, "/v1/zones/" + z);
    EXPECT_EQ(g.status, 200u) << z << ": " << g.body;
    EXPECT_EQ(g.json()["comment"], "test zone");
  }
  EXPECT_EQ(call(http::verb::get, "/v1/zones/nope.test").status, 404u);

  // A second create of the same zone: 409, nothing changed.
  auto again = call(http::verb::post, "/v1/zones", kZoneBody);
  EXPECT_EQ(again.status, 409u) << again.body;

  auto d = call(http::verb::delete_, "/v1/zones/example.test.");
  EXPECT_EQ(d.status, 200u) << d.body;
  EXPECT_EQ(call(http::verb::get, "/v1/zones/example.test").status, 404u);
}

TEST_F(NativeApiTest, ZoneCreateBadInput) {
  json before = catalog();
  auto bad_json = call(http::verb::post, "/v1/zones", R"({"name": "x.test",)");
  EXPECT_EQ(bad_json.status, 400u);
  EXPECT_EQ(bad_json.error_code(), "invalid_json");

  auto unknown = call(http::verb::post, "/v1/zones", R"({"name": "x.test", "coment": "x"})");
  EXPECT_EQ(unknown.status, 400u);
  EXPECT_NE(unknown.error_message().find("did you mean 'comment'"), std::string::npos)
      << unknown.body;

  auto bad_name = call(http::verb::post, "/v1/zones", R"({"name": "a..b"})");
  EXPECT_EQ(bad_name.status, 400u);
  EXPECT_NE(bad_name.error_message().find("'name'"), std::string::npos) << bad_name.body;

  auto no_name = call(http::verb::post, "/v1/zones", R"({"comment": "x"})");
  EXPECT_EQ(no_name.status, 400u);
  EXPECT_NE(no_name.error_message().find("name"), std::string::npos) << no_name.body;

  // Valid shape but a bad SOA timer: the plane's compile refuses it; nothing is applied.
  auto bad_soa = call(http::verb::post, "/v1/zones",
                      R"({"name": "x.test", "settings": {"soa": {"refresh": "soon"}}})");
  EXPECT_EQ(bad_soa.status, 400u) << bad_soa.body;
  EXPECT_EQ(bad_soa.error_code(), "invalid_change");
  EXPECT_NE(bad_soa.error_message().find("soon"), std::string::npos) << bad_soa.body;
  EXPECT_EQ(catalog(), before);
}

TEST_F(NativeApiTest, ZoneCreateWithJustANameGetsRoute53Defaults) {
  auto without_serial = [](json settings) {
    settings["soa"].erase("serial");  // the catalog bumps it with every change
    return settings;
  };
  // The first zone: ns1.<zone>, the same settings Route 53's CreateHostedZone makes.
  auto x = call(http::verb::post, "/v1/zones", R"({"name": "x.test."})");
  ASSERT_EQ(x.status, 201u) << x.body;
  json xs = x.json()["zone"]["settings"];
  EXPECT_EQ(without_serial(xs), without_serial(config::default_zone_settings("x.test.")));
  EXPECT_EQ(xs["ns"], json::array({"ns1.x.test."}));
  EXPECT_EQ(xs["soa"]["mname"], "ns1.x.test.");
  EXPECT_EQ(xs["soa"]["rname"], "hostmaster.x.test.");
  const std::vector<std::pair<std::string, int>> timers = {
      {"refresh", 7200}, {"retry", 900}, {"expire", 1209600}, {"minimum", 86400}, {"ttl", 900}};
  for (const auto& [k, v] : timers) {
    EXPECT_EQ(xs["soa"][k], v) << k;
  }
  EXPECT_EQ(xs["ttl"], 172800);
  // It compiled and was published: the reply comes once the batch is committed, the publish
  // follows on the applier thread (poll with a deadline; CI saw the reply win the race).
  size_t published = 0;
  for (auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
       std::chrono::steady_clock::now() < deadline;
       std::this_thread::sleep_for(std::chrono::milliseconds(5))) {
    std::lock_guard lk(mu_);
    published = last_published_ ? last_published_->runtime->zones().size() : 0;
    if (published == 1) {
      break;
    }
  }
  EXPECT_EQ(published, 1u);

  // The next zone gets the fleet's name servers; its own hostmaster.
  auto y = call(http::verb::post, "/v1/zones", R"({"name": "Y.test"})");
  ASSERT_EQ(y.status, 201u) << y.body;
  json ys = y.json()["zone"]["settings"];
  EXPECT_EQ(ys["ns"], json::array({"ns1.x.test."}));
  EXPECT_EQ(ys["soa"]["mname"], "ns1.x.test.");
  EXPECT_EQ(ys["soa"]["rname"], "hostmaster.y.test.");

  // What is given is kept; the SOA's mname follows the first given NS.
  auto z = call(http::verb::post, "/v1/zones",
                R"({"name": "z.test", "settings": {"ns": ["a.ns.test.", "b.ns.test."],
                    "soa": {"rname": "me.z.test.", "refresh": 600}}})");
  ASSERT_EQ(z.status, 201u) << z.body;
  json zs = z.json()["zone"]["settings"];
  EXPECT_EQ(zs["ns"], json::array({"a.ns.test.", "b.ns.test."}));
  EXPECT_EQ(zs["soa"]["mname"], "a.ns.test.");
  EXPECT_EQ(zs["soa"]["rname"], "me.z.test.");
  EXPECT_EQ(zs["soa"]["refresh"], 600);
  EXPECT_EQ(zs["soa"]["retry"], 900);
}

TEST_F(NativeApiTest, ZoneDeleteNotEmptyNeedsForce) {
  create_zone();
  put_a("www", "192.0.2.1");
  auto d = call(http::verb::delete_, "/v1/zones/example.test");
  EXPECT_EQ(d.status, 409u) << d.body;
  EXPECT_EQ(d.error_code(), "zone_not_empty");
  auto f = call(http::verb::delete_, "/v1/zones/example.test?force=true");
  EXPECT_EQ(f.status, 200u) << f.body;
  EXPECT_EQ(call(http::verb::get, "/v1/zones/example.test").status, 404u);
}

// ---- Record sets ----

TEST_F(NativeApiTest, RecordSetUpsertGetListDelete) {
  create_zone();
  auto r = call(http::verb::put, "/v1/zones/example.test/rrsets/www/a",
                R"({"ttl": 60, "values": ["192.0.2.1", "192.0.2.2"]})");
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.json()["rrset"]["name"], "www.example.test.");
  EXPECT_NE(r.json()["plan"]["text"].get<std::string>().find("www.example.test./A"),
            std::string::npos)
      << r.body;

  auto g = call(http::verb::get, "/v1/zones/example.test/rrsets/www.example.test./A");
  ASSERT_EQ(g.status, 200u) << g.body;
  EXPECT_EQ(g.json()["values"].size(), 2u);
  EXPECT_EQ(g.json()["ttl"], 60);

  // Absolute body name matching the path is fine; a mismatch names the field.
  auto mism = call(http::verb::put, "/v1/zones/example.test/rrsets/www/A",
                   R"({"name": "other", "values": ["192.0.2.1"]})");
  EXPECT_EQ(mism.status, 400u);
  EXPECT_NE(mism.error_message().find("'name'"), std::string::npos) << mism.body;

  for (const char* n : {"api", "app", "db"}) {
    put_a(n, "192.0.2.9");
  }
  // Paging: 2 at a time over 4 A sets (+ none others).
  auto p1 = call(http::verb::get, "/v1/zones/example.test/rrsets?type=A&limit=2");
  ASSERT_EQ(p1.status, 200u) << p1.body;
  ASSERT_EQ(p1.json()["rrsets"].size(), 2u);
  ASSERT_TRUE(p1.json().contains("next"));
  auto p2 = call(http::verb::get, "/v1/zones/example.test/rrsets?type=A&limit=2&after=" +
                                      p1.json()["next"].get<std::string>());
  ASSERT_EQ(p2.status, 200u);
  ASSERT_EQ(p2.json()["rrsets"].size(), 2u);
  EXPECT_FALSE(p2.json().contains("next"));
  EXPECT_NE(p1.json()["rrsets"][0]["key"], p2.json()["rrsets"][0]["key"]);
  auto pre = call(http::verb::get, "/v1/zones/example.test/rrsets?name=ap");
  ASSERT_EQ(pre.status, 200u);
  EXPECT_EQ(pre.json()["rrsets"].size(), 2u) << pre.body;  // api, app
  EXPECT_EQ(call(http::verb::get, "/v1/zones/example.test/rrsets?limit=5000").status, 400u);
  EXPECT_EQ(call(http::verb::get, "/v1/zones/example.test/rrsets?type=BOGUS").status, 400u);

  auto d = call(http::verb::delete_, "/v1/zones/example.test/rrsets/www/A");
  EXPECT_EQ(d.status, 200u) << d.body;
  EXPECT_EQ(call(http::verb::get, "/v1/zones/example.test/rrsets/www/A").status, 404u);
  EXPECT_EQ(call(http::verb::delete_, "/v1/zones/example.test/rrsets/www/A").status, 404u);
}

TEST_F(NativeApiTest, RecordSetBadInputChangesNothing) {
  create_zone();
  put_a("www", "192.0.2.1");
  json before = catalog();

  auto bad_value =
      call(http::verb::put, "/v1/zones/example.test/rrsets/www/A", R"({"values": ["999.1.1.1"]})");
  EXPECT_EQ(bad_value.status, 400u) << bad_value.body;
  EXPECT_NE(bad_value.error_message().find("999.1.1.1"), std::string::npos) << bad_value.body;

  auto unknown =
      call(http::verb::put, "/v1/zones/example.test/rrsets/www/A", R"({"valuse": ["192.0.2.1"]})");
  EXPECT_EQ(unknown.status, 400u) << unknown.body;
  EXPECT_NE(unknown.error_message().find("values"), std::string::npos) << unknown.body;

  auto bad_type = call(http::verb::put, "/v1/zones/example.test/rrsets/www/AXX",
                       R"({"values": ["192.0.2.1"]})");
  EXPECT_EQ(bad_type.status, 400u);
  EXPECT_NE(bad_type.error_message().find("type"), std::string::npos) << bad_type.body;

  auto outside = call(http::verb::put, "/v1/zones/example.test/rrsets/www.other.test./A",
                      R"({"values": ["192.0.2.1"]})");
  EXPECT_EQ(outside.status, 400u);
  EXPECT_NE(outside.error_message().find("not in zone"), std::string::npos) << outside.body;

  auto not_obj = call(http::verb::put, "/v1/zones/example.test/rrsets/www/A", "[1]");
  EXPECT_EQ(not_obj.status, 400u);

  EXPECT_EQ(catalog(), before);
}

TEST_F(NativeApiTest, ConcurrentWritersAllLand) {
  create_zone();
  std::vector<std::thread> writers;
  std::vector<unsigned> status(16, 0);
  for (size_t i = 0; i < status.size(); ++i) {
    writers.emplace_back([&, i] {
      status[i] =
          call(http::verb::put, "/v1/zones/example.test/rrsets/w" + std::to_string(i) + "/A",
               R"({"values": ["192.0.2.)" + std::to_string(i + 1) + R"("]})")
              .status;
    });
  }
  for (auto& t : writers) {
    t.join();
  }
  for (size_t i = 0; i < status.size(); ++i) {
    EXPECT_EQ(status[i], 200u) << "writer " << i;
  }
  auto list = call(http::verb::get, "/v1/zones/example.test/rrsets?name=w");
  EXPECT_EQ(list.json()["rrsets"].size(), status.size()) << list.body;
}

// ---- Change batches ----

TEST_F(NativeApiTest, ChangesSubmitListGetDiffWait) {
  create_zone();
  put_a("www", "192.0.2.1");
  std::string body = R"({"comment": "move www", "changes": [
    {"action": "UPSERT", "zone": "example.test", "key": "www/A",
     "body": {"ttl": 30, "values": ["192.0.2.7"]}},
    {"action": "CREATE", "body": {"name": "mail.example.test.", "type": "A",
                                  "values": ["192.0.2.25"]}}]})";
  auto r = call(http::verb::post, "/v1/changes?wait=5", body);
  ASSERT_EQ(r.status, 200u) << r.body;
  std::string id = r.json()["change"]["id"];
  EXPECT_EQ(r.json()["change"]["status"], "INSYNC") << r.body;
  EXPECT_EQ(r.json()["change"]["author"], "ops");
  EXPECT_EQ(r.json()["change"]["comment"], "move www");
  EXPECT_TRUE(r.json()["plan"]["text"].is_string());

  auto list = call(http::verb::get, "/v1/changes?limit=10", "", "ro-secret");
  ASSERT_EQ(list.status, 200u);
  ASSERT_GE(list.json()["changes"].size(), 3u);    // zone, www, this one
  EXPECT_EQ(list.json()["changes"][0]["id"], id);  // newest first
  auto page = call(http::verb::get, "/v1/changes?limit=1");
  ASSERT_TRUE(page.json().contains("next_before")) << page.body;
  auto older = call(http::verb::get, "/v1/changes?limit=1&before=" +
                                         std::to_string(page.json()["next_before"].get<int64_t>()));
  ASSERT_EQ(older.json()["changes"].size(), 1u);
  EXPECT_NE(older.json()["changes"][0]["id"], id);

  auto one = call(http::verb::get, "/v1/changes/" + id);
  ASSERT_EQ(one.status, 200u);
  ASSERT_EQ(one.json()["changes"].size(), 2u) << one.body;
  auto diff = call(http::verb::get, "/v1/changes/" + id + "/diff");
  ASSERT_EQ(diff.status, 200u);
  EXPECT_NE(diff.body.find("192.0.2.7"), std::string::npos) << diff.body;
  EXPECT_NE(diff.body.find("\n-"), std::string::npos) << diff.body;
  // Removed lines come before the added ones that replace them.
  EXPECT_LT(diff.body.find("-    \"192.0.2.1\""), diff.body.find("+    \"192.0.2.7\""))
      << diff.body;
  EXPECT_NE(diff.body.find("\n+"), std::string::npos) << diff.body;
  EXPECT_EQ(call(http::verb::get, "/v1/changes/CNOSUCHCHANGE0000000000").status, 404u);

  auto g = call(http::verb::get, "/v1/zones/example.test/rrsets/www/A");
  EXPECT_EQ(g.json()["values"][0], "192.0.2.7");
  std::lock_guard lk(mu_);
  EXPECT_GE(publishes_, 3);
}

TEST_F(NativeApiTest, ChangesDryRunAndBadBatchesChangeNothing) {
  create_zone();
  put_a("www", "192.0.2.1");
  json before = catalog();

  auto dry = call(http::verb::post, "/v1/changes?dry_run=true", R"({"changes": [
    {"action": "DELETE", "zone": "example.test", "key": "www/A"}]})");
  ASSERT_EQ(dry.status, 200u) << dry.body;
  EXPECT_TRUE(dry.json()["dry_run"].get<bool>());
  EXPECT_NE(dry.json()["plan"]["text"].get<std::string>().find("www.example.test./A"),
            std::string::npos);
  EXPECT_EQ(catalog(), before);

  auto unknown = call(http::verb::post, "/v1/changes", R"({"changes": [
    {"acton": "DELETE", "zone": "example.test", "key": "www/A"}]})");
  EXPECT_EQ(unknown.status, 400u);
  EXPECT_NE(unknown.error_message().find("changes[0]"), std::string::npos) << unknown.body;
  EXPECT_NE(unknown.error_message().find("did you mean 'action'"), std::string::npos);

  auto bad_action = call(http::verb::post, "/v1/changes", R"({"changes": [
    {"action": "REMOVE", "zone": "example.test", "key": "www/A"}]})");
  EXPECT_EQ(bad_action.status, 400u);
  EXPECT_NE(bad_action.error_message().find("'action'"), std::string::npos);

  auto top = call(http::verb::post, "/v1/changes", R"({"chnges": []})");
  EXPECT_EQ(top.status, 400u);
  EXPECT_NE(top.error_message().find("did you mean 'changes'"), std::string::npos) << top.body;

  // All or nothing: the first change is fine, the second has a bad value.
  auto half = call(http::verb::post, "/v1/changes", R"({"changes": [
    {"action": "UPSERT", "zone": "example.test", "key": "ok/A", "body": {"values": ["192.0.2.3"]}},
    {"action": "UPSERT", "zone": "example.test", "key": "bad/A", "body": {"values": ["x.y"]}}]})");
  EXPECT_EQ(half.status, 400u) << half.body;
  EXPECT_EQ(half.error_code(), "invalid_change");

  // Deleting what is not there.
  auto missing = call(http::verb::post, "/v1/changes", R"({"changes": [
    {"action": "DELETE", "zone": "example.test", "key": "nope/A"}]})");
  EXPECT_EQ(missing.status, 400u) << missing.body;

  auto dry_bad = call(http::verb::post, "/v1/changes?dry_run=1", R"({"changes": [
    {"action": "UPSERT", "zone": "example.test", "key": "bad/A", "body": {"values": ["x.y"]}}]})");
  EXPECT_EQ(dry_bad.status, 400u) << dry_bad.body;
  EXPECT_EQ(catalog(), before);
}

// ---- Declarative apply ----

TEST_F(NativeApiTest, ApplyPlanThenApply) {
  create_zone();
  json desired = catalog();
  ASSERT_EQ(desired["zones"].size(), 1u);
  desired["zones"][0]["records"].push_back(
      {{"name", "new.example.test."}, {"type", "A"}, {"values", {"192.0.2.50"}}});
  json before = catalog();
  auto dry = call(http::verb::post, "/v1/apply?dry_run=true", desired.dump());
  ASSERT_EQ(dry.status, 200u) << dry.body;
  EXPECT_NE(dry.json()["plan"]["text"].get<std::string>().find("new.example.test./A"),
            std::string::npos)
      << dry.body;
  EXPECT_EQ(catalog(), before);

  auto r = call(http::verb::post, "/v1/apply?comment=deploy", desired.dump());
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.json()["change"]["author"], "ops");
  EXPECT_EQ(r.json()["change"]["comment"], "deploy");
  EXPECT_EQ(call(http::verb::get, "/v1/zones/example.test/rrsets/new/A").status, 200u);

  // The same again: nothing to do.
  auto again = call(http::verb::post, "/v1/apply", desired.dump());
  ASSERT_EQ(again.status, 200u) << again.body;
  EXPECT_TRUE(again.json()["no_op"].get<bool>()) << again.body;

  json after = catalog();
  auto bad = call(http::verb::post, "/v1/apply", R"({"zonez": []})");
  EXPECT_EQ(bad.status, 400u);
  EXPECT_NE(bad.error_message().find("zones"), std::string::npos) << bad.body;
  EXPECT_EQ(catalog(), after);
}

// ---- Zone files ----

TEST_F(NativeApiTest, ImportCreatesZoneExportAndReplace) {
  std::string file =
      "$ORIGIN imp.test.\n$TTL 300\n"
      "@ IN SOA ns1 hostmaster 7 3600 900 1209600 60\n"
      "@ IN NS ns1\nns1 IN A 192.0.2.53\nwww IN A 192.0.2.80\nold IN A 192.0.2.81\n";
  auto r = call(http::verb::post, "/v1/zones/imp.test/import", file, "rw-secret",
                {{"Content-Type", "text/dns"}});
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.json()["zone"], "imp.test.");
  EXPECT_EQ(call(http::verb::get, "/v1/zones/imp.test/rrsets/old/A").status, 200u);

  auto ex = call(http::verb::get, "/v1/zones/imp.test/export");
  ASSERT_EQ(ex.status, 200u);
  EXPECT_EQ(ex.header("Content-Type"), "text/dns");
  EXPECT_NE(ex.body.find("192.0.2.80"), std::string::npos) << ex.body;
  EXPECT_NE(ex.body.find("SOA"), std::string::npos) << ex.body;

  std::string smaller =
      "$ORIGIN imp.test.\n$TTL 300\n"
      "@ IN SOA ns1 hostmaster 8 3600 900 1209600 60\n"
      "@ IN NS ns1\nns1 IN A 192.0.2.53\nwww IN A 192.0.2.88\n";
  auto rep = call(http::verb::post, "/v1/zones/imp.test/import?replace=true", smaller, "rw-secret",
                  {{"Content-Type", "text/dns"}});
  ASSERT_EQ(rep.status, 200u) << rep.body;
  EXPECT_EQ(call(http::verb::get, "/v1/zones/imp.test/rrsets/old/A").status, 404u);
  auto www = call(http::verb::get, "/v1/zones/imp.test/rrsets/www/A");
  EXPECT_EQ(www.json()["values"][0], "192.0.2.88");

  json before = catalog();
  auto bad = call(http::verb::post, "/v1/zones/imp.test/import", "www IN A not-an-ip\n",
                  "rw-secret", {{"Content-Type", "text/dns"}});
  EXPECT_EQ(bad.status, 400u) << bad.body;
  EXPECT_EQ(catalog(), before);
}

// ---- Health check configuration ----

TEST_F(NativeApiTest, HealthCheckConfigCrud) {
  auto c = call(http::verb::post, "/v1/health/checks",
                R"({"id": "lag", "type": "external", "initial": "healthy"})");
  ASSERT_EQ(c.status, 201u) << c.body;
  auto dup = call(http::verb::post, "/v1/health/checks", R"({"id": "lag", "type": "external"})");
  EXPECT_EQ(dup.status, 409u);

  auto g = call(http::verb::get, "/v1/health/checks/lag/config");
  ASSERT_EQ(g.status, 200u) << g.body;
  EXPECT_EQ(g.json()["config"]["type"], "external");

  auto u = call(http::verb::put, "/v1/health/checks/lag",
                R"({"type": "external", "initial": "unhealthy"})");
  ASSERT_EQ(u.status, 200u) << u.body;
  auto g2 = call(http::verb::get, "/v1/health/checks/lag/config");
  EXPECT_EQ(g2.json()["config"]["initial"], "unhealthy") << g2.body;
  EXPECT_GT(g2.json()["version"].get<int64_t>(), g.json()["version"].get<int64_t>());

  json before = catalog();
  auto bad = call(http::verb::put, "/v1/health/checks/lag", R"({"type": "externl"})");
  EXPECT_EQ(bad.status, 400u) << bad.body;
  auto mism = call(http::verb::put, "/v1/health/checks/lag", R"({"id": "x", "type": "external"})");
  EXPECT_EQ(mism.status, 400u);
  EXPECT_EQ(catalog(), before);

  // The engine's view (health_report) is still served.
  auto report = call(http::verb::get, "/v1/health/checks");
  EXPECT_EQ(report.status, 200u);

  // In use by a steered record set: refused, naming the user.
  create_zone();
  auto steered = call(http::verb::put, "/v1/zones/example.test/rrsets/app/A", R"({
    "ttl": 30, "policy": "failover", "members": [
      {"set_id": "p", "tier": 1, "values": ["192.0.2.10"], "health_check": "lag"},
      {"set_id": "s", "tier": 2, "values": ["192.0.2.20"]}]})");
  ASSERT_EQ(steered.status, 200u) << steered.body;
  auto in_use = call(http::verb::delete_, "/v1/health/checks/lag");
  EXPECT_EQ(in_use.status, 400u);
  EXPECT_NE(in_use.error_message().find("app.example.test."), std::string::npos) << in_use.body;
  ASSERT_EQ(call(http::verb::delete_, "/v1/zones/example.test/rrsets/app/A").status, 200u);

  EXPECT_EQ(call(http::verb::delete_, "/v1/health/checks/lag").status, 200u);
  EXPECT_EQ(call(http::verb::get, "/v1/health/checks/lag/config").status, 404u);
  EXPECT_EQ(call(http::verb::delete_, "/v1/health/checks/lag").status, 404u);
}

// ---- Steering ----

TEST_F(NativeApiTest, SteeringRoutesUseThePrincipalAsAuthor) {
  auto ov = call(http::verb::post, "/v1/overrides",
                 R"({"scope": "check", "target": "web", "action": "down", "expires": "10m",
                     "reason": "maintenance", "author": "alice"})");
  ASSERT_EQ(ov.status, 201u) << ov.body;
  auto cmds = steering_cmds();
  ASSERT_FALSE(cmds.empty());
  EXPECT_EQ(cmds.back()["cmd"], "override-set");
  EXPECT_EQ(cmds.back()["author"], "ops");
  EXPECT_NE(cmds.back()["reason"].get<std::string>().find("alice"), std::string::npos);

  auto unknown = call(http::verb::post, "/v1/overrides",
                      R"({"scope": "check", "target": "web", "acton": "down", "expires": "1m"})");
  EXPECT_EQ(unknown.status, 400u);
  EXPECT_NE(unknown.error_message().find("did you mean 'action'"), std::string::npos);
  auto bad_scope = call(http::verb::post, "/v1/overrides",
                        R"({"scope": "planet", "target": "x", "action": "down", "expires": "1m"})");
  EXPECT_EQ(bad_scope.status, 400u);
  EXPECT_NE(bad_scope.error_message().find("planet"), std::string::npos);

  auto clear = call(http::verb::delete_, "/v1/overrides?scope=check&target=web");
  ASSERT_EQ(clear.status, 200u) << clear.body;
  EXPECT_EQ(steering_cmds().back()["cmd"], "override-clear");
  EXPECT_EQ(steering_cmds().back()["author"], "ops");
  EXPECT_EQ(call(http::verb::delete_, "/v1/overrides?scope=check").status, 400u);

  auto ap = call(http::verb::post, "/v1/failback/approve", R"({"set": "app.example.test./A"})");
  ASSERT_EQ(ap.status, 200u) << ap.body;
  EXPECT_EQ(steering_cmds().back()["author"], "ops");

  EXPECT_EQ(call(http::verb::get, "/v1/overrides", "", "ro-secret").status, 200u);
  EXPECT_EQ(call(http::verb::get, "/v1/status", "", "ro-secret").status, 200u);
  auto drills = call(http::verb::get, "/v1/drills");
  ASSERT_EQ(drills.status, 200u);
  EXPECT_EQ(drills.json()["drills"][0]["name"], "d1");

  ASSERT_EQ(call(http::verb::get, "/v1/events?last=5").status, 200u);
  EXPECT_EQ(steering_cmds().back()["last"], 5);
  EXPECT_EQ(call(http::verb::get, "/v1/events?last=abc").status, 400u);

  auto ex = call(http::verb::get, "/v1/explain?name=app.example.test.&type=A&ecs=198.51.100.0/24");
  ASSERT_EQ(ex.status, 200u);
  EXPECT_EQ(steering_cmds().back()["ecs"], "198.51.100.0/24");
  EXPECT_EQ(call(http::verb::get, "/v1/explain?type=A").status, 400u);
  EXPECT_EQ(call(http::verb::get, "/v1/explain?name=nowhere.test.&type=A").status, 404u);

  EXPECT_EQ(call(http::verb::post, "/v1/simulate", R"({"down": ["web"]})").status, 200u);
  EXPECT_EQ(call(http::verb::post, "/v1/simulate", R"({"down": []})").status, 400u);
  EXPECT_EQ(call(http::verb::post, "/v1/simulate", R"({"down": [1]})").status, 400u);

  auto ans = call(http::verb::get, "/v1/answer?name=www.example.test.&type=aaaa&client=10.0.0.1");
  ASSERT_EQ(ans.status, 200u) << ans.body;
  EXPECT_EQ(ans.json()["type"], "AAAA");
  EXPECT_EQ(ans.json()["client"], "10.0.0.1");
  EXPECT_EQ(call(http::verb::get, "/v1/answer?name=x&type=NOPE").status, 400u);

  // Read-only token: steering writes are refused before the service sees them.
  size_t n = steering_cmds().size();
  auto ro = call(http::verb::post, "/v1/failback/approve", R"({"set": "x"})", "ro-secret");
  EXPECT_EQ(ro.status, 403u);
  EXPECT_EQ(steering_cmds().size(), n);
}

// ---- Auth and limits ----

TEST_F(NativeApiTest, CredentialsAndLimitsChangeNothing) {
  create_zone();
  json before = catalog();
  std::string upsert = R"({"values": ["192.0.2.1"]})";
  auto none = call(http::verb::put, "/v1/zones/example.test/rrsets/www/A", upsert, "");
  EXPECT_EQ(none.status, 401u);
  auto wrong = call(http::verb::put, "/v1/zones/example.test/rrsets/www/A", upsert, "nope");
  EXPECT_EQ(wrong.status, 401u);
  auto ro = call(http::verb::put, "/v1/zones/example.test/rrsets/www/A", upsert, "ro-secret");
  EXPECT_EQ(ro.status, 403u);
  auto ro_apply = call(http::verb::post, "/v1/changes", R"({"changes": [{"action": "UPSERT",
      "zone": "example.test", "key": "www/A", "body": {"values": ["192.0.2.1"]}}]})",
                       "ro-secret");
  EXPECT_EQ(ro_apply.status, 403u);
  EXPECT_EQ(call(http::verb::get, "/v1/zones", "", "").status, 401u);

  std::string big = R"({"changes": [], "comment": ")" + std::string(300 * 1024, 'x') + "\"}";
  auto huge = call(http::verb::post, "/v1/changes", big);
  EXPECT_EQ(huge.status, 413u);

  auto media =
      call(http::verb::post, "/v1/changes", "{}", "rw-secret", {{"Content-Type", "text/plain"}});
  EXPECT_EQ(media.status, 415u);
  EXPECT_EQ(catalog(), before);
  auto changes = call(http::verb::get, "/v1/changes");
  EXPECT_EQ(changes.json()["changes"].size(), 1u);  // only the zone
}

}  // namespace
}  // namespace steerdns::api
