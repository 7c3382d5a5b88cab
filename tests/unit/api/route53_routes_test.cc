// The Route 53 API over real HTTP: a control plane on an in-memory SQLite store (publishing
// just records the config), the routes on an api::Server on port 0, requests as the aws CLI
// sends them (XML bodies, SigV4 where keys are configured).
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <pugixml.hpp>
#include <thread>

#include "api/route53/routes.h"
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

constexpr char kConfig[] = R"(
geoip: { database: geo.mmdb }
health_checks:
  primary-app: { type: external, initial: healthy }
  secondary-app: { type: external, initial: healthy }
zones:
  - name: example.test.
    ttl: 300
    soa: { mname: ns1.example.test., rname: hostmaster.example.test., serial: 1 }
    ns: [ns1.example.test.]
    records:
      - { name: ns1, type: A, values: [127.0.0.1] }
      - { name: www, type: A, ttl: 120, values: [192.0.2.80] }
      - name: genai-demo
        type: A
        ttl: 60
        policy: failover
        failover_ttl: 30
        members:
          - { set_id: genai-demo-primary, role: primary, values: [192.0.2.10], health_check: primary-app }
          - { set_id: genai-demo-secondary, role: secondary, values: [198.51.100.10], health_check: secondary-app }
)";

struct Xml {
  pugi::xml_document doc;
  explicit Xml(const std::string& body) {
    auto r = doc.load_string(body.c_str());
    EXPECT_TRUE(r) << body;
  }
  // Text at a '/'-path below the root, "" if absent.
  std::string at(const std::string& path) const {
    pugi::xml_node n = doc.document_element();
    size_t start = 0;
    while (start < path.size()) {
      size_t slash = path.find('/', start);
      std::string part =
          path.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
      n = n.child(part.c_str());
      if (slash == std::string::npos) {
        break;
      }
      start = slash + 1;
    }
    return n.text().get();
  }
  pugi::xml_node root() const { return doc.document_element(); }
};

std::string rrset_xml(const std::string& action, const std::string& inner) {
  return "<Change><Action>" + action + "</Action><ResourceRecordSet>" + inner +
         "</ResourceRecordSet></Change>";
}

std::string batch(const std::vector<std::string>& changes, const std::string& comment = "") {
  std::string out =
      R"(<?xml version="1.0" encoding="UTF-8"?><ChangeResourceRecordSetsRequest xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><ChangeBatch>)";
  if (!comment.empty()) {
    out += "<Comment>" + comment + "</Comment>";
  }
  out += "<Changes>";
  for (const auto& c : changes) {
    out += c;
  }
  return out + "</Changes></ChangeBatch></ChangeResourceRecordSetsRequest>";
}

std::string failover_member(const std::string& id, const std::string& role,
                            const std::string& value, const std::string& check) {
  return "<Name>genai-demo.example.test</Name><Type>A</Type><SetIdentifier>" + id +
         "</SetIdentifier><Failover>" + role +
         "</Failover><TTL>60</TTL><ResourceRecords>"
         "<ResourceRecord><Value>" +
         value +
         "</Value></ResourceRecord></ResourceRecords>"
         "<HealthCheckId>" +
         check + "</HealthCheckId>";
}

class Route53Test : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/r53testXXXXXX";
    dir_ = ::mkdtemp(tmpl);
    std::ofstream(dir_ + "/cfg.yaml") << kConfig;
    std::string cmd =
        "perl " STEERDNS_SOURCE_DIR "/tests/testlib/make_mmdb.pl " + dir_ + "/geo.mmdb";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << "needs libmaxmind-db-writer-perl";
    config::ServerSettings server;
    auto seed = config::from_config_file(dir_ + "/cfg.yaml", &server);
    ASSERT_TRUE(seed) << seed.error();
    auto st = store::open_store("sqlite::memory:");
    ASSERT_TRUE(st) << st.error();
    control::Hooks hooks;
    hooks.publish = [this](const config::LoadedConfig&) {
      publishes_++;
      return OkStatus();
    };
    plane_ = std::make_unique<control::Plane>(std::move(*st), server, hooks);
    auto started = plane_->start(&*seed, "config:test");
    ASSERT_TRUE(started) << started.error();
  }

  void start_server(const Route53Keys& keys) {
    Services svc;
    svc.plane = plane_.get();
    svc.health_report = [] {
      return json{{"checker_id", "node-a"},
                  {"checks",
                   {{{"id", "primary-app"},
                     {"status", "unhealthy"},
                     {"checkers",
                      {{{"checker", "node-a"},
                        {"status", "unhealthy"},
                        {"last_ms", 1764107533000},
                        {"last_reason", "connection refused"}},
                       {{"checker", "node-b"},
                        {"status", "healthy"},
                        {"last_ms", 1764107534000},
                        {"last_reason", "status 200"}}}}}}}};
    };
    svc.answer = [](const Question& q) -> Result<json> {
      return json{
          {"rcode", "NOERROR"},
          {"answers", {{{"name", q.name}, {"type", q.type}, {"ttl", 60}, {"data", "192.0.2.10"}}}}};
    };
    Router r;
    add_route53_routes(r, svc, keys);
    ServerOptions o;
    o.listen = "127.0.0.1:0";
    server_ = std::make_unique<Server>(o, Auth(), std::move(r));
    ASSERT_TRUE(server_->start());
  }

  void TearDown() override {
    server_.reset();
    plane_.reset();
    std::filesystem::remove_all(dir_);
  }

  Reply call(http::verb m, const std::string& path, const std::string& body = "",
             std::vector<std::pair<std::string, std::string>> headers = {}) {
    Client c(server_->port());
    if (!body.empty()) {
      headers.emplace_back("Content-Type", "text/xml");
    }
    return c.request(m, "/2013-04-01" + path, body, headers);
  }

  std::string zone_id(const std::string& name) {
    auto cat = plane_->catalog();
    auto it = cat->zones.find(name);
    return it == cat->zones.end() ? "" : it->second.row.id;
  }

  json record(const std::string& key) {
    auto cat = plane_->catalog();
    auto z = cat->zones.find("example.test.");
    auto it = z->second.records.find(key);
    return it == z->second.records.end() ? json() : it->second;
  }

  void expect_error(const Reply& r, unsigned status, const std::string& code,
                    const std::string& message_part = "") {
    EXPECT_EQ(r.status, status) << r.body;
    Xml x(r.body);
    EXPECT_EQ(std::string(x.root().name()), "ErrorResponse");
    EXPECT_EQ(x.at("Error/Code"), code) << r.body;
    EXPECT_NE(x.at("Error/Message").find(message_part), std::string::npos) << x.at("Error/Message");
    EXPECT_FALSE(x.at("RequestId").empty());
  }

  void wait_insync(const std::string& change_id) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      Reply r = call(http::verb::get, "/change/" + change_id);
      ASSERT_EQ(r.status, 200u) << r.body;
      if (Xml(r.body).at("ChangeInfo/Status") == "INSYNC") {
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    FAIL() << "change " << change_id << " did not become INSYNC";
  }

  std::string dir_;
  std::atomic<int> publishes_{0};
  std::unique_ptr<control::Plane> plane_;
  std::unique_ptr<Server> server_;
};

TEST_F(Route53Test, HostedZoneLifecycle) {
  start_server(Route53Keys());
  const std::string create =
      R"(<?xml version="1.0" encoding="UTF-8"?><CreateHostedZoneRequest xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><Name>r53.test</Name><CallerReference>ref-1</CallerReference><HostedZoneConfig><Comment>made by a test</Comment></HostedZoneConfig></CreateHostedZoneRequest>)";
  Reply r = call(http::verb::post, "/hostedzone", create);
  ASSERT_EQ(r.status, 201u) << r.body;
  Xml x(r.body);
  std::string id = x.at("HostedZone/Id");
  ASSERT_EQ(id.rfind("/hostedzone/Z", 0), 0u) << id;
  id = id.substr(12);
  EXPECT_EQ(id.size(), 21u);
  EXPECT_EQ(x.at("HostedZone/Name"), "r53.test.");
  EXPECT_EQ(x.at("HostedZone/Config/Comment"), "made by a test");
  EXPECT_EQ(x.at("HostedZone/ResourceRecordSetCount"), "2");
  EXPECT_EQ(x.at("DelegationSet/NameServers/NameServer"), "ns1.example.test");
  EXPECT_EQ(x.at("ChangeInfo/Id").rfind("/change/C", 0), 0u);
  EXPECT_EQ(r.header("Location"), "http://test/2013-04-01/hostedzone/" + id);
  EXPECT_EQ(zone_id("r53.test."), id);
  wait_insync(x.at("ChangeInfo/Id").substr(8));

  // The same CallerReference again creates nothing.
  expect_error(call(http::verb::post, "/hostedzone", create), 409, "HostedZoneAlreadyExists",
               "caller reference");
  std::string other = create;
  other.replace(other.find("ref-1"), 5, "ref-2");
  expect_error(call(http::verb::post, "/hostedzone", other), 409, "HostedZoneAlreadyExists",
               "r53.test.");

  r = call(http::verb::get, "/hostedzone/" + id);
  ASSERT_EQ(r.status, 200u);
  EXPECT_EQ(Xml(r.body).at("HostedZone/CallerReference"), "ref-1");
  expect_error(call(http::verb::get, "/hostedzone/ZNOSUCHZONE"), 404, "NoSuchHostedZone",
               "ZNOSUCHZONE");

  // Paging: two zones, one per page.
  r = call(http::verb::get, "/hostedzone?maxitems=1");
  Xml p1(r.body);
  EXPECT_EQ(p1.at("IsTruncated"), "true");
  EXPECT_EQ(p1.at("MaxItems"), "1");
  std::string next = p1.at("NextMarker");
  ASSERT_FALSE(next.empty());
  r = call(http::verb::get, "/hostedzone?maxitems=1&marker=" + next);
  Xml p2(r.body);
  EXPECT_EQ(p2.at("IsTruncated"), "false");
  EXPECT_NE(p1.at("HostedZones/HostedZone/Name"), p2.at("HostedZones/HostedZone/Name"));

  // Not empty -> HostedZoneNotEmpty; emptied -> deleted.
  r = call(http::verb::post, "/hostedzone/" + id + "/rrset/",
           batch({rrset_xml("CREATE",
                            "<Name>a.r53.test</Name><Type>TXT</Type><TTL>60</TTL>"
                            "<ResourceRecords><ResourceRecord><Value>\"hi\"</Value>"
                            "</ResourceRecord></ResourceRecords>")}));
  ASSERT_EQ(r.status, 200u) << r.body;
  expect_error(call(http::verb::delete_, "/hostedzone/" + id), 400, "HostedZoneNotEmpty");
  r = call(http::verb::post, "/hostedzone/" + id + "/rrset/",
           batch({rrset_xml("DELETE",
                            "<Name>a.r53.test</Name><Type>TXT</Type><TTL>60</TTL>"
                            "<ResourceRecords><ResourceRecord><Value>\"hi\"</Value>"
                            "</ResourceRecord></ResourceRecords>")}));
  ASSERT_EQ(r.status, 200u) << r.body;
  r = call(http::verb::delete_, "/hostedzone/" + id);
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_FALSE(Xml(r.body).at("ChangeInfo/Id").empty());
  EXPECT_EQ(zone_id("r53.test."), "");
  expect_error(call(http::verb::get, "/hostedzone/" + id), 404, "NoSuchHostedZone");
}

TEST_F(Route53Test, FailoverUpsertKeepsTheRecordSetSettings) {
  start_server(Route53Keys());
  std::string zid = zone_id("example.test.");
  // The runbook: the secondary region answers as PRIMARY, the old primary becomes SECONDARY.
  Reply r = call(http::verb::post, "/hostedzone/" + zid + "/rrset/",
                 batch({rrset_xml("UPSERT", failover_member("genai-demo-primary", "PRIMARY",
                                                            "198.51.100.10", "secondary-app")),
                        rrset_xml("UPSERT", failover_member("genai-demo-secondary", "SECONDARY",
                                                            "192.0.2.10", "primary-app"))},
                       "fail over to the secondary region"));
  ASSERT_EQ(r.status, 200u) << r.body;
  Xml x(r.body);
  EXPECT_EQ(x.at("ChangeInfo/Comment"), "fail over to the secondary region");
  wait_insync(x.at("ChangeInfo/Id").substr(8));
  json body = record("genai-demo.example.test./A");
  ASSERT_TRUE(body.is_object());
  EXPECT_EQ(body["policy"], "failover");
  EXPECT_EQ(body["failover_ttl"], 30);  // the orchestration settings survive
  ASSERT_EQ(body["members"].size(), 2u);
  EXPECT_EQ(body["members"][0]["set_id"], "genai-demo-primary");
  EXPECT_EQ(body["members"][0]["values"], json::array({"198.51.100.10"}));
  EXPECT_EQ(body["members"][0]["health_check"], "secondary-app");
  EXPECT_EQ(body["members"][1]["values"], json::array({"192.0.2.10"}));

  // The same UPSERT again changes nothing and still answers with a change id.
  r = call(http::verb::post, "/hostedzone/" + zid + "/rrset/",
           batch({rrset_xml("UPSERT", failover_member("genai-demo-primary", "PRIMARY",
                                                      "198.51.100.10", "secondary-app"))}));
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_FALSE(Xml(r.body).at("ChangeInfo/Id").empty());
}

TEST_F(Route53Test, ListRecordSetsInRoute53OrderWithPaging) {
  start_server(Route53Keys());
  std::string zid = zone_id("example.test.");
  Reply r = call(http::verb::get, "/hostedzone/" + zid + "/rrset");
  ASSERT_EQ(r.status, 200u) << r.body;
  Xml all(r.body);
  std::vector<std::string> seen;
  for (auto n : all.root().child("ResourceRecordSets").children("ResourceRecordSet")) {
    seen.push_back(std::string(n.child("Name").text().get()) + " " + n.child("Type").text().get() +
                   " " + n.child("SetIdentifier").text().get());
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"example.test. NS ", "example.test. SOA ",
                                            "genai-demo.example.test. A genai-demo-primary",
                                            "genai-demo.example.test. A genai-demo-secondary",
                                            "ns1.example.test. A ", "www.example.test. A "}));
  // The failover members carry their routing and checks.
  auto sets = all.root().child("ResourceRecordSets").children("ResourceRecordSet");
  auto it = sets.begin();
  ++it;
  ++it;
  EXPECT_STREQ(it->child("Failover").text().get(), "PRIMARY");
  EXPECT_STREQ(it->child("TTL").text().get(), "60");
  EXPECT_STREQ(it->child("HealthCheckId").text().get(), "primary-app");
  EXPECT_STREQ(it->child("ResourceRecords").child("ResourceRecord").child("Value").text().get(),
               "192.0.2.10");

  // Pages of two, following NextRecordName/Type/Identifier.
  std::vector<std::string> paged;
  std::string q = "?maxitems=2";
  for (int page = 0; page < 10; ++page) {
    Xml p(call(http::verb::get, "/hostedzone/" + zid + "/rrset" + q).body);
    for (auto n : p.root().child("ResourceRecordSets").children("ResourceRecordSet")) {
      paged.push_back(std::string(n.child("Name").text().get()) + " " +
                      n.child("Type").text().get() + " " + n.child("SetIdentifier").text().get());
    }
    if (p.at("IsTruncated") != "true") {
      break;
    }
    q = "?maxitems=2&name=" + p.at("NextRecordName") + "&type=" + p.at("NextRecordType");
    if (!p.at("NextRecordIdentifier").empty()) {
      q += "&identifier=" + p.at("NextRecordIdentifier");
    }
  }
  EXPECT_EQ(paged, seen);
  expect_error(call(http::verb::get, "/hostedzone/" + zid + "/rrset?type=A"), 400, "InvalidInput",
               "StartRecordName");
}

TEST_F(Route53Test, InvalidChangeBatchesChangeNothing) {
  start_server(Route53Keys());
  std::string zid = zone_id("example.test.");
  int64_t rev = plane_->catalog()->revision;
  const std::string good =
      rrset_xml("CREATE",
                "<Name>new.example.test</Name><Type>A</Type><TTL>60</TTL><ResourceRecords>"
                "<ResourceRecord><Value>192.0.2.1</Value></ResourceRecord></ResourceRecords>");
  struct Case {
    std::string change;
    std::string message;
  };
  const std::vector<Case> cases = {
      {rrset_xml("CREATE",
                 failover_member("genai-demo-primary", "PRIMARY", "192.0.2.10", "primary-app")),
       "Tried to create resource record set [name='genai-demo.example.test.', type='A', "
       "set-identifier='genai-demo-primary'] but it already exists"},
      {rrset_xml("DELETE",
                 failover_member("genai-demo-primary", "PRIMARY", "192.0.2.99", "primary-app")),
       "Tried to delete resource record set [name='genai-demo.example.test.', type='A', "
       "set-identifier='genai-demo-primary'] but the values provided do not match the current "
       "values"},
      {rrset_xml("DELETE",
                 "<Name>nope.example.test</Name><Type>A</Type><TTL>60</TTL>"
                 "<ResourceRecords><ResourceRecord><Value>192.0.2.1</Value>"
                 "</ResourceRecord></ResourceRecords>"),
       "Tried to delete resource record set [name='nope.example.test.', type='A'] but it was "
       "not found"},
      {rrset_xml("CREATE",
                 "<Name>x.other.test</Name><Type>A</Type><TTL>60</TTL>"
                 "<ResourceRecords><ResourceRecord><Value>192.0.2.1</Value>"
                 "</ResourceRecord></ResourceRecords>"),
       "RRSet with DNS name x.other.test. is not permitted in zone example.test."},
      {rrset_xml("UPSERT",
                 "<Name>genai-demo.example.test</Name><Type>A</Type><SetIdentifier>w"
                 "</SetIdentifier><Weight>10</Weight><TTL>60</TTL><ResourceRecords>"
                 "<ResourceRecord><Value>192.0.2.1</Value></ResourceRecord>"
                 "</ResourceRecords>"),
       "mixes routing policies (failover and weighted)"},
      {rrset_xml("UPSERT",
                 "<Name>bad.example.test</Name><Type>A</Type><TTL>60</TTL>"
                 "<ResourceRecords><ResourceRecord><Value>192.0.2.300</Value>"
                 "</ResourceRecord></ResourceRecords>"),
       "Invalid Resource Record"},
      {rrset_xml("UPSERT",
                 "<Name>w.example.test</Name><Type>A</Type><SetIdentifier>w"
                 "</SetIdentifier><TTL>60</TTL><ResourceRecords><ResourceRecord>"
                 "<Value>192.0.2.1</Value></ResourceRecord></ResourceRecords>"),
       "Expected exactly one of [Weight, Region, Failover, GeoLocation, MultiValueAnswer"},
      {rrset_xml("UPSERT",
                 "<Name>www.example.test</Name><Type>CNAME</Type><TTL>60</TTL>"
                 "<ResourceRecords><ResourceRecord><Value>x.example.test</Value>"
                 "</ResourceRecord></ResourceRecords>"),
       "RRSet of type CNAME with DNS name www.example.test. is not permitted as it conflicts"},
      {rrset_xml("UPSERT",
                 "<Name>h.example.test</Name><Type>A</Type><SetIdentifier>a"
                 "</SetIdentifier><Weight>1</Weight><TTL>60</TTL><ResourceRecords>"
                 "<ResourceRecord><Value>192.0.2.1</Value></ResourceRecord>"
                 "</ResourceRecords><HealthCheckId>nosuch</HealthCheckId>"),
       "the health check nosuch does not exist"},
      // Caught by the validator behind the plane: a failover set without a secondary.
      {rrset_xml("DELETE", failover_member("genai-demo-secondary", "SECONDARY", "198.51.100.10",
                                           "secondary-app")),
       "secondary"},
  };
  for (const auto& c : cases) {
    Reply r = call(http::verb::post, "/hostedzone/" + zid + "/rrset/", batch({good, c.change}));
    expect_error(r, 400, "InvalidChangeBatch", c.message);
    Xml x(r.body);
    EXPECT_FALSE(x.at("Error/Messages/Message").empty()) << r.body;
    EXPECT_EQ(plane_->catalog()->revision, rev) << c.message;
  }
  EXPECT_TRUE(record("new.example.test./A").is_null());
  // Not XML / unknown elements: InvalidInput naming the element.
  expect_error(call(http::verb::post, "/hostedzone/" + zid + "/rrset/", "<Change"), 400,
               "InvalidInput", "Malformed XML");
  std::string typo = batch({good});
  typo.replace(typo.find("<TTL>60</TTL>"), 13, "<TTl>60</TTl>");
  expect_error(call(http::verb::post, "/hostedzone/" + zid + "/rrset/", typo), 400, "InvalidInput",
               "Unknown element ChangeResourceRecordSetsRequest/ChangeBatch/Changes/Change[1]/"
               "ResourceRecordSet/TTl (did you mean 'TTL'?)");
  EXPECT_EQ(plane_->catalog()->revision, rev);
}

TEST_F(Route53Test, RoutingPoliciesRoundTrip) {
  start_server(Route53Keys());
  std::string zid = zone_id("example.test.");
  auto member = [](const std::string& name, const std::string& id, const std::string& routing,
                   const std::string& value) {
    return rrset_xml("CREATE", "<Name>" + name +
                                   ".example.test</Name><Type>A</Type>"
                                   "<SetIdentifier>" +
                                   id + "</SetIdentifier>" + routing +
                                   "<TTL>30</TTL><ResourceRecords><ResourceRecord><Value>" + value +
                                   "</Value></ResourceRecord></ResourceRecords>");
  };
  Reply r = call(http::verb::post, "/hostedzone/" + zid + "/rrset/",
                 batch({member("w", "stable", "<Weight>90</Weight>", "192.0.2.1"),
                        member("w", "canary", "<Weight>10</Weight>", "192.0.2.2"),
                        member("lat", "tpe", "<Region>ap-east-2</Region>", "192.0.2.3"),
                        member("lat", "nrt", "<Region>ap-northeast-1</Region>", "192.0.2.4"),
                        member("mv", "a", "<MultiValueAnswer>true</MultiValueAnswer>", "192.0.2.5"),
                        member("mv", "b", "<MultiValueAnswer>true</MultiValueAnswer>", "192.0.2.6"),
                        rrset_xml("CREATE",
                                  "<Name>alias.example.test</Name><Type>A</Type><AliasTarget>"
                                  "<HostedZoneId>" +
                                      zid +
                                      "</HostedZoneId><DNSName>"
                                      "w.example.test.</DNSName><EvaluateTargetHealth>true"
                                      "</EvaluateTargetHealth></AliasTarget>")}));
  ASSERT_EQ(r.status, 200u) << r.body;
  json w = record("w.example.test./A");
  EXPECT_EQ(w["policy"], "weighted");
  EXPECT_EQ(w["ttl"], 30);
  EXPECT_EQ(w["members"][1]["weight"], 10);
  EXPECT_EQ(record("lat.example.test./A")["members"][0]["region"], "ap-east-2");
  EXPECT_EQ(record("mv.example.test./A")["policy"], "multivalue");
  json alias = record("alias.example.test./A");
  EXPECT_EQ(alias["members"][0]["alias"]["name"], "w.example.test.");

  Xml x(call(http::verb::get, "/hostedzone/" + zid +
                                  "/rrset?name=alias.example.test&type=A"
                                  "&maxitems=1")
            .body);
  auto set = x.root().child("ResourceRecordSets").child("ResourceRecordSet");
  EXPECT_STREQ(set.child("Name").text().get(), "alias.example.test.");
  EXPECT_STREQ(set.child("AliasTarget").child("HostedZoneId").text().get(), zid.c_str());
  EXPECT_STREQ(set.child("AliasTarget").child("DNSName").text().get(), "w.example.test.");
  EXPECT_TRUE(set.child("TTL").empty());

  // Geolocation with a default; weights deleted one at a time need exact values.
  r = call(
      http::verb::post, "/hostedzone/" + zid + "/rrset/",
      batch({member("geo", "tw", "<GeoLocation><CountryCode>TW</CountryCode></GeoLocation>",
                    "192.0.2.7"),
             member("geo", "asia", "<GeoLocation><ContinentCode>AS</ContinentCode></GeoLocation>",
                    "192.0.2.8"),
             member("geo", "ca",
                    "<GeoLocation><CountryCode>US</CountryCode><SubdivisionCode>CA"
                    "</SubdivisionCode></GeoLocation>",
                    "192.0.2.9"),
             member("geo", "rest", "<GeoLocation><CountryCode>*</CountryCode></GeoLocation>",
                    "192.0.2.10")}));
  ASSERT_EQ(r.status, 200u) << r.body;
  json geo = record("geo.example.test./A");
  EXPECT_EQ(geo["members"][1]["locations"], json::array({"continent:AS"}));
  EXPECT_EQ(geo["members"][2]["locations"], json::array({"US-CA"}));
  EXPECT_EQ(geo["members"][3]["locations"], json::array({"*"}));
  Xml g(call(http::verb::get, "/hostedzone/" + zid +
                                  "/rrset?name=geo.example.test&type=A"
                                  "&identifier=ca&maxitems=1")
            .body);
  auto ca = g.root().child("ResourceRecordSets").child("ResourceRecordSet");
  EXPECT_STREQ(ca.child("GeoLocation").child("CountryCode").text().get(), "US");
  EXPECT_STREQ(ca.child("GeoLocation").child("SubdivisionCode").text().get(), "CA");

  std::string del = member("w", "canary", "<Weight>10</Weight>", "192.0.2.2");
  del.replace(del.find("CREATE"), 6, "DELETE");
  r = call(http::verb::post, "/hostedzone/" + zid + "/rrset/", batch({del}));
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(record("w.example.test./A")["members"].size(), 1u);
}

// Two clients adding members to the same name at the same time: each batch is translated
// against the catalog the one before it left (on the plane's applier thread), so no member is
// lost.
TEST_F(Route53Test, ConcurrentWritersKeepEachOthersMembers) {
  start_server(Route53Keys());
  std::string zid = zone_id("example.test.");
  auto writer = [&](const std::string& prefix) {
    for (int i = 0; i < 10; ++i) {
      std::string id = prefix + std::to_string(i);
      Reply r = call(http::verb::post, "/hostedzone/" + zid + "/rrset/",
                     batch({rrset_xml("UPSERT",
                                      "<Name>pool.example.test</Name><Type>A</Type>"
                                      "<SetIdentifier>" +
                                          id +
                                          "</SetIdentifier>"
                                          "<Weight>1</Weight><TTL>60</TTL>"
                                          "<ResourceRecords><ResourceRecord><Value>"
                                          "192.0.2." +
                                          std::to_string(i + 1) +
                                          "</Value></ResourceRecord></ResourceRecords>")}));
      EXPECT_EQ(r.status, 200u) << r.body;
    }
  };
  std::thread a(writer, "a");
  std::thread b(writer, "b");
  a.join();
  b.join();
  EXPECT_EQ(record("pool.example.test./A")["members"].size(), 20u);
}

TEST_F(Route53Test, ApexSoaAndNsCanOnlyBeUpserted) {
  start_server(Route53Keys());
  std::string zid = zone_id("example.test.");
  auto apex = [](const std::string& action, const std::string& type, const std::string& ttl,
                 const std::string& value) {
    return rrset_xml(action, "<Name>example.test.</Name><Type>" + type + "</Type><TTL>" + ttl +
                                 "</TTL><ResourceRecords><ResourceRecord><Value>" + value +
                                 "</Value></ResourceRecord></ResourceRecords>");
  };
  expect_error(call(http::verb::post, "/hostedzone/" + zid + "/rrset/",
                    batch({apex("CREATE", "NS", "300", "ns2.example.test")})),
               400, "InvalidChangeBatch", "but it already exists");
  expect_error(call(http::verb::post, "/hostedzone/" + zid + "/rrset/",
                    batch({apex("DELETE", "NS", "300", "ns1.example.test")})),
               400, "InvalidChangeBatch", "at least one NS record");
  Reply r = call(http::verb::post, "/hostedzone/" + zid + "/rrset/",
                 batch({apex("UPSERT", "NS", "3600", "ns.elsewhere.test"),
                        apex("UPSERT", "SOA", "900",
                             "ns.elsewhere.test hostmaster.example.test 1 7200 900 1209600 60")}));
  ASSERT_EQ(r.status, 200u) << r.body;
  const json& s = plane_->catalog()->zones.at("example.test.").row.settings;
  EXPECT_EQ(s["ns"], json::array({"ns.elsewhere.test."}));
  EXPECT_EQ(s["ttl"], 3600);
  EXPECT_EQ(s["soa"]["minimum"], 60);
  EXPECT_EQ(s["soa"]["mname"], "ns.elsewhere.test.");
  Xml x(call(http::verb::get, "/hostedzone/" + zid + "/rrset?maxitems=2").body);
  auto sets = x.root().child("ResourceRecordSets");
  EXPECT_STREQ(sets.first_child()
                   .child("ResourceRecords")
                   .child("ResourceRecord")
                   .child("Value")
                   .text()
                   .get(),
               "ns.elsewhere.test.");
}

TEST_F(Route53Test, HealthChecks) {
  start_server(Route53Keys());
  const std::string create =
      R"(<CreateHealthCheckRequest xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><CallerReference>hc-1</CallerReference><HealthCheckConfig><IPAddress>127.0.0.1</IPAddress><Port>8080</Port><Type>HTTP_STR_MATCH</Type><ResourcePath>/health</ResourcePath><FullyQualifiedDomainName>app.example.test</FullyQualifiedDomainName><SearchString>ok</SearchString><RequestInterval>10</RequestInterval><FailureThreshold>2</FailureThreshold></HealthCheckConfig></CreateHealthCheckRequest>)";
  Reply r = call(http::verb::post, "/healthcheck", create);
  ASSERT_EQ(r.status, 201u) << r.body;
  Xml x(r.body);
  std::string id = x.at("HealthCheck/Id");
  EXPECT_EQ(id.size(), 36u) << id;  // a UUID
  EXPECT_EQ(x.at("HealthCheck/HealthCheckVersion"), "1");
  EXPECT_EQ(x.at("HealthCheck/HealthCheckConfig/Type"), "HTTP_STR_MATCH");
  EXPECT_EQ(x.at("HealthCheck/HealthCheckConfig/IPAddress"), "127.0.0.1");
  EXPECT_EQ(x.at("HealthCheck/HealthCheckConfig/FullyQualifiedDomainName"), "app.example.test");
  EXPECT_EQ(x.at("HealthCheck/HealthCheckConfig/Port"), "8080");
  EXPECT_EQ(x.at("HealthCheck/HealthCheckConfig/ResourcePath"), "/health");
  EXPECT_EQ(x.at("HealthCheck/HealthCheckConfig/RequestInterval"), "10");
  EXPECT_EQ(x.at("HealthCheck/HealthCheckConfig/FailureThreshold"), "2");
  auto body = plane_->catalog()->checks.at(id).body;
  EXPECT_EQ(body["type"], "http");
  EXPECT_EQ(body["search"], "ok");
  EXPECT_EQ(body["host"], "app.example.test");
  EXPECT_EQ(body["ip"], "127.0.0.1");

  // Same request again: the same check; same reference, other settings: 409.
  r = call(http::verb::post, "/healthcheck", create);
  ASSERT_EQ(r.status, 201u) << r.body;
  EXPECT_EQ(Xml(r.body).at("HealthCheck/Id"), id);
  std::string other = create;
  other.replace(other.find("8080"), 4, "8081");
  expect_error(call(http::verb::post, "/healthcheck", other), 409, "HealthCheckAlreadyExists");
  std::string cw = create;
  cw.replace(cw.find("HTTP_STR_MATCH"), 14, "CLOUDWATCH_METRIC");
  cw.replace(cw.find("hc-1"), 4, "hc-2");
  expect_error(call(http::verb::post, "/healthcheck", cw), 400, "InvalidInput",
               "CLOUDWATCH_METRIC is not supported");

  // Checks from the config keep their names as ids.
  r = call(http::verb::get, "/healthcheck/primary-app");
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(Xml(r.body).at("HealthCheck/Id"), "primary-app");
  EXPECT_EQ(Xml(r.body).at("HealthCheck/HealthCheckConfig/Type"), "RECOVERY_CONTROL");
  expect_error(call(http::verb::get, "/healthcheck/nosuch"), 404, "NoSuchHealthCheck", "nosuch");

  // Update: version check, then a new port and a reset path.
  const std::string upd_head =
      R"(<UpdateHealthCheckRequest xmlns="https://route53.amazonaws.com/doc/2013-04-01/">)";
  expect_error(call(http::verb::post, "/healthcheck/" + id,
                    upd_head + "<HealthCheckVersion>7</HealthCheckVersion><Port>9090</Port>"
                               "</UpdateHealthCheckRequest>"),
               409, "HealthCheckVersionMismatch");
  r = call(http::verb::post, "/healthcheck/" + id,
           upd_head +
               "<HealthCheckVersion>1</HealthCheckVersion><Port>9090</Port>"
               "<ResetElements><ResetElement>ResourcePath</ResetElement></ResetElements>"
               "</UpdateHealthCheckRequest>");
  ASSERT_EQ(r.status, 200u) << r.body;
  Xml u(r.body);
  EXPECT_EQ(u.at("HealthCheck/HealthCheckVersion"), "2");
  EXPECT_EQ(u.at("HealthCheck/HealthCheckConfig/Port"), "9090");
  EXPECT_EQ(u.at("HealthCheck/HealthCheckConfig/ResourcePath"), "/");

  r = call(http::verb::get, "/healthcheck?maxitems=2");
  Xml l(r.body);
  EXPECT_EQ(l.at("IsTruncated"), "true");
  EXPECT_FALSE(l.at("NextMarker").empty());

  // Status: one observation per checker.
  r = call(http::verb::get, "/healthcheck/primary-app/status");
  ASSERT_EQ(r.status, 200u) << r.body;
  Xml s(r.body);
  auto obs = s.root().child("HealthCheckObservations");
  std::vector<std::string> reports;
  for (auto o : obs.children("HealthCheckObservation")) {
    reports.push_back(std::string(o.child("Region").text().get()) + " " +
                      o.child("StatusReport").child("Status").text().get());
  }
  EXPECT_EQ(reports, (std::vector<std::string>{"node-a Failure: connection refused",
                                               "node-b Success: status 200"}));

  // In use -> HealthCheckInUse; unused -> deleted.
  expect_error(call(http::verb::delete_, "/healthcheck/primary-app"), 400, "HealthCheckInUse",
               "genai-demo.example.test./A");
  r = call(http::verb::delete_, "/healthcheck/" + id);
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(plane_->catalog()->checks.count(id), 0u);
  expect_error(call(http::verb::delete_, "/healthcheck/" + id), 404, "NoSuchHealthCheck");
}

TEST_F(Route53Test, TestDnsAnswer) {
  start_server(Route53Keys());
  std::string zid = zone_id("example.test.");
  Reply r = call(http::verb::get, "/testdnsanswer?hostedzoneid=" + zid +
                                      "&recordname=genai-demo.example.test&recordtype=A");
  ASSERT_EQ(r.status, 200u) << r.body;
  Xml x(r.body);
  EXPECT_EQ(x.at("RecordData/RecordDataEntry"), "192.0.2.10");
  EXPECT_EQ(x.at("ResponseCode"), "NOERROR");
  EXPECT_EQ(x.at("Nameserver"), "ns1.example.test.");
  expect_error(call(http::verb::get, "/nosuchoperation"), 404, "UnknownOperationException");
}

// Signs as the aws CLI does (host and x-amz-date, SHA-256 of the body), at the current time.
std::vector<std::pair<std::string, std::string>> sign(const std::string& method,
                                                      const std::string& target,
                                                      const std::string& body,
                                                      const std::string& id,
                                                      const std::string& secret) {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char amz[32];
  std::strftime(amz, sizeof amz, "%Y%m%dT%H%M%SZ", &tm);
  std::string date(amz, 8);
  route53::SignedRequest r;
  r.method = method;
  r.target = target;
  r.body = body;
  r.headers = {{"Host", "test"}, {"X-Amz-Date", amz}};
  std::string canonical =
      route53::canonical_request(r, "host;x-amz-date", route53::sha256_hex(body));
  std::string scope = date + "/us-east-1/route53/aws4_request";
  std::string sig = route53::signature(secret, date, "us-east-1", "route53",
                                       route53::string_to_sign(amz, scope, canonical));
  return {{"X-Amz-Date", amz},
          {"Authorization", "AWS4-HMAC-SHA256 Credential=" + id + "/" + scope +
                                ", SignedHeaders=host;x-amz-date, Signature=" + sig}};
}

TEST_F(Route53Test, SignatureV4) {
  Route53Keys keys;
  ASSERT_TRUE(keys.add("AKIDTEST", "s3cr3t"));
  start_server(keys);
  std::string zid = zone_id("example.test.");
  const std::string path = "/2013-04-01/hostedzone/" + zid;
  expect_error(call(http::verb::get, "/hostedzone/" + zid), 403, "MissingAuthenticationToken");
  Reply r =
      call(http::verb::get, "/hostedzone/" + zid, "", sign("GET", path, "", "AKIDTEST", "s3cr3t"));
  ASSERT_EQ(r.status, 200u) << r.body;
  expect_error(
      call(http::verb::get, "/hostedzone/" + zid, "", sign("GET", path, "", "AKIDTEST", "wrong")),
      403, "SignatureDoesNotMatch");
  expect_error(
      call(http::verb::get, "/hostedzone/" + zid, "", sign("GET", path, "", "AKIDOTHER", "s3cr3t")),
      403, "InvalidClientTokenId");
  // A write with the wrong secret changes nothing.
  int64_t rev = plane_->catalog()->revision;
  std::string b = batch(
      {rrset_xml("CREATE",
                 "<Name>signed.example.test</Name><Type>A</Type><TTL>60</TTL><ResourceRecords>"
                 "<ResourceRecord><Value>192.0.2.1</Value></ResourceRecord></ResourceRecords>")});
  expect_error(call(http::verb::post, "/hostedzone/" + zid + "/rrset/", b,
                    sign("POST", path + "/rrset/", b, "AKIDTEST", "wrong")),
               403, "SignatureDoesNotMatch");
  EXPECT_EQ(plane_->catalog()->revision, rev);
  r = call(http::verb::post, "/hostedzone/" + zid + "/rrset/", b,
           sign("POST", path + "/rrset/", b, "AKIDTEST", "s3cr3t"));
  ASSERT_EQ(r.status, 200u) << r.body;
  auto change = plane_->store().change(Xml(r.body).at("ChangeInfo/Id").substr(8));
  ASSERT_TRUE(change && change->has_value());
  EXPECT_EQ((*change)->author, "route53:AKIDTEST");
}

}  // namespace
}  // namespace steerdns::api
