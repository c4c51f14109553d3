// The stateless rules of staged rollouts (controlplane/rollout/rollout):
// who is in the canary group, how far it got, when it halts, and how a
// rollout reads in text. RolloutService and the APIs are tested in
// rollout_service_test and rollout_e2e_test.

#include "controlplane/rollout/rollout.h"

#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"

namespace nginx_xds {
namespace {

using nginx_xds::v1::Rollout;
using ::testing::HasSubstr;

template <typename T>
T Parse(const std::string& text) {
  T message;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &message)) << text;
  return message;
}

// Validate the canary group check: a group is needed, ids may not be empty
// or too long, label keys may not be empty.
TEST(ValidateCanaryGroupTest, NeedsAGroupOfValidIdsAndLabels) {
  nginx_xds::v1::StartRolloutRequest request;
  EXPECT_THAT(ValidateCanaryGroup(request).message(), HasSubstr("needs a canary group"));
  request.add_canary_node_ids("n1");
  EXPECT_TRUE(ValidateCanaryGroup(request).ok());
  request.add_canary_node_ids("");
  EXPECT_THAT(ValidateCanaryGroup(request).message(), HasSubstr("empty node id"));
  request.clear_canary_node_ids();
  request.add_canary_node_ids(std::string(300, 'x'));
  EXPECT_THAT(ValidateCanaryGroup(request).message(), HasSubstr("is longer than"));
  request.clear_canary_node_ids();
  (*request.mutable_canary_labels())[""] = "v";
  EXPECT_THAT(ValidateCanaryGroup(request).message(), HasSubstr("empty key"));
}

// Validate membership: by id, or by carrying every one of the labels.
TEST(InCanaryGroupTest, ByIdOrEveryLabel) {
  const auto rollout = Parse<Rollout>(R"pb(
    canary_node_ids: "n1"
    canary_labels { key: "zone" value: "a" }
    canary_labels { key: "tier" value: "edge" }
  )pb");
  EXPECT_TRUE(InCanaryGroup(rollout, WatcherNode{"n1", {}}));
  EXPECT_TRUE(InCanaryGroup(rollout, WatcherNode{"n2", {{"zone", "a"}, {"tier", "edge"}}}));
  EXPECT_FALSE(InCanaryGroup(rollout, WatcherNode{"n3", {{"zone", "a"}}}));
  EXPECT_FALSE(InCanaryGroup(rollout, WatcherNode{"n4", {{"zone", "b"}, {"tier", "edge"}}}));
}

// Validate the canary's progress: members by id and by the labels of live
// streams, connected and acked counts against the canary version, and only
// NACKs newer than the stable version.
TEST(FillCanaryProgressTest, CountsMembersFromIdsAndLabels) {
  auto rollout = Parse<Rollout>(R"pb(
    fleet: "web"
    stable_version: 3
    canary_version: 5
    canary_node_ids: "n1"
    canary_labels { key: "role" value: "canary" }
  )pb");
  const auto status = Parse<nginx_xds::v1::FleetStatus>(R"pb(
    nodes { id: "n1" fleet: "web" connected: true acked_version: 5 }
    nodes {
      id: "n2"
      fleet: "web"
      connected: true
      acked_version: 3
      last_nack { version: 2 message: "old" }
    }
    nodes { id: "n3" fleet: "web" connected: true acked_version: 3 }
  )pb");
  FillCanaryProgress(status, {WatcherNode{"n2", {{"role", "canary"}}}, WatcherNode{"n3", {}}},
                     &rollout);
  ASSERT_EQ(rollout.canary_nodes_size(), 2);
  EXPECT_EQ(rollout.canary_nodes(0).id(), "n1");
  EXPECT_EQ(rollout.canary_nodes(1).id(), "n2");
  EXPECT_FALSE(rollout.canary_nodes(1).has_last_nack());
  EXPECT_EQ(rollout.canary_connected(), 2u);
  EXPECT_EQ(rollout.canary_acked(), 1u);
}

// Validate when a canary halts a rollout: a whole NACK newer than what the
// node runs does; one a later ACK superseded does not.
TEST(CanaryRejectionTest, WholeNackNotSuperseded) {
  const auto halted = Parse<Rollout>(R"pb(
    canary_nodes {
      id: "n1"
      acked_version: 4
      last_nack { node: "n1" version: 5 message: "bad" }
    }
  )pb");
  ASSERT_TRUE(CanaryRejection(halted));
  EXPECT_EQ(CanaryRejection(halted)->message(), "bad");
  const auto recovered = Parse<Rollout>(R"pb(
    canary_nodes {
      id: "n1"
      acked_version: 6
      last_nack { node: "n1" version: 5 message: "bad" }
    }
  )pb");
  EXPECT_FALSE(CanaryRejection(recovered));
}

// Validate that a canary rejecting single upstreams halts the rollout with
// a rejection naming each of them.
TEST(CanaryRejectionTest, RejectedUpstreamsHalt) {
  const auto rollout = Parse<Rollout>(R"pb(
    canary_nodes {
      id: "n1"
      acked_version: 5
      rejected_upstreams { name: "app" message: "no zone" version: 5 }
    }
  )pb");
  auto rejection = CanaryRejection(rollout);
  ASSERT_TRUE(rejection);
  EXPECT_EQ(rejection->node(), "n1");
  EXPECT_EQ(rejection->message(), "upstream \"app\": no zone");
  ASSERT_EQ(rejection->upstreams_size(), 1);
}

// Validate the text form: one line for the rollout, one for the halt, one
// per canary node, each indented.
TEST(RolloutTextTest, LinesForRolloutHaltAndNodes) {
  const auto rollout = Parse<Rollout>(R"pb(
    fleet: "web"
    state: ROLLOUT_STATE_HALTED
    stable_version: 3
    canary_version: 5
    canary_node_ids: "n1"
    canary_acked: 0
    canary_connected: 1
    halt { node: "n1" version: 5 message: "bad" }
    canary_nodes { id: "n1" connected: true acked_version: 3 }
  )pb");
  EXPECT_EQ(RolloutText(rollout, "  "),
            "  rollout of fleet web: HALTED, stable version 3, canary version 5, 0 of 1 "
            "connected canary nodes acked, canary node n1\n"
            "    halted: node n1 rejected version 5: bad\n"
            "    canary node n1: connected, acked version 3\n");
  EXPECT_EQ(RolloutStateName(nginx_xds::v1::ROLLOUT_STATE_PROMOTED), "PROMOTED");
}

// Validate that a label on the node's metadata puts it in the canary group
// (the cache's routing, without a stream).
TEST(SnapshotCachePinTest, LabelSelectsTheCanary) {
  SnapshotCache cache;
  auto v1 = std::make_shared<const Snapshot>(1, Snapshot::UpstreamMap());
  auto v2 = std::make_shared<const Snapshot>(2, Snapshot::UpstreamMap());
  cache.Publish("web", v1);
  Rollout rollout;
  (*rollout.mutable_canary_labels())["group"] = "canary";
  cache.Pin("web", v1, CanaryGroupOf(rollout));
  cache.Publish("web", v2);
  struct Sink : SnapshotWatcher {
    void OnSnapshot(std::shared_ptr<const Snapshot>) override {}
  };
  auto sink = std::make_shared<Sink>();
  EXPECT_EQ(cache.Watch("web", WatcherNode{"a", {{"group", "canary"}}}, sink)->version(), 2u);
  EXPECT_EQ(cache.Watch("web", WatcherNode{"b", {{"group", "other"}}}, sink)->version(), 1u);
  EXPECT_EQ(cache.Watch("web", WatcherNode{"c", {}}, sink)->version(), 1u);
  cache.Unpin("web");
  EXPECT_EQ(cache.Watch("web", WatcherNode{"d", {}}, sink)->version(), 2u);
}

}  // namespace
}  // namespace nginx_xds
