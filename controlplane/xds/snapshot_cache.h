#ifndef CONTROLPLANE_XDS_SNAPSHOT_CACHE_H_
#define CONTROLPLANE_XDS_SNAPSHOT_CACHE_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "controlplane/xds/snapshot.h"

namespace nginx_xds {

// Told about every snapshot published for the fleet it watches.
class SnapshotWatcher {
 public:
  virtual ~SnapshotWatcher() = default;
  // Called on the publishing thread, without the cache's lock held.
  virtual void OnSnapshot(std::shared_ptr<const Snapshot> snapshot) = 0;
};

// Who a watcher is: the node of its stream.
struct WatcherNode {
  std::string id;
  // The string fields of the node's metadata.
  std::map<std::string, std::string> labels;
};

// Holds the current Snapshot of every fleet and tells watchers about new
// ones. A fleet may be pinned (a staged rollout): then only the watchers in
// the pin's canary group see new snapshots; the others, including those that
// start watching, stay on the pinned snapshot until Unpin. Thread-safe.
class SnapshotCache {
 public:
  // Whether a watcher's node is in a pin's canary group.
  using CanaryGroup = std::function<bool(const WatcherNode&)>;

  // The fleet's current snapshot; an empty version-0 one for an unknown fleet.
  std::shared_ptr<const Snapshot> Get(const std::string& fleet) const ABSL_LOCKS_EXCLUDED(mu_);

  // Makes `snapshot` the fleet's current one and tells its watchers (only the
  // canary ones while the fleet is pinned).
  void Publish(const std::string& fleet, std::shared_ptr<const Snapshot> snapshot)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Registers `watcher` for `fleet` until it expires; returns the snapshot
  // it is to serve now, so the caller sees no gap between reading and
  // watching.
  std::shared_ptr<const Snapshot> Watch(const std::string& fleet, WatcherNode node,
                                        std::weak_ptr<SnapshotWatcher> watcher)
      ABSL_LOCKS_EXCLUDED(mu_);
  // The same for a watcher without a node (never in a canary group).
  std::shared_ptr<const Snapshot> Watch(const std::string& fleet,
                                        std::weak_ptr<SnapshotWatcher> watcher)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Keeps every watcher of `fleet` outside `canary` on `stable` (replacing
  // any pin of the fleet). Watchers already watching keep what they have.
  void Pin(const std::string& fleet, std::shared_ptr<const Snapshot> stable, CanaryGroup canary)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Releases the fleet's pin and tells the watchers outside the canary group
  // about the current snapshot.
  void Unpin(const std::string& fleet) ABSL_LOCKS_EXCLUDED(mu_);

  // The nodes of the fleet's live watchers (a node with several streams
  // appears once per stream).
  std::vector<WatcherNode> Watchers(const std::string& fleet) const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Watcher {
    WatcherNode node;
    std::weak_ptr<SnapshotWatcher> watcher;
    // Set once at Watch: whether a pin of the fleet lets it see new snapshots.
    bool canary = false;
  };
  struct PinState {
    std::shared_ptr<const Snapshot> stable;
    CanaryGroup canary;
  };

  mutable absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<const Snapshot>> current_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::vector<Watcher>> watchers_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, PinState> pins_ ABSL_GUARDED_BY(mu_);
};

}  // namespace nginx_xds

#endif  // CONTROLPLANE_XDS_SNAPSHOT_CACHE_H_
