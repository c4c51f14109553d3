// NodeRegistry::WaitForFleet: a write's wait for its fleet ends exactly when
// every connected node of that fleet has acknowledged or rejected the
// version, whatever nodes connect, leave or move meanwhile.
#include "controlplane/node_registry.h"

#include <chrono>
#include <future>
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
    registry_.StreamOpened(id, fleet, "test");
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

TEST_F(NodeRegistryTest, NoConnectedNodeMeansNothingToWaitFor) {
  NodeRegistry::Progress progress = WaitInBackground(7).get();
  EXPECT_EQ(progress.connected, 0u);
  EXPECT_EQ(progress.acked, 0u);
}

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

TEST_F(NodeRegistryTest, ANodeAckedOnlyOneTypeHasNotTakenTheVersion) {
  Connect("a");
  auto wait = WaitInBackground(3);
  registry_.Acked("a", kClusters, 3);
  EXPECT_EQ(Now(3).acked, 0u);
  registry_.Acked("a", kAssignments, 3);
  EXPECT_EQ(wait.get().acked, 1u);
}

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

TEST_F(NodeRegistryTest, ANodeWithTwoStreamsCountsOnceAndStaysUntilBothClose) {
  Connect("a");
  registry_.StreamOpened("a", "edge", "test");  // a reload's new worker
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

}  // namespace
}  // namespace nginx_xds
