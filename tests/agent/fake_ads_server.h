#ifndef TESTS_AGENT_FAKE_ADS_SERVER_H_
#define TESTS_AGENT_FAKE_ADS_SERVER_H_

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

// How long a test waits for an event before it fails (never a hang).
inline constexpr absl::Duration kWait = absl::Seconds(20);

// A scripted ADS server for agent tests, bound to 127.0.0.1 on a port chosen
// by the kernel. It records every request it receives and sends only what
// the test tells it to, on the newest stream. Thread-safe.
class FakeAdsServer {
 public:
  struct Received {
    // 1 for the first stream, 2 for the next...
    int stream = 0;
    envoy::service::discovery::v3::DiscoveryRequest request;
  };

  // Binds 127.0.0.1:`port`; 0 lets the kernel choose.
  explicit FakeAdsServer(int port = 0);
  ~FakeAdsServer();

  // "127.0.0.1:PORT"; empty when the port could not be bound.
  const std::string& address() const { return address_; }

  // The next request not returned yet, in arrival order; nullopt when none
  // comes within `timeout`.
  std::optional<Received> NextRequest(absl::Duration timeout = kWait);

  // Queues `response` on the newest open stream; false when there is none.
  bool Send(envoy::service::discovery::v3::DiscoveryResponse response);

  // Ends the newest stream (the client sees it cancelled).
  void EndStream();

  // Waits until `n` streams have been opened in all.
  bool WaitForStreams(int n, absl::Duration timeout = kWait);

 private:
  struct StreamState {
    std::deque<envoy::service::discovery::v3::DiscoveryResponse> outbox;
    bool end = false;
    bool reader_done = false;
  };

  class Service;

  grpc::Status Serve(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<envoy::service::discovery::v3::DiscoveryResponse,
                               envoy::service::discovery::v3::DiscoveryRequest>* stream);

  absl::Mutex mu_;
  std::deque<Received> requests_ ABSL_GUARDED_BY(mu_);
  int streams_ ABSL_GUARDED_BY(mu_) = 0;
  std::shared_ptr<StreamState> current_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;

  std::unique_ptr<Service> service_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
};

}  // namespace testing
}  // namespace nginx_xds

#endif  // TESTS_AGENT_FAKE_ADS_SERVER_H_
