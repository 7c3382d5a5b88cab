#include "api/auth.h"

#include <gtest/gtest.h>
#include <stdlib.h>

namespace steerdns::api {
namespace {

unsigned status_of(const Auth& a, std::string_view header, bool loopback = true) {
  try {
    (void)a.authenticate(header, loopback);
  } catch (const HttpError& e) {
    return e.status();
  }
  return 200;
}

TEST(AuthTest, NoCredentialsMeansLoopbackOnly) {
  Auth a;
  EXPECT_FALSE(a.has_credentials());
  Principal p = a.authenticate("", true);
  EXPECT_EQ(p.name, "loopback");
  EXPECT_TRUE(p.can_write);
  EXPECT_EQ(status_of(a, "", false), 403u);
  EXPECT_EQ(status_of(a, "Bearer anything", false), 403u);
}

TEST(AuthTest, BearerTokens) {
  Auth a;
  ASSERT_TRUE(a.add_token("ops", "s3cret-rw", true));
  ASSERT_TRUE(a.add_token("viewer", "s3cret-ro", false));
  EXPECT_EQ(a.describe(), "ops (read-write), viewer (read-only)");

  Principal p = a.authenticate("Bearer s3cret-rw", true);
  EXPECT_EQ(p.name, "ops");
  EXPECT_TRUE(p.can_write);
  p = a.authenticate("bearer   s3cret-ro", false);  // scheme case-insensitive; remote is fine
  EXPECT_EQ(p.name, "viewer");
  EXPECT_FALSE(p.can_write);

  EXPECT_EQ(status_of(a, ""), 401u);
  EXPECT_EQ(status_of(a, "Bearer"), 401u);
  EXPECT_EQ(status_of(a, "Bearer "), 401u);
  EXPECT_EQ(status_of(a, "Basic b3BzOnMzY3JldA=="), 401u);
  EXPECT_EQ(status_of(a, "Bearer s3cret-r"), 401u);   // a prefix
  EXPECT_EQ(status_of(a, "Bearer s3cret-rwx"), 401u); // longer
  EXPECT_EQ(status_of(a, "Bearer S3CRET-RW"), 401u);  // secrets are case-sensitive
  try {
    (void)a.authenticate("", true);
  } catch (const HttpError& e) {
    EXPECT_STREQ(e.what(), "missing credentials: send 'Authorization: Bearer TOKEN'");
  }
}

TEST(AuthTest, BadTokensRejected) {
  Auth a;
  auto st = a.add_token("x", "", true);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error(), "token 'x' is empty");
  st = a.add_token("x", "has space", true);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error(), "token 'x' contains whitespace or control characters");
  ASSERT_TRUE(a.add_token("x", "one", true));
  st = a.add_token("x", "two", true);
  EXPECT_EQ(st.error(), "token name 'x' is used twice");
  st = a.add_token("y", "one", false);
  EXPECT_EQ(st.error(), "token 'y' has the same secret as token 'x'");
  EXPECT_EQ(a.describe(), "x (read-write)");
}

class EnvTest : public ::testing::Test {
 protected:
  void SetUp() override {
    unsetenv("STEERDNS_API_TOKEN");
    unsetenv("STEERDNS_API_READ_TOKEN");
  }
  void TearDown() override { SetUp(); }
};

TEST_F(EnvTest, FromEnv) {
  auto a = Auth::from_env();
  ASSERT_TRUE(a);
  EXPECT_FALSE(a->has_credentials());

  setenv("STEERDNS_API_TOKEN", "rw-token", 1);
  setenv("STEERDNS_API_READ_TOKEN", "ro-token", 1);
  a = Auth::from_env();
  ASSERT_TRUE(a) << a.error();
  EXPECT_EQ(a->describe(), "env (read-write), env-read (read-only)");
  EXPECT_EQ(a->authenticate("Bearer ro-token", true).name, "env-read");
  EXPECT_TRUE(a->authenticate("Bearer rw-token", true).can_write);
}

TEST_F(EnvTest, EmptyVariableIsAnError) {
  setenv("STEERDNS_API_TOKEN", "", 1);
  auto a = Auth::from_env();
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error(), "STEERDNS_API_TOKEN: token 'env' is empty");
}

}  // namespace
}  // namespace steerdns::api

namespace steerdns::api {
namespace {

TEST(ResolveSecretTest, InlineOrFromTheEnvironmentExactlyOne) {
  auto inline_secret = resolve_secret("s3cret", "");
  ASSERT_TRUE(inline_secret) << inline_secret.error();
  EXPECT_EQ(*inline_secret, "s3cret");

  ::setenv("STEERDNS_TEST_RESOLVE_SECRET", "from-env", 1);
  auto env = resolve_secret("", "STEERDNS_TEST_RESOLVE_SECRET");
  ASSERT_TRUE(env) << env.error();
  EXPECT_EQ(*env, "from-env");
  ::unsetenv("STEERDNS_TEST_RESOLVE_SECRET");

  auto unset = resolve_secret("", "STEERDNS_TEST_RESOLVE_SECRET");
  ASSERT_FALSE(unset);
  EXPECT_EQ(unset.error(), "environment variable STEERDNS_TEST_RESOLVE_SECRET is not set");
  auto both = resolve_secret("x", "X");
  ASSERT_FALSE(both);
  EXPECT_EQ(both.error(), "give exactly one of secret and secret_env");
  auto neither = resolve_secret("", "");
  ASSERT_FALSE(neither);
  EXPECT_EQ(neither.error(), "give exactly one of secret and secret_env");
}

}  // namespace
}  // namespace steerdns::api
