#ifndef CONTROLPLANE_FLEET_UPSTREAM_SERVICE_H_
#define CONTROLPLANE_FLEET_UPSTREAM_SERVICE_H_

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
#include "common/upstream_rules.h"
#include "controlplane/fleet/node_registry.h"
#include "controlplane/log/log.h"
#include "controlplane/metrics/write_metrics.h"
#include "controlplane/store/store.h"
#include "controlplane/xds/snapshot_cache.h"
#include "nginx_xds/v1/management.pb.h"

namespace nginx_xds {

// The one place where upstreams change: every API (gRPC management, the two
// HTTP compatibility APIs) calls it, so validation, errors and durability are
// written once. A write is validated, committed to the store, published as a
// new snapshot of its fleet, and answered once the fleet's connected nodes
// have acknowledged it or `ack_timeout` has passed. Errors: INVALID_ARGUMENT
// (a bad field, named with its value), NOT_FOUND, ALREADY_EXISTS,
// FAILED_PRECONDITION, or the store's error; state is unchanged on error.
// Thread-safe; writes are serialized.
class UpstreamService {
 public:
  struct Options {
    // How long a write waits for the fleet's ACKs before it is answered anyway.
    absl::Duration ack_timeout = absl::Seconds(5);
    // Resolves host names in server addresses.
    AddressResolver resolve = ResolveServerAddress;
    // Where each write and rollout step is logged (at info); unset: nowhere.
    LogHandler log;
    // Where write and store commit latencies are recorded; null: nowhere.
    // Must outlive the service.
    WriteMetrics* metrics = nullptr;
  };

  // Loads the store and publishes every fleet's snapshot.
  static absl::StatusOr<std::unique_ptr<UpstreamService>> Create(Store* store, SnapshotCache* cache,
                                                                 NodeRegistry* registry,
                                                                 Options options);

  // Every upstream of `fleet`, ordered by name (case-insensitively).
  std::vector<nginx_xds::v1::Upstream> List(const std::string& fleet) const
      ABSL_LOCKS_EXCLUDED(mu_);
  // Every upstream of `fleet` in the order of its slot: dyups' /list and
  // /detail order, which ngx_http_dyups_module keeps in an array of slots.
  // A deleted upstream frees its slot. A new upstream takes the free slot
  // with the highest number, or a new one at the end. A whole-upstream
  // write (Put, Replace) of an existing upstream moves it as dyups' POST
  // does: it frees its slot, then takes the free slot with the highest
  // number, counting a new one at the end when no other slot was free
  // (dyups builds every POST in a sandbox upstream first, which takes a
  // free slot or adds one, and frees it). Server changes (AddServer, ...)
  // keep the slot; Adopt places each new upstream as a new one, in order.
  std::vector<nginx_xds::v1::Upstream> ListInCreationOrder(const std::string& fleet) const
      ABSL_LOCKS_EXCLUDED(mu_);
  // The fleet's current version; 0 before its first write.
  uint64_t FleetVersion(const std::string& fleet) const ABSL_LOCKS_EXCLUDED(mu_);
  // Every fleet that has had a write, with its version.
  std::map<std::string, uint64_t> FleetVersions() const ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<nginx_xds::v1::Upstream> Get(const std::string& fleet,
                                              const std::string& name) const
      ABSL_LOCKS_EXCLUDED(mu_);

  // The upstream of `fleet` whose zone is exactly `zone` (the key of the
  // `/dynamic?upstream=` API). NOT_FOUND when none has it; FAILED_PRECONDITION
  // naming them when several upstreams share it.
  absl::StatusOr<nginx_xds::v1::Upstream> FindByZone(const std::string& fleet,
                                                     const std::string& zone) const
      ABSL_LOCKS_EXCLUDED(mu_);

  absl::StatusOr<nginx_xds::v1::WriteResponse> Put(const std::string& fleet,
                                                   nginx_xds::v1::Upstream upstream)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Like Put, except that an upstream that exists keeps its zone (which
  // nginx.conf declares) and the spelling of its name: dyups' POST, which
  // replaces everything a request body can say.
  absl::StatusOr<nginx_xds::v1::WriteResponse> Replace(const std::string& fleet,
                                                       nginx_xds::v1::Upstream upstream)
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<nginx_xds::v1::WriteResponse> Delete(const std::string& fleet,
                                                      const std::string& name)
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<nginx_xds::v1::WriteResponse> AddServer(const std::string& fleet,
                                                         const std::string& upstream,
                                                         nginx_xds::v1::Server server)
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<nginx_xds::v1::WriteResponse> RemoveServer(const std::string& fleet,
                                                            const std::string& upstream,
                                                            const std::string& address)
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<nginx_xds::v1::WriteResponse> UpdateServer(
      const nginx_xds::v1::UpdateServerRequest& request) ABSL_LOCKS_EXCLUDED(mu_);

  // Stores those of `upstreams` the fleet does not have yet (a node's
  // nginx.conf upstreams); existing ones win. Does not wait for ACKs.
  // Returns the number adopted.
  absl::StatusOr<int> Adopt(const std::string& fleet,
                            std::vector<nginx_xds::v1::Upstream> upstreams)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Staged rollouts (RolloutService in management.proto, whose comments say
  // what each does and its errors); defined in upstream_service_rollout.cc.
  // While a fleet's rollout is open every write above is sent to its canary
  // nodes only and waits for their ACKs alone (WriteResponse.canary).
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

  // Stops the thread that advances rollouts.
  ~UpstreamService();

 private:
  // A fleet's rollout and, while it is open, the snapshot its non-canary
  // nodes keep.
  struct RolloutEntry {
    StoredRollout stored;
    std::shared_ptr<const Snapshot> stable;
  };

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
  // AwaitFleet for a fleet with an open rollout: waits for the canary nodes
  // only. Nothing when the fleet has none.
  std::optional<nginx_xds::v1::WriteResponse> AwaitCanary(
      const std::string& fleet, uint64_t version, const std::set<std::string>* changed) const
      ABSL_LOCKS_EXCLUDED(mu_);
  // The rollout thread: advances open rollouts whenever a node's status changes.
  void AdvanceRollouts() ABSL_LOCKS_EXCLUDED(mu_);
  // Restores the stored rollouts and starts the rollout thread (Create).
  void RestoreRollouts(std::map<std::string, StoredRollout> rollouts) ABSL_LOCKS_EXCLUDED(mu_);

  UpstreamService(Store* store, SnapshotCache* cache, NodeRegistry* registry, Options options);

  // The fleet name to use: `fleet`, or the default one; validated.
  static absl::StatusOr<std::string> FleetName(const std::string& fleet);

  // Validates and normalizes `upstream` for Put and Replace.
  absl::Status PrepareUpstream(nginx_xds::v1::Upstream* upstream) const;

  // Where a put of an existing upstream goes in the fleet's slots (see
  // ListInCreationOrder); a new upstream takes a slot either way.
  enum class Slotting {
    kKeep,  // It keeps its slot: a change of some of its servers.
    kMove,  // It moves as dyups' POST moves it: a whole-upstream write.
  };

  // Commits `puts` and `deletes` for `fleet` and publishes the new snapshot.
  absl::StatusOr<uint64_t> CommitLocked(const std::string& fleet,
                                        std::vector<nginx_xds::v1::Upstream> puts,
                                        const std::vector<std::string>& delete_keys,
                                        Slotting slotting = Slotting::kKeep)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Waits for the fleet to take `version` and describes the result. With
  // `changed` (the UpstreamKeys the write changed), a node that applied the
  // version but rejected only other upstreams counts as acknowledged (see
  // NodeRegistry::WaitForFleet); without, any rejected upstream counts.
  nginx_xds::v1::WriteResponse AwaitFleet(const std::string& fleet, uint64_t version,
                                          const std::set<std::string>* changed = nullptr) const;
  // AwaitFleet, then one info line: fleet, operation, version and the
  // fleet's answer. `start`: when the write was taken, for the latency
  // metrics (durable now, acked once the fleet answered).
  nginx_xds::v1::WriteResponse AwaitAndLog(const char* operation, const std::string& fleet,
                                           uint64_t version, const std::set<std::string>* changed,
                                           absl::Time start) const;

  // Applies `change` to a copy of one upstream, then normalizes and commits it.
  absl::StatusOr<nginx_xds::v1::WriteResponse> ChangeUpstream(
      const char* operation, const std::string& fleet, const std::string& name,
      const std::function<absl::Status(nginx_xds::v1::Upstream*)>& change) ABSL_LOCKS_EXCLUDED(mu_);

  Store* const store_;
  SnapshotCache* const cache_;
  NodeRegistry* const registry_;
  const Options options_;

  // Serializes writes; readers take it shared.
  mutable absl::Mutex mu_;
  // Per fleet, the current snapshot: the upstreams and their packed resources.
  std::map<std::string, std::shared_ptr<const Snapshot>> fleets_ ABSL_GUARDED_BY(mu_);
  // Per fleet, its slots (see ListInCreationOrder) as the store keeps them:
  // the UpstreamKey of the upstream in each slot, "" for a free slot.
  std::map<std::string, std::vector<std::string>> slots_ ABSL_GUARDED_BY(mu_);
  // Per fleet, its open or last rollout.
  std::map<std::string, RolloutEntry> rollouts_ ABSL_GUARDED_BY(mu_);
  // How many rollouts are open: the rollout thread sleeps while none is.
  std::atomic<int> open_rollouts_{0};
  std::atomic<bool> stopping_{false};
  std::thread rollout_thread_;
};

}  // namespace nginx_xds

#endif  // CONTROLPLANE_FLEET_UPSTREAM_SERVICE_H_
