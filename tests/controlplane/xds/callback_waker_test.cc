// CallbackWaker keeps completing callback-API calls to the server through its
// in-process channel, and stops when destroyed.
#include "controlplane/xds/callback_waker.h"

#include <memory>

#include "absl/time/clock.h"
#include "grpcpp/generic/async_generic_service.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "gtest/gtest.h"

namespace nginx_xds {
namespace {

// Validate that the waker keeps completing health calls on the in-process
// channel until it is destroyed, and that destroying it returns.
TEST(CallbackWakerTest, CompletesCallsRepeatedlyUntilDestroyed) {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  // A server needs a service; the health service comes with it.
  grpc::CallbackGenericService unused;
  builder.RegisterCallbackGenericService(&unused);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  auto waker = std::make_unique<CallbackWaker>(server->InProcessChannel(grpc::ChannelArguments()),
                                               absl::Milliseconds(10));
  // Bounded: a waker that never completes a check fails here.
  for (int i = 0; i < 1000 && waker->completed() < 3; ++i) absl::SleepFor(absl::Milliseconds(10));
  EXPECT_GE(waker->completed(), 3u);
  waker.reset();  // joins its thread
  server->Shutdown();
}

}  // namespace
}  // namespace nginx_xds
