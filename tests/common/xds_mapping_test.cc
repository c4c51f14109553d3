#include "common/xds_mapping.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/upstream_rules.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "nginx_xds/v1/upstream.pb.h"

namespace nginx_xds {
namespace {

using envoy::config::cluster::v3::Cluster;
using envoy::config::endpoint::v3::ClusterLoadAssignment;
using envoy::config::endpoint::v3::LbEndpoint;
using google::protobuf::Struct;
using google::protobuf::util::MessageDifferencer;
using nginx_xds::v1::Upstream;

// A normalized upstream from text; host names are not allowed here.
Upstream Normalized(const std::string& text) {
  Upstream upstream;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &upstream));
  absl::Status status = NormalizeUpstream(
      &upstream, [](const ServerAddress&) -> absl::StatusOr<std::vector<ServerAddress>> {
        return absl::NotFoundError("no DNS in this test");
      });
  EXPECT_TRUE(status.ok()) << status;
  return upstream;
}

void ExpectRoundTrip(const Upstream& upstream) {
  absl::StatusOr<Upstream> back = FromXds(ToCluster(upstream), ToLoadAssignment(upstream));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(MessageDifferencer::Equals(*back, upstream)) << "want:\n"
                                                           << upstream.DebugString() << "got:\n"
                                                           << back->DebugString();
}

const Struct& NginxMetadata(const Cluster& cluster) {
  return cluster.metadata().filter_metadata().at(kNginxMetadataKey);
}

const Struct& NginxMetadata(const LbEndpoint& endpoint) {
  return endpoint.metadata().filter_metadata().at(kNginxMetadataKey);
}

struct MethodCase {
  std::string name;
  std::string upstream;
  Cluster::LbPolicy policy;
};

class MethodMappingTest : public ::testing::TestWithParam<MethodCase> {};

// Validate the lb_policy each nginx method maps to.
TEST_P(MethodMappingTest, LbPolicyApproximatesTheMethod) {
  EXPECT_EQ(ToCluster(Normalized(GetParam().upstream)).lb_policy(), GetParam().policy);
}

// Validate that every method survives ToCluster/ToLoadAssignment and FromXds.
TEST_P(MethodMappingTest, RoundTripsThroughXds) {
  ExpectRoundTrip(Normalized(GetParam().upstream));
}

INSTANTIATE_TEST_SUITE_P(
    EveryMethod, MethodMappingTest,
    ::testing::Values(MethodCase{"RoundRobin",
                                 R"pb(name: "b"
                                      servers { address: "10.0.0.1:80" weight: 3 }
                                      servers { address: "10.0.0.2:80" backup: true })pb",
                                 Cluster::ROUND_ROBIN},
                      MethodCase{"LeastConn",
                                 R"pb(name: "b"
                                      method: LEAST_CONN
                                      keepalive: 8
                                      servers { address: "10.0.0.1:80" max_conns: 100 }
                                      servers { address: "10.0.0.2:80" backup: true })pb",
                                 Cluster::LEAST_REQUEST},
                      MethodCase{"IpHash",
                                 R"pb(name: "b"
                                      method: IP_HASH
                                      servers { address: "10.0.0.1:80" }
                                      servers { address: "10.0.0.2:80" down: true })pb",
                                 Cluster::ROUND_ROBIN},
                      MethodCase{"Hash",
                                 R"pb(name: "b"
                                      method: HASH
                                      hash_key: "$request_uri"
                                      servers { address: "10.0.0.1:80" })pb",
                                 Cluster::ROUND_ROBIN},
                      MethodCase{"HashConsistent",
                                 R"pb(name: "b"
                                      method: HASH
                                      hash_key: "$remote_addr"
                                      hash_consistent: true
                                      servers { address: "10.0.0.1:80" })pb",
                                 Cluster::RING_HASH},
                      MethodCase{"Random",
                                 R"pb(name: "b"
                                      method: RANDOM
                                      zone: "z1"
                                      servers { address: "10.0.0.1:80" })pb",
                                 Cluster::RANDOM}),
    [](const ::testing::TestParamInfo<MethodCase>& info) { return info.param.name; });

// Validate that the Cluster is EDS over ADS (v3), named after the upstream.
TEST(ToClusterTest, IsEdsOverAdsV3NamedAfterTheUpstream) {
  Cluster cluster = ToCluster(Normalized(R"pb(
    name: "Backends"
    servers { address: "10.0.0.1:80" }
  )pb"));
  EXPECT_EQ(cluster.name(), "Backends");
  EXPECT_EQ(cluster.type(), Cluster::EDS);
  EXPECT_TRUE(cluster.eds_cluster_config().eds_config().has_ads());
  EXPECT_EQ(cluster.eds_cluster_config().eds_config().resource_api_version(),
            envoy::config::core::v3::V3);
}

// Validate that default settings leave the nginx metadata empty.
TEST(ToClusterTest, DefaultSettingsLeaveNginxMetadataEmpty) {
  Cluster cluster = ToCluster(Normalized(R"pb(
    name: "b"
    servers { address: "10.0.0.1:80" }
  )pb"));
  EXPECT_EQ(NginxMetadata(cluster).fields_size(), 0);
}

// Validate that non-default settings (hash key, zone, keepalive) go to the
// nginx metadata.
TEST(ToClusterTest, NonDefaultSettingsGoToNginxMetadata) {
  Cluster cluster = ToCluster(Normalized(R"pb(
    name: "b"
    method: HASH
    hash_key: "$uri"
    hash_consistent: true
    zone: "z"
    keepalive: 32
    keepalive_requests: 50
    keepalive_time_ms: 1000
    keepalive_timeout_ms: 2000
    servers { address: "10.0.0.1:80" }
  )pb"));
  const auto& fields = NginxMetadata(cluster).fields();
  EXPECT_EQ(fields.size(), 8u);
  EXPECT_EQ(fields.at("method").string_value(), "hash");
  EXPECT_EQ(fields.at("hash_key").string_value(), "$uri");
  EXPECT_TRUE(fields.at("hash_consistent").bool_value());
  EXPECT_EQ(fields.at("zone").string_value(), "z");
  EXPECT_EQ(fields.at("keepalive").number_value(), 32);
  EXPECT_EQ(fields.at("keepalive_requests").number_value(), 50);
  EXPECT_EQ(fields.at("keepalive_time_ms").number_value(), 1000);
  EXPECT_EQ(fields.at("keepalive_timeout_ms").number_value(), 2000);
}

// Validates the grouping gRPC clients need: one locality per server, named
// after its index, primaries at priority 0 before backups at priority 1.
TEST(ToLoadAssignmentTest, OneLocalityPerServerPrimariesBeforeBackups) {
  ClusterLoadAssignment assignment = ToLoadAssignment(Normalized(R"pb(
    name: "b"
    servers { address: "10.0.0.1:80" }
    servers { address: "10.0.0.2:80" backup: true }
    servers { address: "10.0.0.3:80" }
    servers { address: "10.0.0.4:80" backup: true }
  )pb"));
  EXPECT_EQ(assignment.cluster_name(), "b");
  ASSERT_EQ(assignment.endpoints_size(), 4);
  const std::pair<uint32_t, std::string> expected[] = {
      {0, "10.0.0.1"}, {0, "10.0.0.3"}, {1, "10.0.0.2"}, {1, "10.0.0.4"}};
  const int index[] = {0, 2, 1, 3};
  for (int i = 0; i < 4; ++i) {
    const auto& locality = assignment.endpoints(i);
    EXPECT_EQ(locality.priority(), expected[i].first);
    EXPECT_EQ(locality.locality().sub_zone(), absl::StrCat("server-", index[i]));
    ASSERT_EQ(locality.lb_endpoints_size(), 1);
    EXPECT_EQ(locality.lb_endpoints(0).endpoint().address().socket_address().address(),
              expected[i].second);
    EXPECT_EQ(NginxMetadata(locality.lb_endpoints(0)).fields().at("index").number_value(),
              index[i]);
  }
}

// Validates that a locality weighs what its server weighs (gRPC clients split
// traffic by locality weight), with weight 0 as 1 + DRAINING.
TEST(ToLoadAssignmentTest, LocalityWeightIsTheServerWeight) {
  ClusterLoadAssignment assignment = ToLoadAssignment(Normalized(R"pb(
    name: "b"
    servers { address: "10.0.0.1:80" weight: 5 }
    servers { address: "10.0.0.2:80" }
    servers { address: "10.0.0.3:80" weight: 0 }
  )pb"));
  ASSERT_EQ(assignment.endpoints_size(), 3);
  EXPECT_EQ(assignment.endpoints(0).load_balancing_weight().value(), 5u);
  EXPECT_EQ(assignment.endpoints(1).load_balancing_weight().value(), 1u);
  EXPECT_EQ(assignment.endpoints(2).load_balancing_weight().value(), 1u);
  EXPECT_EQ(assignment.endpoints(2).lb_endpoints(0).health_status(),
            envoy::config::core::v3::DRAINING);
}

// Validate that weight, down and the other server settings map onto the
// endpoint's fields and metadata.
TEST(ToLoadAssignmentTest, ServerSettingsMapToEndpointFields) {
  ClusterLoadAssignment assignment = ToLoadAssignment(Normalized(R"pb(
    name: "b"
    servers { address: "10.0.0.1:8080" weight: 7 max_fails: 3 fail_timeout: 30 down: true }
    servers { address: "10.0.0.2:8080" max_conns: 9 }
  )pb"));
  const LbEndpoint& down = assignment.endpoints(0).lb_endpoints(0);
  EXPECT_EQ(down.endpoint().address().socket_address().port_value(), 8080u);
  EXPECT_EQ(down.load_balancing_weight().value(), 7u);
  EXPECT_EQ(down.health_status(), envoy::config::core::v3::DRAINING);
  const auto& fields = NginxMetadata(down).fields();
  EXPECT_EQ(fields.at("max_fails").number_value(), 3);
  EXPECT_EQ(fields.at("fail_timeout").number_value(), 30);
  EXPECT_EQ(fields.count("max_conns"), 0u);
  const LbEndpoint& up = assignment.endpoints(1).lb_endpoints(0);
  EXPECT_EQ(up.health_status(), envoy::config::core::v3::HEALTHY);
  EXPECT_EQ(NginxMetadata(up).fields().at("max_conns").number_value(), 9);
}

// Validate that a unix socket becomes a Pipe address.
TEST(ToLoadAssignmentTest, UnixSocketBecomesPipe) {
  ClusterLoadAssignment assignment = ToLoadAssignment(Normalized(R"pb(
    name: "b"
    servers { address: "unix:/run/app.sock" }
  )pb"));
  const auto& address = assignment.endpoints(0).lb_endpoints(0).endpoint().address();
  ASSERT_TRUE(address.has_pipe());
  EXPECT_EQ(address.pipe().path(), "/run/app.sock");
}

// Validate that an IPv6 address becomes a socket address without brackets.
TEST(ToLoadAssignmentTest, Ipv6BecomesSocketAddressWithoutBrackets) {
  ClusterLoadAssignment assignment = ToLoadAssignment(Normalized(R"pb(
    name: "b"
    servers { address: "[2001:db8::1]:443" }
  )pb"));
  const auto& socket =
      assignment.endpoints(0).lb_endpoints(0).endpoint().address().socket_address();
  EXPECT_EQ(socket.address(), "2001:db8::1");
  EXPECT_EQ(socket.port_value(), 443u);
}

// Validate that the round trip keeps backups interleaved in list order.
TEST(XdsRoundTripTest, KeepsInterleavedBackupOrder) {
  ExpectRoundTrip(Normalized(R"pb(
    name: "b"
    servers { address: "10.0.0.1:80" backup: true }
    servers { address: "10.0.0.2:80" }
    servers { address: "10.0.0.3:80" backup: true }
    servers { address: "10.0.0.4:80" }
    servers { address: "10.0.0.5:80" }
  )pb"));
}

// Validate that the round trip keeps down servers.
TEST(XdsRoundTripTest, KeepsDownServers) {
  ExpectRoundTrip(Normalized(R"pb(
    name: "b"
    servers { address: "10.0.0.1:80" down: true weight: 2 }
    servers { address: "10.0.0.2:80" down: true backup: true }
    servers { address: "10.0.0.3:80" }
  )pb"));
}

// Validates the encoding of nginx's weight 0 for xDS clients, which need a
// weight of 1 or more: weight 1, DRAINING, the exact weight in metadata.
TEST(ToLoadAssignmentTest, WeightZeroIsDrainingWithWeightOneAndMetadata) {
  const Upstream upstream = Normalized(R"pb(
    name: "b"
    servers { address: "10.0.0.1:80" weight: 0 }
    servers { address: "10.0.0.2:80" weight: 0 down: true }
    servers { address: "10.0.0.3:80" }
  )pb");
  const ClusterLoadAssignment assignment = ToLoadAssignment(upstream);
  std::vector<LbEndpoint> endpoints;
  for (const auto& locality : assignment.endpoints()) endpoints.push_back(locality.lb_endpoints(0));
  for (int i : {0, 1}) {
    EXPECT_EQ(endpoints[i].load_balancing_weight().value(), 1u);
    EXPECT_EQ(endpoints[i].health_status(), envoy::config::core::v3::DRAINING);
    EXPECT_EQ(NginxMetadata(endpoints[i]).fields().at("weight").number_value(), 0);
  }
  EXPECT_EQ(NginxMetadata(endpoints[0]).fields().count("down"), 0u);
  EXPECT_TRUE(NginxMetadata(endpoints[1]).fields().at("down").bool_value());
  EXPECT_EQ(endpoints[2].health_status(), envoy::config::core::v3::HEALTHY);
  EXPECT_EQ(NginxMetadata(endpoints[2]).fields().count("weight"), 0u);
}

// Validates that weight 0, down or not, primary or backup, survives xDS.
TEST(XdsRoundTripTest, KeepsWeightZero) {
  ExpectRoundTrip(Normalized(R"pb(
    name: "b"
    method: LEAST_CONN
    servers { address: "10.0.0.1:80" weight: 0 }
    servers { address: "10.0.0.2:80" weight: 0 down: true }
    servers { address: "10.0.0.3:80" weight: 0 backup: true }
    servers { address: "10.0.0.4:80" }
  )pb"));
}

// Validates that backups survive xDS with the hash methods too.
TEST(XdsRoundTripTest, KeepsBackupsWithHash) {
  ExpectRoundTrip(Normalized(R"pb(
    name: "b"
    method: HASH
    hash_key: "$uri"
    servers { address: "10.0.0.1:80" }
    servers { address: "10.0.0.2:80" backup: true }
  )pb"));
}

// Validate that the round trip keeps unix sockets and IPv6 addresses.
TEST(XdsRoundTripTest, KeepsUnixSocketsAndIpv6) {
  ExpectRoundTrip(Normalized(R"pb(
    name: "b"
    servers { address: "unix:/run/app.sock" }
    servers { address: "[::1]:8080" max_fails: 0 fail_timeout: 0 }
    servers { address: "[2001:db8::2]:8080" backup: true }
  )pb"));
}

// Validate that the round trip keeps a resolved server's host name and
// every non-default setting.
TEST(XdsRoundTripTest, KeepsResolvedHostNameAndEveryNonDefaultSetting) {
  Upstream upstream = Normalized(R"pb(
    name: "Backends"
    zone: "zone_for_backends"
    keepalive: 4
    keepalive_requests: 0
    keepalive_time_ms: 0
    keepalive_timeout_ms: 0
    servers { address: "10.0.0.1:80" host: "backend.local" max_conns: 4 weight: 1000000 }
  )pb");
  EXPECT_EQ(ToLoadAssignment(upstream).endpoints(0).lb_endpoints(0).endpoint().hostname(),
            "backend.local");
  ExpectRoundTrip(upstream);
}

// Validate that endpoints without an index (a generic xDS server's) are
// taken in the order received.
TEST(FromXdsTest, AcceptsEndpointsWithoutIndexInReceivedOrder) {
  Upstream upstream = Normalized(R"pb(
    name: "b"
    servers { address: "10.0.0.1:80" }
    servers { address: "10.0.0.2:80" }
  )pb");
  ClusterLoadAssignment assignment = ToLoadAssignment(upstream);
  for (auto& locality : *assignment.mutable_endpoints()) {
    (*locality.mutable_lb_endpoints(0)->mutable_metadata()->mutable_filter_metadata())[kNginxMetadataKey]
        .mutable_fields()
        ->erase("index");
  }
  absl::StatusOr<Upstream> back = FromXds(ToCluster(upstream), assignment);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(MessageDifferencer::Equals(*back, upstream));
}

// Each rejection test breaks one field of a valid pair and checks the error.
class FromXdsRejectionTest : public ::testing::Test {
 protected:
  FromXdsRejectionTest()
      : upstream_(Normalized(R"pb(
          name: "backends"
          servers { address: "10.0.0.1:80" }
          servers { address: "10.0.0.2:80" }
          servers { address: "10.0.0.3:80" }
        )pb")),
        cluster_(ToCluster(upstream_)),
        assignment_(ToLoadAssignment(upstream_)) {}

  LbEndpoint* Endpoint(int i) { return assignment_.mutable_endpoints(i)->mutable_lb_endpoints(0); }

  google::protobuf::Value* EndpointField(int i, const std::string& key) {
    return &(*(*Endpoint(i)->mutable_metadata()->mutable_filter_metadata())[kNginxMetadataKey]
                  .mutable_fields())[key];
  }

  void ExpectRejected(const std::string& message) {
    absl::StatusOr<Upstream> result = FromXds(cluster_, assignment_);
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(result.status().message(), message);
  }

  Upstream upstream_;
  Cluster cluster_;
  ClusterLoadAssignment assignment_;
};

// Validate that FromXds refuses an assignment named after another cluster.
TEST_F(FromXdsRejectionTest, MismatchedClusterName) {
  assignment_.set_cluster_name("other");
  ExpectRejected(
      "cluster \"backends\": cluster_name \"other\" of the "
      "ClusterLoadAssignment differs");
}

// Validate that FromXds refuses port 0.
TEST_F(FromXdsRejectionTest, PortZero) {
  Endpoint(2)->mutable_endpoint()->mutable_address()->mutable_socket_address()->set_port_value(0);
  ExpectRejected("cluster \"backends\": endpoint 2: port 0 out of range 1-65535");
}

// Validate that FromXds refuses a port above 65535.
TEST_F(FromXdsRejectionTest, PortAboveRange) {
  Endpoint(0)->mutable_endpoint()->mutable_address()->mutable_socket_address()->set_port_value(
      65536);
  ExpectRejected("cluster \"backends\": endpoint 0: port 65536 out of range 1-65535");
}

// Validate that FromXds refuses a load_balancing_weight of 0.
TEST_F(FromXdsRejectionTest, ZeroWeight) {
  Endpoint(1)->mutable_load_balancing_weight()->set_value(0);
  ExpectRejected("cluster \"backends\": endpoint 1: weight 0 out of range 1-1000000");
}

// Validate that FromXds refuses a metadata weight other than 0.
TEST_F(FromXdsRejectionTest, MetadataWeightOtherThanZero) {
  *EndpointField(1, "weight") = google::protobuf::Value();
  EndpointField(1, "weight")->set_number_value(2);
  ExpectRejected("cluster \"backends\": endpoint 1: metadata \"weight\" must be an integer 0-0");
}

// Validate that FromXds refuses a metadata weight 0 on an endpoint that is not DRAINING.
TEST_F(FromXdsRejectionTest, MetadataWeightZeroWithoutDraining) {
  EndpointField(1, "weight")->set_number_value(0);
  ExpectRejected(
      "cluster \"backends\": endpoint 1: metadata \"weight\" 0 needs load_balancing_weight 1 "
      "and DRAINING");
}

// Validate that FromXds refuses an assignment with backups only.
TEST_F(FromXdsRejectionTest, OnlyBackups) {
  for (auto& group : *assignment_.mutable_endpoints()) group.set_priority(1);
  ExpectRejected(
      "cluster \"backends\": no servers in upstream \"backends\" (every server is a backup)");
}

// Validate that FromXds refuses an unknown method in the metadata.
TEST_F(FromXdsRejectionTest, UnknownMethod) {
  (*(*cluster_.mutable_metadata()->mutable_filter_metadata())[kNginxMetadataKey]
        .mutable_fields())["method"]
      .set_string_value("fastest");
  ExpectRejected("cluster \"backends\": unknown method \"fastest\"");
}

// Validate that FromXds refuses an lb_policy that does not match the method.
TEST_F(FromXdsRejectionTest, LbPolicyThatDoesNotMatchTheMethod) {
  cluster_.set_lb_policy(Cluster::MAGLEV);
  ExpectRejected(
      "cluster \"backends\": lb_policy MAGLEV does not match method "
      "round_robin");
}

// Validate that FromXds refuses a cluster type other than EDS.
TEST_F(FromXdsRejectionTest, TypeOtherThanEds) {
  cluster_.set_type(Cluster::STRICT_DNS);
  ExpectRejected("cluster \"backends\": type STRICT_DNS is not EDS");
}

// Validate that FromXds refuses a host name in a socket address.
TEST_F(FromXdsRejectionTest, HostNameInSocketAddress) {
  Endpoint(0)->mutable_endpoint()->mutable_address()->mutable_socket_address()->set_address(
      "backend.local");
  ExpectRejected(
      "cluster \"backends\": endpoint 0: address \"backend.local:80\" is not "
      "an IP address");
}

// Validate that FromXds refuses a malformed IP literal.
TEST_F(FromXdsRejectionTest, MalformedIpLiteral) {
  Endpoint(0)->mutable_endpoint()->mutable_address()->mutable_socket_address()->set_address(
      "10.0.0");
  ExpectRejected(
      "cluster \"backends\": endpoint 0: address \"10.0.0:80\": invalid IPv4 "
      "address \"10.0.0\"");
}

// Validate that FromXds refuses a negative max_fails.
TEST_F(FromXdsRejectionTest, NegativeMaxFails) {
  EndpointField(1, "max_fails")->set_number_value(-1);
  ExpectRejected(
      "cluster \"backends\": endpoint 1: metadata \"max_fails\" must be an "
      "integer 0-4294967295");
}

// Validate that FromXds refuses a fractional fail_timeout.
TEST_F(FromXdsRejectionTest, FractionalFailTimeout) {
  EndpointField(1, "fail_timeout")->set_number_value(1.5);
  ExpectRejected(
      "cluster \"backends\": endpoint 1: metadata \"fail_timeout\" must be an "
      "integer 0-4294967295");
}

// Validate that FromXds refuses a repeated endpoint index.
TEST_F(FromXdsRejectionTest, RepeatedIndex) {
  EndpointField(2, "index")->set_number_value(0);
  ExpectRejected(
      "cluster \"backends\": endpoint 2: metadata \"index\" 0 is out of range "
      "or repeated");
}

// Validate that FromXds refuses a health status other than HEALTHY, UNKNOWN or DRAINING.
TEST_F(FromXdsRejectionTest, UnsupportedHealthStatus) {
  Endpoint(0)->set_health_status(envoy::config::core::v3::UNHEALTHY);
  ExpectRejected(
      "cluster \"backends\": endpoint 0: health_status UNHEALTHY is not "
      "HEALTHY, "
      "UNKNOWN or DRAINING");
}

// Validate that FromXds refuses a duplicate address.
TEST_F(FromXdsRejectionTest, DuplicateAddress) {
  Endpoint(1)->mutable_endpoint()->mutable_address()->mutable_socket_address()->set_address(
      "10.0.0.1");
  ExpectRejected("cluster \"backends\": server \"10.0.0.1:80\": duplicate address");
}

// Validate that FromXds refuses an assignment without endpoints, in nginx's words.
TEST_F(FromXdsRejectionTest, NoEndpoints) {
  assignment_.clear_endpoints();
  ExpectRejected("cluster \"backends\": no servers are inside upstream \"backends\"");
}

}  // namespace
}  // namespace nginx_xds
