// The admin bearer token and the exposure rule (controlplane/api/admin_auth).

#include "controlplane/api/admin_auth.h"

#include "gtest/gtest.h"

namespace nginx_xds {
namespace {

// Validate that without a token every call passes and with one only
// "Bearer <token>" does (scheme case-insensitive), each refusal UNAUTHENTICATED.
TEST(AdminAuthTest, BearerTokenCheck) {
  EXPECT_TRUE(AdminAuth().Check("").ok());
  auto auth = AdminAuth::FromToken("0123456789abcdef-token");
  ASSERT_TRUE(auth.ok()) << auth.status();
  EXPECT_TRUE(auth->Check("Bearer 0123456789abcdef-token").ok());
  EXPECT_TRUE(auth->Check("bearer 0123456789abcdef-token").ok());
  for (const char* bad : {"", "Bearer", "Basic 0123456789abcdef-token",
                          "Bearer 0123456789abcdef-toke", "Bearer 0123456789abcdef-tokenX"}) {
    EXPECT_EQ(auth->Check(bad).code(), absl::StatusCode::kUnauthenticated) << bad;
  }
}

// Validate that a short or empty token is refused when it is configured.
TEST(AdminAuthTest, ShortTokenRefused) {
  EXPECT_EQ(AdminAuth::FromToken("").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(AdminAuth::FromToken("short").status().code(), absl::StatusCode::kInvalidArgument);
}

// Validate what counts as loopback: 127.0.0.0/8, [::1] and localhost; the
// wildcards and other addresses are exposed.
TEST(AdminAuthTest, LoopbackListen) {
  for (const char* local : {"127.0.0.1:80", "127.9.9.9:1", "[::1]:80", "localhost:80"}) {
    EXPECT_TRUE(IsLoopbackListen(local)) << local;
  }
  for (const char* exposed : {"0.0.0.0:80", "[::]:80", ":80", "10.0.0.1:80", "example.com:80"}) {
    EXPECT_FALSE(IsLoopbackListen(exposed)) << exposed;
  }
}

// Validate that an exposed admin listener needs a token, naming the flag,
// while loopback or an empty (off) listener does not.
TEST(AdminAuthTest, ExposureNeedsAToken) {
  const AdminAuth none;
  absl::Status exposed = CheckAdminExposure("http_listen", "0.0.0.0:8080", none);
  EXPECT_EQ(exposed.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(exposed.message().find("http_listen"), absl::string_view::npos);
  EXPECT_TRUE(CheckAdminExposure("http_listen", "127.0.0.1:8080", none).ok());
  EXPECT_TRUE(CheckAdminExposure("http_listen", "", none).ok());
  auto token = AdminAuth::FromToken("0123456789abcdef-token");
  ASSERT_TRUE(token.ok());
  EXPECT_TRUE(CheckAdminExposure("http_listen", "0.0.0.0:8080", *token).ok());
}

// Validate that ConstantTimeEquals is plain equality in its answers.
TEST(AdminAuthTest, ConstantTimeEquals) {
  EXPECT_TRUE(ConstantTimeEquals("secret", "secret"));
  EXPECT_FALSE(ConstantTimeEquals("secreT", "secret"));
  EXPECT_FALSE(ConstantTimeEquals("secret1", "secret"));
  EXPECT_FALSE(ConstantTimeEquals("", "secret"));
}

}  // namespace
}  // namespace nginx_xds
