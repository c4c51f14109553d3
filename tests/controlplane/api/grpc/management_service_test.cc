// The gRPC faces of UpstreamService and the fleet status
// (controlplane/api/grpc/management_service), called without a server:
// requests in, the service's answers and errors out, codes one to one.

#include "controlplane/api/grpc/management_service.h"

#include "gtest/gtest.h"
#include "tests/controlplane/test_services.h"
#include "tests/testing/upstreams.h"

namespace nginx_xds {
namespace {

using nginx_xds::testing::MakeUpstream;

class ManagementServiceTest : public ::testing::Test {
 protected:
  nginx_xds::testing::TestServices services_;
  UpstreamGrpcService upstreams_{services_.upstreams()};
  FleetGrpcService fleet_{services_.registry(), services_.upstreams(), services_.rollouts()};
  grpc::ServerContext context_;
};

// Validate that a put is stored and answered with its version, and that
// list and get read it back.
TEST_F(ManagementServiceTest, PutListGet) {
  nginx_xds::v1::PutUpstreamRequest put;
  put.set_fleet("web");
  *put.mutable_upstream() = MakeUpstream("app", {"127.0.0.1:7001"});
  nginx_xds::v1::WriteResponse written;
  ASSERT_TRUE(upstreams_.PutUpstream(&context_, &put, &written).ok());
  EXPECT_EQ(written.version(), 1u);
  nginx_xds::v1::ListUpstreamsRequest list;
  list.set_fleet("web");
  nginx_xds::v1::ListUpstreamsResponse listed;
  ASSERT_TRUE(upstreams_.ListUpstreams(&context_, &list, &listed).ok());
  ASSERT_EQ(listed.upstreams_size(), 1);
  nginx_xds::v1::GetUpstreamRequest get;
  get.set_fleet("web");
  get.set_name("APP");
  nginx_xds::v1::Upstream got;
  ASSERT_TRUE(upstreams_.GetUpstream(&context_, &get, &got).ok());
  EXPECT_EQ(got.name(), "app");
}

// Validate that the service's errors keep their code and message over gRPC
// (INVALID_ARGUMENT, NOT_FOUND, FAILED_PRECONDITION).
TEST_F(ManagementServiceTest, ErrorsMapOneToOne) {
  nginx_xds::v1::PutUpstreamRequest bad;
  *bad.mutable_upstream() = MakeUpstream("app", {"127.0.0.1:0"});
  nginx_xds::v1::WriteResponse response;
  grpc::Status invalid = upstreams_.PutUpstream(&context_, &bad, &response);
  EXPECT_EQ(invalid.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(invalid.error_message().find("127.0.0.1:0"), std::string::npos);
  nginx_xds::v1::DeleteUpstreamRequest missing;
  missing.set_name("nothing");
  EXPECT_EQ(upstreams_.DeleteUpstream(&context_, &missing, &response).error_code(),
            grpc::StatusCode::NOT_FOUND);
  ASSERT_TRUE(services_.upstreams()->Put("", MakeUpstream("one", {"127.0.0.1:7001"})).ok());
  nginx_xds::v1::RemoveServerRequest last;
  last.set_upstream("one");
  last.set_address("127.0.0.1:7001");
  EXPECT_EQ(upstreams_.RemoveServer(&context_, &last, &response).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
}

// Validate that GetFleetStatus answers the one fleet status (written
// fleets with their versions).
TEST_F(ManagementServiceTest, FleetStatus) {
  ASSERT_TRUE(services_.upstreams()->Put("web", MakeUpstream("app", {"127.0.0.1:7001"})).ok());
  nginx_xds::v1::GetFleetStatusRequest request;
  nginx_xds::v1::FleetStatus status;
  ASSERT_TRUE(fleet_.GetFleetStatus(&context_, &request, &status).ok());
  ASSERT_EQ(status.fleet_versions_size(), 1);
  EXPECT_EQ(status.fleet_versions().at("web"), 1u);
}

}  // namespace
}  // namespace nginx_xds
