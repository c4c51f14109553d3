#ifndef CONTROLPLANE_XDS_CALLBACK_WAKER_H_
#define CONTROLPLANE_XDS_CALLBACK_WAKER_H_

#include <memory>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"

namespace nginx_xds {

// Keeps gRPC's callback threads from napping, so a write to an idle ADS
// stream is not held back by up to 100 ms.
//
// On Linux, gRPC C++ (1.51, and later versions alike) delivers the
// completions of callback-API operations through a few "nexting" threads
// that wait at most 1 s for an event and, when none came, sleep 100 ms
// before waiting again (src/cpp/common/completion_queue_cc.cc,
// CallbackAlternativeCQ). A stream's second response (its
// ClusterLoadAssignments, sent from OnWriteDone of its Clusters) after a
// quiet second waited out that sleep: sparse writes took ~100 ms instead of
// ~3 ms. A health check to the server itself, over its in-process channel,
// every `period` (< 1 s) gives those threads an event often enough that one
// of them is always waiting. It costs a few microseconds per call.
class CallbackWaker {
 public:
  // Starts calling grpc.health.v1.Health/Check on `channel` every `period`.
  CallbackWaker(std::shared_ptr<grpc::Channel> channel, absl::Duration period);
  // Stops and waits for the call in flight.
  ~CallbackWaker();

  CallbackWaker(const CallbackWaker&) = delete;
  CallbackWaker& operator=(const CallbackWaker&) = delete;

  // How many checks have completed (for tests).
  uint64_t completed() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void Run();

  const std::shared_ptr<grpc::Channel> channel_;
  const absl::Duration period_;
  mutable absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t completed_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread thread_;
};

}  // namespace nginx_xds

#endif  // CONTROLPLANE_XDS_CALLBACK_WAKER_H_
