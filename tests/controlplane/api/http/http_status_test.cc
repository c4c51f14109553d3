// The one gRPC-code -> HTTP-status map, row by row as http_status.h states it.

#include "controlplane/api/http/http_status.h"

#include "gtest/gtest.h"

namespace nginx_xds {
namespace {

struct Row {
  absl::StatusCode code;
  int dynamic, dyups, rollouts;
};

// Validates every row of the table in http_status.h for each HTTP dialect.
TEST(HttpStatusTest, EveryCodeMapsAsDocumented) {
  const Row rows[] = {
      {absl::StatusCode::kInvalidArgument, 400, 400, 400},
      {absl::StatusCode::kOutOfRange, 400, 400, 400},
      {absl::StatusCode::kAlreadyExists, 400, 400, 409},
      {absl::StatusCode::kFailedPrecondition, 400, 400, 409},
      {absl::StatusCode::kNotFound, 400, 404, 404},
      {absl::StatusCode::kUnavailable, 503, 409, 503},
      {absl::StatusCode::kAborted, 503, 409, 409},
      {absl::StatusCode::kInternal, 500, 500, 500},
      {absl::StatusCode::kUnknown, 500, 500, 500},
  };
  for (const Row& row : rows) {
    const absl::Status status(row.code, "x");
    EXPECT_EQ(HttpStatusFor(status, HttpDialect::kDynamic), row.dynamic) << status;
    EXPECT_EQ(HttpStatusFor(status, HttpDialect::kDyups), row.dyups) << status;
    EXPECT_EQ(HttpStatusFor(status, HttpDialect::kRollouts), row.rollouts) << status;
  }
}

}  // namespace
}  // namespace nginx_xds
