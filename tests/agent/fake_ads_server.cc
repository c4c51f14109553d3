#include "tests/agent/fake_ads_server.h"

#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"

namespace nginx_xds {
namespace testing {

using envoy::service::discovery::v3::AggregatedDiscoveryService;
using envoy::service::discovery::v3::DiscoveryRequest;
using envoy::service::discovery::v3::DiscoveryResponse;

class FakeAdsServer::Service final : public AggregatedDiscoveryService::Service {
 public:
  explicit Service(FakeAdsServer* server) : server_(server) {}

  grpc::Status StreamAggregatedResources(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<DiscoveryResponse, DiscoveryRequest>* stream) override {
    return server_->Serve(context, stream);
  }

 private:
  FakeAdsServer* server_;
};

FakeAdsServer::FakeAdsServer(int port) : service_(std::make_unique<Service>(this)) {
  int bound = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort(absl::StrCat("127.0.0.1:", port), grpc::InsecureServerCredentials(),
                           &bound);
  builder.RegisterService(service_.get());
  server_ = builder.BuildAndStart();
  if (server_ && bound != 0) address_ = absl::StrCat("127.0.0.1:", bound);
}

FakeAdsServer::~FakeAdsServer() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (server_) {
    server_->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    server_->Wait();
  }
}

grpc::Status FakeAdsServer::Serve(
    grpc::ServerContext* context,
    grpc::ServerReaderWriter<DiscoveryResponse, DiscoveryRequest>* stream) {
  auto state = std::make_shared<StreamState>();
  int id;
  {
    absl::MutexLock lock(&mu_);
    id = ++streams_;
    current_ = state;
  }
  std::thread reader([this, stream, state, id] {
    DiscoveryRequest request;
    while (stream->Read(&request)) {
      absl::MutexLock lock(&mu_);
      requests_.push_back(Received{id, request});
    }
    absl::MutexLock lock(&mu_);
    state->reader_done = true;
  });
  for (;;) {
    std::optional<DiscoveryResponse> response;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this, &state]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return !state->outbox.empty() || state->end || state->reader_done || stopping_;
      };
      // The timeout only rechecks IsCancelled(), which nothing signals.
      while (!ready() && !context->IsCancelled()) {
        mu_.AwaitWithTimeout(absl::Condition(&ready), absl::Milliseconds(50));
      }
      if (!state->outbox.empty()) {
        response = std::move(state->outbox.front());
        state->outbox.pop_front();
      } else {
        break;
      }
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

std::optional<FakeAdsServer::Received> FakeAdsServer::NextRequest(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto has_request = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !requests_.empty(); };
  if (!mu_.AwaitWithTimeout(absl::Condition(&has_request), timeout)) return std::nullopt;
  Received received = std::move(requests_.front());
  requests_.pop_front();
  return received;
}

bool FakeAdsServer::Send(DiscoveryResponse response) {
  absl::MutexLock lock(&mu_);
  if (!current_) return false;
  current_->outbox.push_back(std::move(response));
  return true;
}

void FakeAdsServer::EndStream() {
  absl::MutexLock lock(&mu_);
  if (current_) {
    current_->end = true;
    current_.reset();
  }
}

bool FakeAdsServer::WaitForStreams(int n, absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return streams_ >= n; };
  return mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
}

}  // namespace testing
}  // namespace nginx_xds
