#ifndef CONTROLPLANE_SNAPSHOT_CACHE_H_
#define CONTROLPLANE_SNAPSHOT_CACHE_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "controlplane/snapshot.h"

namespace nginx_xds {

// Told about every snapshot published for the fleet it watches.
class SnapshotWatcher {
 public:
  virtual ~SnapshotWatcher() = default;
  // Called on the publishing thread, without the cache's lock held.
  virtual void OnSnapshot(std::shared_ptr<const Snapshot> snapshot) = 0;
};

// Holds the current Snapshot of every fleet and tells watchers about new
// ones. Thread-safe.
class SnapshotCache {
 public:
  // The fleet's current snapshot; an empty version-0 one for an unknown fleet.
  std::shared_ptr<const Snapshot> Get(const std::string& fleet) const
      ABSL_LOCKS_EXCLUDED(mu_);

  // Makes `snapshot` the fleet's current one and tells its watchers.
  void Publish(const std::string& fleet, std::shared_ptr<const Snapshot> snapshot)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Registers `watcher` for `fleet` until it expires; returns the current
  // snapshot so the caller sees no gap between reading and watching.
  std::shared_ptr<const Snapshot> Watch(const std::string& fleet,
                                        std::weak_ptr<SnapshotWatcher> watcher)
      ABSL_LOCKS_EXCLUDED(mu_);

 private:
  mutable absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<const Snapshot>> current_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::vector<std::weak_ptr<SnapshotWatcher>>> watchers_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace nginx_xds

#endif  // CONTROLPLANE_SNAPSHOT_CACHE_H_
