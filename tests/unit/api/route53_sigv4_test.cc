// SigV4 verification against AWS's published test suite (aws-sig-v4-test-suite: get-vanilla,
// get-vanilla-query-order-key-case) and against requests signed by botocore's SigV4Auth
// (precomputed with botocore 1.29 for the fixed time 2015-08-30T12:36:00Z).
#include <gtest/gtest.h>

#include <cstdlib>

#include "api/route53/sigv4.h"

namespace steerdns::api::route53 {
namespace {

constexpr char kId[] = "AKIDEXAMPLE";
constexpr char kSecret[] = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
constexpr int64_t kSuiteTime = 1440938160000;  // 2015-08-30T12:36:00Z

Route53Keys keys() {
  Route53Keys k;
  EXPECT_TRUE(k.add(kId, kSecret));
  return k;
}

SignedRequest vanilla() {
  SignedRequest r;
  r.method = "GET";
  r.target = "/";
  r.headers = {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", "20150830T123600Z"}};
  return r;
}

std::string auth(const std::string& scope_service, const std::string& signed_headers,
                 const std::string& sig, const std::string& region = "us-east-1") {
  return std::string("AWS4-HMAC-SHA256 Credential=") + kId + "/20150830/" + region + "/" +
         scope_service + "/aws4_request, SignedHeaders=" + signed_headers + ", Signature=" + sig;
}

TEST(Route53SigV4, GetVanillaSteps) {
  SignedRequest r = vanilla();
  std::string canonical = canonical_request(r, "host;x-amz-date", sha256_hex(""));
  EXPECT_EQ(canonical,
            "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
            "host;x-amz-date\n"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  std::string sts =
      string_to_sign("20150830T123600Z", "20150830/us-east-1/service/aws4_request", canonical);
  EXPECT_EQ(sts,
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n"
            "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63");
  EXPECT_EQ(signature(kSecret, "20150830", "us-east-1", "service", sts),
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
}

TEST(Route53SigV4, GetVanillaVerifies) {
  SignedRequest r = vanilla();
  r.headers.emplace_back("Authorization",
                         auth("service", "host;x-amz-date",
                              "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"));
  AuthResult a = verify(keys(), r, kSuiteTime, "service");
  EXPECT_TRUE(a.ok) << a.failure.code << ": " << a.failure.message;
  EXPECT_EQ(a.access_key_id, kId);
}

TEST(Route53SigV4, QueryOrderKeyCase) {
  SignedRequest r = vanilla();
  r.target = "/?Param2=value2&Param1=value1";
  r.headers.emplace_back("Authorization",
                         auth("service", "host;x-amz-date",
                              "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"));
  EXPECT_TRUE(verify(keys(), r, kSuiteTime, "service").ok);
}

constexpr char kBotoBody[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ChangeResourceRecordSetsRequest "
    "xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\"><ChangeBatch><Changes><Change>"
    "<Action>UPSERT</Action><ResourceRecordSet><Name>www.example.test</Name><Type>A</Type>"
    "<TTL>60</TTL><ResourceRecords><ResourceRecord><Value>192.0.2.1</Value></ResourceRecord>"
    "</ResourceRecords></ResourceRecordSet></Change></Changes></ChangeBatch>"
    "</ChangeResourceRecordSetsRequest>";

SignedRequest boto_post() {
  SignedRequest r;
  r.method = "POST";
  r.target = "/2013-04-01/hostedzone/Z0123456789ABCDEFGHIJ/rrset/";
  r.body = kBotoBody;
  r.headers = {
      {"Host", "127.0.0.1:8053"},
      {"Content-Type", "text/xml"},
      {"X-Amz-Date", "20150830T123600Z"},
      {"Authorization",
       auth("route53", "content-type;host;x-amz-date",
            "8915c48064de5e58bad435d74fabbd79819ccd5440433c22153d537764fccab3", "eu-west-3")}};
  return r;
}

TEST(Route53SigV4, BotocoreSignedPostWithAnyRegion) {
  AuthResult a = verify(keys(), boto_post(), kSuiteTime);
  EXPECT_TRUE(a.ok) << a.failure.code << ": " << a.failure.message;
}

TEST(Route53SigV4, BotocoreSignedQuery) {
  SignedRequest r;
  r.method = "GET";
  r.target = "/2013-04-01/hostedzone/Z1/rrset?name=%2A.example.test.&type=A&maxitems=2";
  r.headers = {
      {"Host", "127.0.0.1:8053"},
      {"X-Amz-Date", "20150830T123600Z"},
      {"Authorization", auth("route53", "host;x-amz-date",
                             "0dae90d334ca7f08e0bd51f37b6befba1a6a3e828fd00c31bd0f02a2a21bd8b9")}};
  EXPECT_TRUE(verify(keys(), r, kSuiteTime).ok);
}

TEST(Route53SigV4, Failures) {
  struct Case {
    const char* what;
    std::function<void(SignedRequest&, Route53Keys&, int64_t&)> mutate;
    unsigned status;
    std::string code;
  };
  const std::vector<Case> cases = {
      {"tampered body", [](SignedRequest& r, Route53Keys&, int64_t&) { r.body[200] = 'X'; }, 403,
       "SignatureDoesNotMatch"},
      {"wrong secret",
       [](SignedRequest&, Route53Keys& k, int64_t&) {
         k = Route53Keys();
         ASSERT_TRUE(k.add(kId, "not-the-secret"));
       },
       403, "SignatureDoesNotMatch"},
      {"unknown key",
       [](SignedRequest&, Route53Keys& k, int64_t&) {
         k = Route53Keys();
         ASSERT_TRUE(k.add("AKIDOTHER", kSecret));
       },
       403, "InvalidClientTokenId"},
      {"no authorization", [](SignedRequest& r, Route53Keys&, int64_t&) { r.headers.pop_back(); },
       403, "MissingAuthenticationToken"},
      {"16 minutes late", [](SignedRequest&, Route53Keys&, int64_t& now) { now += 16 * 60 * 1000; },
       403, "RequestExpired"},
      {"16 minutes early",
       [](SignedRequest&, Route53Keys&, int64_t& now) { now -= 16 * 60 * 1000; }, 403,
       "RequestExpired"},
      {"no signature",
       [](SignedRequest& r, Route53Keys&, int64_t&) {
         r.headers.back().second =
             "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/eu-west-3/route53/aws4_request, "
             "SignedHeaders=content-type;host;x-amz-date";
       },
       400, "IncompleteSignature"},
      {"SigV2",
       [](SignedRequest& r, Route53Keys&, int64_t&) { r.headers.back().second = "AWS x:y"; }, 400,
       "IncompleteSignature"},
      {"other service",
       [](SignedRequest& r, Route53Keys&, int64_t&) {
         r.headers.back().second =
             auth("s3", "content-type;host;x-amz-date",
                  "8915c48064de5e58bad435d74fabbd79819ccd5440433c22153d537764fccab3");
       },
       403, "SignatureDoesNotMatch"},
      {"host not signed",
       [](SignedRequest& r, Route53Keys&, int64_t&) {
         r.headers.back().second =
             auth("route53", "content-type;x-amz-date",
                  "8915c48064de5e58bad435d74fabbd79819ccd5440433c22153d537764fccab3");
       },
       400, "IncompleteSignature"},
      {"other host",
       [](SignedRequest& r, Route53Keys&, int64_t&) { r.headers[0].second = "127.0.0.1:9999"; },
       403, "SignatureDoesNotMatch"},
  };
  // Within the 15 minutes the same request still verifies.
  EXPECT_TRUE(verify(keys(), boto_post(), kSuiteTime + 14 * 60 * 1000).ok);
  for (const auto& c : cases) {
    SignedRequest r = boto_post();
    Route53Keys k = keys();
    int64_t now = kSuiteTime;
    c.mutate(r, k, now);
    AuthResult a = verify(k, r, now);
    EXPECT_FALSE(a.ok) << c.what;
    EXPECT_EQ(a.failure.status, c.status) << c.what;
    EXPECT_EQ(a.failure.code, c.code) << c.what << ": " << a.failure.message;
    EXPECT_FALSE(a.failure.message.empty()) << c.what;
  }
}

TEST(Route53SigV4, Keys) {
  Route53Keys k;
  EXPECT_TRUE(k.empty());
  EXPECT_FALSE(k.add("", "x"));
  EXPECT_FALSE(k.add("id", ""));
  EXPECT_FALSE(k.add("id", "with space"));
  EXPECT_TRUE(k.add("id", "s"));
  EXPECT_FALSE(k.add("id", "t"));
  EXPECT_EQ(k.describe(), "id");
  ASSERT_NE(k.secret("id"), nullptr);
  EXPECT_EQ(*k.secret("id"), "s");
  EXPECT_EQ(k.secret("other"), nullptr);

  unsetenv("STEERDNS_ACCESS_KEY_ID");
  unsetenv("STEERDNS_SECRET_ACCESS_KEY");
  auto none = Route53Keys::from_env();
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
  setenv("STEERDNS_ACCESS_KEY_ID", "AKID", 1);
  auto half = Route53Keys::from_env();
  EXPECT_FALSE(half);
  setenv("STEERDNS_SECRET_ACCESS_KEY", "secret", 1);
  auto both = Route53Keys::from_env();
  ASSERT_TRUE(both);
  EXPECT_EQ(both->describe(), "AKID");
  unsetenv("STEERDNS_ACCESS_KEY_ID");
  unsetenv("STEERDNS_SECRET_ACCESS_KEY");
}

TEST(Route53SigV4, UriEncode) {
  EXPECT_EQ(uri_encode("a b/c~d*", false), "a%20b%2Fc~d%2A");
  EXPECT_EQ(uri_encode("/2013-04-01/x%2A", true), "/2013-04-01/x%252A");
}

}  // namespace
}  // namespace steerdns::api::route53
