#ifndef CONTROLPLANE_FLEET_UPSTREAM_SERVICE_H_
#define CONTROLPLANE_FLEET_UPSTREAM_SERVICE_H_

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/upstream_rules.h"
#include "controlplane/fleet/node_registry.h"
#include "controlplane/fleet/slot_table.h"
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
// Thread-safe; writes are serialized. Staged rollouts are RolloutService's
// (controlplane/rollout), which calls this service, never the reverse.
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
    // Replicas on one etcd: called, with no lock held, after a commit lost
    // its compare-and-swap (ABORTED: another replica wrote first); returns
    // once this service has applied (ApplyCommitted) everything the store
    // had, after which the write is validated again on the new state and
    // retried, kCommitAttempts times at most. Unset: ABORTED is the answer.
    std::function<absl::Status()> catch_up;
  };

  // How often one write tries to commit when other replicas keep winning
  // (each retry after a random pause that grows, so replicas writing flat
  // out take turns).
  static constexpr int kCommitAttempts = 16;

  // Loads the store and publishes every fleet's snapshot.
  static absl::StatusOr<std::unique_ptr<UpstreamService>> Create(Store* store, SnapshotCache* cache,
                                                                 NodeRegistry* registry,
                                                                 Options options);
  // Create from a state the caller loaded from `store` (ControlPlane loads
  // once and hands the rollouts, which this service does not keep, to
  // RolloutService).
  static std::unique_ptr<UpstreamService> Restore(Store* store, StoredState state,
                                                  SnapshotCache* cache, NodeRegistry* registry,
                                                  Options options);

  // Every read and write below takes `fleet` "" as the default fleet.

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

  // What a write waits for when it is not the whole fleet: given the
  // fleet, the write's version and the UpstreamKeys it changed (null: any),
  // an answer, or nothing to wait for the whole fleet (AwaitVersion).
  // RolloutService installs one that waits for a fleet's canary nodes when
  // the write was committed during its rollout; the only way from this
  // service up to rollouts. Called with no lock of this service held.
  using WriteWaiter = std::function<std::optional<nginx_xds::v1::WriteResponse>(
      const std::string& fleet, uint64_t version, const std::set<std::string>* changed)>;
  // Sets (or, with nullptr, removes) the WriteWaiter. Its owner must remove
  // it before it goes away.
  void SetWriteWaiter(WriteWaiter waiter) ABSL_LOCKS_EXCLUDED(waiter_mu_);

  // Waits up to `ack_timeout` for every connected node of `fleet` (never
  // the WriteWaiter) to take `version`, and says how far they got: the
  // answer of a promoted or aborted rollout.
  nginx_xds::v1::WriteResponse AwaitVersion(const std::string& fleet, uint64_t version) const;

  // One version of a fleet as it is kept: its snapshot (null before its
  // first write) and its upstreams in slot order (ListInCreationOrder).
  struct FleetState {
    std::shared_ptr<const Snapshot> snapshot;
    std::vector<nginx_xds::v1::Upstream> in_slot_order;
  };
  // Runs `use` on `fleet`'s state while no write can change it (writes wait
  // until `use` returns) and returns what it returns: RolloutService pins a
  // fleet to the version it read. `fleet` is a resolved name (ResolveFleet);
  // `use` must not call this service.
  absl::Status WithFleetState(const std::string& fleet,
                              const std::function<absl::Status(const FleetState&)>& use) const
      ABSL_LOCKS_EXCLUDED(mu_);
  // The current snapshot of `fleet` (a resolved name); null before its
  // first write.
  std::shared_ptr<const Snapshot> Current(const std::string& fleet) const ABSL_LOCKS_EXCLUDED(mu_);
  // Unless `fleet` (which has had a write) is still at `version`, writes
  // `upstreams` back as one new version: those that changed or went are
  // put, those that came are deleted; slots are kept. Does not wait for
  // ACKs. Returns the fleet's version afterwards, or the store's error.
  absl::StatusOr<uint64_t> RestoreFleet(const std::string& fleet, uint64_t version,
                                        const std::vector<nginx_xds::v1::Upstream>& upstreams)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Replicas (controlplane/replication): publishes `commit`, which another
  // replica made, as its fleet's next snapshot and tells the store
  // (Store::Learn). Commits come in version order; one this service already
  // has (its own, seen again through the feed) is ignored.
  void ApplyCommitted(const StoredCommit& commit) ABSL_LOCKS_EXCLUDED(mu_);
  // Replicas: reads the whole store again (after the change feed lost
  // history, e.g. etcd compacted it) and publishes every fleet that moved
  // on. Returns the store's revision of that read, or its error.
  absl::StatusOr<int64_t> Reload() ABSL_LOCKS_EXCLUDED(mu_);
  // The newest version this service has, of any fleet (its own writes and
  // those applied).
  uint64_t Version() const ABSL_LOCKS_EXCLUDED(mu_);
  // Waits until Version() is `version` or newer; false at `deadline`.
  bool WaitForVersion(uint64_t version, absl::Time deadline) const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  UpstreamService(Store* store, SnapshotCache* cache, NodeRegistry* registry, Options options);

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

  // Waits for what the WriteWaiter says, or else the whole fleet
  // (AwaitWholeFleet), to take a write's `version`.
  nginx_xds::v1::WriteResponse AwaitFleet(const std::string& fleet, uint64_t version,
                                          const std::set<std::string>* changed) const
      ABSL_LOCKS_EXCLUDED(waiter_mu_);
  // Waits for the fleet's connected nodes to take `version` and describes
  // the result. With `changed` (the UpstreamKeys the write changed), a node
  // that applied the version but rejected only other upstreams counts as
  // acknowledged (see NodeRegistry::WaitForFleet); without, any rejected
  // upstream counts.
  nginx_xds::v1::WriteResponse AwaitWholeFleet(const std::string& fleet, uint64_t version,
                                               const std::set<std::string>* changed) const;
  // AwaitFleet, then one info line: fleet, operation, version and the
  // fleet's answer. `start`: when the write was taken, for the latency
  // metrics (durable now, acked once the fleet answered).
  nginx_xds::v1::WriteResponse AwaitAndLog(const char* operation, const std::string& fleet,
                                           uint64_t version, const std::set<std::string>* changed,
                                           absl::Time start) const;

  // Runs `attempt` (validate against the current state, then CommitLocked)
  // under mu_; when its commit lost the store's compare-and-swap, catches
  // up (Options::catch_up) and runs it again, up to kCommitAttempts times.
  absl::StatusOr<uint64_t> WriteWithRetry(const std::function<absl::StatusOr<uint64_t>()>& attempt)
      ABSL_LOCKS_EXCLUDED(mu_);

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
  std::map<std::string, SlotTable> slots_ ABSL_GUARDED_BY(mu_);
  // The newest version of any fleet (see Version()).
  uint64_t version_ ABSL_GUARDED_BY(mu_) = 0;

  mutable absl::Mutex waiter_mu_ ABSL_ACQUIRED_AFTER(mu_);
  WriteWaiter waiter_ ABSL_GUARDED_BY(waiter_mu_);
};

}  // namespace nginx_xds

#endif  // CONTROLPLANE_FLEET_UPSTREAM_SERVICE_H_
