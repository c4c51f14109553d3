// Each xDS protocol rule the control plane follows, checked over a real gRPC
// stream on loopback against the real control plane and its SQLite store.

#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/xds_mapping.h"
#include "controlplane/control_plane.h"
#include "controlplane/xds/client_resources.h"
#include "envoy/config/listener/v3/listener.pb.h"
#include "envoy/config/route/v3/route.pb.h"
#include "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.pb.h"
#include "envoy/config/cluster/v3/cluster.pb.h"
#include "envoy/config/endpoint/v3/endpoint.pb.h"
#include "envoy/service/discovery/v3/ads.grpc.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "tests/controlplane/test_control_plane.h"
#include "tests/testing/upstreams.h"

namespace nginx_xds {
namespace {

using envoy::service::discovery::v3::AggregatedDiscoveryService;
using envoy::service::discovery::v3::DiscoveryRequest;
using envoy::service::discovery::v3::DiscoveryResponse;
using nginx_xds::testing::MakeUpstreamOnPort;
using Stream = grpc::ClientReaderWriter<DiscoveryRequest, DiscoveryResponse>;

class AdsProtocolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Writes must not wait for the test's own (deliberately slow) streams.
    StartControlPlane(absl::ZeroDuration());
  }

  void StartControlPlane(absl::Duration ack_timeout) {
    cp_.reset();
    auto cp = ControlPlane::Start(TestControlPlaneOptions(ack_timeout));
    ASSERT_TRUE(cp.ok()) << cp.status();
    cp_ = std::move(*cp);
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(cp_->xds_port()),
                                   grpc::InsecureChannelCredentials());
    stub_ = AggregatedDiscoveryService::NewStub(channel_);
  }

  struct Client {
    std::unique_ptr<grpc::ClientContext> context = std::make_unique<grpc::ClientContext>();
    std::unique_ptr<Stream> stream;
  };

  Client Open() {
    Client client;
    client.context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    client.stream = stub_->StreamAggregatedResources(client.context.get());
    return client;
  }

  static DiscoveryRequest Subscribe(const std::string& node, const std::string& fleet,
                                    const std::string& type_url) {
    DiscoveryRequest request;
    request.mutable_node()->set_id(node);
    request.mutable_node()->set_cluster(fleet);
    request.set_type_url(type_url);
    return request;
  }

  static DiscoveryRequest Ack(const DiscoveryResponse& response) {
    DiscoveryRequest request;
    request.set_type_url(response.type_url());
    request.set_version_info(response.version_info());
    request.set_response_nonce(response.nonce());
    return request;
  }

  static DiscoveryRequest Nack(const DiscoveryResponse& response, const std::string& why) {
    DiscoveryRequest request = Ack(response);
    request.set_version_info("");
    request.mutable_error_detail()->set_code(3);
    request.mutable_error_detail()->set_message(why);
    return request;
  }

  static DiscoveryResponse Read(Stream* stream) {
    DiscoveryResponse response;
    EXPECT_TRUE(stream->Read(&response)) << "stream ended before a response came";
    return response;
  }

  uint64_t Write(const std::string& fleet, const nginx_xds::v1::Upstream& upstream) {
    auto result = cp_->upstreams()->Put(fleet, upstream);
    EXPECT_TRUE(result.ok()) << result.status();
    return result.ok() ? result->version() : 0;
  }

  template <typename Pred>
  nginx_xds::v1::NodeStatus AwaitNode(const std::string& node, Pred done) {
    return AwaitNodeStatus(*cp_->registry(), node, done);
  }

  std::unique_ptr<ControlPlane> cp_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<AggregatedDiscoveryService::Stub> stub_;
};

// Validate that a first request without node.id ends the stream with INVALID_ARGUMENT.
TEST_F(AdsProtocolTest, FirstRequestWithoutNodeIsRejected) {
  Client client = Open();
  DiscoveryRequest request;
  request.set_type_url(kClusterTypeUrl);
  ASSERT_TRUE(client.stream->Write(request));
  DiscoveryResponse response;
  EXPECT_FALSE(client.stream->Read(&response));
  grpc::Status status = client.stream->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("node.id"), std::string::npos);
}

// Validate that a wildcard subscription receives every resource at the current version.
TEST_F(AdsProtocolTest, WildcardSubscriptionReceivesEveryUpstream) {
  Write("web", MakeUpstreamOnPort("a", 8001));
  const uint64_t version = Write("web", MakeUpstreamOnPort("b", 8002));
  Client client = Open();
  ASSERT_TRUE(client.stream->Write(Subscribe("n1", "web", kClusterTypeUrl)));
  DiscoveryResponse response = Read(client.stream.get());
  EXPECT_EQ(response.type_url(), kClusterTypeUrl);
  EXPECT_EQ(response.version_info(), std::to_string(version));
  ASSERT_EQ(response.resources_size(), 2);
  envoy::config::cluster::v3::Cluster cluster;
  ASSERT_TRUE(response.resources(0).UnpackTo(&cluster));
  EXPECT_EQ(cluster.name(), "a");
}

// Validate that a named subscription receives only the named resources.
TEST_F(AdsProtocolTest, NamedSubscriptionReceivesOnlyNamedResources) {
  Write("web", MakeUpstreamOnPort("a", 8001));
  Write("web", MakeUpstreamOnPort("b", 8002));
  Client client = Open();
  DiscoveryRequest request = Subscribe("n1", "web", kEndpointTypeUrl);
  request.add_resource_names("b");
  ASSERT_TRUE(client.stream->Write(request));
  DiscoveryResponse response = Read(client.stream.get());
  ASSERT_EQ(response.resources_size(), 1);
  envoy::config::endpoint::v3::ClusterLoadAssignment assignment;
  ASSERT_TRUE(response.resources(0).UnpackTo(&assignment));
  EXPECT_EQ(assignment.cluster_name(), "b");
}

// Validate that each response carries a new nonce from the stream's counter.
TEST_F(AdsProtocolTest, EveryResponseCarriesANewNonce) {
  Write("web", MakeUpstreamOnPort("a", 8001));
  Client client = Open();
  ASSERT_TRUE(client.stream->Write(Subscribe("n1", "web", kClusterTypeUrl)));
  DiscoveryResponse first = Read(client.stream.get());
  ASSERT_TRUE(client.stream->Write(Ack(first)));
  // A new upstream: a Cluster change (a server change is none).
  Write("web", MakeUpstreamOnPort("b", 8002));
  DiscoveryResponse second = Read(client.stream.get());
  EXPECT_EQ(first.nonce().size(), 16u);
  EXPECT_NE(first.nonce(), second.nonce());
}

// Validate that a client that does not read its stream but ACKs nonces it
// guesses gets no queue of responses: its ACKs of unseen nonces answer
// nothing, so once it reads it gets the first response and then, at once,
// the newest version, not the ones written in between.
TEST_F(AdsProtocolTest, GuessedNoncesBuildNoQueueForAStreamThatDoesNotRead) {
  Write("web", MakeUpstreamOnPort("a", 8001));
  Client client = Open();
  ASSERT_TRUE(client.stream->Write(Subscribe("n1", "web", kClusterTypeUrl)));
  AwaitNode("n1", [](const auto& s) { return s.connected(); });
  uint64_t newest = 0;
  for (int i = 1; i <= 30; ++i) {
    DiscoveryRequest guess;
    guess.set_type_url(kClusterTypeUrl);
    guess.set_version_info(std::to_string(i));
    guess.set_response_nonce(std::to_string(i));
    ASSERT_TRUE(client.stream->Write(guess));
    newest = Write("web", MakeUpstreamOnPort(absl::StrCat("a", i), 8001 + i));
  }
  DiscoveryResponse first = Read(client.stream.get());
  ASSERT_TRUE(client.stream->Write(Ack(first)));
  DiscoveryResponse second = Read(client.stream.get());
  EXPECT_EQ(second.version_info(), std::to_string(newest));
}

// Validate that an ACK parks the stream: the next response is the next version.
TEST_F(AdsProtocolTest, AckParksTheStreamUntilANewerVersion) {
  const uint64_t v1 = Write("web", MakeUpstreamOnPort("a", 8001));
  Client client = Open();
  ASSERT_TRUE(client.stream->Write(Subscribe("n1", "web", kClusterTypeUrl)));
  DiscoveryResponse first = Read(client.stream.get());
  EXPECT_EQ(first.version_info(), std::to_string(v1));
  ASSERT_TRUE(client.stream->Write(Ack(first)));
  AwaitNode("n1", [&](const auto& s) { return s.acked_version() == v1; });
  const uint64_t v2 = Write("web", MakeUpstreamOnPort("b", 8002));
  DiscoveryResponse second = Read(client.stream.get());
  EXPECT_EQ(second.version_info(), std::to_string(v2));
}

// Validate that a request with a stale nonce is ignored (its NACK is not recorded).
TEST_F(AdsProtocolTest, StaleNonceIsIgnored) {
  Write("web", MakeUpstreamOnPort("a", 8001));
  Client client = Open();
  ASSERT_TRUE(client.stream->Write(Subscribe("n1", "web", kClusterTypeUrl)));
  DiscoveryResponse first = Read(client.stream.get());
  ASSERT_TRUE(client.stream->Write(Ack(first)));
  const uint64_t v2 = Write("web", MakeUpstreamOnPort("b", 8002));
  DiscoveryResponse second = Read(client.stream.get());
  // A NACK naming the first response's nonce answers nothing current.
  ASSERT_TRUE(client.stream->Write(Nack(first, "late rejection")));
  ASSERT_TRUE(client.stream->Write(Ack(second)));
  auto status = AwaitNode("n1", [&](const auto& s) { return s.acked_version() == v2; });
  EXPECT_FALSE(status.has_last_nack());
}

// Validate that a NACK is recorded for the node with its message and version.
TEST_F(AdsProtocolTest, NackIsRecordedInFleetStatus) {
  const uint64_t v1 = Write("web", MakeUpstreamOnPort("a", 8001));
  Client client = Open();
  ASSERT_TRUE(client.stream->Write(Subscribe("n1", "web", kClusterTypeUrl)));
  DiscoveryResponse first = Read(client.stream.get());
  ASSERT_TRUE(client.stream->Write(Nack(first, "zone full")));
  auto status = AwaitNode("n1", [](const auto& s) { return s.has_last_nack(); });
  EXPECT_EQ(status.last_nack().version(), v1);
  EXPECT_EQ(status.last_nack().message(), "zone full");
  EXPECT_EQ(status.acked_version(), 0u);
}

// Validate that a NACKed version is never re-sent to that node, even on a new
// stream, and that the next newer version is.
TEST_F(AdsProtocolTest, NackedVersionIsNeverResentButTheNextOneIs) {
  Write("web", MakeUpstreamOnPort("a", 8001));
  {
    Client client = Open();
    ASSERT_TRUE(client.stream->Write(Subscribe("n1", "web", kClusterTypeUrl)));
    DiscoveryResponse first = Read(client.stream.get());
    ASSERT_TRUE(client.stream->Write(Nack(first, "bad")));
    AwaitNode("n1", [](const auto& s) { return s.has_last_nack(); });
    client.context->TryCancel();
  }
  AwaitNode("n1", [](const auto& s) { return !s.connected(); });
  Client again = Open();
  ASSERT_TRUE(again.stream->Write(Subscribe("n1", "web", kClusterTypeUrl)));
  AwaitNode("n1", [](const auto& s) { return s.connected(); });
  // The stream has handled its subscription and sent nothing; a newer version
  // is the first thing it gets.
  const uint64_t v2 = Write("web", MakeUpstreamOnPort("a", 8002));
  DiscoveryResponse response = Read(again.stream.get());
  EXPECT_EQ(response.version_info(), std::to_string(v2));
}

// Validate that a node that sends `node` only on its first request is still
// known on later ones (its ACK is recorded).
TEST_F(AdsProtocolTest, NodeOnTheFirstRequestOnlyIsEnough) {
  const uint64_t v1 = Write("web", MakeUpstreamOnPort("a", 8001));
  Client client = Open();
  ASSERT_TRUE(client.stream->Write(Subscribe("n1", "web", kClusterTypeUrl)));
  DiscoveryResponse clusters = Read(client.stream.get());
  DiscoveryRequest endpoints;  // no node
  endpoints.set_type_url(kEndpointTypeUrl);
  ASSERT_TRUE(client.stream->Write(endpoints));
  DiscoveryResponse assignments = Read(client.stream.get());
  EXPECT_EQ(assignments.type_url(), kEndpointTypeUrl);
  ASSERT_TRUE(client.stream->Write(Ack(clusters)));
  ASSERT_TRUE(client.stream->Write(Ack(assignments)));
  auto status = AwaitNode("n1", [&](const auto& s) { return s.acked_version() == v1; });
  EXPECT_EQ(status.fleet(), "web");
}

// Validate that a client that already holds the current version (say, from
// its cache) is not sent it again.
TEST_F(AdsProtocolTest, VersionTheClientHoldsIsNotResent) {
  const uint64_t v1 = Write("web", MakeUpstreamOnPort("a", 8001));
  Client client = Open();
  DiscoveryRequest request = Subscribe("n1", "web", kClusterTypeUrl);
  request.set_version_info(std::to_string(v1));
  ASSERT_TRUE(client.stream->Write(request));
  AwaitNode("n1", [&](const auto& s) { return s.acked_version() == v1; });
  const uint64_t v2 = Write("web", MakeUpstreamOnPort("a", 8002));
  EXPECT_EQ(Read(client.stream.get()).version_info(), std::to_string(v2));
}

// Validate that fleets are separate: two fleets may each have "backends",
// and each node sees only its own fleet's.
TEST_F(AdsProtocolTest, FleetsHaveTheirOwnUpstreams) {
  Write("blue", MakeUpstreamOnPort("backends", 7001));
  Write("green", MakeUpstreamOnPort("backends", 7002));
  Client blue = Open();
  Client green = Open();
  ASSERT_TRUE(blue.stream->Write(Subscribe("b1", "blue", kEndpointTypeUrl)));
  ASSERT_TRUE(green.stream->Write(Subscribe("g1", "green", kEndpointTypeUrl)));
  envoy::config::endpoint::v3::ClusterLoadAssignment b, g;
  ASSERT_TRUE(Read(blue.stream.get()).resources(0).UnpackTo(&b));
  ASSERT_TRUE(Read(green.stream.get()).resources(0).UnpackTo(&g));
  EXPECT_EQ(b.endpoints(0).lb_endpoints(0).endpoint().address().socket_address().port_value(),
            7001u);
  EXPECT_EQ(g.endpoints(0).lb_endpoints(0).endpoint().address().socket_address().port_value(),
            7002u);
}

// Validate that a write to one fleet sends nothing to another fleet's nodes.
TEST_F(AdsProtocolTest, WriteToOneFleetDoesNotWakeAnother) {
  Write("blue", MakeUpstreamOnPort("backends", 7001));
  Client green = Open();
  ASSERT_TRUE(green.stream->Write(Subscribe("g1", "green", kClusterTypeUrl)));
  DiscoveryResponse empty = Read(green.stream.get());
  EXPECT_EQ(empty.version_info(), "0");
  EXPECT_EQ(empty.resources_size(), 0);
  ASSERT_TRUE(green.stream->Write(Ack(empty)));
  Write("blue", MakeUpstreamOnPort("backends", 7002));
  const uint64_t green_version = Write("green", MakeUpstreamOnPort("web", 7003));
  EXPECT_EQ(Read(green.stream.get()).version_info(), std::to_string(green_version));
}

// Validate that a write is answered once the fleet's connected nodes ACK it,
// with the counts in the answer.
TEST_F(AdsProtocolTest, WriteReportsFleetAcks) {
  StartControlPlane(absl::Seconds(60));
  Write("web", MakeUpstreamOnPort("a", 8001));
  Client client = Open();
  ASSERT_TRUE(client.stream->Write(Subscribe("n1", "web", kClusterTypeUrl)));
  ASSERT_TRUE(client.stream->Write(Ack(Read(client.stream.get()))));
  AwaitNode("n1", [](const auto& s) { return s.acked_version() > 0; });
  // Acknowledge the next version from another thread while the write waits.
  std::thread acker([&] {
    DiscoveryResponse next;
    if (client.stream->Read(&next)) client.stream->Write(Ack(next));
  });
  // A new upstream: a Cluster change, so the Cluster subscriber gets it.
  auto result = cp_->upstreams()->Put("web", MakeUpstreamOnPort("b", 8002));
  acker.join();
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->connected_nodes(), 1u);
  EXPECT_EQ(result->acked_nodes(), 1u);
  EXPECT_EQ(NodeStatusOf(*cp_->registry(), "n1").acked_version(), result->version());
}

// Validate that a node's nginx.conf upstreams (Node metadata) are adopted
// before its first response, so that response already holds them, and that
// the fleet's own state wins over them afterwards.
TEST_F(AdsProtocolTest, StaticUpstreamsAreAdoptedBeforeTheFirstResponse) {
  Write("web", MakeUpstreamOnPort("known", 8001));
  Client client = Open();
  DiscoveryRequest request = Subscribe("n1", "web", kClusterTypeUrl);
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(
                  R"({"nginx": {"static_upstreams": [
                        {"name": "host1", "servers": [{"address": "127.0.0.1:8088"}]},
                        {"name": "known", "servers": [{"address": "127.0.0.1:9999"}]}]}})",
                  request.mutable_node()->mutable_metadata())
                  .ok());
  ASSERT_TRUE(client.stream->Write(request));
  DiscoveryResponse response = Read(client.stream.get());
  std::vector<std::string> names;
  for (const auto& resource : response.resources()) {
    envoy::config::cluster::v3::Cluster cluster;
    ASSERT_TRUE(resource.UnpackTo(&cluster));
    names.push_back(cluster.name());
  }
  EXPECT_EQ(names, (std::vector<std::string>{"host1", "known"}));
  auto known = cp_->upstreams()->Get("web", "known");
  ASSERT_TRUE(known.ok());
  EXPECT_EQ(known->servers(0).address(), "127.0.0.1:8001");
}

// Validate what gRPC's xDS resolver needs for `xds:///foo` (gRFC A27): a
// Listener "foo" whose API listener takes routes "foo" over RDS on ADS with
// the router filter last, and a RouteConfiguration "foo" sending every
// request of every authority to the Cluster "foo".
TEST_F(AdsProtocolTest, ListenerAndRouteConfigurationLeadToTheUpstreamsCluster) {
  const uint64_t version = Write("web", MakeUpstreamOnPort("foo", 8001));
  Write("web", MakeUpstreamOnPort("bar", 8002));
  Client client = Open();
  DiscoveryRequest listeners = Subscribe("grpc-1", "web", kListenerTypeUrl);
  listeners.add_resource_names("foo");
  ASSERT_TRUE(client.stream->Write(listeners));
  DiscoveryResponse response = Read(client.stream.get());
  EXPECT_EQ(response.version_info(), std::to_string(version + 1));
  ASSERT_EQ(response.resources_size(), 1);
  envoy::config::listener::v3::Listener listener;
  ASSERT_TRUE(response.resources(0).UnpackTo(&listener));
  EXPECT_EQ(listener.name(), "foo");
  envoy::extensions::filters::network::http_connection_manager::v3::HttpConnectionManager manager;
  ASSERT_TRUE(listener.api_listener().api_listener().UnpackTo(&manager));
  EXPECT_TRUE(manager.rds().config_source().has_ads());
  EXPECT_EQ(manager.rds().route_config_name(), "foo");
  ASSERT_GE(manager.http_filters_size(), 1);
  EXPECT_EQ(manager.http_filters(manager.http_filters_size() - 1).name(),
            "envoy.filters.http.router");

  DiscoveryRequest routes = Subscribe("grpc-1", "web", kRouteConfigurationTypeUrl);
  routes.add_resource_names("foo");
  ASSERT_TRUE(client.stream->Write(routes));
  response = Read(client.stream.get());
  ASSERT_EQ(response.resources_size(), 1);
  envoy::config::route::v3::RouteConfiguration config;
  ASSERT_TRUE(response.resources(0).UnpackTo(&config));
  EXPECT_EQ(config.name(), "foo");
  ASSERT_EQ(config.virtual_hosts_size(), 1);
  EXPECT_EQ(config.virtual_hosts(0).domains(0), "*");
  ASSERT_EQ(config.virtual_hosts(0).routes_size(), 1);
  EXPECT_EQ(config.virtual_hosts(0).routes(0).match().prefix(), "");
  EXPECT_EQ(config.virtual_hosts(0).routes(0).route().cluster(), "foo");
}

// Validate that a name that does not exist gets the SotW answer "does not
// exist" (a response without it) at once, not silence until a timeout.
TEST_F(AdsProtocolTest, UnknownNameIsAnsweredWithoutIt) {
  const uint64_t version = Write("web", MakeUpstreamOnPort("foo", 8001));
  Client client = Open();
  DiscoveryRequest listeners = Subscribe("grpc-1", "web", kListenerTypeUrl);
  listeners.add_resource_names("nope");
  ASSERT_TRUE(client.stream->Write(listeners));
  DiscoveryResponse response = Read(client.stream.get());
  EXPECT_EQ(response.version_info(), std::to_string(version));
  EXPECT_EQ(response.resources_size(), 0);
}

// Validate that a by-name subscriber is sent a type only when a resource it
// asked for changed: a write to another upstream sends it nothing (its next
// response is the next change of its own), yet it counts as up to date.
TEST_F(AdsProtocolTest, ByNameSubscriberIsSentOnlyItsOwnChanges) {
  Write("web", MakeUpstreamOnPort("foo", 8001));
  Client client = Open();
  DiscoveryRequest clusters = Subscribe("grpc-1", "web", kEndpointTypeUrl);
  clusters.add_resource_names("foo");
  ASSERT_TRUE(client.stream->Write(clusters));
  // A by-name client repeats its names in every request, ACKs too.
  DiscoveryRequest ack = Ack(Read(client.stream.get()));
  ack.add_resource_names("foo");
  ASSERT_TRUE(client.stream->Write(ack));
  const uint64_t other = Write("web", MakeUpstreamOnPort("bar", 8002));
  AwaitNode("grpc-1", [&](const auto& s) { return s.acked_version() == other; });
  const uint64_t own = Write("web", MakeUpstreamOnPort("foo", 8003));
  EXPECT_EQ(Read(client.stream.get()).version_info(), std::to_string(own));
}

// Validate that a by-name subscriber's NACK (a gRPC client's, with no
// RejectedUpstreams details) rejects the upstreams it asked for, is shown with
// its message, and does not fail the fleet's writes to other upstreams.
TEST_F(AdsProtocolTest, ByNameNackRejectsWhatItAskedForOnly) {
  const uint64_t v1 = Write("web", MakeUpstreamOnPort("foo", 8001));
  Client client = Open();
  DiscoveryRequest clusters = Subscribe("grpc-1", "web", kClusterTypeUrl);
  clusters.add_resource_names("foo");
  ASSERT_TRUE(client.stream->Write(clusters));
  DiscoveryRequest nack = Nack(Read(client.stream.get()), "foo: unsupported lb_policy");
  nack.add_resource_names("foo");
  ASSERT_TRUE(client.stream->Write(nack));
  auto status = AwaitNode("grpc-1", [](const auto& s) { return s.has_last_nack(); });
  EXPECT_EQ(status.last_nack().version(), v1);
  EXPECT_EQ(status.last_nack().message(), "foo: unsupported lb_policy");
  ASSERT_EQ(status.rejected_upstreams_size(), 1);
  EXPECT_EQ(status.rejected_upstreams(0).name(), "foo");

  const uint64_t v2 = Write("web", MakeUpstreamOnPort("bar", 8002));
  std::set<std::string> changed = {"bar"};
  NodeRegistry::Progress progress =
      cp_->registry()->WaitForFleet("web", v2, absl::Now() + absl::Seconds(10), &changed);
  EXPECT_EQ(progress.connected, 1u);
  EXPECT_EQ(progress.acked, 1u);
  EXPECT_TRUE(progress.rejections.empty());
}

// Validate that a stream reusing a connected node's id in another fleet is
// refused with FAILED_PRECONDITION and leaves the node where it is (one
// claiming the same fleet joins it, as an nginx reload's new worker does).
TEST_F(AdsProtocolTest, SameNodeIdInAnotherFleetIsRefused) {
  Write("web", MakeUpstreamOnPort("a", 8001));
  Client real = Open();
  ASSERT_TRUE(real.stream->Write(Subscribe("n1", "web", kClusterTypeUrl)));
  Read(real.stream.get());
  Client impostor = Open();
  ASSERT_TRUE(impostor.stream->Write(Subscribe("n1", "other", kClusterTypeUrl)));
  DiscoveryResponse response;
  EXPECT_FALSE(impostor.stream->Read(&response));
  grpc::Status status = impostor.stream->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(status.error_message().find("is connected in fleet \"web\""), std::string::npos);
  Client reload = Open();
  ASSERT_TRUE(reload.stream->Write(Subscribe("n1", "web", kClusterTypeUrl)));
  Read(reload.stream.get());
  auto node = AwaitNode("n1", [](const auto& s) { return s.streams() == 2; });
  EXPECT_EQ(node.fleet(), "web");
}

// Validate that a response larger than the node accepts (its declared
// max_response_bytes, else gRPC's 4 MiB) is not sent but reported in fleet
// status as a rejection of that version, with the sizes, instead of a
// stream the client would drop and reopen forever.
TEST_F(AdsProtocolTest, ResponseTooLargeForTheNodeIsReportedNotSent) {
  uint64_t version = 0;
  for (int u = 0; u < 200; ++u) {
    std::vector<std::string> addresses;
    for (int s = 0; s < 100; ++s) addresses.push_back(absl::StrCat("10.1.", u, ".", s + 1, ":80"));
    version = Write("web", nginx_xds::testing::MakeUpstream(absl::StrCat("u", u), addresses));
  }
  Client client = Open();
  DiscoveryRequest request = Subscribe("small", "web", kEndpointTypeUrl);
  auto* nginx = (*request.mutable_node()->mutable_metadata()->mutable_fields())[kNginxMetadataKey]
                    .mutable_struct_value();
  (*nginx->mutable_fields())[kMaxResponseBytesKey].set_number_value(1 << 20);
  ASSERT_TRUE(client.stream->Write(request));
  auto status = AwaitNode("small", [](const auto& s) { return s.has_last_nack(); });
  EXPECT_EQ(status.last_nack().version(), version);
  EXPECT_NE(status.last_nack().message().find("not sent by the control plane"), std::string::npos)
      << status.last_nack().message();
  EXPECT_NE(status.last_nack().message().find("over the 1048576 this node accepts"),
            std::string::npos);
}

// The names of a SotW response's resources (Clusters or assignments), and
// for assignments the port of their first endpoint.
std::map<std::string, int> NamesAndPorts(const DiscoveryResponse& response) {
  std::map<std::string, int> out;
  for (const auto& any : response.resources()) {
    envoy::config::endpoint::v3::ClusterLoadAssignment assignment;
    envoy::config::cluster::v3::Cluster cluster;
    if (any.UnpackTo(&assignment) && any.type_url() == kEndpointTypeUrl) {
      out[assignment.cluster_name()] =
          assignment.endpoints_size() == 0
              ? 0
              : assignment.endpoints(0).lb_endpoints(0).endpoint().address().socket_address()
                    .port_value();
    } else if (any.UnpackTo(&cluster)) {
      out[cluster.name()] = 0;
    }
  }
  return out;
}

// Validate SotW to the letter of the xDS spec with an Envoy-style client
// (Clusters by wildcard, then ClusterLoadAssignments by the names it uses):
// a server change sends that one assignment and no Cluster list, and its
// EDS ACK puts the node at the version; a change to an assignment it did
// not ask for sends nothing and the node is still up to date; a new or
// deleted upstream sends the complete Cluster list; a new EDS name gets
// its assignment.
TEST_F(AdsProtocolTest, EnvoyStyleClientGetsCompleteClustersAndChangedAssignmentsByName) {
  Write("web", MakeUpstreamOnPort("a", 8001));
  Write("web", MakeUpstreamOnPort("b", 8002));
  const uint64_t v3 = Write("web", MakeUpstreamOnPort("c", 8003));
  Client client = Open();
  ASSERT_TRUE(client.stream->Write(Subscribe("envoy-1", "web", kClusterTypeUrl)));
  DiscoveryResponse clusters = Read(client.stream.get());
  EXPECT_EQ(NamesAndPorts(clusters), (std::map<std::string, int>{{"a", 0}, {"b", 0}, {"c", 0}}));
  ASSERT_TRUE(client.stream->Write(Ack(clusters)));
  auto eds = [](const std::vector<std::string>& names) {
    DiscoveryRequest request;
    request.set_type_url(kEndpointTypeUrl);
    for (const std::string& name : names) request.add_resource_names(name);
    return request;
  };
  auto eds_ack = [&](const DiscoveryResponse& response, const std::vector<std::string>& names) {
    DiscoveryRequest request = Ack(response);
    for (const std::string& name : names) request.add_resource_names(name);
    return request;
  };
  ASSERT_TRUE(client.stream->Write(eds({"a", "b"})));
  DiscoveryResponse assignments = Read(client.stream.get());
  EXPECT_EQ(assignments.type_url(), kEndpointTypeUrl);
  EXPECT_EQ(NamesAndPorts(assignments), (std::map<std::string, int>{{"a", 8001}, {"b", 8002}}));
  ASSERT_TRUE(client.stream->Write(eds_ack(assignments, {"a", "b"})));
  AwaitNode("envoy-1", [&](const auto& s) { return s.acked_version() == v3; });

  // A server change: only its assignment; Clusters would have come first.
  const uint64_t v4 = Write("web", MakeUpstreamOnPort("a", 9001));
  DiscoveryResponse change = Read(client.stream.get());
  EXPECT_EQ(change.type_url(), kEndpointTypeUrl);
  EXPECT_EQ(change.version_info(), std::to_string(v4));
  EXPECT_EQ(NamesAndPorts(change), (std::map<std::string, int>{{"a", 9001}}));
  ASSERT_TRUE(client.stream->Write(eds_ack(change, {"a", "b"})));
  AwaitNode("envoy-1", [&](const auto& s) { return s.acked_version() == v4; });

  // Not asked for: nothing sent, yet the node is at the version.
  const uint64_t v5 = Write("web", MakeUpstreamOnPort("c", 9003));
  AwaitNode("envoy-1", [&](const auto& s) { return s.acked_version() == v5; });

  // A new upstream: the complete Cluster list (the next thing read, so
  // nothing was sent for v5), and no assignment (d is not asked for yet).
  const uint64_t v6 = Write("web", MakeUpstreamOnPort("d", 8004));
  clusters = Read(client.stream.get());
  EXPECT_EQ(clusters.type_url(), kClusterTypeUrl);
  EXPECT_EQ(clusters.version_info(), std::to_string(v6));
  EXPECT_EQ(NamesAndPorts(clusters),
            (std::map<std::string, int>{{"a", 0}, {"b", 0}, {"c", 0}, {"d", 0}}));
  ASSERT_TRUE(client.stream->Write(Ack(clusters)));
  AwaitNode("envoy-1", [&](const auto& s) { return s.acked_version() == v6; });
  ASSERT_TRUE(client.stream->Write(eds({"a", "b", "d"})));
  assignments = Read(client.stream.get());
  EXPECT_EQ(assignments.type_url(), kEndpointTypeUrl);
  EXPECT_EQ(NamesAndPorts(assignments).count("d"), 1u);
  ASSERT_TRUE(client.stream->Write(eds_ack(assignments, {"a", "b", "d"})));

  // A deleted upstream: the complete Cluster list without it; its
  // assignment is not announced (the Cluster list drops it).
  ASSERT_TRUE(cp_->upstreams()->Delete("web", "b").ok());
  const uint64_t v7 = cp_->upstreams()->FleetVersion("web");
  clusters = Read(client.stream.get());
  EXPECT_EQ(clusters.type_url(), kClusterTypeUrl);
  EXPECT_EQ(clusters.version_info(), std::to_string(v7));
  EXPECT_EQ(NamesAndPorts(clusters), (std::map<std::string, int>{{"a", 0}, {"c", 0}, {"d", 0}}));
  ASSERT_TRUE(client.stream->Write(Ack(clusters)));
  AwaitNode("envoy-1", [&](const auto& s) { return s.acked_version() == v7; });
}

// Validate that a wildcard SotW client (an nginx agent in SotW mode) gets a
// server change as that one assignment, without the Cluster list, and is at
// the version once it ACKs the assignment.
TEST_F(AdsProtocolTest, ServerChangeSendsOneAssignmentAndNoClusters) {
  Write("web", MakeUpstreamOnPort("a", 8001));
  Write("web", MakeUpstreamOnPort("b", 8002));
  Client client = Open();
  ASSERT_TRUE(client.stream->Write(Subscribe("n1", "web", kClusterTypeUrl)));
  ASSERT_TRUE(client.stream->Write(Ack(Read(client.stream.get()))));
  ASSERT_TRUE(client.stream->Write(Subscribe("n1", "web", kEndpointTypeUrl)));
  DiscoveryResponse all = Read(client.stream.get());
  EXPECT_EQ(NamesAndPorts(all), (std::map<std::string, int>{{"a", 8001}, {"b", 8002}}));
  ASSERT_TRUE(client.stream->Write(Ack(all)));
  const uint64_t version = Write("web", MakeUpstreamOnPort("b", 9002));
  DiscoveryResponse change = Read(client.stream.get());
  EXPECT_EQ(change.type_url(), kEndpointTypeUrl);
  EXPECT_EQ(NamesAndPorts(change), (std::map<std::string, int>{{"b", 9002}}));
  ASSERT_TRUE(client.stream->Write(Ack(change)));
  AwaitNode("n1", [&](const auto& s) { return s.acked_version() == version; });
}

}  // namespace
}  // namespace nginx_xds
