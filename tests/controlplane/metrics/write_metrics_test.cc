// The control plane's metrics that are counted rather than read: a write's
// result label, the per-node counters the registry keeps for the metrics,
// what ADS traffic counts, and the process metrics read from /proc.
#include "controlplane/metrics/write_metrics.h"

#include <string>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "common/metrics.h"
#include "controlplane/fleet/node_registry.h"
#include "controlplane/metrics/process_metrics.h"
#include "controlplane/xds/ads_traffic.h"
#include "gtest/gtest.h"

namespace nginx_xds {
namespace {

using nginx_xds::v1::WriteResponse;

constexpr char kClusters[] = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
constexpr char kAssignments[] =
    "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment";

WriteResponse Answered(int acked, int connected, int rejections) {
  WriteResponse response;
  response.set_acked_nodes(acked);
  response.set_connected_nodes(connected);
  for (int i = 0; i < rejections; ++i) response.add_rejections()->set_node("n");
  return response;
}

// Validates that a write's result says how its fleet answered, or its error.
TEST(WriteMetricsTest, ResultNamesTheFleetsAnswerOrTheError) {
  EXPECT_EQ(WriteMetrics::WriteResult(Answered(2, 2, 0)), "ok");
  EXPECT_EQ(WriteMetrics::WriteResult(Answered(0, 0, 0)), "ok");
  EXPECT_EQ(WriteMetrics::WriteResult(Answered(1, 2, 0)), "unacked");
  EXPECT_EQ(WriteMetrics::WriteResult(Answered(1, 2, 1)), "rejected");
  EXPECT_EQ(WriteMetrics::WriteResult(absl::InvalidArgumentError("bad")), "invalid_argument");
  EXPECT_EQ(WriteMetrics::WriteResult(absl::NotFoundError("gone")), "not_found");
}

// Validates that operations become label values and every write is counted once.
TEST(WriteMetricsTest, CountsByApiOperationAndResult) {
  MetricsRegistry registry;
  WriteMetrics metrics(&registry);
  metrics.Count("dynamic", "add server", Answered(1, 1, 0));
  metrics.Count("dynamic", "add server", Answered(1, 1, 0));
  metrics.Count("grpc", "put", absl::UnavailableError("store down"));
  metrics.Durable("add server", absl::Milliseconds(3));
  metrics.StoreCommit(absl::Milliseconds(2));
  const std::string text = registry.Render();
  EXPECT_NE(text.find("nginx_xds_writes_total{api=\"dynamic\",operation=\"add_server\","
                      "result=\"ok\"} 2\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("nginx_xds_writes_total{api=\"grpc\",operation=\"put\","
                      "result=\"unavailable\"} 1\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("nginx_xds_write_durable_seconds_bucket{operation=\"add_server\","
                      "le=\"0.005\"} 1\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("nginx_xds_store_commit_seconds_count 1\n"), std::string::npos) << text;
}

// Validates that the registry counts every NACK of a node and times its last ACK.
TEST(NodeCountersTest, CountsNacksAndTimesTheLastAck) {
  NodeRegistry registry;
  registry.StreamOpened("n1", "edge", "test");
  registry.Subscribed("n1", kClusters);
  registry.Subscribed("n1", kAssignments);
  ASSERT_EQ(registry.Counters().size(), 1u);
  EXPECT_FALSE(registry.Counters()[0].last_ack.has_value());
  const absl::Time before = absl::Now();
  registry.Acked("n1", kClusters, 4);
  registry.Acked("n1", kAssignments, 4);
  registry.Nacked("n1", kClusters, 5, "bad");
  registry.Nacked("n1", kAssignments, 5, "bad");
  const NodeRegistry::NodeCounters node = registry.Counters()[0];
  EXPECT_EQ(node.id, "n1");
  EXPECT_EQ(node.fleet, "edge");
  EXPECT_EQ(node.streams, 1);
  EXPECT_EQ(node.acked_version, 4u);
  EXPECT_EQ(node.nacks, 2u);
  ASSERT_TRUE(node.last_ack.has_value());
  EXPECT_GE(*node.last_ack, before);
  registry.StreamClosed("n1");
  EXPECT_EQ(registry.Counters()[0].streams, 0);
}

// Validates that ADS traffic is counted per known type and any other type
// URL a client sends falls into one bounded "other".
TEST(AdsTrafficTest, CountsKnownTypesApartAndTheRestAsOther) {
  AdsTraffic& traffic = AdsTraffic::Global();
  const uint64_t clusters = traffic.responses(AdsTraffic::kCluster);
  const uint64_t bytes = traffic.bytes(AdsTraffic::kCluster);
  const uint64_t other = traffic.responses(AdsTraffic::kOther);
  traffic.Sent(kClusters, 100);
  traffic.Sent("type.googleapis.com/made.up.Type", 7);
  traffic.Sent("type.googleapis.com/another.Made.Up", 7);
  EXPECT_EQ(traffic.responses(AdsTraffic::kCluster), clusters + 1);
  EXPECT_EQ(traffic.bytes(AdsTraffic::kCluster), bytes + 100);
  EXPECT_EQ(traffic.responses(AdsTraffic::kOther), other + 2);
  EXPECT_EQ(AdsTraffic::Label(AdsTraffic::kEndpoints), kAssignments);
  const uint64_t listeners = traffic.responses(AdsTraffic::kListener);
  traffic.Sent("type.googleapis.com/envoy.config.listener.v3.Listener", 10);
  EXPECT_EQ(traffic.responses(AdsTraffic::kListener), listeners + 1);
  EXPECT_EQ(AdsTraffic::Label(AdsTraffic::kRoute),
            "type.googleapis.com/envoy.config.route.v3.RouteConfiguration");
}

// Validates that the process metrics are read from /proc with sane values.
TEST(ProcessMetricsTest, ReadsThisProcess) {
  MetricsRegistry registry;
  AddProcessCollectors(&registry);
  const std::string text = registry.Render();
  for (const char* name : {"process_cpu_seconds_total ", "process_resident_memory_bytes ",
                           "process_virtual_memory_bytes ", "process_start_time_seconds ",
                           "process_open_fds ", "process_max_fds "}) {
    const size_t at = text.find(std::string("\n") + name);
    ASSERT_NE(at, std::string::npos) << name << " missing in\n" << text;
    const double value = std::stod(text.substr(at + 1 + std::string(name).size()));
    EXPECT_GT(value, std::string(name) == "process_cpu_seconds_total " ? -1 : 0) << name;
  }
  const size_t start = text.find("\nprocess_start_time_seconds ");
  const double started = std::stod(text.substr(start + 28));
  EXPECT_LE(started, absl::ToUnixSeconds(absl::Now()) + 1);
  EXPECT_GT(started, absl::ToUnixSeconds(absl::Now()) - 3600);
}

}  // namespace
}  // namespace nginx_xds
