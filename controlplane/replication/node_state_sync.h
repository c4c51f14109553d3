#ifndef CONTROLPLANE_REPLICATION_NODE_STATE_SYNC_H_
#define CONTROLPLANE_REPLICATION_NODE_STATE_SYNC_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "controlplane/fleet/node_registry.h"
#include "controlplane/log/log.h"
#include "controlplane/store/etcd_connection.h"
#include "etcd/api/etcdserverpb/rpc.grpc.pb.h"
#include "nginx_xds/v1/management.pb.h"

namespace nginx_xds {

// Shares node state between control plane replicas on one etcd. Each
// replica writes its own nodes (NodeRegistry::LocalStatus) under
//   PREFIX~nodes/REPLICA/NODE -> nginx_xds.v1.NodeStatus
// attached to a lease it keeps alive, so a dead replica's nodes vanish
// with the lease (after `lease_ttl`) while a stopped one revokes it at
// once. Writes are coalesced: at most one transaction per `interval` (the
// first change after a quiet interval at once), with only the nodes that
// changed, however many ACKs came in between. It also
// watches every other replica's keys and serves them as the registry's
// RemoteNodes: fleet status shows every node, and a write waits for the
// remote nodes' ACKs as they arrive through the watch. Thread-safe; two
// threads of its own.
class NodeStateSync {
 public:
  struct Options {
    // This replica's id: unique among the replicas (e.g. the pod name).
    std::string replica;
    absl::Duration lease_ttl = absl::Seconds(10);
    absl::Duration interval = absl::Milliseconds(20);
    LogHandler log;
  };

  // Starts both threads and hooks into `registry` (SetRemoteNodes), which
  // must outlive this.
  NodeStateSync(std::shared_ptr<EtcdConnection> etcd, NodeRegistry* registry, Options options);
  // Stops, revoking the lease (this replica's nodes leave every status).
  ~NodeStateSync();

  // The other replicas' nodes of `fleet` (every fleet when empty).
  std::vector<nginx_xds::v1::NodeStatus> Remote(const std::string& fleet) const
      ABSL_LOCKS_EXCLUDED(mu_);
  // Waits until `deadline` for the other replicas' connected nodes of
  // `fleet` to acknowledge or reject `version`, and adds them to `progress`.
  void WaitForRemote(const std::string& fleet, uint64_t version, absl::Time deadline,
                     NodeRegistry::Progress* progress) const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void Publish();
  void Follow();
  // One Range then Watch of the other replicas' keys, until it breaks.
  void FollowOnce();
  bool stopping() const ABSL_LOCKS_EXCLUDED(mu_);

  const std::shared_ptr<EtcdConnection> etcd_;
  NodeRegistry* const registry_;
  const Options options_;
  // PREFIX~nodes/ and this replica's own PREFIX~nodes/REPLICA/.
  const std::string nodes_prefix_;
  const std::string own_prefix_;
  std::unique_ptr<etcdserverpb::KV::Stub> kv_;
  std::unique_ptr<etcdserverpb::Lease::Stub> lease_;
  std::unique_ptr<etcdserverpb::Watch::Stub> watch_;

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ClientContext* watch_context_ ABSL_GUARDED_BY(mu_) = nullptr;
  // The other replicas' nodes by key.
  std::map<std::string, nginx_xds::v1::NodeStatus> remote_ ABSL_GUARDED_BY(mu_);
  // Grows with every change of remote_ (waiters wake on it).
  uint64_t remote_changes_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread publisher_;
  std::thread follower_;
};

}  // namespace nginx_xds

#endif  // CONTROLPLANE_REPLICATION_NODE_STATE_SYNC_H_
