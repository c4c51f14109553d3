// Each Delta xDS (DeltaAggregatedResources) rule the control plane follows,
// checked over a real gRPC stream on loopback against the real control plane
// and its SQLite store.

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/xds_mapping.h"
#include "controlplane/control_plane.h"
#include "controlplane/xds/client_resources.h"
#include "controlplane/xds/delta_stream.h"
#include "envoy/config/endpoint/v3/endpoint.pb.h"
#include "envoy/config/listener/v3/listener.pb.h"
#include "envoy/service/discovery/v3/ads.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/controlplane/test_control_plane.h"
#include "tests/testing/upstreams.h"

namespace nginx_xds {
namespace {

using envoy::service::discovery::v3::AggregatedDiscoveryService;
using envoy::service::discovery::v3::DeltaDiscoveryRequest;
using envoy::service::discovery::v3::DeltaDiscoveryResponse;
using nginx_xds::testing::MakeUpstream;
using nginx_xds::testing::MakeUpstreamOnPort;
using Stream = grpc::ClientReaderWriter<DeltaDiscoveryRequest, DeltaDiscoveryResponse>;

class DeltaProtocolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Writes must not wait for the test's own (deliberately slow) streams.
    auto cp = ControlPlane::Start(TestControlPlaneOptions(absl::ZeroDuration()));
    ASSERT_TRUE(cp.ok()) << cp.status();
    cp_ = std::move(*cp);
    stub_ = AggregatedDiscoveryService::NewStub(grpc::CreateChannel(
        "127.0.0.1:" + std::to_string(cp_->xds_port()), grpc::InsecureChannelCredentials()));
  }

  struct Client {
    std::unique_ptr<grpc::ClientContext> context = std::make_unique<grpc::ClientContext>();
    std::unique_ptr<Stream> stream;
  };

  Client Open() {
    Client client;
    client.context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    client.stream = stub_->DeltaAggregatedResources(client.context.get());
    return client;
  }

  static DeltaDiscoveryRequest Subscribe(const std::string& type_url,
                                         const std::vector<std::string>& names = {},
                                         const std::string& node = "n1") {
    DeltaDiscoveryRequest request;
    request.mutable_node()->set_id(node);
    request.mutable_node()->set_cluster("web");
    request.set_type_url(type_url);
    for (const std::string& name : names) request.add_resource_names_subscribe(name);
    return request;
  }

  static DeltaDiscoveryRequest Ack(const DeltaDiscoveryResponse& response) {
    DeltaDiscoveryRequest request;
    request.set_type_url(response.type_url());
    request.set_response_nonce(response.nonce());
    return request;
  }

  static DeltaDiscoveryRequest Nack(const DeltaDiscoveryResponse& response,
                                    const std::string& why) {
    DeltaDiscoveryRequest request = Ack(response);
    request.mutable_error_detail()->set_code(3);
    request.mutable_error_detail()->set_message(why);
    return request;
  }

  static DeltaDiscoveryResponse Read(Stream* stream) {
    DeltaDiscoveryResponse response;
    EXPECT_TRUE(stream->Read(&response)) << "stream ended before a response came";
    return response;
  }

  // name -> version of the response's resources.
  static std::map<std::string, std::string> Resources(const DeltaDiscoveryResponse& response) {
    std::map<std::string, std::string> resources;
    for (const auto& resource : response.resources()) {
      EXPECT_FALSE(resource.version().empty()) << resource.name();
      resources[resource.name()] = resource.version();
    }
    return resources;
  }

  static std::vector<std::string> Removed(const DeltaDiscoveryResponse& response) {
    return {response.removed_resources().begin(), response.removed_resources().end()};
  }

  uint64_t Write(const nginx_xds::v1::Upstream& upstream) {
    auto result = cp_->upstreams()->Put("web", upstream);
    EXPECT_TRUE(result.ok()) << result.status();
    return result.ok() ? result->version() : 0;
  }

  template <typename Pred>
  nginx_xds::v1::NodeStatus AwaitNode(const std::string& node, Pred done) {
    return AwaitNodeStatus(*cp_->registry(), node, done);
  }

  std::unique_ptr<ControlPlane> cp_;
  std::unique_ptr<AggregatedDiscoveryService::Stub> stub_;
};

// Validate that a type's first request without names is a wildcard: every
// resource, each with its name and version, and the system version.
TEST_F(DeltaProtocolTest, FirstRequestWithoutNamesGetsEveryResourceWithItsVersion) {
  Write(MakeUpstreamOnPort("a", 8001));
  const uint64_t version = Write(MakeUpstreamOnPort("b", 8002));
  Client client = Open();
  ASSERT_TRUE(client.stream->Write(Subscribe(kClusterTypeUrl)));
  DeltaDiscoveryResponse response = Read(client.stream.get());
  EXPECT_EQ(response.type_url(), kClusterTypeUrl);
  EXPECT_EQ(response.system_version_info(), std::to_string(version));
  auto resources = Resources(response);
  ASSERT_EQ(resources.size(), 2u);
  EXPECT_TRUE(resources.count("a") && resources.count("b"));
  envoy::config::cluster::v3::Cluster cluster;
  ASSERT_TRUE(response.resources(0).resource().UnpackTo(&cluster));
  EXPECT_EQ(cluster.name(), response.resources(0).name());
}

// Validate that a write sends only what changed: a server change is a new
// ClusterLoadAssignment for its upstream alone, and no Cluster; the node is
// still counted as up to date on both types.
TEST_F(DeltaProtocolTest, OnlyChangedResourcesAreSent) {
  Write(MakeUpstreamOnPort("a", 8001));
  Write(MakeUpstreamOnPort("b", 8002));
  Client client = Open();
  ASSERT_TRUE(client.stream->Write(Subscribe(kClusterTypeUrl)));
  ASSERT_TRUE(client.stream->Write(Ack(Read(client.stream.get()))));
  ASSERT_TRUE(client.stream->Write(Subscribe(kEndpointTypeUrl)));
  DeltaDiscoveryResponse endpoints = Read(client.stream.get());
  EXPECT_EQ(Resources(endpoints).size(), 2u);
  ASSERT_TRUE(client.stream->Write(Ack(endpoints)));

  const uint64_t version = Write(MakeUpstreamOnPort("a", 9001));
  DeltaDiscoveryResponse change = Read(client.stream.get());
  EXPECT_EQ(change.type_url(), kEndpointTypeUrl);
  EXPECT_EQ(change.system_version_info(), std::to_string(version));
  auto resources = Resources(change);
  ASSERT_EQ(resources.size(), 1u);
  EXPECT_TRUE(resources.count("a"));
  EXPECT_NE(resources["a"], Resources(endpoints)["a"]);
  ASSERT_TRUE(client.stream->Write(Ack(change)));
  AwaitNode("n1", [&](const auto& s) { return s.acked_version() == version; });
}

// Validate that a deleted upstream is announced in removed_resources.
TEST_F(DeltaProtocolTest, DeletedUpstreamIsRemoved) {
  Write(MakeUpstreamOnPort("a", 8001));
  Write(MakeUpstreamOnPort("b", 8002));
  Client client = Open();
  ASSERT_TRUE(client.stream->Write(Subscribe(kClusterTypeUrl)));
  ASSERT_TRUE(client.stream->Write(Ack(Read(client.stream.get()))));
  ASSERT_TRUE(cp_->upstreams()->Delete("web", "b").ok());
  DeltaDiscoveryResponse response = Read(client.stream.get());
  EXPECT_EQ(response.resources_size(), 0);
  EXPECT_EQ(Removed(response), std::vector<std::string>{"b"});
}

// Validate coalescing: a stream that has not answered its response while
// several writes land then gets each changed resource once, at its newest
// state, and a deleted one as removed; an untouched one is not sent.
TEST_F(DeltaProtocolTest, StreamBehindGetsEachChangedResourceOnceAtItsNewest) {
  Write(MakeUpstreamOnPort("a", 8001));
  Write(MakeUpstreamOnPort("b", 8002));
  Write(MakeUpstreamOnPort("c", 8003));
  Write(MakeUpstreamOnPort("d", 8004));
  Client client = Open();
  ASSERT_TRUE(client.stream->Write(Subscribe(kEndpointTypeUrl)));
  DeltaDiscoveryResponse first = Read(client.stream.get());
  ASSERT_EQ(Resources(first).size(), 4u);
  // Not answered yet: these writes pile up behind it.
  Write(MakeUpstreamOnPort("a", 9001));
  Write(MakeUpstreamOnPort("a", 9002));
  Write(MakeUpstreamOnPort("b", 9003));
  ASSERT_TRUE(cp_->upstreams()->Delete("web", "c").ok());
  const uint64_t version = Write(MakeUpstreamOnPort("a", 9004));
  ASSERT_TRUE(client.stream->Write(Ack(first)));
  DeltaDiscoveryResponse change = Read(client.stream.get());
  EXPECT_EQ(change.system_version_info(), std::to_string(version));
  ASSERT_EQ(change.resources_size(), 2);
  std::map<std::string, int> ports;
  for (const auto& resource : change.resources()) {
    envoy::config::endpoint::v3::ClusterLoadAssignment assignment;
    ASSERT_TRUE(resource.resource().UnpackTo(&assignment));
    ports[resource.name()] = assignment.endpoints(0).lb_endpoints(0).endpoint().address()
                                 .socket_address().port_value();
  }
  EXPECT_EQ(ports, (std::map<std::string, int>{{"a", 9004}, {"b", 9003}}));
  EXPECT_EQ(Removed(change), std::vector<std::string>{"c"});
  ASSERT_TRUE(client.stream->Write(Ack(change)));
  AwaitNode("n1", [&](const auto& s) { return s.acked_version() == version; });
}

// Validate subscribe and unsubscribe by name: only named resources come;
// a name added later comes then; an unsubscribed name is not sent again.
TEST_F(DeltaProtocolTest, SubscribeAndUnsubscribeByName) {
  Write(MakeUpstreamOnPort("a", 8001));
  Write(MakeUpstreamOnPort("b", 8002));
  Client client = Open();
  ASSERT_TRUE(client.stream->Write(Subscribe(kClusterTypeUrl, {"a"})));
  DeltaDiscoveryResponse first = Read(client.stream.get());
  EXPECT_EQ(Resources(first).size(), 1u);
  EXPECT_TRUE(Resources(first).count("a"));
  DeltaDiscoveryRequest more = Ack(first);
  more.add_resource_names_subscribe("b");
  ASSERT_TRUE(client.stream->Write(more));
  DeltaDiscoveryResponse second = Read(client.stream.get());
  EXPECT_EQ(Resources(second).size(), 1u);
  EXPECT_TRUE(Resources(second).count("b"));
  DeltaDiscoveryRequest fewer = Ack(second);
  fewer.add_resource_names_unsubscribe("a");
  ASSERT_TRUE(client.stream->Write(fewer));
  nginx_xds::v1::Upstream a = MakeUpstreamOnPort("a", 9001);
  a.set_method(nginx_xds::v1::LEAST_CONN);  // a Cluster change
  Write(a);
  nginx_xds::v1::Upstream b = MakeUpstreamOnPort("b", 9002);
  b.set_method(nginx_xds::v1::LEAST_CONN);
  Write(b);
  DeltaDiscoveryResponse third = Read(client.stream.get());
  EXPECT_EQ(Resources(third).size(), 1u);
  EXPECT_TRUE(Resources(third).count("b")) << "the unsubscribed a came instead";
}

// Validate that a name asked for that does not exist is answered at once
// as removed (Delta's "does not exist"), and sent once it exists.
TEST_F(DeltaProtocolTest, UnknownNameIsAnsweredAsRemovedThenSentWhenWritten) {
  Client client = Open();
  ASSERT_TRUE(client.stream->Write(Subscribe(kListenerTypeUrl, {"foo"})));
  DeltaDiscoveryResponse absent = Read(client.stream.get());
  EXPECT_EQ(Removed(absent), std::vector<std::string>{"foo"});
  ASSERT_TRUE(client.stream->Write(Ack(absent)));
  Write(MakeUpstreamOnPort("foo", 8001));
  DeltaDiscoveryResponse present = Read(client.stream.get());
  ASSERT_EQ(present.resources_size(), 1);
  envoy::config::listener::v3::Listener listener;
  ASSERT_TRUE(present.resources(0).resource().UnpackTo(&listener));
  EXPECT_EQ(listener.name(), "foo");
  EXPECT_TRUE(listener.has_api_listener());
}

// Validate that what a client declares in initial_resource_versions (its
// previous stream) is not sent again: the new stream's first response is
// empty, and the next write sends only its own change.
TEST_F(DeltaProtocolTest, InitialResourceVersionsAreNotResent) {
  Write(MakeUpstreamOnPort("a", 8001));
  const uint64_t version = Write(MakeUpstreamOnPort("b", 8002));
  std::map<std::string, std::string> held;
  {
    Client client = Open();
    ASSERT_TRUE(client.stream->Write(Subscribe(kEndpointTypeUrl)));
    held = Resources(Read(client.stream.get()));
    client.context->TryCancel();
  }
  Client again = Open();
  DeltaDiscoveryRequest request = Subscribe(kEndpointTypeUrl);
  for (const auto& [name, v] : held) (*request.mutable_initial_resource_versions())[name] = v;
  ASSERT_TRUE(again.stream->Write(request));
  DeltaDiscoveryResponse first = Read(again.stream.get());
  EXPECT_EQ(first.resources_size(), 0);
  EXPECT_EQ(first.removed_resources_size(), 0);
  EXPECT_EQ(first.system_version_info(), std::to_string(version));
  ASSERT_TRUE(again.stream->Write(Ack(first)));
  Write(MakeUpstreamOnPort("b", 9002));
  auto resources = Resources(Read(again.stream.get()));
  EXPECT_EQ(resources.size(), 1u);
  EXPECT_TRUE(resources.count("b"));
}

// Validate that initial_resource_versions are compared with what exists:
// a stale version is replaced, a name that is gone is removed, a current
// one is not sent, and a name the client does not hold is sent.
TEST_F(DeltaProtocolTest, StaleAndGoneInitialResourceVersionsAreCorrected) {
  Write(MakeUpstreamOnPort("a", 8001));
  Write(MakeUpstreamOnPort("b", 8002));
  Write(MakeUpstreamOnPort("gone", 8003));
  std::map<std::string, std::string> held;
  {
    Client client = Open();
    ASSERT_TRUE(client.stream->Write(Subscribe(kEndpointTypeUrl)));
    held = Resources(Read(client.stream.get()));
    client.context->TryCancel();
  }
  ASSERT_EQ(held.size(), 3u);
  Write(MakeUpstreamOnPort("a", 9001));
  ASSERT_TRUE(cp_->upstreams()->Delete("web", "gone").ok());
  const uint64_t version = Write(MakeUpstreamOnPort("new", 8004));
  Client again = Open();
  DeltaDiscoveryRequest request = Subscribe(kEndpointTypeUrl);
  for (const auto& [name, v] : held) (*request.mutable_initial_resource_versions())[name] = v;
  ASSERT_TRUE(again.stream->Write(request));
  DeltaDiscoveryResponse first = Read(again.stream.get());
  auto resources = Resources(first);
  EXPECT_EQ(resources.size(), 2u);
  EXPECT_TRUE(resources.count("a") && resources.count("new")) << "b was re-sent or a/new missing";
  EXPECT_NE(resources["a"], held["a"]);
  EXPECT_EQ(Removed(first), std::vector<std::string>{"gone"});
  ASSERT_TRUE(again.stream->Write(Ack(first)));
  AwaitNode("n1", [&](const auto& s) { return s.acked_version() == version; });
}

// Validate that a client that unsubscribes a name forgets it: subscribing
// to it again sends it again, though it did not change.
TEST_F(DeltaProtocolTest, ResubscribedNameIsSentAgain) {
  Write(MakeUpstreamOnPort("a", 8001));
  Write(MakeUpstreamOnPort("b", 8002));
  Client client = Open();
  ASSERT_TRUE(client.stream->Write(Subscribe(kClusterTypeUrl, {"a", "b"})));
  DeltaDiscoveryResponse first = Read(client.stream.get());
  ASSERT_EQ(Resources(first).size(), 2u);
  DeltaDiscoveryRequest fewer = Ack(first);
  fewer.add_resource_names_unsubscribe("a");
  ASSERT_TRUE(client.stream->Write(fewer));
  // A write to b is no Cluster change: the client is up to date.
  const uint64_t version = Write(MakeUpstreamOnPort("b", 9002));
  AwaitNode("n1", [&](const auto& s) { return s.acked_version() == version; });
  DeltaDiscoveryRequest more;
  more.set_type_url(kClusterTypeUrl);
  more.add_resource_names_subscribe("a");
  ASSERT_TRUE(client.stream->Write(more));
  auto resources = Resources(Read(client.stream.get()));
  EXPECT_EQ(resources.size(), 1u);
  EXPECT_TRUE(resources.count("a"));
}

// Validate that a client subscribed by name that then subscribes to the
// wildcard gets every other resource, and not the ones it holds.
TEST_F(DeltaProtocolTest, WildcardAfterNamesSendsOnlyWhatIsNotHeld) {
  Write(MakeUpstreamOnPort("a", 8001));
  Write(MakeUpstreamOnPort("b", 8002));
  Write(MakeUpstreamOnPort("c", 8003));
  Client client = Open();
  ASSERT_TRUE(client.stream->Write(Subscribe(kClusterTypeUrl, {"a"})));
  DeltaDiscoveryResponse first = Read(client.stream.get());
  ASSERT_EQ(Resources(first).size(), 1u);
  DeltaDiscoveryRequest all = Ack(first);
  all.add_resource_names_subscribe("*");
  ASSERT_TRUE(client.stream->Write(all));
  DeltaDiscoveryResponse rest = Read(client.stream.get());
  auto resources = Resources(rest);
  EXPECT_EQ(resources.size(), 2u);
  EXPECT_TRUE(resources.count("b") && resources.count("c")) << "a was re-sent";
}

// Validate that a NACKed resource version is never sent again (a write to
// another upstream sends only that one), is shown in fleet status, and that
// the resource's next version is sent.
TEST_F(DeltaProtocolTest, NackedResourceVersionIsNeverResent) {
  const uint64_t v1 = Write(MakeUpstreamOnPort("a", 8001));
  Client client = Open();
  ASSERT_TRUE(client.stream->Write(Subscribe(kClusterTypeUrl)));
  ASSERT_TRUE(client.stream->Write(Nack(Read(client.stream.get()), "cannot use a")));
  auto status = AwaitNode("n1", [](const auto& s) { return s.has_last_nack(); });
  EXPECT_EQ(status.last_nack().version(), v1);
  EXPECT_EQ(status.last_nack().message(), "cannot use a");
  Write(MakeUpstreamOnPort("b", 8002));
  DeltaDiscoveryResponse with_b = Read(client.stream.get());
  auto resources = Resources(with_b);
  EXPECT_EQ(resources.size(), 1u);
  EXPECT_TRUE(resources.count("b")) << "the NACKed a was sent again";
  ASSERT_TRUE(client.stream->Write(Ack(with_b)));
  nginx_xds::v1::Upstream a = MakeUpstreamOnPort("a", 8001);
  a.set_method(nginx_xds::v1::LEAST_CONN);
  Write(a);
  resources = Resources(Read(client.stream.get()));
  EXPECT_EQ(resources.size(), 1u);
  EXPECT_TRUE(resources.count("a")) << "a's next version was not sent";
}

// Validate that a NACK naming one upstream (RejectedUpstreams, as the nginx
// agent sends) rejects that one only: the other resource of the response is
// held, and a write to it is ACKed without it being re-sent.
TEST_F(DeltaProtocolTest, NackOfOneUpstreamKeepsTheOthers) {
  Write(MakeUpstreamOnPort("a", 8001));
  Write(MakeUpstreamOnPort("b", 8002));
  Client client = Open();
  ASSERT_TRUE(client.stream->Write(Subscribe(kClusterTypeUrl)));
  DeltaDiscoveryRequest nack = Nack(Read(client.stream.get()), "a is bad");
  nginx_xds::v1::RejectedUpstreams details;
  auto* rejected = details.add_upstreams();
  rejected->set_name("a");
  rejected->set_message("zone full");
  nack.mutable_error_detail()->add_details()->PackFrom(details);
  ASSERT_TRUE(client.stream->Write(nack));
  auto status = AwaitNode("n1", [](const auto& s) { return s.rejected_upstreams_size() == 1; });
  EXPECT_EQ(status.rejected_upstreams(0).name(), "a");
  // A server change of b is not a Cluster change: nothing is sent, and the
  // node counts as up to date.
  const uint64_t version = Write(MakeUpstreamOnPort("b", 9002));
  AwaitNode("n1", [&](const auto& s) { return s.acked_version() == version; });
}

// Validate that a stale nonce answers nothing: a NACK naming an older
// response is not recorded.
TEST_F(DeltaProtocolTest, StaleNonceIsIgnored) {
  Write(MakeUpstreamOnPort("a", 8001));
  Client client = Open();
  ASSERT_TRUE(client.stream->Write(Subscribe(kEndpointTypeUrl)));
  DeltaDiscoveryResponse first = Read(client.stream.get());
  ASSERT_TRUE(client.stream->Write(Ack(first)));
  const uint64_t v2 = Write(MakeUpstreamOnPort("a", 8002));
  DeltaDiscoveryResponse second = Read(client.stream.get());
  ASSERT_TRUE(client.stream->Write(Nack(first, "late")));
  ASSERT_TRUE(client.stream->Write(Ack(second)));
  auto status = AwaitNode("n1", [&](const auto& s) { return s.acked_version() == v2; });
  EXPECT_FALSE(status.has_last_nack());
}

// Validate that a first sync larger than one response's budget is split:
// several responses, each within kMaxDeltaResponseBytes, every resource
// exactly once, the node up to date after the last ACK.
TEST_F(DeltaProtocolTest, LargeFirstSyncIsSplitOverResponses) {
  uint64_t version = 0;
  for (int u = 0; u < 200; ++u) {
    std::vector<std::string> addresses;
    for (int s = 0; s < 100; ++s) {
      addresses.push_back(absl::StrCat("10.", u / 250, ".", u % 250, ".", s + 1, ":8080"));
    }
    version = Write(MakeUpstream(absl::StrCat("u", u), addresses));
  }
  Client client = Open();
  ASSERT_TRUE(client.stream->Write(Subscribe(kEndpointTypeUrl)));
  std::set<std::string> seen;
  int responses = 0;
  while (seen.size() < 200) {
    DeltaDiscoveryResponse response = Read(client.stream.get());
    ++responses;
    size_t bytes = 0;
    for (const auto& resource : response.resources()) {
      EXPECT_TRUE(seen.insert(resource.name()).second) << resource.name() << " twice";
      bytes += resource.resource().value().size();
    }
    EXPECT_LE(bytes, kMaxDeltaResponseBytes);
    ASSERT_GT(response.resources_size(), 0);
    ASSERT_TRUE(client.stream->Write(Ack(response)));
  }
  EXPECT_GE(responses, 2);
  AwaitNode("n1", [&](const auto& s) { return s.acked_version() == version; });
}

}  // namespace
}  // namespace nginx_xds
