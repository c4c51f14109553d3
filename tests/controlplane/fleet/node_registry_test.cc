// NodeRegistry::WaitForFleet: a write's wait for its fleet ends exactly when
// every connected node of that fleet has acknowledged or rejected the
// version, whatever nodes connect, leave or move meanwhile.
#include "controlplane/fleet/node_registry.h"

#include <chrono>
#include <future>
#include <set>
#include <string>

#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace nginx_xds {
namespace {

constexpr char kClusters[] = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
constexpr char kAssignments[] =
    "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment";

class NodeRegistryTest : public ::testing::Test {
 protected:
  void Connect(const std::string& id, const std::string& fleet = "edge") {
    ASSERT_TRUE(registry_.StreamOpened(id, fleet, "test").ok());
    registry_.Subscribed(id, kClusters);
    registry_.Subscribed(id, kAssignments);
  }
  void Ack(const std::string& id, uint64_t version) {
    registry_.Acked(id, kClusters, version);
    registry_.Acked(id, kAssignments, version);
  }
  // The fleet's progress on `version` now, without waiting.
  NodeRegistry::Progress Now(uint64_t version, const std::string& fleet = "edge") {
    return registry_.WaitForFleet(fleet, version, absl::Now());
  }
  // Waits in another thread, as a write does, without a deadline: a wait
  // that does not end when the fleet settles hangs the test until Bazel's
  // timeout fails it.
  // Returns once the wait has begun, so what the test does next happens
  // during it. An already settled fleet may end it at once.
  std::future<NodeRegistry::Progress> WaitInBackground(uint64_t version,
                                                       const std::string& fleet = "edge") {
    const size_t before = registry_.waiting();
    auto wait = std::async(std::launch::async, [this, version, fleet] {
      return registry_.WaitForFleet(fleet, version, absl::InfiniteFuture());
    });
    for (int i = 0; i < 20000 && registry_.waiting() == before; ++i) {
      if (wait.wait_for(std::chrono::seconds(0)) == std::future_status::ready) break;
      absl::SleepFor(absl::Microseconds(100));
    }
    return wait;
  }

  NodeRegistry registry_;
};

// The RejectedUpstream a NACK carries: a name and a reason.
nginx_xds::v1::RejectedUpstream Rejected(const std::string& name, const std::string& message) {
  nginx_xds::v1::RejectedUpstream rejected;
  rejected.set_name(name);
  rejected.set_message(message);
  return rejected;
}

// Validate the registry records the upstreams a node rejects alone (name,
// reason, the version their run started at, the newest version), counts such
// a NACK as applied for every other upstream, and a later whole ACK clears
// them.
TEST_F(NodeRegistryTest, RecordsUpstreamsRejectedAlone) {
  Connect("a");
  Ack("a", 3);
  for (const char* type : {kClusters, kAssignments}) {
    registry_.Nacked("a", type, 4, "upstream \"Bad\": zone full", {Rejected("Bad", "zone full")});
  }
  for (const char* type : {kClusters, kAssignments}) {
    registry_.Nacked("a", type, 5, "upstream \"Bad\": zone full", {Rejected("Bad", "zone full")});
  }
  auto status = registry_.Status("edge");
  ASSERT_EQ(status.nodes_size(), 1);
  const auto& node = status.nodes(0);
  EXPECT_EQ(node.acked_version(), 5u);
  ASSERT_EQ(node.rejected_upstreams_size(), 1);
  EXPECT_EQ(node.rejected_upstreams(0).name(), "Bad");
  EXPECT_EQ(node.rejected_upstreams(0).message(), "zone full");
  EXPECT_EQ(node.rejected_upstreams(0).since_version(), 4u);
  EXPECT_EQ(node.rejected_upstreams(0).version(), 5u);
  EXPECT_EQ(node.last_nack().upstreams_size(), 1);
  // A new stream's version_info (the last version taken whole) clears nothing.
  Ack("a", 3);
  EXPECT_EQ(registry_.Status("edge").nodes(0).rejected_upstreams_size(), 1);
  Ack("a", 6);
  EXPECT_EQ(registry_.Status("edge").nodes(0).rejected_upstreams_size(), 0);
}

// Validate a write's wait counts a node that rejected only other upstreams as
// acknowledged, and one rejecting the write's own upstream as a rejection
// naming it (the key is case-insensitive, as upstream names are).
TEST_F(NodeRegistryTest, WaitCountsRejectionsOfTheWritesOwnUpstreamOnly) {
  Connect("a");
  Connect("b");
  Ack("b", 7);
  auto other = std::async(std::launch::async, [this] {
    const std::set<std::string> changed = {"host2"};
    return registry_.WaitForFleet("edge", 7, absl::InfiniteFuture(), &changed);
  });
  for (const char* type : {kClusters, kAssignments}) {
    registry_.Nacked("a", type, 7, "upstream \"onlybackup\": no servers but backups",
                     {Rejected("onlybackup", "no servers but backups")});
  }
  NodeRegistry::Progress progress = other.get();
  EXPECT_EQ(progress.connected, 2u);
  EXPECT_EQ(progress.acked, 2u);
  EXPECT_TRUE(progress.rejections.empty());

  const std::set<std::string> own = {"onlybackup"};
  progress = registry_.WaitForFleet("edge", 7, absl::Now(), &own);
  EXPECT_EQ(progress.acked, 1u);
  ASSERT_EQ(progress.rejections.size(), 1u);
  EXPECT_EQ(progress.rejections[0].node(), "a");
  EXPECT_EQ(progress.rejections[0].message(), "upstream \"onlybackup\": no servers but backups");
  // Without the write's upstreams every rejected upstream counts.
  EXPECT_EQ(Now(7).rejections.size(), 1u);
}

// Validate a NACK naming single upstreams settles a wait only once every
// type has answered, as it counts as acknowledged.
TEST_F(NodeRegistryTest, PartialNackSettlesWhenEveryTypeAnswered) {
  Connect("a");
  const std::set<std::string> changed = {"other"};
  const size_t before = registry_.waiting();
  auto wait = std::async(std::launch::async, [&] {
    return registry_.WaitForFleet("edge", 2, absl::InfiniteFuture(), &changed);
  });
  while (registry_.waiting() == before) absl::SleepFor(absl::Microseconds(100));
  registry_.Nacked("a", kClusters, 2, "x", {Rejected("x", "bad")});
  // Half answered: neither acknowledged nor rejected yet.
  NodeRegistry::Progress half = registry_.WaitForFleet("edge", 2, absl::Now(), &changed);
  EXPECT_EQ(half.acked, 0u);
  EXPECT_TRUE(half.rejections.empty());
  EXPECT_EQ(registry_.waiting(), before + 1);
  registry_.Nacked("a", kAssignments, 2, "x", {Rejected("x", "bad")});
  NodeRegistry::Progress done = wait.get();
  EXPECT_EQ(done.acked, 1u);
  EXPECT_TRUE(done.rejections.empty());
}

// Validate that a fleet without connected nodes is not waited for.
TEST_F(NodeRegistryTest, NoConnectedNodeMeansNothingToWaitFor) {
  NodeRegistry::Progress progress = WaitInBackground(7).get();
  EXPECT_EQ(progress.connected, 0u);
  EXPECT_EQ(progress.acked, 0u);
}

// Validate that a wait ends once every connected node ACKed the version
// or a newer one; an older ACK does not count.
TEST_F(NodeRegistryTest, WaitEndsWhenEveryConnectedNodeAcked) {
  for (const char* id : {"a", "b", "c"}) Connect(id);
  auto wait = WaitInBackground(5);
  Ack("a", 5);
  Ack("b", 6);  // newer counts
  EXPECT_EQ(Now(5).acked, 2u);
  Ack("c", 4);  // older does not
  EXPECT_EQ(Now(5).acked, 2u);
  Ack("c", 5);
  NodeRegistry::Progress progress = wait.get();
  EXPECT_EQ(progress.connected, 3u);
  EXPECT_EQ(progress.acked, 3u);
  EXPECT_TRUE(progress.rejections.empty());
}

// Validate that a node counts as acknowledged only once both resource
// types are ACKed at the version.
TEST_F(NodeRegistryTest, ANodeAckedOnlyOneTypeHasNotTakenTheVersion) {
  Connect("a");
  auto wait = WaitInBackground(3);
  registry_.Acked("a", kClusters, 3);
  EXPECT_EQ(Now(3).acked, 0u);
  registry_.Acked("a", kAssignments, 3);
  EXPECT_EQ(wait.get().acked, 1u);
}

// Validate that a NACK settles its node for the wait and is reported with
// the node and its reason.
TEST_F(NodeRegistryTest, RejectionSettlesTheNodeAndIsReported) {
  Connect("a");
  Connect("b");
  auto wait = WaitInBackground(9);
  Ack("a", 9);
  registry_.Nacked("b", kAssignments, 9, "zone is full");
  NodeRegistry::Progress progress = wait.get();
  EXPECT_EQ(progress.connected, 2u);
  EXPECT_EQ(progress.acked, 1u);
  ASSERT_EQ(progress.rejections.size(), 1u);
  EXPECT_EQ(progress.rejections[0].node(), "b");
  EXPECT_EQ(progress.rejections[0].message(), "zone is full");
}

// Validate that a node whose stream closes is no longer waited for.
TEST_F(NodeRegistryTest, ANodeThatLeavesIsNoLongerWaitedFor) {
  Connect("a");
  Connect("b");
  auto wait = WaitInBackground(2);
  Ack("a", 2);
  registry_.StreamClosed("b");
  NodeRegistry::Progress progress = wait.get();
  EXPECT_EQ(progress.connected, 1u);
  EXPECT_EQ(progress.acked, 1u);
}

// Validate that a node that connects during a wait is waited for too.
TEST_F(NodeRegistryTest, ANodeThatJoinsDuringTheWaitIsWaitedFor) {
  Connect("a");
  auto wait = WaitInBackground(4);
  Connect("late");
  Ack("a", 4);
  EXPECT_EQ(Now(4).connected, 2u);
  EXPECT_EQ(Now(4).acked, 1u);
  Ack("late", 4);
  NodeRegistry::Progress progress = wait.get();
  EXPECT_EQ(progress.connected, 2u);
  EXPECT_EQ(progress.acked, 2u);
}

// Validate that a node with two streams (a reload's old and new worker)
// counts once and stays connected until both close.
TEST_F(NodeRegistryTest, ANodeWithTwoStreamsCountsOnceAndStaysUntilBothClose) {
  Connect("a");
  ASSERT_TRUE(registry_.StreamOpened("a", "edge", "test").ok());  // a reload's new worker
  Connect("b");
  auto wait = WaitInBackground(8);
  registry_.StreamClosed("a");  // one of its two streams
  Ack("b", 8);
  EXPECT_EQ(Now(8).connected, 2u);
  registry_.StreamClosed("a");
  NodeRegistry::Progress progress = wait.get();
  EXPECT_EQ(progress.connected, 1u);
  EXPECT_EQ(progress.acked, 1u);
}

// Validate that a node reconnecting in another fleet leaves the first
// fleet's wait.
TEST_F(NodeRegistryTest, ANodeMovingToAnotherFleetLeavesThisOnesWait) {
  Connect("a");
  Connect("mover");
  auto wait = WaitInBackground(6);
  Ack("a", 6);
  registry_.StreamClosed("mover");
  registry_.StreamOpened("mover", "other", "test");
  NodeRegistry::Progress progress = wait.get();
  EXPECT_EQ(progress.connected, 1u);
  EXPECT_EQ(progress.acked, 1u);
  EXPECT_EQ(Now(6, "other").connected, 1u);
  EXPECT_EQ(Now(6, "other").acked, 0u);
}

// Validate that concurrent waits for different fleets and versions each
// end on their own condition.
TEST_F(NodeRegistryTest, ConcurrentWaitsForFleetsAndVersionsEachEndOnTheirOwn) {
  Connect("a");
  Connect("x", "other");
  auto edge_old = WaitInBackground(1);
  auto edge_new = WaitInBackground(2);
  auto other = WaitInBackground(1, "other");
  Ack("a", 1);
  EXPECT_EQ(edge_old.get().acked, 1u);
  Ack("x", 1);
  EXPECT_EQ(other.get().acked, 1u);
  EXPECT_EQ(Now(2).acked, 0u);
  Ack("a", 2);
  EXPECT_EQ(edge_new.get().acked, 1u);
}

// Validates that a stream cannot move a connected node to another fleet:
// refused with FAILED_PRECONDITION, the node stays where it is.
TEST_F(NodeRegistryTest, SecondStreamClaimingAnotherFleetIsRefused) {
  Connect("a");
  absl::Status refused = registry_.StreamOpened("a", "other", "test");
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(refused.message(),
            "node \"a\" is connected in fleet \"edge\"; another stream of it cannot claim "
            "fleet \"other\" (node ids must be unique; a node changes fleets once its streams "
            "are closed)");
  auto status = registry_.Status("");
  ASSERT_EQ(status.nodes_size(), 1);
  EXPECT_EQ(status.nodes(0).fleet(), "edge");
  EXPECT_EQ(status.nodes(0).streams(), 1u);
  EXPECT_EQ(registry_.refused_streams(), 1u);
}

// Validates the per-node stream limit: beyond it RESOURCE_EXHAUSTED, and a
// closed stream makes room again.
TEST(NodeRegistryLimitsTest, StreamsPerNodeAreBounded) {
  NodeRegistry::Options options;
  options.max_streams_per_node = 2;
  NodeRegistry registry(options);
  ASSERT_TRUE(registry.StreamOpened("a", "edge", "test").ok());
  ASSERT_TRUE(registry.StreamOpened("a", "edge", "test").ok());
  EXPECT_EQ(registry.StreamOpened("a", "edge", "test").code(),
            absl::StatusCode::kResourceExhausted);
  registry.StreamClosed("a");
  EXPECT_TRUE(registry.StreamOpened("a", "edge", "test").ok());
}

// Validates that a node without a stream for longer than forget_nodes_after
// leaves fleet status and is counted as forgotten; a connected one stays.
TEST(NodeRegistryLimitsTest, DepartedNodesAreForgotten) {
  NodeRegistry::Options options;
  options.forget_nodes_after = absl::Milliseconds(50);
  NodeRegistry registry(options);
  ASSERT_TRUE(registry.StreamOpened("gone", "edge", "test").ok());
  ASSERT_TRUE(registry.StreamOpened("here", "edge", "test").ok());
  registry.StreamClosed("gone");
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (registry.Status("").nodes_size() != 1 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  auto status = registry.Status("");
  ASSERT_EQ(status.nodes_size(), 1);
  EXPECT_EQ(status.nodes(0).id(), "here");
  while (registry.forgotten() == 0 && absl::Now() < deadline) {
    ASSERT_TRUE(registry.StreamOpened("probe", "edge", "test").ok());  // sweeps
    registry.StreamClosed("probe");
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_GE(registry.forgotten(), 1u);
}

// Validates the lagging rule: a node that does not answer a write within
// its wait is marked lagging at that version, later writes neither wait for
// it nor count it as connected, and its answer clears the mark.
TEST_F(NodeRegistryTest, NodeThatMissedAWaitNoLongerHoldsWrites) {
  Connect("fast");
  Connect("slow");
  Ack("fast", 5);
  NodeRegistry::Progress first =
      registry_.WaitForFleet("edge", 5, absl::Now() + absl::Milliseconds(20));
  EXPECT_EQ(first.connected, 2u);
  EXPECT_EQ(first.acked, 1u);
  auto status = registry_.Status("edge");
  ASSERT_EQ(status.nodes_size(), 2);
  EXPECT_EQ(status.nodes(1).id(), "slow");
  EXPECT_EQ(status.nodes(1).lagging_at_version(), 5u);

  // Without a deadline: a wait that still waited for "slow" would hang.
  auto next = WaitInBackground(6);
  Ack("fast", 6);
  NodeRegistry::Progress second = next.get();
  EXPECT_EQ(second.connected, 1u);
  EXPECT_EQ(second.acked, 1u);
  EXPECT_EQ(second.lagging, 1u);

  Ack("slow", 6);
  EXPECT_EQ(registry_.Status("edge").nodes(1).lagging_at_version(), 0u);
  EXPECT_EQ(Now(6).connected, 2u);
}

// Validates that a wait whose deadline has already passed (an ack timeout
// of 0) only looks: it marks no node lagging.
TEST_F(NodeRegistryTest, ZeroTimeoutMarksNoNodeLagging) {
  Connect("a");
  EXPECT_EQ(Now(3).acked, 0u);
  EXPECT_EQ(registry_.Status("edge").nodes(0).lagging_at_version(), 0u);
  EXPECT_EQ(Now(3).connected, 1u);
}

}  // namespace
}  // namespace nginx_xds
