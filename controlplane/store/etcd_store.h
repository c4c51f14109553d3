#ifndef CONTROLPLANE_STORE_ETCD_STORE_H_
#define CONTROLPLANE_STORE_ETCD_STORE_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "controlplane/store/etcd_connection.h"
#include "controlplane/store/store.h"
#include "etcd/api/etcdserverpb/rpc.grpc.pb.h"

namespace nginx_xds {

// A Store in etcd v3 (its gRPC KV API), for control plane replicas that
// share one state. Keys under `prefix`:
//   version                      the newest version, decimal
//   fleets/FLEET                 "VERSION SLOTS", decimal
//   upstreams/FLEET/KEY          "SLOT\n" then the nginx_xds.v1.Upstream
//   rollouts/FLEET               the nginx_xds.v1.Rollout
//   rollout-stable/FLEET         its stable upstreams (ListUpstreamsResponse)
// (and, past every one of those, ~nodes/REPLICA/NODE: replicas' node state,
// controlplane/replication/node_state_sync.h, which Load does not read).
// A commit is one etcd transaction guarded by a compare-and-swap on
// `version`, so two writers never hand out the same version or lose each
// other's change: the one that lost gets ABORTED and nothing of its commit
// is stored. A commit is durable once etcd's quorum has it. Errors name
// etcd: UNAVAILABLE when it cannot be reached (or has no quorum), ABORTED
// on a lost race, DATA_LOSS for records it cannot read, INVALID_ARGUMENT
// when etcd refuses the transaction (e.g. more operations than its
// --max-txn-ops, 128 by default). Thread-compatible, like every Store.
class EtcdStore : public Store {
 public:
  using Options = EtcdOptions;

  // Connects (lazily: errors show at the first call). INVALID_ARGUMENT for
  // a malformed endpoint.
  static absl::StatusOr<std::unique_ptr<EtcdStore>> Open(const Options& options);
  // A store on a connection the caller shares (with the replica's watch).
  explicit EtcdStore(std::shared_ptr<EtcdConnection> connection);

  // The key of the newest version (what a commit compares and swaps).
  std::string VersionKey() const { return connection_->options().prefix + "version"; }
  // The range [first, end) of every key of the state (upstreams, fleets,
  // rollouts, the version): what a replica watches.
  std::string StateRangeEnd() const;

  using Store::Commit;
  absl::StatusOr<StoredState> Load() override;
  absl::StatusOr<uint64_t> Commit(absl::string_view fleet,
                                  const std::vector<nginx_xds::v1::Upstream>& puts,
                                  const std::vector<std::string>& delete_keys,
                                  const Placement& placement) override;
  absl::Status SaveRollout(const StoredRollout& rollout) override;
  void Learn(const StoredCommit& commit) override;
  // In transactions of at most 100 operations (etcd's --max-txn-ops is 128
  // by default), the version key last: until it lands, a replica started on
  // the prefix sees no state, and each transaction is refused if another
  // writer made one meanwhile.
  absl::Status Import(const StoredState& state, bool replace) override;

 private:
  std::shared_ptr<EtcdConnection> connection_;
  const Options& options_;
  std::unique_ptr<etcdserverpb::KV::Stub> kv_;
  // What this store last read or wrote: the version its next commit
  // compares against, and each fleet's slots.
  uint64_t version_ = 0;
  std::map<std::string, std::map<std::string, uint64_t>> slots_;
  std::map<std::string, uint64_t> slot_counts_;
};

}  // namespace nginx_xds

#endif  // CONTROLPLANE_STORE_ETCD_STORE_H_
