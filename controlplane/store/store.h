#ifndef CONTROLPLANE_STORE_STORE_H_
#define CONTROLPLANE_STORE_STORE_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nginx_xds/v1/management.pb.h"
#include "nginx_xds/v1/upstream.pb.h"

namespace nginx_xds {

// A fleet's open or last rollout as the store keeps it.
struct StoredRollout {
  // Its settings and state; the live fields (canary_nodes and the counts)
  // are not kept.
  nginx_xds::v1::Rollout rollout;
  // The fleet's upstreams at rollout.stable_version, in creation order.
  std::vector<nginx_xds::v1::Upstream> stable_upstreams;
};

// Everything a store holds, as read at start.
struct StoredState {
  // The newest version of any write; 0 for an empty store.
  uint64_t version = 0;
  // Per fleet: the version of its newest write.
  std::map<std::string, uint64_t> fleet_versions;
  // Per fleet: its upstreams (normalized) in the order of their slots.
  std::map<std::string, std::vector<nginx_xds::v1::Upstream>> upstreams;
  // Per fleet: the slot of each of `upstreams[fleet]` (ascending), and how
  // many slots the fleet has, freed ones included (see Placement).
  std::map<std::string, std::vector<uint64_t>> slots;
  std::map<std::string, uint64_t> slot_counts;
  // Per fleet: its open or last rollout, if it has had one.
  std::map<std::string, StoredRollout> rollouts;
  // The store's own position of this read (etcd: its revision), from which
  // a replica follows later commits; 0 for a store without one.
  int64_t revision = 0;
};

// One commit as another writer (a replica on the same etcd) made it, seen
// through the store's change feed.
struct StoredCommit {
  std::string fleet;
  uint64_t version = 0;
  // The upstreams put, each with its slot (same order).
  std::vector<nginx_xds::v1::Upstream> puts;
  std::vector<uint64_t> slots;
  // The UpstreamKeys deleted.
  std::vector<std::string> delete_keys;
  // How many slots the fleet has afterwards.
  uint64_t slot_count = 0;
};

// Where a commit's upstreams go in their fleet's list order (dyups' /list
// and /detail): a fleet has numbered slots, each upstream holds one, and a
// deleted upstream leaves its slot free (UpstreamService decides who takes
// which slot; the store only keeps them).
struct Placement {
  // The slot of each put, in the order of `puts`. Empty: the store places
  // them itself (a new upstream in a new slot after every other one, a
  // replaced one in its own), which is what a caller without slots wants.
  std::vector<uint64_t> slots;
  // How many slots the fleet has after the commit, free ones included;
  // ignored when `slots` is empty.
  uint64_t slot_count = 0;
};

// The durable home of every upstream. Implementations are thread-compatible:
// the caller serializes Commit() calls.
class Store {
 public:
  virtual ~Store() = default;

  // Reads everything. Called once at start.
  virtual absl::StatusOr<StoredState> Load() = 0;

  // In one transaction: stores each of `puts` (replacing the upstream with
  // the same UpstreamKey) in the slot `placement` gives it, deletes the
  // upstreams whose keys are in `delete_keys` (their slots stay counted), and
  // makes the next version, which becomes the fleet's version too.
  // Durable (fsync'ed) when it returns; on error nothing changed.
  virtual absl::StatusOr<uint64_t> Commit(absl::string_view fleet,
                                          const std::vector<nginx_xds::v1::Upstream>& puts,
                                          const std::vector<std::string>& delete_keys,
                                          const Placement& placement) = 0;

  // Commit with the store's own placement: new ones last, in order, a
  // replaced one in its place.
  absl::StatusOr<uint64_t> Commit(absl::string_view fleet,
                                  const std::vector<nginx_xds::v1::Upstream>& puts,
                                  const std::vector<std::string>& delete_keys) {
    return Commit(fleet, puts, delete_keys, Placement());
  }

  // Stores `rollout` as its fleet's rollout (replacing the one before).
  // Durable when it returns; on error nothing changed.
  virtual absl::Status SaveRollout(const StoredRollout& rollout) {
    return absl::UnimplementedError("this store does not keep rollouts");
  }

  // Writes `state` as it is (versions, slots, rollouts preserved) into
  // this store, which must be empty: FAILED_PRECONDITION naming what it
  // holds otherwise, unless `replace`, which first deletes everything. For
  // moving between stores (`nginx-xds-controlplane migrate`), with no
  // control plane running on the target.
  virtual absl::Status Import(const StoredState& state, bool replace) {
    return absl::UnimplementedError("this store cannot import");
  }

  // Records `commit`, which another writer made and the caller read from
  // the store's change feed, so that the next Commit builds on it. Called
  // with Commit() calls serialized, in version order; older ones are ignored.
  virtual void Learn(const StoredCommit& commit) {}
};

}  // namespace nginx_xds

#endif  // CONTROLPLANE_STORE_STORE_H_
