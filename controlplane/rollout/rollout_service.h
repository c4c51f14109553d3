#ifndef CONTROLPLANE_ROLLOUT_ROLLOUT_SERVICE_H_
#define CONTROLPLANE_ROLLOUT_ROLLOUT_SERVICE_H_

#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "controlplane/fleet/node_registry.h"
#include "controlplane/fleet/upstream_service.h"
#include "controlplane/log/log.h"
#include "controlplane/store/store.h"
#include "controlplane/xds/snapshot_cache.h"
#include "nginx_xds/v1/management.pb.h"

namespace nginx_xds {

// Staged rollouts (RolloutService in management.proto, whose comments say
// what each call does and its errors), beside UpstreamService: a fleet is
// pinned to its stable snapshot for every node outside a canary group until
// the rollout is promoted or aborted. It owns the rollouts and the thread
// that advances them; the upstreams stay UpstreamService's, which it reads
// and writes through that service's public API. While a fleet's rollout is
// open, every write to it is sent to its canary nodes only and waits for
// their ACKs alone (WriteResponse.canary): this service installs
// UpstreamService's WriteWaiter for that. Thread-safe.
class RolloutService {
 public:
  struct Options {
    // How long a write waits for the canary nodes' ACKs.
    absl::Duration ack_timeout = absl::Seconds(5);
    // Where each rollout step is logged; unset: nowhere.
    LogHandler log;
  };

  // Restores `rollouts` (as the store loaded them), pins the fleets whose
  // rollout is open, hooks into `upstreams`' writes and starts the thread
  // that advances rollouts. Every pointer must outlive the service.
  static std::unique_ptr<RolloutService> Create(Store* store, UpstreamService* upstreams,
                                                SnapshotCache* cache, NodeRegistry* registry,
                                                Options options,
                                                std::map<std::string, StoredRollout> rollouts);

  // Unhooks from the upstream service and stops the rollout thread.
  ~RolloutService();

  // An empty `fleet` is the default fleet in each of these four.
  absl::StatusOr<nginx_xds::v1::Rollout> StartRollout(
      const nginx_xds::v1::StartRolloutRequest& request) ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<nginx_xds::v1::Rollout> GetRollout(const std::string& fleet) const
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<nginx_xds::v1::RolloutResponse> PromoteRollout(const std::string& fleet,
                                                                bool force)
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<nginx_xds::v1::RolloutResponse> AbortRollout(const std::string& fleet)
      ABSL_LOCKS_EXCLUDED(mu_);
  // The open or last rollout of `fleet`, or of every fleet when empty,
  // ordered by fleet.
  std::vector<nginx_xds::v1::Rollout> Rollouts(const std::string& fleet) const
      ABSL_LOCKS_EXCLUDED(mu_);

  // Replicas (controlplane/replication): follows `stored`, a rollout some
  // replica (this one included) saved in the store, so that every replica
  // pins, unpins, promotes and aborts the same rollout: an open one pins its
  // fleet to the same stable version here; a closed one unpins it. A save
  // of an older rollout (by `started`), or of the same one older by
  // `updated`, or the same, changes nothing (a replica's own saves come back
  // through the watch); a save reopening a rollout this service holds closed
  // changes nothing and the close is saved again (closed is final).
  void ApplyStored(const StoredRollout& stored) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  // A fleet's rollout and, while it is open, the snapshot its non-canary
  // nodes keep.
  struct RolloutEntry {
    StoredRollout stored;
    std::shared_ptr<const Snapshot> stable;
  };

  RolloutService(Store* store, UpstreamService* upstreams, SnapshotCache* cache,
                 NodeRegistry* registry, Options options);

  // The snapshot the non-canary nodes of open rollout `stored` keep: the
  // fleet's current one when it is still at the stable version, else one
  // built from the stored stable upstreams.
  std::shared_ptr<const Snapshot> StableSnapshot(const std::string& fleet,
                                                 const StoredRollout& stored) const;
  // The rollout with its live fields (canary version and nodes) filled.
  nginx_xds::v1::Rollout DescribeLocked(const std::string& fleet, const RolloutEntry& entry) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // Halts an open rollout on a canary NACK, resumes a halted one once the
  // canary acknowledged a newer version, and auto-promotes; persists each
  // change. Returns the rollout as it now stands.
  nginx_xds::v1::Rollout AdvanceRolloutLocked(const std::string& fleet, RolloutEntry* entry)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Closes `entry` as `state` at `version` (stored first) and unpins the fleet.
  absl::Status CloseRolloutLocked(const std::string& fleet, RolloutEntry* entry,
                                  nginx_xds::v1::RolloutState state, uint64_t version)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The WriteWaiter: for a write committed during its fleet's rollout (the
  // rollout is open, or closed at `version` or later), waits for the canary
  // nodes only; nothing otherwise.
  std::optional<nginx_xds::v1::WriteResponse> AwaitCanary(
      const std::string& fleet, uint64_t version, const std::set<std::string>* changed) const
      ABSL_LOCKS_EXCLUDED(mu_);
  // The rollout thread: advances open rollouts whenever a node's status changes.
  void AdvanceRollouts() ABSL_LOCKS_EXCLUDED(mu_);

  Store* const store_;
  UpstreamService* const upstreams_;
  SnapshotCache* const cache_;
  NodeRegistry* const registry_;
  const Options options_;

  // Taken before UpstreamService's own lock, never after: that service
  // only calls back (AwaitCanary) with no lock of its own held.
  mutable absl::Mutex mu_;
  // Per fleet, its open or last rollout.
  std::map<std::string, RolloutEntry> rollouts_ ABSL_GUARDED_BY(mu_);
  // How many rollouts are open: the rollout thread sleeps while none is.
  std::atomic<int> open_rollouts_{0};
  std::atomic<bool> stopping_{false};
  std::thread rollout_thread_;
};

}  // namespace nginx_xds

#endif  // CONTROLPLANE_ROLLOUT_ROLLOUT_SERVICE_H_
