#include "tests/agent/fake_delta_server.h"

#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"

namespace nginx_xds {
namespace testing {

using envoy::service::discovery::v3::AggregatedDiscoveryService;
using envoy::service::discovery::v3::DeltaDiscoveryRequest;
using envoy::service::discovery::v3::DeltaDiscoveryResponse;

class FakeDeltaServer::Service final : public AggregatedDiscoveryService::Service {
 public:
  explicit Service(FakeDeltaServer* server) : server_(server) {}

  grpc::Status DeltaAggregatedResources(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<DeltaDiscoveryResponse, DeltaDiscoveryRequest>* stream) override {
    return server_->Serve(context, stream);
  }

 private:
  FakeDeltaServer* server_;
};

FakeDeltaServer::FakeDeltaServer() : service_(std::make_unique<Service>(this)) {
  int bound = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &bound);
  builder.RegisterService(service_.get());
  server_ = builder.BuildAndStart();
  if (server_ && bound != 0) address_ = absl::StrCat("127.0.0.1:", bound);
}

FakeDeltaServer::~FakeDeltaServer() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (server_) {
    server_->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    server_->Wait();
  }
}

grpc::Status FakeDeltaServer::Serve(
    grpc::ServerContext* context,
    grpc::ServerReaderWriter<DeltaDiscoveryResponse, DeltaDiscoveryRequest>* stream) {
  auto state = std::make_shared<StreamState>();
  {
    absl::MutexLock lock(&mu_);
    current_ = state;
  }
  std::thread reader([this, stream, state] {
    DeltaDiscoveryRequest request;
    while (stream->Read(&request)) {
      absl::MutexLock lock(&mu_);
      requests_.push_back(request);
    }
    absl::MutexLock lock(&mu_);
    state->reader_done = true;
  });
  for (;;) {
    std::optional<DeltaDiscoveryResponse> response;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this, &state]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return !state->outbox.empty() || state->reader_done || stopping_;
      };
      // The timeout only rechecks IsCancelled(), which nothing signals.
      while (!ready() && !context->IsCancelled()) {
        mu_.AwaitWithTimeout(absl::Condition(&ready), absl::Milliseconds(50));
      }
      if (state->outbox.empty()) break;
      response = std::move(state->outbox.front());
      state->outbox.pop_front();
    }
    if (!stream->Write(*response)) break;
  }
  // Unblocks the reader's Read before the call goes away.
  context->TryCancel();
  reader.join();
  absl::MutexLock lock(&mu_);
  if (current_ == state) current_.reset();
  return grpc::Status::OK;
}

std::optional<DeltaDiscoveryRequest> FakeDeltaServer::NextRequest(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto has_request = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !requests_.empty(); };
  if (!mu_.AwaitWithTimeout(absl::Condition(&has_request), timeout)) return std::nullopt;
  DeltaDiscoveryRequest request = std::move(requests_.front());
  requests_.pop_front();
  return request;
}

bool FakeDeltaServer::Send(DeltaDiscoveryResponse response) {
  absl::MutexLock lock(&mu_);
  if (!current_) return false;
  current_->outbox.push_back(std::move(response));
  return true;
}

}  // namespace testing
}  // namespace nginx_xds
