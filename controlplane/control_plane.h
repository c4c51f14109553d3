#ifndef CONTROLPLANE_CONTROL_PLANE_H_
#define CONTROLPLANE_CONTROL_PLANE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/metrics.h"
#include "controlplane/api/admin_auth.h"
#include "controlplane/api/grpc/admin_grpc.h"
#include "controlplane/api/grpc/management_service.h"
#include "controlplane/api/grpc/rollout_grpc.h"
#include "controlplane/api/http/http_api.h"
#include "controlplane/api/http/http_gateway.h"
#include "controlplane/fleet/node_registry.h"
#include "controlplane/fleet/upstream_service.h"
#include "controlplane/log/log.h"
#include "controlplane/metrics/write_metrics.h"
#include "controlplane/rollout/rollout_service.h"
#include "controlplane/replication/node_state_sync.h"
#include "controlplane/replication/state_follower.h"
#include "controlplane/store/etcd_connection.h"
#include "controlplane/store/store.h"
#include "controlplane/xds/ads_service.h"
#include "controlplane/xds/callback_waker.h"
#include "controlplane/xds/snapshot_cache.h"
#include "controlplane/xds/xds_tls.h"
#include "grpcpp/grpcpp.h"

namespace nginx_xds {

// The whole control plane in one object: the store, the snapshot cache, the
// ADS server (for nginx agents and xDS clients) and the admin server (the
// management API), each gRPC server with health checking; the admin one also
// with reflection; and the HTTP gateway (the seeds' /dynamic and dyups APIs,
// fleet status, Prometheus metrics). Used by main() and by tests that run it in process.
class ControlPlane {
 public:
  struct Options {
    // "host:port" to serve ADS on; port 0 picks a free one.
    std::string xds_listen = "127.0.0.1:18000";
    // "host:port" to serve the management API on; port 0 picks a free one.
    std::string admin_listen = "127.0.0.1:18001";
    // The SQLite database file (the default, embedded store).
    std::string database_path = "nginx-xds.db";
    // etcd endpoints ("http://127.0.0.1:2379", ...): the store is etcd
    // instead of SQLite, under `etcd_prefix`.
    std::vector<std::string> etcd_endpoints;
    std::string etcd_prefix = "/nginx-xds/";
    // TLS and user authentication to etcd (EtcdOptions), and how long one
    // etcd call may take (a write on a replica that lost etcd's quorum fails
    // UNAVAILABLE after it).
    std::string etcd_ca_file;
    std::string etcd_cert_file;
    std::string etcd_key_file;
    std::string etcd_user;
    std::string etcd_password_file;
    absl::Duration etcd_timeout = absl::Seconds(5);
    // With etcd: this replica's id among the replicas (default: host name
    // and process id), how long its nodes outlive it in etcd (the lease),
    // and how often at most it writes their state there.
    std::string replica_id;
    absl::Duration node_lease_ttl = absl::Seconds(10);
    absl::Duration node_state_interval = absl::Milliseconds(20);
    // How long the readiness probe (GET /readyz) waits for etcd.
    absl::Duration readiness_timeout = absl::Seconds(1);
    // How long a write waits for the fleet's ACKs.
    absl::Duration ack_timeout = absl::Seconds(5);
    // Node limits (NodeRegistry::Options): streams per node id, and how long
    // a node without a stream stays in fleet status.
    NodeRegistry::Options nodes;
    // "host:port" of the HTTP gateway; port 0 picks a free one; empty: none.
    std::string http_listen = "127.0.0.1:18080";
    // Threads of the HTTP gateway: how many requests it serves at once.
    int http_threads = 8;
    // The HTTP gateway's connection limit and deadlines (HttpGateway::Options).
    int http_max_connections = 512;
    absl::Duration http_header_timeout = absl::Seconds(10);
    absl::Duration http_keep_alive_timeout = absl::Seconds(5);
    // A file holding the bearer token of the admin APIs (gRPC and HTTP);
    // empty: none, and then both must listen on loopback.
    std::string admin_token_file;
    // TLS (mutual with a client CA) of the ADS server; empty: plaintext.
    XdsTlsFiles xds_tls;
    // Where every part logs; unset: nowhere (main() wires spdlog).
    LogHandler log;
  };

  // Opens the store, restores every fleet and starts both servers.
  static absl::StatusOr<std::unique_ptr<ControlPlane>> Start(const Options& options);

  ~ControlPlane();

  int xds_port() const { return xds_port_; }
  int admin_port() const { return admin_port_; }
  // This replica's id (Options::replica_id or its default); empty without etcd.
  const std::string& replica_id() const { return replica_id_; }
  // The HTTP gateway's port; 0 without one.
  int http_port() const { return http_gateway_ ? http_gateway_->port() : 0; }
  UpstreamService* upstreams() { return upstreams_.get(); }
  RolloutService* rollouts() { return rollouts_.get(); }
  NodeRegistry* registry() { return &registry_; }
  // What GET /metrics serves.
  const MetricsRegistry& metrics() const { return metrics_; }
  // What every ADS stream is told: tests watch it as a stream would.
  SnapshotCache* cache() { return &cache_; }

  // Whether this replica can serve writes: with etcd, whether etcd answers
  // a linearizable read within Options::readiness_timeout and the replica
  // follows its commits; SQLite is always ready. GET /readyz answers it.
  absl::Status Ready() const;

  // Stops the HTTP gateway and both gRPC servers; open streams are
  // cancelled after `grace`.
  void Shutdown(absl::Duration grace = absl::Milliseconds(200));

  // Blocks until Shutdown() is called from another thread.
  void Wait();

 private:
  explicit ControlPlane(const NodeRegistry::Options& nodes) : registry_(nodes) {}

  // Declared first: the services record into it until they are gone.
  MetricsRegistry metrics_;
  std::unique_ptr<WriteMetrics> write_metrics_;
  std::unique_ptr<Store> store_;
  // With etcd: the connection shared by the store and the follower.
  std::shared_ptr<EtcdConnection> etcd_;
  absl::Duration readiness_timeout_;
  std::string replica_id_;
  SnapshotCache cache_;
  NodeRegistry registry_;
  std::unique_ptr<UpstreamService> upstreams_;
  // With etcd: applies the other replicas' commits to upstreams_ (so is
  // declared after it: destroyed, and its thread stopped, first).
  std::unique_ptr<StateFollower> follower_;
  // With etcd: this replica's nodes in etcd, the others' from it.
  std::unique_ptr<NodeStateSync> node_sync_;
  // After upstreams_: destroyed first, as it unhooks from that service.
  std::unique_ptr<RolloutService> rollouts_;
  std::unique_ptr<AdsService> ads_;
  std::unique_ptr<UpstreamGrpcService> upstream_grpc_;
  std::unique_ptr<FleetGrpcService> fleet_grpc_;
  AdminAuth admin_auth_;
  std::unique_ptr<AuthenticatedUpstreamService> upstream_admin_;
  std::unique_ptr<AuthenticatedFleetService> fleet_admin_;
  std::unique_ptr<RolloutGrpcService> rollout_admin_;
  std::unique_ptr<grpc::Server> xds_server_;
  // Calls xds_server_ (so is stopped before it); see callback_waker.h.
  std::unique_ptr<CallbackWaker> waker_;
  std::unique_ptr<grpc::Server> admin_server_;
  std::unique_ptr<HttpApi> http_api_;
  // Declared last: destroyed first, while the service it calls still exists.
  std::unique_ptr<HttpGateway> http_gateway_;
  int xds_port_ = 0;
  int admin_port_ = 0;
  bool shut_down_ = false;
};

}  // namespace nginx_xds

#endif  // CONTROLPLANE_CONTROL_PLANE_H_
