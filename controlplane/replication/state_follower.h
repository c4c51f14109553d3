#ifndef CONTROLPLANE_REPLICATION_STATE_FOLLOWER_H_
#define CONTROLPLANE_REPLICATION_STATE_FOLLOWER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "controlplane/log/log.h"
#include "controlplane/store/etcd_connection.h"
#include "controlplane/store/store.h"
#include "etcd/api/etcdserverpb/rpc.grpc.pb.h"

namespace nginx_xds {

// Follows the commits other replicas make in etcd: one Watch on the state's
// keys from the revision the replica loaded, each revision that moved the
// version key turned into one StoredCommit and handed to `apply`, in
// revision (= version) order, none skipped; each revision that saved a
// rollout (EtcdStore::SaveRollout) handed to `rollout`, in the same
// revision order (so a rollout closed at version V comes after commit V). When the watch breaks it
// resumes from the next revision; when etcd compacted that revision away
// (or a record cannot be read) it calls `reload`, which reads the whole
// state again, and watches on from there. Thread-safe; the callbacks run on
// its own thread, one at a time.
class StateFollower {
 public:
  struct Options {
    // Where the state's keys are: [prefix, range_end).
    std::string prefix;
    std::string range_end;
    // Publishes one commit (UpstreamService::ApplyCommitted).
    std::function<void(const StoredCommit&)> apply;
    // Follows one saved rollout (RolloutService::ApplyStored); unset: rollouts
    // are not followed.
    std::function<void(const StoredRollout&)> rollout;
    // Reads everything again and returns its revision (UpstreamService::Reload).
    std::function<absl::StatusOr<int64_t>()> reload;
    LogHandler log;
  };

  // Starts watching after `revision` (the revision of the replica's Load).
  StateFollower(std::shared_ptr<EtcdConnection> etcd, Options options, int64_t revision);
  // Stops the watch and waits for its thread.
  ~StateFollower();

  // Whether the watch is established now.
  bool watching() const ABSL_LOCKS_EXCLUDED(mu_);
  // The last revision handed over (or loaded).
  int64_t revision() const ABSL_LOCKS_EXCLUDED(mu_);

  // Turns one watch response's events into commits, in order. Records that
  // did not move the version (a rollout saved) give none. DATA_LOSS for a
  // record it cannot read. Public for tests.
  static absl::StatusOr<std::vector<StoredCommit>> Commits(
      const std::string& prefix, const etcdserverpb::WatchResponse& response);

  // One revision's change: a commit, or a rollout saved (never both: they
  // are separate transactions).
  struct Change {
    std::optional<StoredCommit> commit;
    std::optional<StoredRollout> rollout;
  };
  // Commits and saved rollouts of one watch response, in revision order.
  // DATA_LOSS for a record it cannot read. Public for tests.
  static absl::StatusOr<std::vector<Change>> Changes(const std::string& prefix,
                                                     const etcdserverpb::WatchResponse& response);

 private:
  void Run();
  // One watch stream from next_revision_ until it ends; false when stopping.
  void WatchOnce();

  const std::shared_ptr<EtcdConnection> etcd_;
  const Options options_;
  std::unique_ptr<etcdserverpb::Watch::Stub> stub_;

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool watching_ ABSL_GUARDED_BY(mu_) = false;
  // The stream open now, to cancel on stop.
  grpc::ClientContext* context_ ABSL_GUARDED_BY(mu_) = nullptr;
  int64_t next_revision_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread thread_;
};

}  // namespace nginx_xds

#endif  // CONTROLPLANE_REPLICATION_STATE_FOLLOWER_H_
