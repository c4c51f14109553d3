#ifndef CONTROLPLANE_FLEET_NODE_REGISTRY_H_
#define CONTROLPLANE_FLEET_NODE_REGISTRY_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <utility>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "nginx_xds/v1/management.pb.h"

namespace nginx_xds {

// What every node has acknowledged and rejected: the fleet status. Nodes are
// keyed by id; a node may have several streams at once (during an nginx
// reload the old and the new worker both connect). Thread-safe.
class NodeRegistry {
 public:
  struct Options {
    // The most streams one node id may have open at once (an nginx reload
    // has two, old and new worker, for a moment).
    int max_streams_per_node = 8;
    // A node without a stream for this long leaves fleet status.
    absl::Duration forget_nodes_after = absl::Hours(1);
  };

  NodeRegistry() : NodeRegistry(Options()) {}
  explicit NodeRegistry(Options options) : options_(options) {}

  // How far a fleet has taken a version.
  struct Progress {
    uint32_t connected = 0;
    uint32_t acked = 0;
    // Connected nodes not waited for because they lag (see WaitForFleet).
    uint32_t lagging = 0;
    // Nodes that rejected the version (or a newer one).
    std::vector<nginx_xds::v1::NodeRejection> rejections;
  };

  // A stream of `node` in `fleet` opens. The streams of one node id share
  // its fleet: FAILED_PRECONDITION for a stream claiming another fleet while
  // the node has streams open (never a silent move of the node), and
  // RESOURCE_EXHAUSTED beyond Options::max_streams_per_node. On error
  // nothing is recorded (the stream must not call StreamClosed).
  absl::Status StreamOpened(const std::string& node, const std::string& fleet,
                            const std::string& user_agent) ABSL_LOCKS_EXCLUDED(mu_);
  void StreamClosed(const std::string& node) ABSL_LOCKS_EXCLUDED(mu_);

  // The node subscribes to `type_url`; its acked version is the lowest over
  // the types it subscribes to.
  void Subscribed(const std::string& node, const std::string& type_url) ABSL_LOCKS_EXCLUDED(mu_);
  void Acked(const std::string& node, const std::string& type_url, uint64_t version)
      ABSL_LOCKS_EXCLUDED(mu_);
  // A NACK of `version`. With `rejected` (the RejectedUpstreams of its
  // error_detail) the node applied every other upstream of the version: the
  // version counts as acknowledged for `type_url`, and the node's rejected
  // upstreams become `rejected` (each keeps the version its run of
  // rejections started at). Without, the node rejected the version whole.
  void Nacked(const std::string& node, const std::string& type_url, uint64_t version,
              const std::string& message,
              const std::vector<nginx_xds::v1::RejectedUpstream>& rejected = {})
      ABSL_LOCKS_EXCLUDED(mu_);

  // Whether the node rejected exactly `version` of `type_url`: such a
  // version is never sent to it again.
  bool Rejected(const std::string& node, const std::string& type_url, uint64_t version) const
      ABSL_LOCKS_EXCLUDED(mu_);

  // The status of every node of `fleet` (every node when empty), the
  // other replicas' nodes included (RemoteNodes): for a node id known on
  // several (it moved), the connected entry, else the newest.
  nginx_xds::v1::FleetStatus Status(const std::string& fleet) const ABSL_LOCKS_EXCLUDED(mu_);
  // Status() of this registry's own nodes only: what a replica shares.
  nginx_xds::v1::FleetStatus LocalStatus(const std::string& fleet) const
      ABSL_LOCKS_EXCLUDED(mu_);

  // The nodes of the other control plane replicas on one etcd
  // (controlplane/replication/node_state_sync.h).
  struct RemoteNodes {
    // This replica's id, shown as the replica of the local nodes in Status().
    std::string replica;
    // Their status, of `fleet` (every fleet when empty).
    std::function<std::vector<nginx_xds::v1::NodeStatus>(const std::string& fleet)> status;
    // Waits until `deadline` for those of `fleet` to take `version` (as
    // WaitForFleet waits for its own) and adds them to `progress`.
    std::function<void(const std::string& fleet, uint64_t version, absl::Time deadline,
                       Progress* progress)>
        wait;
  };
  // Shows `remote` in Status() and makes WaitForFleet wait for it after the
  // local nodes (a write is answered once every replica's nodes took it).
  // Set once, before any stream or write.
  void SetRemoteNodes(RemoteNodes remote) { remote_ = std::move(remote); }
  // The remote nodes changed: moves the change counter (WaitForChange), so
  // fleet status watchers see them.
  void RemoteChanged() ABSL_LOCKS_EXCLUDED(mu_);

  // Waits until every connected node of `fleet` has acknowledged `version`
  // (or newer) or rejected it, or until `deadline`; returns how far it got.
  // Nodes that did not answer by a deadline that was still ahead when the
  // wait began are marked lagging: later
  // waits neither wait for them nor count them as connected (Progress::
  // lagging counts them) until they answer `version` or newer, or reconnect.
  // `changed` holds the UpstreamKeys of the upstreams the write of `version`
  // changed: a node that applied the version except upstreams none of which
  // is among them counts as acknowledged; one that rejects one of them is a
  // rejection (naming those). Null: every rejected upstream counts.
  Progress WaitForFleet(const std::string& fleet, uint64_t version, absl::Time deadline,
                        const std::set<std::string>* changed = nullptr) ABSL_LOCKS_EXCLUDED(mu_);

  // How many nodes left fleet status after Options::forget_nodes_after
  // without a stream.
  uint64_t forgotten() const ABSL_LOCKS_EXCLUDED(mu_);
  // How many streams StreamOpened refused (another fleet, too many).
  uint64_t refused_streams() const ABSL_LOCKS_EXCLUDED(mu_);

  // How many WaitForFleet calls are waiting now.
  size_t waiting() const ABSL_LOCKS_EXCLUDED(mu_);

  // One node's numbers for the metrics, read at scrape time.
  struct NodeCounters {
    std::string id;
    std::string fleet;
    // Open streams (an nginx reload briefly has two).
    int streams = 0;
    // As NodeStatus.acked_version.
    uint64_t acked_version = 0;
    // NACKs received from the node since the control plane started.
    uint64_t nacks = 0;
    // When the node last acknowledged (or applied in part) a version;
    // nothing before its first.
    std::optional<absl::Time> last_ack;
    // Whether the node lags (see WaitForFleet).
    bool lagging = false;
  };
  // Every node's counters, ordered by id.
  std::vector<NodeCounters> Counters() const ABSL_LOCKS_EXCLUDED(mu_);

  // A counter that grows with every change; WaitForChange returns once it
  // differs from `seen` or at `deadline`, with its value.
  uint64_t WaitForChange(uint64_t seen, absl::Time deadline) const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct TypeState {
    uint64_t acked = 0;
    std::optional<uint64_t> rejected;
  };
  struct Node {
    std::string fleet;
    std::string user_agent;
    int streams = 0;
    std::map<std::string, TypeState> types;
    nginx_xds::v1::NodeRejection last_nack;  // empty node: none yet
    // The upstreams the node rejects alone now, by UpstreamKey, and the
    // version of the NACK that named them last.
    std::map<std::string, nginx_xds::v1::RejectedUpstream> rejected_upstreams;
    uint64_t rejected_at = 0;
    std::string rejected_type;  // the type URL whose NACK named them
    // The version whose wait timed out without this node's answer.
    std::optional<uint64_t> lagging_at;
    absl::Time updated;
    uint64_t nacks = 0;
    std::optional<absl::Time> last_ack;
  };

  // A WaitForFleet in progress. Its counts are kept up to date by every
  // change of a node of its fleet, so waking it costs O(1), not a scan of
  // the fleet (which made a write to N nodes cost O(N^2)).
  struct Waiter {
    const std::string* fleet;
    uint64_t version;
    int64_t connected = 0;
    // Connected nodes that acknowledged `version` (or newer) or rejected it.
    int64_t settled = 0;
  };

  // WaitForFleet for this registry's own nodes.
  Progress WaitForLocalFleet(const std::string& fleet, uint64_t version, absl::Time deadline,
                             const std::set<std::string>* changed) ABSL_LOCKS_EXCLUDED(mu_);
  uint64_t AckedVersion(const Node& node) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // Whether writes to `fleet` wait for `node`: connected there, not lagging.
  static bool Counted(const Node& node, const std::string& fleet);
  // Clears `node`'s lagging mark once it answered the version it lagged at.
  void ClearLaggingIfAnswered(Node* node) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Drops nodes without a stream for longer than forget_nodes_after; at most
  // once per tenth of that period.
  void ForgetIdleNodes() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Whether `node` is a connected node of `fleet` that acknowledged or
  // rejected `version` (or newer).
  bool SettledAt(const Node& node, const std::string& fleet, uint64_t version) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // Runs `change` on `node`, keeping the waiters' counts right.
  void Mutate(Node* node, const std::function<void()>& change) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Progress ProgressOf(const std::string& fleet, uint64_t version,
                      const std::set<std::string>* changed) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  void Changed(Node* node) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  RemoteNodes remote_;
  mutable absl::Mutex mu_;
  std::map<std::string, Node> nodes_ ABSL_GUARDED_BY(mu_);
  uint64_t forgotten_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t refused_streams_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time last_sweep_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  uint64_t changes_ ABSL_GUARDED_BY(mu_) = 0;
  // Registered by WaitForFleet (a const reader of the rest).
  mutable std::vector<Waiter*> waiters_ ABSL_GUARDED_BY(mu_);
};

}  // namespace nginx_xds

#endif  // CONTROLPLANE_FLEET_NODE_REGISTRY_H_
