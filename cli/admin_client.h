#ifndef CLI_ADMIN_CLIENT_H_
#define CLI_ADMIN_CLIENT_H_

#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "nginx_xds/v1/management.grpc.pb.h"

namespace nginx_xds::cli {

// The control plane's gRPC admin API (--admin_listen) as the operator CLI
// uses it: one channel, the three services' stubs, and per call the bearer
// token and a deadline. Not thread-safe; one per process.
class AdminClient {
 public:
  struct Options {
    // host:port of --admin_listen.
    std::string server;
    // The bearer token; empty: none is sent.
    std::string token;
    // How long each unary call may take (a write waits for its fleet's ACKs).
    absl::Duration timeout = absl::Seconds(30);
  };

  explicit AdminClient(const Options& options);

  // A context for one call: token and deadline set. `streaming` calls get no deadline.
  std::unique_ptr<grpc::ClientContext> Context(bool streaming = false) const;

  nginx_xds::v1::UpstreamService::Stub& upstreams() { return *upstreams_; }
  nginx_xds::v1::FleetService::Stub& fleet() { return *fleet_; }
  nginx_xds::v1::RolloutService::Stub& rollouts() { return *rollouts_; }

 private:
  Options options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<nginx_xds::v1::UpstreamService::Stub> upstreams_;
  std::unique_ptr<nginx_xds::v1::FleetService::Stub> fleet_;
  std::unique_ptr<nginx_xds::v1::RolloutService::Stub> rollouts_;
};

// grpc::Status as absl::Status (same codes, same message).
absl::Status FromGrpc(const grpc::Status& status);

}  // namespace nginx_xds::cli

#endif  // CLI_ADMIN_CLIENT_H_
