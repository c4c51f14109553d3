#ifndef TESTS_AGENT_FAKE_DELTA_SERVER_H_
#define TESTS_AGENT_FAKE_DELTA_SERVER_H_

#include <deque>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "envoy/service/discovery/v3/ads.grpc.pb.h"
#include "envoy/service/discovery/v3/discovery.pb.h"
#include "grpcpp/grpcpp.h"

namespace nginx_xds {
namespace testing {

// A scripted Delta ADS server (DeltaAggregatedResources) for the protocol
// corner cases the real control plane never produces (a resource that does
// not decode, ...), bound to 127.0.0.1 on a port chosen by the kernel. It
// records every request and sends only what the test tells it to, on the
// newest stream. Thread-safe.
class FakeDeltaServer {
 public:
  FakeDeltaServer();
  ~FakeDeltaServer();

  // "127.0.0.1:PORT"; empty when no port could be bound.
  const std::string& address() const { return address_; }

  // The next request not returned yet; nullopt when none comes in `timeout`.
  std::optional<envoy::service::discovery::v3::DeltaDiscoveryRequest> NextRequest(
      absl::Duration timeout = absl::Seconds(20));

  // Queues `response` on the newest open stream; false when there is none.
  bool Send(envoy::service::discovery::v3::DeltaDiscoveryResponse response);

 private:
  struct StreamState {
    std::deque<envoy::service::discovery::v3::DeltaDiscoveryResponse> outbox;
    bool reader_done = false;
  };
  class Service;

  grpc::Status Serve(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<envoy::service::discovery::v3::DeltaDiscoveryResponse,
                               envoy::service::discovery::v3::DeltaDiscoveryRequest>* stream);

  absl::Mutex mu_;
  std::deque<envoy::service::discovery::v3::DeltaDiscoveryRequest> requests_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<StreamState> current_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;

  std::unique_ptr<Service> service_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
};

}  // namespace testing
}  // namespace nginx_xds

#endif  // TESTS_AGENT_FAKE_DELTA_SERVER_H_
