// HttpApi without a socket: requests handed to Handle() as the gateway hands
// them over, answered by the real UpstreamService and RolloutService on a
// SQLite store. The byte-exact seed transcripts over real HTTP stay in
// http_gateway_test; this file checks routing, the fleet header and the
// status-code mapping of the handler itself.

#include "controlplane/api/http/http_api.h"

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

class HttpApiTest : public ::testing::Test {
 protected:
  HttpResponse Call(const std::string& method, const std::string& target,
                    const std::string& body = "", std::vector<std::string> fleets = {}) {
    HttpRequest request;
    request.method = method;
    request.target = target;
    request.body = body;
    request.fleet_headers = std::move(fleets);
    return api_.Handle(request);
  }

  nginx_xds::testing::TestServices services_;
  HttpApi api_{services_.upstreams(), services_.rollouts(), services_.registry()};
};

// Validate that a dyups POST stores the upstream through UpstreamService and
// that /list and /upstream/NAME read it back, in the default fleet.
TEST_F(HttpApiTest, DyupsWriteThenRead) {
  HttpResponse post = Call("POST", "/upstream/app", "server 127.0.0.1:7001;server 127.0.0.1:7002;");
  EXPECT_EQ(post.status, 200) << post.body;
  EXPECT_EQ(post.body, "success");
  EXPECT_EQ(Call("GET", "/list").body, "app\n");
  EXPECT_EQ(Call("GET", "/upstream/app").body, "server 127.0.0.1:7001\nserver 127.0.0.1:7002\n");
  ASSERT_TRUE(services_.upstreams()->Get("default", "app").ok());
}

// Validate that X-Xds-Fleet picks the fleet, and that a header given twice
// or naming a bad fleet is a 400 that changes nothing.
TEST_F(HttpApiTest, FleetHeader) {
  EXPECT_EQ(Call("POST", "/upstream/app", "server 127.0.0.1:7001;", {"web"}).status, 200);
  EXPECT_EQ(Call("GET", "/list", "", {"web"}).body, "app\n");
  EXPECT_EQ(Call("GET", "/list").status, 204);
  HttpResponse twice = Call("POST", "/upstream/x", "server 127.0.0.1:7001;", {"web", "api"});
  EXPECT_EQ(twice.status, 400);
  EXPECT_THAT(twice.body, HasSubstr("X-Xds-Fleet is given 2 times"));
  HttpResponse bad = Call("GET", "/list", "", {"a b"});
  EXPECT_EQ(bad.status, 400);
  EXPECT_THAT(bad.body, HasSubstr("fleet name \"a b\""));
  EXPECT_EQ(services_.upstreams()->FleetVersions().size(), 1u);
}

// Validate /dynamic's read of an upstream by zone, and that an unknown zone
// answers the error with its status line words first.
TEST_F(HttpApiTest, DynamicByZone) {
  ASSERT_TRUE(services_.upstreams()
                  ->Put("", MakeUpstream("backends", {"127.0.0.1:6001"}, "zone_for_backends"))
                  .ok());
  HttpResponse read = Call("GET", "/dynamic?upstream=zone_for_backends");
  EXPECT_EQ(read.status, 200);
  EXPECT_EQ(read.body, "server 127.0.0.1:6001;\n");
  HttpResponse missing = Call("GET", "/dynamic?upstream=nowhere");
  EXPECT_NE(missing.status, 200);
  EXPECT_THAT(missing.body, HasSubstr("nowhere"));
}

// Validate routing: an unknown path is a 404 listing the endpoints; a
// method an endpoint does not take is a 405 with nginx's words.
TEST_F(HttpApiTest, UnknownPathAndMethod) {
  HttpResponse missing = Call("GET", "/nothing");
  EXPECT_EQ(missing.status, 404);
  EXPECT_THAT(missing.body, StartsWith("404 Not Found\n"));
  EXPECT_THAT(missing.body, HasSubstr("/fleet/status, /rollouts, /metrics, /ui/ and /xds/bootstrap"));
  HttpResponse put = Call("PUT", "/fleet/status");
  EXPECT_EQ(put.status, 405);
  EXPECT_THAT(put.body, StartsWith("405 Not Allowed\n"));
}

// Validate that /readyz answers what the readiness check says (503 with its
// message when it fails) and /livez is 200 either way.
TEST_F(HttpApiTest, ReadinessAndLiveness) {
  EXPECT_EQ(Call("GET", "/readyz").status, 200);
  api_.set_readiness([] { return absl::UnavailableError("etcd store: read at 127.0.0.1:1"); });
  HttpResponse ready = Call("GET", "/readyz");
  EXPECT_EQ(ready.status, 503);
  EXPECT_THAT(ready.body, HasSubstr("not ready: etcd store: read at 127.0.0.1:1"));
  EXPECT_EQ(Call("GET", "/livez").status, 200);
  EXPECT_EQ(Call("POST", "/readyz").status, 405);
}

// Validate that /fleet/status answers the fleet status builder's fleets in
// text and JSON.
TEST_F(HttpApiTest, FleetStatusTextAndJson) {
  ASSERT_TRUE(services_.upstreams()->Put("web", MakeUpstream("app", {"127.0.0.1:7001"})).ok());
  EXPECT_EQ(Call("GET", "/fleet/status").body, "fleet web: version 1, 0 nodes, 0 connected\n");
  HttpResponse json = Call("GET", "/fleet/status?format=json");
  EXPECT_EQ(json.content_type, "application/json");
  EXPECT_EQ(json.body,
            "{\"fleets\":[{\"name\":\"web\",\"version\":1}],\"nodes\":[],\"rollouts\":[]}\n");
}

// Validate that /rollouts goes to RolloutService: a missing rollout is 404
// (NOT_FOUND), a second start is 409 (ALREADY_EXISTS), and a started one is
// listed.
TEST_F(HttpApiTest, RolloutsThroughRolloutService) {
  ASSERT_TRUE(services_.upstreams()->Put("web", MakeUpstream("app", {"127.0.0.1:7001"})).ok());
  EXPECT_EQ(Call("GET", "/rollouts/web").status, 404);
  HttpResponse started = Call("POST", "/rollouts/web?label=role=canary&format=json");
  EXPECT_EQ(started.status, 200) << started.body;
  EXPECT_THAT(started.body, HasSubstr("\"state\":\"CANARY\""));
  EXPECT_EQ(Call("POST", "/rollouts/web?label=role=canary").status, 409);
  EXPECT_THAT(Call("GET", "/rollouts").body, HasSubstr("web"));
  ASSERT_TRUE(services_.rollouts()->GetRollout("web").ok());
}

}  // namespace
}  // namespace nginx_xds
