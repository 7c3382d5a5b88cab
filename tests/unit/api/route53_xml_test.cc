// The Route 53 XML helpers: strict reading (unknown, repeated and misplaced elements name the
// element) and Route 53's error body.
#include <gtest/gtest.h>

#include "api/route53/xml.h"

namespace steerdns::api::route53 {
namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Route53Error& e) {
    EXPECT_EQ(e.code(), "InvalidInput");
    EXPECT_EQ(e.status(), 400u);
    return e.what();
  }
  return "no error";
}

TEST(Route53Xml, StrictReading) {
  pugi::xml_document doc;
  Elem root = parse_request(
      doc, "<R xmlns=\"x\"><Name>a</Name><TTL>60</TTL><V>1</V><V>2</V><B>true</B></R>", "R");
  root.only({"Name", "TTL", "V", "B"}, {"V"});
  EXPECT_EQ(root.required_text("Name"), "a");
  EXPECT_EQ(root.integer("TTL", 0, 100), 60);
  EXPECT_EQ(root.boolean("B"), true);
  EXPECT_EQ(root.children("V").size(), 2u);
  EXPECT_EQ(root.children("V")[1].path(), "R/V[2]");
  EXPECT_FALSE(root.text("Missing").has_value());

  EXPECT_EQ(error_of([&] {
              root.only({"Name", "TTL", "B"}, {"V"});
            }).rfind("Unknown element R/V", 0),
            0u);
  EXPECT_EQ(error_of([&] {
              root.only({"Name", "TTL", "V", "B"});
            }),
            "Element R/V is given more than once");
  EXPECT_EQ(error_of([&] {
              root.only({"Name", "Ttl", "V", "B"}, {"V"});
            }),
            "Unknown element R/TTL (did you mean 'Ttl'?)");
  EXPECT_EQ(error_of([&] { (void)root.integer("TTL", 0, 10); }),
            "Invalid value for R/TTL: 60 is out of range 0..10");
  EXPECT_EQ(error_of([&] { (void)root.integer("Name", 0, 10); }),
            "Invalid value for R/Name: 'a' is not an integer");
  EXPECT_EQ(error_of([&] { (void)root.boolean("Name"); }),
            "Invalid value for R/Name: 'a' is not true or false");
  EXPECT_EQ(error_of([&] { (void)root.required("Nope"); }), "Missing element R/Nope");
  EXPECT_EQ(error_of([&] { (void)root.value(); }), "Element R must hold text, not element Name");

  pugi::xml_document d2;
  EXPECT_EQ(error_of([&] { parse_request(d2, "<R><Name>a</R>", "R"); }).rfind("Malformed XML", 0),
            0u);
  EXPECT_EQ(error_of([&] { parse_request(d2, "<Q/>", "R"); }), "Expected root element R, got Q");
  EXPECT_EQ(error_of([&] { parse_request(d2, " \n", "R"); }),
            "The request body is empty; expected an XML R document");
  Elem t = parse_request(d2, "<R>text<A>1</A></R>", "R");
  EXPECT_EQ(error_of([&] { t.only({"A"}); }), "Unexpected text 'text' in element R");
}

TEST(Route53Xml, ErrorBody) {
  Response r =
      error_response(Route53Error(400, "InvalidChangeBatch", "[a, b]", {"a", "b"}), "req-1");
  EXPECT_EQ(r.status, 400u);
  EXPECT_EQ(r.content_type, "text/xml");
  EXPECT_EQ(r.body,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ErrorResponse "
            "xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\"><Error><Type>Sender</Type>"
            "<Code>InvalidChangeBatch</Code><Message>[a, b]</Message><Messages><Message>a"
            "</Message><Message>b</Message></Messages></Error><RequestId>req-1</RequestId>"
            "</ErrorResponse>");
  try {
    invalid_change_batch({"x", "y"});
    FAIL();
  } catch (const Route53Error& e) {
    EXPECT_EQ(std::string(e.what()), "[x, y]");
    EXPECT_EQ(e.messages().size(), 2u);
  }
  EXPECT_EQ(iso8601(1764107533123), "2025-11-25T21:52:13.123Z");
}

}  // namespace
}  // namespace steerdns::api::route53
