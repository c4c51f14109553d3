// The agent's Delta requests on the wire, against a scripted Delta server,
// for what the real control plane never sends: subscriptions, a resource
// that does not decode, a response wrong as a whole.

#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "agent/xds_client.h"
#include "common/xds_mapping.h"
#include "gtest/gtest.h"
#include "nginx_xds/v1/upstream.pb.h"
#include "tests/agent/fake_delta_server.h"
#include "tests/testing/upstreams.h"

namespace nginx_xds {
namespace {

using envoy::service::discovery::v3::DeltaDiscoveryRequest;
using envoy::service::discovery::v3::DeltaDiscoveryResponse;
using testing::FakeDeltaServer;
using testing::NormalizedUpstreamOnPorts;

// Collects the snapshots handed over; applies them all.
class Embedder {
 public:
  XdsClient::SnapshotHandler Handler() {
    return [this](const nginx_xds::v1::Snapshot& snapshot, bool, SnapshotVerdict verdict) {
      {
        absl::MutexLock lock(&mu_);
        handed_.push_back(snapshot);
      }
      verdict.Done(absl::OkStatus());
    };
  }

  std::optional<nginx_xds::v1::Snapshot> Next() {
    absl::MutexLock lock(&mu_);
    auto any = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !handed_.empty(); };
    if (!mu_.AwaitWithTimeout(absl::Condition(&any), absl::Seconds(20))) return std::nullopt;
    nginx_xds::v1::Snapshot snapshot = std::move(handed_.front());
    handed_.pop_front();
    return snapshot;
  }

  size_t pending() {
    absl::MutexLock lock(&mu_);
    return handed_.size();
  }

 private:
  absl::Mutex mu_;
  std::deque<nginx_xds::v1::Snapshot> handed_ ABSL_GUARDED_BY(mu_);
};

XdsClientOptions Options(const std::string& server) {
  XdsClientOptions options;
  options.server = server;
  options.node_id = "wire-node";
  options.fleet = "edge";
  options.backoff_initial = absl::Milliseconds(20);
  options.backoff_max = absl::Milliseconds(200);
  return options;
}

DeltaDiscoveryResponse Response(const std::string& type_url, const std::string& version,
                                const std::string& nonce,
                                const std::vector<nginx_xds::v1::Upstream>& upstreams) {
  DeltaDiscoveryResponse response;
  response.set_type_url(type_url);
  response.set_system_version_info(version);
  response.set_nonce(nonce);
  for (const auto& upstream : upstreams) {
    auto* resource = response.add_resources();
    resource->set_name(upstream.name());
    resource->set_version(upstream.name() + "-" + version);
    if (type_url == kClusterTypeUrl) {
      resource->mutable_resource()->PackFrom(ToCluster(upstream));
    } else {
      resource->mutable_resource()->PackFrom(ToLoadAssignment(upstream));
    }
  }
  return response;
}

DeltaDiscoveryRequest MustRead(FakeDeltaServer& server) {
  std::optional<DeltaDiscoveryRequest> request = server.NextRequest();
  EXPECT_TRUE(request) << "no request came";
  return request ? *request : DeltaDiscoveryRequest();
}

class DeltaWireTest : public ::testing::Test {
 protected:
  void SetUp() override {
    client_ = std::make_unique<XdsClient>(Options(server_.address()), embedder_.Handler(),
                                          nullptr);
    ASSERT_TRUE(client_->Start().ok());
    // Validate the subscriptions: Clusters first with the node, both
    // wildcard, nothing held yet.
    DeltaDiscoveryRequest cds = MustRead(server_);
    EXPECT_EQ(cds.type_url(), kClusterTypeUrl);
    EXPECT_EQ(cds.node().id(), "wire-node");
    ASSERT_EQ(cds.resource_names_subscribe_size(), 1);
    EXPECT_EQ(cds.resource_names_subscribe(0), "*");
    EXPECT_TRUE(cds.initial_resource_versions().empty());
    DeltaDiscoveryRequest eds = MustRead(server_);
    EXPECT_EQ(eds.type_url(), kEndpointTypeUrl);
    EXPECT_FALSE(eds.has_node());
    ASSERT_EQ(eds.resource_names_subscribe_size(), 1);
    EXPECT_EQ(eds.resource_names_subscribe(0), "*");
  }

  // Syncs a and b at version 1.
  void SyncTwo() {
    const std::vector<nginx_xds::v1::Upstream> two = {NormalizedUpstreamOnPorts("a", {7001}),
                                                      NormalizedUpstreamOnPorts("b", {7002})};
    ASSERT_TRUE(server_.Send(Response(kClusterTypeUrl, "1", "c1", two)));
    ASSERT_TRUE(server_.Send(Response(kEndpointTypeUrl, "1", "e1", two)));
    for (const char* nonce : {"c1", "e1"}) {
      DeltaDiscoveryRequest ack = MustRead(server_);
      EXPECT_EQ(ack.response_nonce(), nonce);
      EXPECT_FALSE(ack.has_error_detail()) << ack.error_detail().message();
    }
    std::optional<nginx_xds::v1::Snapshot> first = embedder_.Next();
    ASSERT_TRUE(first);
    EXPECT_EQ(first->upstreams_size(), 2);
  }

  FakeDeltaServer server_;
  Embedder embedder_;
  std::unique_ptr<XdsClient> client_;
};

// Validate that a resource that does not decode is NACKed by its name, with
// RejectedUpstreams naming it alone, and the other resource of the response
// is applied.
TEST_F(DeltaWireTest, UndecodableResourceIsNackedByNameAndTheRestApplies) {
  SyncTwo();
  DeltaDiscoveryResponse response =
      Response(kEndpointTypeUrl, "2", "e2",
               {NormalizedUpstreamOnPorts("a", {8001}), NormalizedUpstreamOnPorts("b", {8002})});
  response.mutable_resources(1)->mutable_resource()->set_value("\xff\xff not a proto");
  ASSERT_TRUE(server_.Send(response));
  DeltaDiscoveryRequest nack = MustRead(server_);
  EXPECT_EQ(nack.response_nonce(), "e2");
  ASSERT_TRUE(nack.has_error_detail());
  EXPECT_EQ(nack.error_detail().code(), 3);
  EXPECT_NE(nack.error_detail().message().find("upstream \"b\": cannot decode"),
            std::string::npos)
      << nack.error_detail().message();
  ASSERT_EQ(nack.error_detail().details_size(), 1);
  nginx_xds::v1::RejectedUpstreams rejected;
  ASSERT_TRUE(nack.error_detail().details(0).UnpackTo(&rejected));
  ASSERT_EQ(rejected.upstreams_size(), 1);
  EXPECT_EQ(rejected.upstreams(0).name(), "b");

  std::optional<nginx_xds::v1::Snapshot> applied = embedder_.Next();
  ASSERT_TRUE(applied);
  EXPECT_EQ(applied->version(), "2");
  ASSERT_EQ(applied->upstreams_size(), 2);
  EXPECT_EQ(applied->upstreams(0).servers(0).address(), "127.0.0.1:8001");
  EXPECT_EQ(applied->upstreams(1).servers(0).address(), "127.0.0.1:7002");
}

// Validate that a response wrong as a whole (no system_version_info) is
// NACKed without details and nothing of it is applied.
TEST_F(DeltaWireTest, ResponseWithoutSystemVersionIsNackedWhole) {
  SyncTwo();
  ASSERT_TRUE(server_.Send(
      Response(kEndpointTypeUrl, "", "e2", {NormalizedUpstreamOnPorts("a", {8001})})));
  DeltaDiscoveryRequest nack = MustRead(server_);
  EXPECT_EQ(nack.response_nonce(), "e2");
  ASSERT_TRUE(nack.has_error_detail());
  EXPECT_EQ(nack.error_detail().message(), "the response has no system_version_info");
  EXPECT_EQ(nack.error_detail().details_size(), 0);
  // The next good response applies on top of version 1, not of the bad one.
  ASSERT_TRUE(server_.Send(
      Response(kEndpointTypeUrl, "3", "e3", {NormalizedUpstreamOnPorts("b", {9002})})));
  DeltaDiscoveryRequest ack = MustRead(server_);
  EXPECT_EQ(ack.response_nonce(), "e3");
  EXPECT_FALSE(ack.has_error_detail());
  std::optional<nginx_xds::v1::Snapshot> applied = embedder_.Next();
  ASSERT_TRUE(applied);
  EXPECT_EQ(applied->upstreams(0).servers(0).address(), "127.0.0.1:7001");
  EXPECT_EQ(applied->upstreams(1).servers(0).address(), "127.0.0.1:9002");
}

// Validate that removed_resources removes an upstream and is ACKed.
TEST_F(DeltaWireTest, RemovedResourcesRemoveTheUpstream) {
  SyncTwo();
  DeltaDiscoveryResponse removal = Response(kClusterTypeUrl, "2", "c2", {});
  removal.add_removed_resources("b");
  ASSERT_TRUE(server_.Send(removal));
  DeltaDiscoveryRequest ack = MustRead(server_);
  EXPECT_EQ(ack.response_nonce(), "c2");
  EXPECT_FALSE(ack.has_error_detail());
  std::optional<nginx_xds::v1::Snapshot> applied = embedder_.Next();
  ASSERT_TRUE(applied);
  ASSERT_EQ(applied->upstreams_size(), 1);
  EXPECT_EQ(applied->upstreams(0).name(), "a");
}

}  // namespace
}  // namespace nginx_xds
