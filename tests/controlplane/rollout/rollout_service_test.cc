// RolloutService on its own, beside UpstreamService, without servers or
// agents: the hook into writes, abort's write-back, promote's rules and a
// restart, with a canary group chosen by label that no node is in yet.

#include "controlplane/rollout/rollout_service.h"

#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/controlplane/test_services.h"
#include "tests/testing/upstreams.h"

namespace nginx_xds {
namespace {

using nginx_xds::testing::MakeUpstream;
using ::testing::HasSubstr;

class RolloutServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(services_.upstreams()->Put("web", MakeUpstream("app", {"127.0.0.1:7001"})).ok());
  }

  absl::StatusOr<nginx_xds::v1::Rollout> StartByLabel(bool auto_promote = false) {
    nginx_xds::v1::StartRolloutRequest request;
    request.set_fleet("web");
    (*request.mutable_canary_labels())["role"] = "canary";
    request.set_auto_promote(auto_promote);
    return services_.rollouts()->StartRollout(request);
  }

  std::string Servers(const std::string& fleet) {
    std::string text;
    for (const auto& upstream : services_.upstreams()->List(fleet)) {
      for (const auto& server : upstream.servers()) text += server.address() + " ";
    }
    return text;
  }

  nginx_xds::testing::TestServices services_;
};

// Validate that a started rollout records the fleet's version as stable
// and that a write during it is answered for the canary group only
// (WriteResponse.canary), through UpstreamService's WriteWaiter hook.
TEST_F(RolloutServiceTest, WritesDuringARolloutWaitForTheCanaryOnly) {
  auto started = StartByLabel();
  ASSERT_TRUE(started.ok()) << started.status();
  EXPECT_EQ(started->state(), nginx_xds::v1::ROLLOUT_STATE_CANARY);
  EXPECT_EQ(started->stable_version(), 1u);
  auto write =
      services_.upstreams()->Put("web", MakeUpstream("app", {"127.0.0.1:7001", "127.0.0.1:7002"}));
  ASSERT_TRUE(write.ok()) << write.status();
  EXPECT_TRUE(write->canary());
  EXPECT_EQ(write->version(), 2u);
  EXPECT_EQ(services_.rollouts()->GetRollout("web")->canary_version(), 2u);
  // Another fleet has no rollout: its writes are the whole fleet's.
  auto other = services_.upstreams()->Put("api", MakeUpstream("app", {"127.0.0.1:7003"}));
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE(other->canary());
}

// Validate that the cache keeps non-canary nodes on the stable snapshot
// while the rollout is open, and that abort writes the stable upstreams back
// as a new version and unpins the fleet.
TEST_F(RolloutServiceTest, AbortWritesTheStableUpstreamsBack) {
  ASSERT_TRUE(StartByLabel().ok());
  ASSERT_TRUE(services_.upstreams()->Put("web", MakeUpstream("new", {"127.0.0.1:7009"})).ok());
  ASSERT_TRUE(services_.upstreams()->Put("web", MakeUpstream("app", {"127.0.0.1:7002"})).ok());
  EXPECT_EQ(services_.cache()->Watch("web", WatcherNode{"n1", {}}, {})->version(), 1u);

  auto aborted = services_.rollouts()->AbortRollout("web");
  ASSERT_TRUE(aborted.ok()) << aborted.status();
  EXPECT_EQ(aborted->rollout().state(), nginx_xds::v1::ROLLOUT_STATE_ABORTED);
  EXPECT_EQ(aborted->rollout().canary_version(), 4u);
  EXPECT_EQ(aborted->write().version(), 4u);
  EXPECT_EQ(services_.upstreams()->FleetVersion("web"), 4u);
  EXPECT_EQ(Servers("web"), "127.0.0.1:7001 ");
  EXPECT_EQ(services_.cache()->Watch("web", WatcherNode{"n2", {}}, {})->version(), 4u);
  // Closed: a second abort has nothing to abort.
  EXPECT_EQ(services_.rollouts()->AbortRollout("web").status().code(),
            absl::StatusCode::kFailedPrecondition);
}

// Validate that aborting a rollout without a write since its start writes
// nothing: the fleet stays at its stable version.
TEST_F(RolloutServiceTest, AbortWithoutAWriteKeepsTheVersion) {
  ASSERT_TRUE(StartByLabel().ok());
  auto aborted = services_.rollouts()->AbortRollout("web");
  ASSERT_TRUE(aborted.ok()) << aborted.status();
  EXPECT_EQ(aborted->rollout().canary_version(), 1u);
  EXPECT_EQ(services_.upstreams()->FleetVersion("web"), 1u);
}

// Validate promote's rules: nothing to promote without a write, no
// connected canary refuses without force, force promotes and unpins.
TEST_F(RolloutServiceTest, PromoteRules) {
  ASSERT_TRUE(StartByLabel().ok());
  EXPECT_THAT(services_.rollouts()->PromoteRollout("web", false).status().message(),
              HasSubstr("nothing to promote"));
  ASSERT_TRUE(services_.upstreams()->Put("web", MakeUpstream("app", {"127.0.0.1:7002"})).ok());
  auto refused = services_.rollouts()->PromoteRollout("web", false);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(refused.status().message(), HasSubstr("promote with force"));
  auto promoted = services_.rollouts()->PromoteRollout("web", true);
  ASSERT_TRUE(promoted.ok()) << promoted.status();
  EXPECT_EQ(promoted->rollout().state(), nginx_xds::v1::ROLLOUT_STATE_PROMOTED);
  EXPECT_EQ(promoted->write().version(), 2u);
  EXPECT_FALSE(promoted->write().canary());
  EXPECT_EQ(services_.cache()->Watch("web", WatcherNode{"n1", {}}, {})->version(), 2u);
}

// Validate the errors of StartRollout, each of which changes nothing.
TEST_F(RolloutServiceTest, StartErrors) {
  nginx_xds::v1::StartRolloutRequest request;
  request.set_fleet("web");
  EXPECT_EQ(services_.rollouts()->StartRollout(request).status().code(),
            absl::StatusCode::kInvalidArgument);
  request.add_canary_node_ids("nobody");
  EXPECT_EQ(services_.rollouts()->StartRollout(request).status().code(),
            absl::StatusCode::kNotFound);
  request.set_fleet("unwritten");
  (*request.mutable_canary_labels())["role"] = "canary";
  request.clear_canary_node_ids();
  EXPECT_THAT(services_.rollouts()->StartRollout(request).status().message(),
              HasSubstr("no version to roll out from"));
  EXPECT_TRUE(services_.rollouts()->Rollouts("").empty());
  ASSERT_TRUE(StartByLabel().ok());
  EXPECT_EQ(StartByLabel().status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(services_.rollouts()->Rollouts("").size(), 1u);
}

// Validate that an open rollout survives a restart: restored from the
// store, the fleet pinned again to its stable version.
TEST_F(RolloutServiceTest, RestartRestoresAndPins) {
  ASSERT_TRUE(StartByLabel().ok());
  ASSERT_TRUE(services_.upstreams()->Put("web", MakeUpstream("app", {"127.0.0.1:7002"})).ok());
  services_.Reopen();
  auto restored = services_.rollouts()->GetRollout("web");
  ASSERT_TRUE(restored.ok()) << restored.status();
  EXPECT_EQ(restored->state(), nginx_xds::v1::ROLLOUT_STATE_CANARY);
  EXPECT_EQ(restored->stable_version(), 1u);
  EXPECT_EQ(restored->canary_version(), 2u);
  const auto outside = services_.cache()->Watch("web", WatcherNode{"n1", {}}, {});
  EXPECT_EQ(outside->version(), 1u);
  ASSERT_NE(outside->Find("app"), nullptr);
  EXPECT_EQ(outside->Find("app")->upstream.servers(0).address(), "127.0.0.1:7001");
  const auto canary = services_.cache()->Watch("web", WatcherNode{"c", {{"role", "canary"}}}, {});
  EXPECT_EQ(canary->version(), 2u);
}

}  // namespace
}  // namespace nginx_xds
