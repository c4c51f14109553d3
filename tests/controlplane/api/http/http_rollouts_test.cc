// /rollouts without a socket (controlplane/api/http/http_rollouts): the
// endpoint's parameters, methods and answers, on the real RolloutService.

#include "controlplane/api/http/http_rollouts.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/controlplane/test_services.h"
#include "tests/testing/upstreams.h"

namespace nginx_xds {
namespace {

using nginx_xds::testing::MakeUpstream;
using ::testing::HasSubstr;
using ::testing::StartsWith;

class HttpRolloutsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(services_.upstreams()->Put("web", MakeUpstream("app", {"127.0.0.1:7001"})).ok());
  }

  HttpResponse Call(const std::string& method, const std::string& path,
                    std::vector<QueryParam> params = {}) {
    HttpRequest request;
    request.method = method;
    request.target = path;
    return http_.Handle(request, path, params);
  }

  nginx_xds::testing::TestServices services_;
  HttpRollouts http_{services_.rollouts()};
};

// Validate a rollout's life over HTTP: start by label, read it in text,
// abort it, with the write headers on abort's answer.
TEST_F(HttpRolloutsTest, StartReadAbort) {
  HttpResponse started = Call("POST", "/rollouts/web", {{"label", "role=canary"}});
  ASSERT_EQ(started.status, 200) << started.body;
  EXPECT_THAT(started.body, StartsWith("rollout of fleet web: CANARY, stable version 1"));
  EXPECT_THAT(Call("GET", "/rollouts/web").body, StartsWith("rollout of fleet web: CANARY"));
  HttpResponse aborted = Call("POST", "/rollouts/web/abort", {{"format", "json"}});
  ASSERT_EQ(aborted.status, 200) << aborted.body;
  EXPECT_EQ(aborted.content_type, "application/json");
  EXPECT_THAT(aborted.body, HasSubstr("\"state\":\"ABORTED\""));
  EXPECT_THAT(aborted.body, HasSubstr(",\"version\":1,\"acked_nodes\":0,\"connected_nodes\":0}"));
  bool has_version = false;
  for (const auto& [name, value] : aborted.headers) has_version |= name == "X-Xds-Version";
  EXPECT_TRUE(has_version);
}

// Validate the parameter rules: unknown, repeated and malformed parameters
// are 400s naming them, and nothing starts.
TEST_F(HttpRolloutsTest, ParameterErrors) {
  EXPECT_THAT(Call("POST", "/rollouts/web", {{"foo", "1"}}).body,
              HasSubstr("unknown parameter \"foo\""));
  EXPECT_THAT(Call("GET", "/rollouts", {{"format", "json"}, {"format", "text"}}).body,
              HasSubstr("parameter \"format\" is given more than once"));
  EXPECT_THAT(Call("GET", "/rollouts", {{"format", "xml"}}).body,
              HasSubstr("format \"xml\" is not json or text"));
  EXPECT_THAT(Call("POST", "/rollouts/web", {{"label", "novalue"}}).body,
              HasSubstr("label \"novalue\" is not KEY=VALUE"));
  EXPECT_THAT(Call("POST", "/rollouts/web", {{"nodes", "a,,b"}}).body,
              HasSubstr("has an empty node id"));
  EXPECT_THAT(Call("POST", "/rollouts/web/promote", {{"force", "maybe"}}).body,
              HasSubstr("force \"maybe\" is not true or false"));
  EXPECT_TRUE(services_.rollouts()->Rollouts("").empty());
}

// Validate methods and paths: POST on the list and GET on an action are
// 405s; an unknown action is a 404 listing the endpoints; a missing
// rollout is a 404 and promoting none a 409 (FAILED_PRECONDITION).
TEST_F(HttpRolloutsTest, MethodsAndPaths) {
  EXPECT_EQ(Call("POST", "/rollouts").status, 405);
  HttpResponse get_action = Call("GET", "/rollouts/web/promote");
  EXPECT_EQ(get_action.status, 405);
  EXPECT_THAT(get_action.body, StartsWith("405 Not Allowed\n"));
  EXPECT_THAT(Call("POST", "/rollouts/web/restart").body,
              HasSubstr("the rollout endpoints are /rollouts, /rollouts/FLEET"));
  EXPECT_EQ(Call("GET", "/rollouts/web").status, 404);
  EXPECT_EQ(Call("POST", "/rollouts/web/promote").status, 409);
}

}  // namespace
}  // namespace nginx_xds
