#ifndef CONTROLPLANE_CONTROL_PLANE_H_
#define CONTROLPLANE_CONTROL_PLANE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "controlplane/ads_service.h"
#include "controlplane/management_service.h"
#include "controlplane/node_registry.h"
#include "controlplane/snapshot_cache.h"
#include "controlplane/store.h"
#include "controlplane/upstream_service.h"
#include "grpcpp/grpcpp.h"

namespace nginx_xds {

// The whole control plane in one object: the store, the snapshot cache, the
// ADS server (for nginx agents and xDS clients) and the admin server (the
// management API), each gRPC server with health checking; the admin one also
// with reflection. Used by main() and by tests that run it in process.
class ControlPlane {
 public:
  struct Options {
    // "host:port" to serve ADS on; port 0 picks a free one.
    std::string xds_listen = "127.0.0.1:18000";
    // "host:port" to serve the management API on; port 0 picks a free one.
    std::string admin_listen = "127.0.0.1:18001";
    // The SQLite database file.
    std::string database_path = "nginx-xds.db";
    // How long a write waits for the fleet's ACKs.
    absl::Duration ack_timeout = absl::Seconds(5);
  };

  // Opens the store, restores every fleet and starts both servers.
  static absl::StatusOr<std::unique_ptr<ControlPlane>> Start(const Options& options);

  ~ControlPlane();

  int xds_port() const { return xds_port_; }
  int admin_port() const { return admin_port_; }
  UpstreamService* upstreams() { return upstreams_.get(); }
  NodeRegistry* registry() { return &registry_; }

  // Stops both servers; open streams are cancelled after `grace`.
  void Shutdown(absl::Duration grace = absl::Milliseconds(200));

  // Blocks until Shutdown() is called from another thread.
  void Wait();

 private:
  ControlPlane() = default;

  std::unique_ptr<Store> store_;
  SnapshotCache cache_;
  NodeRegistry registry_;
  std::unique_ptr<UpstreamService> upstreams_;
  std::unique_ptr<AdsService> ads_;
  std::unique_ptr<UpstreamGrpcService> upstream_grpc_;
  std::unique_ptr<FleetGrpcService> fleet_grpc_;
  std::unique_ptr<grpc::Server> xds_server_;
  std::unique_ptr<grpc::Server> admin_server_;
  int xds_port_ = 0;
  int admin_port_ = 0;
  bool shut_down_ = false;
};

}  // namespace nginx_xds

#endif  // CONTROLPLANE_CONTROL_PLANE_H_
