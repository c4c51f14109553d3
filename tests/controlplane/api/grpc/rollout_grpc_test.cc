// The gRPC face of RolloutService (controlplane/api/grpc/rollout_grpc),
// called without a server: the token first, then the service's answers and
// errors with their codes one to one.

#include "controlplane/api/grpc/rollout_grpc.h"

#include "gtest/gtest.h"
#include "tests/controlplane/test_services.h"
#include "tests/testing/upstreams.h"

namespace nginx_xds {
namespace {

using nginx_xds::testing::MakeUpstream;

class RolloutGrpcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(services_.upstreams()->Put("web", MakeUpstream("app", {"127.0.0.1:7001"})).ok());
  }
  nginx_xds::testing::TestServices services_;
  AdminAuth open_;
  RolloutGrpcService service_{&open_, services_.rollouts()};
  grpc::ServerContext context_;
};

// Validate start, get and abort through the gRPC face.
TEST_F(RolloutGrpcTest, StartGetAbort) {
  nginx_xds::v1::StartRolloutRequest start;
  start.set_fleet("web");
  (*start.mutable_canary_labels())["role"] = "canary";
  nginx_xds::v1::Rollout rollout;
  ASSERT_TRUE(service_.StartRollout(&context_, &start, &rollout).ok());
  EXPECT_EQ(rollout.state(), nginx_xds::v1::ROLLOUT_STATE_CANARY);
  nginx_xds::v1::GetRolloutRequest get;
  get.set_fleet("web");
  ASSERT_TRUE(service_.GetRollout(&context_, &get, &rollout).ok());
  EXPECT_EQ(rollout.stable_version(), 1u);
  nginx_xds::v1::AbortRolloutRequest abort;
  abort.set_fleet("web");
  nginx_xds::v1::RolloutResponse aborted;
  ASSERT_TRUE(service_.AbortRollout(&context_, &abort, &aborted).ok());
  EXPECT_EQ(aborted.rollout().state(), nginx_xds::v1::ROLLOUT_STATE_ABORTED);
}

// Validate that errors keep their codes: NOT_FOUND for no rollout,
// FAILED_PRECONDITION for promoting none, ALREADY_EXISTS for a second start.
TEST_F(RolloutGrpcTest, ErrorsMapOneToOne) {
  nginx_xds::v1::GetRolloutRequest get;
  get.set_fleet("web");
  nginx_xds::v1::Rollout rollout;
  EXPECT_EQ(service_.GetRollout(&context_, &get, &rollout).error_code(),
            grpc::StatusCode::NOT_FOUND);
  nginx_xds::v1::PromoteRolloutRequest promote;
  promote.set_fleet("web");
  nginx_xds::v1::RolloutResponse response;
  EXPECT_EQ(service_.PromoteRollout(&context_, &promote, &response).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  nginx_xds::v1::StartRolloutRequest start;
  start.set_fleet("web");
  (*start.mutable_canary_labels())["role"] = "canary";
  ASSERT_TRUE(service_.StartRollout(&context_, &start, &rollout).ok());
  EXPECT_EQ(service_.StartRollout(&context_, &start, &rollout).error_code(),
            grpc::StatusCode::ALREADY_EXISTS);
}

// Validate that with a token configured a call without it is refused
// before the service runs: nothing starts.
TEST_F(RolloutGrpcTest, TokenFirst) {
  auto token = AdminAuth::FromToken("0123456789abcdef-token");
  ASSERT_TRUE(token.ok());
  RolloutGrpcService guarded(&*token, services_.rollouts());
  nginx_xds::v1::StartRolloutRequest start;
  start.set_fleet("web");
  (*start.mutable_canary_labels())["role"] = "canary";
  nginx_xds::v1::Rollout rollout;
  EXPECT_EQ(guarded.StartRollout(&context_, &start, &rollout).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(services_.rollouts()->Rollouts("").empty());
}

}  // namespace
}  // namespace nginx_xds
