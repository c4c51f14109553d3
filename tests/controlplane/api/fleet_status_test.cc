// The one fleet status (controlplane/api/fleet_status) behind
// GetFleetStatus, WatchFleetStatus and GET /fleet/status.

#include "controlplane/api/fleet_status.h"

#include "gtest/gtest.h"
#include "tests/controlplane/test_services.h"
#include "tests/testing/upstreams.h"

namespace nginx_xds {
namespace {

using nginx_xds::testing::MakeUpstream;

class FleetStatusTest : public ::testing::Test {
 protected:
  nginx_xds::v1::FleetStatus Build(const std::string& fleet) {
    return BuildFleetStatus(*services_.registry(), *services_.upstreams(), *services_.rollouts(),
                            fleet);
  }
  nginx_xds::testing::TestServices services_;
};

// Validate that "" lists every written fleet, nodes or not, with its
// version, and a named fleet lists that fleet alone, 0 when never written.
TEST_F(FleetStatusTest, WrittenFleetsWithoutNodesAreListed) {
  ASSERT_TRUE(services_.upstreams()->Put("web", MakeUpstream("a", {"127.0.0.1:7001"})).ok());
  ASSERT_TRUE(services_.upstreams()->Put("api", MakeUpstream("a", {"127.0.0.1:7001"})).ok());
  ASSERT_TRUE(services_.upstreams()->Put("api", MakeUpstream("b", {"127.0.0.1:7002"})).ok());
  const auto all = Build("");
  ASSERT_EQ(all.fleet_versions_size(), 2);
  EXPECT_EQ(all.fleet_versions().at("web"), 1u);
  // One version counter for every fleet.
  EXPECT_EQ(all.fleet_versions().at("api"), 3u);
  const auto one = Build("nowhere");
  ASSERT_EQ(one.fleet_versions_size(), 1);
  EXPECT_EQ(one.fleet_versions().at("nowhere"), 0u);
}

// Validate that the status carries the rollouts of the fleets it lists.
TEST_F(FleetStatusTest, CarriesTheRollouts) {
  ASSERT_TRUE(services_.upstreams()->Put("web", MakeUpstream("a", {"127.0.0.1:7001"})).ok());
  nginx_xds::v1::StartRolloutRequest start;
  start.set_fleet("web");
  (*start.mutable_canary_labels())["role"] = "canary";
  ASSERT_TRUE(services_.rollouts()->StartRollout(start).ok());
  ASSERT_EQ(Build("").rollouts_size(), 1);
  EXPECT_EQ(Build("web").rollouts(0).fleet(), "web");
  EXPECT_EQ(Build("api").rollouts_size(), 0);
}

}  // namespace
}  // namespace nginx_xds
