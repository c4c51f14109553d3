// End to end over real gRPC on loopback: the control plane and several
// agents (the same C ABI the nginx module uses). A write reaches every agent,
// every agent's ACK shows in the fleet status, and an agent's rejection comes
// back to the writer.

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "agent/xds_agent.h"
#include "controlplane/control_plane.h"
#include "gtest/gtest.h"
#include "nginx_xds/v1/management.grpc.pb.h"
#include "tests/controlplane/test_agent.h"
#include "tests/controlplane/test_control_plane.h"

namespace nginx_xds {
namespace {

class FleetEndToEndTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto cp = ControlPlane::Start(TestControlPlaneOptions(absl::Seconds(20)));
    ASSERT_TRUE(cp.ok()) << cp.status();
    cp_ = std::move(*cp);
  }

  // Waits (bounded) until `count` nodes of `fleet` are connected.
  void AwaitConnected(const std::string& fleet, int count) {
    uint64_t seen = 0;
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    while (absl::Now() < deadline) {
      int connected = 0;
      const auto status = cp_->registry()->Status(fleet);
      for (const auto& node : status.nodes()) connected += node.connected();
      if (connected == count) return;
      seen = cp_->registry()->WaitForChange(seen, deadline);
    }
    FAIL() << "fleet " << fleet << " never had " << count << " connected nodes";
  }

  static nginx_xds::v1::Upstream Backends(std::vector<std::string> addresses) {
    nginx_xds::v1::Upstream upstream;
    upstream.set_name("backends");
    for (const auto& address : addresses) upstream.add_servers()->set_address(address);
    return upstream;
  }

  std::unique_ptr<ControlPlane> cp_;
};

// Validate that a write reaches every agent of the fleet, is answered after
// their ACKs, and that fleet status shows each node's ACKed version.
TEST_F(FleetEndToEndTest, WriteReachesEveryAgentAndEveryAckShowsInFleetStatus) {
  std::vector<std::unique_ptr<TestAgent>> agents;
  for (int i = 0; i < 3; ++i) {
    agents.push_back(
        std::make_unique<TestAgent>("web-" + std::to_string(i), "web", cp_->xds_port()));
  }
  AwaitConnected("web", 3);
  auto result = cp_->upstreams()->Put("web", Backends({"127.0.0.1:6001", "127.0.0.1:6002"}));
  ASSERT_TRUE(result.ok()) << result.status();
  // The write was answered only after all three had acknowledged it.
  EXPECT_EQ(result->connected_nodes(), 3u);
  EXPECT_EQ(result->acked_nodes(), 3u);
  for (auto& agent : agents) {
    EXPECT_EQ(agent->AwaitVersion(result->version(), "backends"),
              (std::vector<std::string>{"127.0.0.1:6001", "127.0.0.1:6002"}));
  }
  auto status = cp_->registry()->Status("web");
  ASSERT_EQ(status.nodes_size(), 3);
  for (const auto& node : status.nodes()) {
    EXPECT_TRUE(node.connected()) << node.id();
    EXPECT_EQ(node.acked_version(), result->version()) << node.id();
  }

  auto removed = cp_->upstreams()->RemoveServer("web", "backends", "127.0.0.1:6001");
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_EQ(removed->acked_nodes(), 3u);
  for (auto& agent : agents) {
    EXPECT_EQ(agent->AwaitVersion(removed->version(), "backends"),
              (std::vector<std::string>{"127.0.0.1:6002"}));
  }
}

// Validate that an agent's rejection is in the write's answer (node and
// reason) and in fleet status.
TEST_F(FleetEndToEndTest, AgentRejectionIsReportedToTheWriterAndInFleetStatus) {
  TestAgent good("good", "web", cp_->xds_port());
  TestAgent picky("picky", "web", cp_->xds_port(), /*reject_upstream=*/"backends");
  AwaitConnected("web", 2);
  auto result = cp_->upstreams()->Put("web", Backends({"127.0.0.1:6001"}));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->acked_nodes(), 1u);
  ASSERT_EQ(result->rejections_size(), 1);
  EXPECT_EQ(result->rejections(0).node(), "picky");
  EXPECT_EQ(result->rejections(0).version(), result->version());
  // Over Delta the NACK names the resources of the response it refused.
  EXPECT_EQ(result->rejections(0).message(), "upstream \"backends\": cannot apply upstream");
  const auto status = cp_->registry()->Status("web");
  for (const auto& node : status.nodes()) {
    if (node.id() == "picky") {
      EXPECT_EQ(node.last_nack().message(), "cannot apply upstream");
    } else {
      EXPECT_FALSE(node.has_last_nack()) << node.id();
    }
  }
}

// Validate no upstream can block a fleet: a node that rejects one upstream
// alone applies the others; the write of the rejected upstream is answered
// with the node's rejection naming it, later writes to other upstreams are
// acknowledged by every node and reach it, fleet status names the rejected
// upstream with its reason and versions, and deleting it clears that.
TEST_F(FleetEndToEndTest, UpstreamRejectedAloneDoesNotBlockLaterWrites) {
  TestAgent good("good", "web", cp_->xds_port());
  TestAgent picky("picky", "web", cp_->xds_port(), /*reject_upstream=*/"onlybackup",
                  /*reject_alone=*/true);
  AwaitConnected("web", 2);
  auto first = cp_->upstreams()->Put("web", Backends({"127.0.0.1:6001"}));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->acked_nodes(), 2u);

  nginx_xds::v1::Upstream bad;
  bad.set_name("onlybackup");
  bad.add_servers()->set_address("127.0.0.1:22088");
  auto rejected = cp_->upstreams()->Put("web", bad);
  ASSERT_TRUE(rejected.ok()) << rejected.status();
  EXPECT_EQ(rejected->acked_nodes(), 1u);
  ASSERT_EQ(rejected->rejections_size(), 1);
  EXPECT_EQ(rejected->rejections(0).node(), "picky");
  EXPECT_EQ(rejected->rejections(0).version(), rejected->version());
  EXPECT_EQ(rejected->rejections(0).message(),
            std::string("upstream \"onlybackup\": ") + TestAgent::kAloneReason);
  ASSERT_EQ(rejected->rejections(0).upstreams_size(), 1);
  EXPECT_EQ(rejected->rejections(0).upstreams(0).name(), "onlybackup");

  // A write to another upstream: every node takes it, also the picky one.
  auto later = cp_->upstreams()->Put("web", Backends({"127.0.0.1:6002"}));
  ASSERT_TRUE(later.ok()) << later.status();
  EXPECT_EQ(later->connected_nodes(), 2u);
  EXPECT_EQ(later->acked_nodes(), 2u);
  EXPECT_EQ(later->rejections_size(), 0);
  EXPECT_EQ(picky.AwaitVersion(later->version(), "backends"),
            std::vector<std::string>{"127.0.0.1:6002"});
  EXPECT_TRUE(picky.AwaitVersion(later->version(), "onlybackup").empty());

  auto status = cp_->registry()->Status("web");
  for (const auto& node : status.nodes()) {
    EXPECT_EQ(node.acked_version(), later->version()) << node.id();
    if (node.id() != "picky") {
      EXPECT_EQ(node.rejected_upstreams_size(), 0) << node.id();
      continue;
    }
    ASSERT_EQ(node.rejected_upstreams_size(), 1);
    const auto& each = node.rejected_upstreams(0);
    EXPECT_EQ(each.name(), "onlybackup");
    EXPECT_EQ(each.message(), TestAgent::kAloneReason);
    EXPECT_EQ(each.since_version(), rejected->version());
    EXPECT_EQ(each.version(), later->version());
    EXPECT_TRUE(each.has_time());
  }

  auto deleted = cp_->upstreams()->Delete("web", "onlybackup");
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(deleted->acked_nodes(), 2u);
  status = cp_->registry()->Status("web");
  for (const auto& node : status.nodes()) {
    EXPECT_EQ(node.rejected_upstreams_size(), 0) << node.id();
  }
}

// Validate that WatchFleetStatus sends a new status after each ACK.
TEST_F(FleetEndToEndTest, WatchFleetStatusStreamsEveryAckOverGrpc) {
  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(cp_->admin_port()),
                                     grpc::InsecureChannelCredentials());
  auto fleet = nginx_xds::v1::FleetService::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  nginx_xds::v1::GetFleetStatusRequest request;
  request.set_fleet("web");
  auto watch = fleet->WatchFleetStatus(&context, request);
  nginx_xds::v1::FleetStatus status;
  ASSERT_TRUE(watch->Read(&status));  // the status now: no node yet
  EXPECT_EQ(status.nodes_size(), 0);

  TestAgent agent("web-0", "web", cp_->xds_port());
  auto result = cp_->upstreams()->Put("web", Backends({"127.0.0.1:6001"}));
  ASSERT_TRUE(result.ok()) << result.status();
  // Each change is streamed; read until the node shows the write's version.
  bool seen = false;
  while (!seen && watch->Read(&status)) {
    for (const auto& node : status.nodes()) {
      seen |= node.id() == "web-0" && node.connected() && node.acked_version() == result->version();
    }
  }
  EXPECT_TRUE(seen) << status.DebugString();
  EXPECT_EQ(status.fleet_versions().at("web"), result->version());
  context.TryCancel();
}

// Validate that a write waits for its own fleet's nodes only.
TEST_F(FleetEndToEndTest, OtherFleetsAreNotWaitedFor) {
  TestAgent web("web-0", "web", cp_->xds_port());
  TestAgent api("api-0", "api", cp_->xds_port());
  AwaitConnected("web", 1);
  AwaitConnected("api", 1);
  auto result = cp_->upstreams()->Put("api", Backends({"127.0.0.1:7001"}));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->connected_nodes(), 1u);
  EXPECT_EQ(result->acked_nodes(), 1u);
  EXPECT_EQ(api.AwaitVersion(result->version(), "backends"),
            (std::vector<std::string>{"127.0.0.1:7001"}));
}

}  // namespace
}  // namespace nginx_xds
