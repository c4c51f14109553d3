#include "controlplane/xds/callback_waker.h"

#include <string>
#include <utility>

#include "absl/synchronization/notification.h"
#include "grpcpp/generic/generic_stub.h"

namespace nginx_xds {

namespace {

// An empty HealthCheckRequest: the server's overall health.
constexpr char kHealthCheck[] = "/grpc.health.v1.Health/Check";

}  // namespace

CallbackWaker::CallbackWaker(std::shared_ptr<grpc::Channel> channel, absl::Duration period)
    : channel_(std::move(channel)), period_(period), thread_([this] { Run(); }) {}

CallbackWaker::~CallbackWaker() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  thread_.join();
}

uint64_t CallbackWaker::completed() const {
  absl::MutexLock lock(&mu_);
  return completed_;
}

void CallbackWaker::Run() {
  grpc::GenericStub stub(channel_);
  // An empty message: an initialized buffer of no bytes.
  grpc::Slice empty(std::string{});
  const grpc::ByteBuffer request(&empty, 1);
  auto stopped = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_; };
  while (true) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    grpc::ByteBuffer response;
    absl::Notification done;
    // A callback-API call: its completion is delivered by the threads it
    // keeps awake.
    stub.UnaryCall(&context, kHealthCheck, grpc::StubOptions(), &request, &response,
                   [&done](const grpc::Status&) { done.Notify(); });
    done.WaitForNotification();
    absl::MutexLock lock(&mu_);
    ++completed_;
    if (mu_.AwaitWithTimeout(absl::Condition(&stopped), period_)) return;
  }
}

}  // namespace nginx_xds
