// The HTTP gateway under clients that are slow, idle, many or malformed
// (issue 12): each case was found against the previous gateway, which
// stopped serving or applied a write; here every one is bounded and the
// other clients are served.

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "controlplane/control_plane.h"
#include "envoy/service/discovery/v3/ads.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "nginx_xds/v1/management.grpc.pb.h"
#include "tests/controlplane/test_control_plane.h"
#include "tests/testing/raw_http_client.h"

namespace nginx_xds {
namespace {

using nginx_xds::testing::Exchange;
using nginx_xds::testing::Get;
using nginx_xds::testing::RawClient;

using ::testing::HasSubstr;
using ::testing::StartsWith;

class HttpGatewayLimitsTest : public ::testing::Test {
 protected:
  void Start(int threads, int max_connections, absl::Duration ack_timeout = absl::ZeroDuration()) {
    ControlPlane::Options options = TestControlPlaneOptions(ack_timeout);
    options.http_threads = threads;
    options.http_max_connections = max_connections;
    options.http_header_timeout = absl::Seconds(1);
    options.http_keep_alive_timeout = absl::Seconds(30);
    auto cp = ControlPlane::Start(options);
    ASSERT_TRUE(cp.ok()) << cp.status();
    cp_ = std::move(*cp);
    port_ = cp_->http_port();
    ASSERT_THAT(Exchange(port_,
                         "POST /upstream/host1 HTTP/1.1\r\nHost: x\r\nContent-Length: "
                         "23\r\nConnection: close\r\n\r\nserver 127.0.0.1:8088;\n"),
                StartsWith("HTTP/1.1 200"));
  }

  std::unique_ptr<ControlPlane> cp_;
  int port_ = 0;
};

// Validates that clients trickling their headers (more of them than the
// gateway has threads) do not stop other clients, and that a trickle cannot
// extend the header deadline: each is cut off with 408.
TEST_F(HttpGatewayLimitsTest, TricklingClientsAreCutOffAndOthersServed) {
  Start(/*threads=*/2, /*max_connections=*/64);
  constexpr int kSlow = 8;
  std::vector<std::unique_ptr<RawClient>> slow;
  for (int i = 0; i < kSlow; ++i) {
    slow.push_back(std::make_unique<RawClient>(port_));
    ASSERT_TRUE(slow.back()->Send("GET /list HTTP/1.1\r\nHost: x\r\n"));
  }
  std::vector<std::thread> tricklers;
  std::vector<std::string> answers(kSlow);
  for (int i = 0; i < kSlow; ++i) {
    tricklers.emplace_back([&, i] {
      // 40 header bytes, one per 100 ms: 4 s in all, well past the 1 s
      // deadline; a deadline that each byte restarted would never end.
      RawClient& client = *slow[i];
      bool open = client.Send("X-Pad: ");
      for (int byte = 0; byte < 40 && open; ++byte) {
        std::string early = client.ReadUntilClosed(absl::Milliseconds(100));
        if (!early.empty()) {
          answers[i] = early + client.ReadUntilClosed(absl::Seconds(2));
          return;
        }
        open = client.Send("a");
      }
      if (open) client.Send("\r\n\r\n");
      answers[i] = client.ReadUntilClosed(absl::Seconds(5));
    });
  }
  EXPECT_THAT(Get(port_, "/list"), StartsWith("HTTP/1.1 200 OK"));
  for (std::thread& thread : tricklers) thread.join();
  for (const std::string& answer : answers) {
    EXPECT_THAT(answer, StartsWith("HTTP/1.1 408"));
    EXPECT_THAT(answer, HasSubstr("the request line and headers did not arrive within 1 s"));
  }
}

// Validates that idle connections beyond the limit close the longest idle
// ones first, and requests are still answered.
TEST_F(HttpGatewayLimitsTest, IdleConnectionsMakeRoomOldestFirst) {
  Start(/*threads=*/2, /*max_connections=*/32);
  std::vector<std::unique_ptr<RawClient>> idle;
  for (int i = 0; i < 200; ++i) {
    idle.push_back(std::make_unique<RawClient>(port_));
    ASSERT_TRUE(idle.back()->connected());
  }
  EXPECT_THAT(Get(port_, "/list"), StartsWith("HTTP/1.1 200 OK"));
  // The first ones were the longest idle.
  EXPECT_TRUE(idle.front()->ClosedWithin(absl::Seconds(5)));
}

// Validates that with every connection busy, a newcomer is told 503 rather
// than queued without an answer. The busy ones are writes waiting for the
// ACK of a connected node that never ACKs.
TEST_F(HttpGatewayLimitsTest, NewcomerGets503WhenEveryConnectionIsBusy) {
  Start(/*threads=*/4, /*max_connections=*/4, /*ack_timeout=*/absl::Seconds(5));
  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", cp_->xds_port()),
                                     grpc::InsecureChannelCredentials());
  auto ads = envoy::service::discovery::v3::AggregatedDiscoveryService::NewStub(channel);
  grpc::ClientContext ads_context;
  auto stream = ads->StreamAggregatedResources(&ads_context);
  envoy::service::discovery::v3::DiscoveryRequest hello;
  hello.mutable_node()->set_id("silent");
  hello.set_type_url("type.googleapis.com/envoy.config.cluster.v3.Cluster");
  ASSERT_TRUE(stream->Write(hello));
  auto fleet = nginx_xds::v1::FleetService::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", cp_->admin_port()), grpc::InsecureChannelCredentials()));
  auto fleet_version = [&]() -> uint64_t {
    grpc::ClientContext context;
    nginx_xds::v1::GetFleetStatusRequest request;
    nginx_xds::v1::FleetStatus status;
    if (!fleet->GetFleetStatus(&context, request, &status).ok()) return 0;
    bool connected = false;
    for (const auto& node : status.nodes()) connected |= node.id() == "silent" && node.connected();
    return connected ? status.fleet_versions().at("default") : 0;
  };
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (fleet_version() == 0 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(10));
  const uint64_t before = fleet_version();
  ASSERT_GT(before, 0u) << "the silent node did not connect";

  std::vector<std::unique_ptr<RawClient>> busy;
  for (int i = 0; i < 4; ++i) {
    busy.push_back(std::make_unique<RawClient>(port_));
    const std::string body = absl::StrCat("server 127.0.0.1:", 9000 + i, ";");
    ASSERT_TRUE(busy.back()->Send(
        absl::StrCat("POST /upstream/busy", i,
                     " HTTP/1.1\r\nHost: x\r\nContent-Length: ", body.size(), "\r\n\r\n", body)));
  }
  // Each write is stored before it waits for the silent node.
  while (fleet_version() < before + 4 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  ASSERT_EQ(fleet_version(), before + 4);
  const std::string answer = Get(port_, "/list");
  EXPECT_THAT(answer, StartsWith("HTTP/1.1 503"));
  EXPECT_THAT(answer, HasSubstr("connections open, all busy: try again later"));
  // The busy ones are answered once their wait ends.
  for (auto& client : busy)
    EXPECT_THAT(client->ReadUntilClosed(absl::Seconds(10)), StartsWith("HTTP/1.1 200"));
  ads_context.TryCancel();
}

// Validates that a bad Content-Length is refused at once (no wait for a
// body), and a header line without a colon too, with nothing applied.
TEST_F(HttpGatewayLimitsTest, MalformedHeadersAre400AtOnceAndChangeNothing) {
  Start(/*threads=*/2, /*max_connections=*/64);
  for (const char* length : {"-5", "99999999999999999999999", "5, 6", "abc"}) {
    SCOPED_TRACE(length);
    const std::string answer = Exchange(
        port_, absl::StrCat("POST /upstream/newone HTTP/1.1\r\nHost: x\r\nContent-Length: ", length,
                            "\r\n\r\n"));
    EXPECT_THAT(answer, StartsWith("HTTP/1.1 400 Bad Request"));
    EXPECT_THAT(answer, HasSubstr("malformed HTTP request: bad Content-Length"));
  }
  const std::string body = "server 127.0.0.1:8089;";
  const std::string answer =
      Exchange(port_, absl::StrCat("POST /upstream/newone HTTP/1.1\r\nHost: x\r\nbogus line\r\n"
                                   "Content-Length: ",
                                   body.size(), "\r\n\r\n", body));
  EXPECT_THAT(answer, StartsWith("HTTP/1.1 400 Bad Request"));
  EXPECT_THAT(answer, HasSubstr("malformed HTTP request"));
  EXPECT_THAT(Get(port_, "/upstream/newone"), StartsWith("HTTP/1.1 404"));
}

}  // namespace
}  // namespace nginx_xds
