#ifndef CONTROLPLANE_STORE_ETCD_STORE_H_
#define CONTROLPLANE_STORE_ETCD_STORE_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
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
  struct Options {
    // etcd client URLs or host:port, e.g. "http://127.0.0.1:2379"; tried in order.
    std::vector<std::string> endpoints;
    // Where nginx-xds keeps its keys.
    std::string prefix = "/nginx-xds/";
    // How long one etcd call may take.
    absl::Duration timeout = absl::Seconds(5);
  };

  // Connects (lazily: errors show at the first call). INVALID_ARGUMENT for
  // a malformed endpoint.
  static absl::StatusOr<std::unique_ptr<EtcdStore>> Open(const Options& options);

  using Store::Commit;
  absl::StatusOr<StoredState> Load() override;
  absl::StatusOr<uint64_t> Commit(absl::string_view fleet,
                                  const std::vector<nginx_xds::v1::Upstream>& puts,
                                  const std::vector<std::string>& delete_keys,
                                  const Placement& placement) override;
  absl::Status SaveRollout(const StoredRollout& rollout) override;

 private:
  EtcdStore(Options options, std::string target, std::unique_ptr<etcdserverpb::KV::Stub> kv);

  // One KV call with the deadline; its gRPC error as an absl::Status naming etcd.
  absl::Status Call(const char* what,
                    const std::function<grpc::Status(grpc::ClientContext*)>& call);

  const Options options_;
  const std::string target_;
  std::unique_ptr<etcdserverpb::KV::Stub> kv_;
  // What this store last read or wrote: the version its next commit
  // compares against, and each fleet's slots.
  uint64_t version_ = 0;
  std::map<std::string, std::map<std::string, uint64_t>> slots_;
  std::map<std::string, uint64_t> slot_counts_;
};

}  // namespace nginx_xds

#endif  // CONTROLPLANE_STORE_ETCD_STORE_H_
