// Action `sets:` filters must name steered record sets: a filter that matches nothing is a
// config error with file:line and a did-you-mean, found once the zones are read.
#include <gtest/gtest.h>

#include <string>

#include "config/dr_yaml.h"
#include "config/loader.h"
#include "config_test_util.h"

namespace steerdns::config {
namespace {

using testing::line_of;
using testing::TempDir;

constexpr const char* kBase = R"(health_checks:
  - { id: p, type: external }
  - { id: s, type: external }
zones:
  - name: example.test.
    soa: { mname: ns1.example.test., rname: hostmaster.example.test., minimum: 60 }
    ns: [ns1.example.test.]
    records:
      - { name: ns1, type: A, values: [127.0.0.1] }
      - { name: plain, type: A, values: [192.0.2.99] }
      - name: app
        type: A
        policy: failover
        members:
          - { set_id: one, role: primary, values: [192.0.2.1], health_check: p }
          - { set_id: two, role: secondary, values: [192.0.2.2], health_check: s }
      - name: app
        type: AAAA
        policy: failover
        members:
          - { set_id: one, role: primary, values: ["2001:db8::1"], health_check: p }
          - { set_id: two, role: secondary, values: ["2001:db8::2"], health_check: s }
actions:
  on_all_down:
    - { webhook: "http://127.0.0.1:9/page" }
  on_failover:
    - { webhook: "http://127.0.0.1:9/scale" }
)";

Result<LoadedConfig> load_with(TempDir& d, const std::string& action, std::string* text) {
  *text = std::string(kBase) + "    " + action + "\n";
  return load_config_file(d.write("t.yaml", *text));
}

TEST(ActionSets, FiltersNamingSteeredSetsLoad) {
  TempDir d;
  std::string text;
  // NAME (every type), NAME/TYPE, any case, with or without the final dot.
  for (const char* sets : {"[app.example.test]", "[App.Example.Test.]", "[app.example.test/AAAA]",
                           "[app.example.test./a, app.example.test/AAAA]"}) {
    auto c = load_with(d, std::string("- { exec: [/bin/true], sets: ") + sets + " }", &text);
    ASSERT_TRUE(c) << sets << ": " << c.error();
    EXPECT_EQ(c->actions.on.at("failover").size(), 2u);
  }
}

TEST(ActionSets, UnknownSetIsAnErrorWithLineAndSuggestion) {
  TempDir d;
  std::string text;
  struct Case {
    std::string sets;
    std::string want;
  };
  const std::vector<Case> cases = {
      {"[app.example.test, ap.example.test]",
       "actions: on_failover[2]: sets: no steered record set 'ap.example.test' (did you mean "
       "'app.example.test'?)"},
      {"[app.exmaple.test./A]",
       "sets: no steered record set 'app.exmaple.test./A' (did you mean 'app.example.test./A'?)"},
      // The name is steered, but not for this type.
      {"[app.example.test/TXT]", "no steered record set 'app.example.test/TXT'"},
      // A static record is not a record set: no event is ever about it.
      {"[plain.example.test]", "no steered record set 'plain.example.test'"},
      {"[totally.unrelated.invalid]", "no steered record set 'totally.unrelated.invalid';"},
  };
  for (const auto& c : cases) {
    auto r = load_with(d, "- { exec: [/bin/true],\n        sets: " + c.sets + " }", &text);
    ASSERT_FALSE(r) << c.sets;
    std::string at = "t.yaml:" + std::to_string(line_of(text, "sets: " + c.sets)) + ": ";
    EXPECT_NE(r.error().find(at), std::string::npos) << r.error();
    EXPECT_NE(r.error().find(c.want), std::string::npos) << r.error();
    EXPECT_NE(r.error().find("would never run"), std::string::npos) << r.error();
  }
  // Unrelated names get no suggestion.
  auto r = load_with(d, "- { exec: [/bin/true], sets: [totally.unrelated.invalid] }", &text);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().find("did you mean"), std::string::npos) << r.error();
}

TEST(ActionSets, NoSteeredSetsAtAll) {
  auto node = YAML::Load("on_failover:\n  - { exec: [/bin/true], sets: [app.example.test] }\n");
  policy::SteeringSpec none;
  auto st = check_action_sets(node, "c.yaml", none);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error(),
            "c.yaml:2: actions: on_failover[1]: sets: 'app.example.test': no record set has a "
            "routing policy, so this filter matches nothing");
  // Without filters there is nothing to check.
  EXPECT_TRUE(
      check_action_sets(YAML::Load("on_failover:\n  - { exec: [/bin/true] }\n"), "c.yaml", none));
  EXPECT_TRUE(check_action_sets(YAML::Node(), "c.yaml", none));
}

}  // namespace
}  // namespace steerdns::config
