#include "agent/xds_client.h"

#include <deque>
#include <optional>
#include <string>

#include "absl/synchronization/mutex.h"
#include "common/xds_mapping.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/agent/fake_ads_server.h"
#include "tests/agent/test_resources.h"
#include "tests/testing/upstreams.h"

namespace nginx_xds {
namespace {

using envoy::service::discovery::v3::DiscoveryRequest;
using testing::ClusterResponse;
using testing::EndpointResponse;
using testing::FakeAdsServer;
using testing::kWait;
using testing::NormalizedUpstreamOnPorts;

// Collects the snapshots handed over and answers them with `verdict`.
class Embedder {
 public:
  struct Handed {
    nginx_xds::v1::Snapshot snapshot;
    bool from_cache;
  };

  explicit Embedder(absl::Status verdict = absl::OkStatus()) : verdict_(std::move(verdict)) {}

  XdsClient::SnapshotHandler Handler() {
    return
        [this](const nginx_xds::v1::Snapshot& snapshot, bool from_cache, SnapshotVerdict verdict) {
          absl::MutexLock lock(&mu_);
          handed_.push_back({snapshot, from_cache});
          verdict.Done(verdict_);
        };
  }

  std::optional<Handed> Next(absl::Duration timeout = kWait) {
    absl::MutexLock lock(&mu_);
    auto any = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !handed_.empty(); };
    if (!mu_.AwaitWithTimeout(absl::Condition(&any), timeout)) return std::nullopt;
    Handed h = std::move(handed_.front());
    handed_.pop_front();
    return h;
  }

  size_t pending() {
    absl::MutexLock lock(&mu_);
    return handed_.size();
  }

 private:
  const absl::Status verdict_;
  absl::Mutex mu_;
  std::deque<Handed> handed_ ABSL_GUARDED_BY(mu_);
};

XdsClientOptions Options(const std::string& server) {
  XdsClientOptions options;
  options.server = server;
  // The fake server speaks state of the world; Delta has its own tests.
  options.protocol = XdsProtocol::kSotw;
  options.node_id = "node-1";
  options.fleet = "edge";
  options.user_agent = "agent-test";
  options.backoff_initial = absl::Milliseconds(20);
  options.backoff_max = absl::Milliseconds(200);
  return options;
}

// The next request, failing the test (not hanging) when none comes.
DiscoveryRequest Next(FakeAdsServer& server, int* stream = nullptr) {
  std::optional<FakeAdsServer::Received> received = server.NextRequest();
  EXPECT_TRUE(received.has_value()) << "no request from the client";
  if (!received) return DiscoveryRequest();
  if (stream != nullptr) *stream = received->stream;
  return received->request;
}

class XdsClientTest : public ::testing::Test {
 protected:
  void SendPair(const std::string& version, const std::vector<nginx_xds::v1::Upstream>& ups) {
    ASSERT_TRUE(server_.Send(ClusterResponse(version, "c" + version, ups)));
    ASSERT_TRUE(server_.Send(EndpointResponse(version, "e" + version, ups)));
  }

  // Reads the two subscription requests of a new stream.
  void ExpectSubscriptions(const std::string& version) {
    DiscoveryRequest cds = Next(server_);
    EXPECT_EQ(cds.type_url(), kClusterTypeUrl);
    EXPECT_TRUE(cds.has_node());
    EXPECT_EQ(cds.version_info(), version);
    DiscoveryRequest eds = Next(server_);
    EXPECT_EQ(eds.type_url(), kEndpointTypeUrl);
    EXPECT_FALSE(eds.has_node());
    EXPECT_EQ(eds.version_info(), version);
  }

  // Reads the ACKs of a pair at `version`.
  void ExpectAcks(const std::string& version) {
    for (const char* type : {kClusterTypeUrl, kEndpointTypeUrl}) {
      DiscoveryRequest ack = Next(server_);
      EXPECT_EQ(ack.type_url(), type);
      EXPECT_EQ(ack.version_info(), version);
      EXPECT_EQ(ack.response_nonce(), (type == std::string(kClusterTypeUrl) ? "c" : "e") + version);
      EXPECT_FALSE(ack.has_error_detail());
      EXPECT_FALSE(ack.has_node());
    }
  }

  FakeAdsServer server_;
  Embedder embedder_;
};

// Validate the Node (with the static upstreams) goes with the stream's first
// request only, subscriptions are wildcard, and an ACK carries version and nonce.
TEST_F(XdsClientTest, NodeOnFirstRequestAndAckCarriesVersionAndNonce) {
  XdsClientOptions options = Options(server_.address());
  options.static_upstreams.push_back(NormalizedUpstreamOnPorts("static1", {8080}));
  XdsClient client(options, embedder_.Handler(), nullptr);
  ASSERT_TRUE(client.Start().ok());

  DiscoveryRequest cds = Next(server_);
  EXPECT_EQ(cds.type_url(), kClusterTypeUrl);
  EXPECT_EQ(cds.version_info(), "");
  EXPECT_EQ(cds.response_nonce(), "");
  EXPECT_EQ(cds.resource_names_size(), 0);
  ASSERT_TRUE(cds.has_node());
  EXPECT_EQ(cds.node().id(), "node-1");
  EXPECT_EQ(cds.node().cluster(), "edge");
  EXPECT_EQ(cds.node().user_agent_name(), "agent-test");
  const auto& nginx = cds.node().metadata().fields().at("nginx").struct_value();
  const auto& statics = nginx.fields().at("static_upstreams").list_value();
  ASSERT_EQ(statics.values_size(), 1);
  const auto& fields = statics.values(0).struct_value().fields();
  EXPECT_EQ(fields.at("name").string_value(), "static1");
  EXPECT_EQ(fields.at("servers")
                .list_value()
                .values(0)
                .struct_value()
                .fields()
                .at("address")
                .string_value(),
            "127.0.0.1:8080");

  DiscoveryRequest eds = Next(server_);
  EXPECT_EQ(eds.type_url(), kEndpointTypeUrl);
  EXPECT_FALSE(eds.has_node());
  EXPECT_EQ(eds.resource_names_size(), 0);

  SendPair("1", {NormalizedUpstreamOnPorts("backends", {6001})});
  std::optional<Embedder::Handed> handed = embedder_.Next();
  ASSERT_TRUE(handed);
  EXPECT_EQ(handed->snapshot.version(), "1");
  EXPECT_FALSE(handed->from_cache);
  ExpectAcks("1");
}

// Validate an invalid resource is NACKed with a precise error_detail and the
// last good version, and the embedder never sees it.
TEST_F(XdsClientTest, InvalidResourceIsNackedAndLastGoodKept) {
  XdsClient client(Options(server_.address()), embedder_.Handler(), nullptr);
  ASSERT_TRUE(client.Start().ok());
  ExpectSubscriptions("");
  const auto backends = NormalizedUpstreamOnPorts("backends", {6001, 6002});
  SendPair("1", {backends});
  ASSERT_TRUE(embedder_.Next());
  ExpectAcks("1");

  ASSERT_TRUE(server_.Send(ClusterResponse("2", "c2", {backends, backends})));
  DiscoveryRequest nack = Next(server_);
  EXPECT_EQ(nack.type_url(), kClusterTypeUrl);
  EXPECT_EQ(nack.version_info(), "1");
  EXPECT_EQ(nack.response_nonce(), "c2");
  EXPECT_EQ(nack.error_detail().code(), 3);
  EXPECT_EQ(nack.error_detail().message(), "resource 1: duplicate cluster \"backends\"");

  // An upstream that fails only when assembled is rejected alone: it keeps
  // its last good state for the embedder, and both types are NACKed naming
  // it, with the last version applied whole.
  auto bad = backends;
  auto assignment = EndpointResponse("3", "e3", {bad});
  envoy::config::endpoint::v3::ClusterLoadAssignment cla;
  ASSERT_TRUE(assignment.resources(0).UnpackTo(&cla));
  cla.mutable_endpoints(1)
      ->mutable_lb_endpoints(0)
      ->mutable_endpoint()
      ->mutable_address()
      ->mutable_socket_address()
      ->set_port_value(0);
  assignment.mutable_resources(0)->PackFrom(cla);
  ASSERT_TRUE(server_.Send(ClusterResponse("3", "c3", {bad})));
  ASSERT_TRUE(server_.Send(assignment));
  std::optional<Embedder::Handed> handed = embedder_.Next();
  ASSERT_TRUE(handed);
  EXPECT_EQ(handed->snapshot.version(), "3");
  ASSERT_EQ(handed->snapshot.upstreams_size(), 1);
  EXPECT_EQ(handed->snapshot.upstreams(0).servers_size(), 2);
  EXPECT_EQ(handed->snapshot.upstreams(0).servers(1).address(), "127.0.0.1:6002");
  for (const char* type : {kClusterTypeUrl, kEndpointTypeUrl}) {
    DiscoveryRequest n = Next(server_);
    EXPECT_EQ(n.type_url(), type);
    EXPECT_EQ(n.version_info(), "1");
    EXPECT_EQ(n.error_detail().code(), 3);
    EXPECT_EQ(n.error_detail().message(),
              "upstream \"backends\": endpoint 1: port 0 out of range 1-65535");
    ASSERT_EQ(n.error_detail().details_size(), 1);
    nginx_xds::v1::RejectedUpstreams detail;
    ASSERT_TRUE(n.error_detail().details(0).UnpackTo(&detail));
    ASSERT_EQ(detail.upstreams_size(), 1);
    EXPECT_EQ(detail.upstreams(0).name(), "backends");
  }

  // The next good version is applied whole; the duplicate never reached the
  // embedder.
  SendPair("4", {backends, NormalizedUpstreamOnPorts("api", {7001})});
  handed = embedder_.Next();
  ASSERT_TRUE(handed);
  EXPECT_EQ(handed->snapshot.version(), "4");
  ExpectAcks("4");
}

// Validate the client reconnects after the server ends the stream, sends the
// Node and its last good version again, and ACKs an unchanged re-sent
// snapshot without handing it over twice.
TEST_F(XdsClientTest, ReconnectsAfterStreamEnds) {
  XdsClient client(Options(server_.address()), embedder_.Handler(), nullptr);
  ASSERT_TRUE(client.Start().ok());
  ExpectSubscriptions("");
  const auto backends = NormalizedUpstreamOnPorts("backends", {6001});
  SendPair("1", {backends});
  ASSERT_TRUE(embedder_.Next());
  ExpectAcks("1");

  server_.EndStream();
  ASSERT_TRUE(server_.WaitForStreams(2));
  int stream = 0;
  DiscoveryRequest cds = Next(server_, &stream);
  EXPECT_EQ(stream, 2);
  EXPECT_TRUE(cds.has_node());
  EXPECT_EQ(cds.version_info(), "1");
  DiscoveryRequest eds = Next(server_);
  EXPECT_EQ(eds.version_info(), "1");

  SendPair("1", {backends});
  ExpectAcks("1");
  SendPair("2", {backends, NormalizedUpstreamOnPorts("api", {7001})});
  std::optional<Embedder::Handed> handed = embedder_.Next();
  ASSERT_TRUE(handed);
  EXPECT_EQ(handed->snapshot.version(), "2");
  ExpectAcks("2");
  EXPECT_EQ(embedder_.pending(), 0u);
}

// Validate SotW to the letter: responses of the two types at different
// versions complete each other; an assignment changed alone is applied at
// its version and only its response is answered.
TEST_F(XdsClientTest, AssignmentChangedAloneIsAppliedAtItsVersion) {
  XdsClient client(Options(server_.address()), embedder_.Handler(), nullptr);
  ASSERT_TRUE(client.Start().ok());
  ExpectSubscriptions("");
  const auto backends = NormalizedUpstreamOnPorts("backends", {6001});
  ASSERT_TRUE(server_.Send(ClusterResponse("1", "c1", {backends})));
  ASSERT_TRUE(server_.Send(EndpointResponse("2", "e2", {backends})));
  std::optional<Embedder::Handed> handed = embedder_.Next();
  ASSERT_TRUE(handed);
  EXPECT_EQ(handed->snapshot.version(), "2");
  for (const char* nonce : {"c1", "e2"}) {
    DiscoveryRequest answer = Next(server_);
    EXPECT_EQ(answer.response_nonce(), nonce);
    EXPECT_EQ(answer.version_info(), "2");
    EXPECT_FALSE(answer.has_error_detail());
  }

  const auto moved = NormalizedUpstreamOnPorts("backends", {6002});
  ASSERT_TRUE(server_.Send(EndpointResponse("3", "e3", {moved})));
  handed = embedder_.Next();
  ASSERT_TRUE(handed);
  EXPECT_EQ(handed->snapshot.version(), "3");
  ASSERT_EQ(handed->snapshot.upstreams_size(), 1);
  EXPECT_EQ(handed->snapshot.upstreams(0).servers(0).address(), "127.0.0.1:6002");
  DiscoveryRequest answer = Next(server_);
  EXPECT_EQ(answer.type_url(), kEndpointTypeUrl);
  EXPECT_EQ(answer.response_nonce(), "e3");
  EXPECT_EQ(answer.version_info(), "3");
}

// Validate that a Delta client (the default) facing a control plane that
// does not serve Delta (UNIMPLEMENTED, as before Delta) goes on in state of
// the world with the same server.
TEST(XdsClientFallbackTest, DeltaUnimplementedFallsBackToSotw) {
  FakeAdsServer server;  // serves StreamAggregatedResources only
  Embedder embedder;
  XdsClientOptions options = Options(server.address());
  options.protocol = XdsProtocol::kDelta;
  XdsClient client(options, embedder.Handler(), nullptr);
  ASSERT_TRUE(client.Start().ok());
  std::optional<FakeAdsServer::Received> cds = server.NextRequest();
  ASSERT_TRUE(cds);
  EXPECT_EQ(cds->request.type_url(), kClusterTypeUrl);
  ASSERT_TRUE(server.NextRequest());
  const auto backends = NormalizedUpstreamOnPorts("backends", {6001});
  ASSERT_TRUE(server.Send(ClusterResponse("1", "c1", {backends})));
  ASSERT_TRUE(server.Send(EndpointResponse("1", "e1", {backends})));
  std::optional<Embedder::Handed> handed = embedder.Next();
  ASSERT_TRUE(handed);
  EXPECT_EQ(handed->snapshot.version(), "1");
}

// Validate the embedder's rejection becomes a NACK carrying its message.
TEST(XdsClientRejectTest, EmbedderRejectionIsNacked) {
  FakeAdsServer server;
  Embedder embedder(absl::InvalidArgumentError("zone \"zone_for_backends\" is full"));
  XdsClient client(Options(server.address()), embedder.Handler(), nullptr);
  ASSERT_TRUE(client.Start().ok());
  Next(server);
  Next(server);
  ASSERT_TRUE(
      server.Send(ClusterResponse("1", "c1", {NormalizedUpstreamOnPorts("backends", {6001})})));
  ASSERT_TRUE(
      server.Send(EndpointResponse("1", "e1", {NormalizedUpstreamOnPorts("backends", {6001})})));
  ASSERT_TRUE(embedder.Next());
  for (const char* nonce : {"c1", "e1"}) {
    DiscoveryRequest nack = Next(server);
    EXPECT_EQ(nack.response_nonce(), nonce);
    EXPECT_EQ(nack.version_info(), "");
    EXPECT_EQ(nack.error_detail().code(), 3);
    EXPECT_EQ(nack.error_detail().message(), "zone \"zone_for_backends\" is full");
  }
}

// Validate Shutdown() returns while the client waits for an unreachable server.
TEST(XdsClientShutdownTest, ShutdownWhileUnreachable) {
  Embedder embedder;
  XdsClientOptions options = Options("127.0.0.1:1");
  XdsClient client(options, embedder.Handler(), nullptr);
  ASSERT_TRUE(client.Start().ok());
  client.Shutdown();
  client.Shutdown();  // idempotent
  EXPECT_EQ(embedder.pending(), 0u);
}

// Validate Start() twice fails.
TEST(XdsClientStartTest, StartTwiceFails) {
  Embedder embedder;
  XdsClient client(Options("127.0.0.1:1"), embedder.Handler(), nullptr);
  ASSERT_TRUE(client.Start().ok());
  EXPECT_EQ(client.Start().code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace nginx_xds
