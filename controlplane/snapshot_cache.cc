#include "controlplane/snapshot_cache.h"

#include <algorithm>
#include <utility>

namespace nginx_xds {

namespace {

std::shared_ptr<const Snapshot> EmptySnapshot() {
  static const auto* empty =
      new std::shared_ptr<const Snapshot>(std::make_shared<Snapshot>(0, Snapshot::UpstreamMap()));
  return *empty;
}

}  // namespace

std::shared_ptr<const Snapshot> SnapshotCache::Get(const std::string& fleet) const {
  absl::MutexLock lock(&mu_);
  auto it = current_.find(fleet);
  return it == current_.end() ? EmptySnapshot() : it->second;
}

void SnapshotCache::Publish(const std::string& fleet,
                            std::shared_ptr<const Snapshot> snapshot) {
  std::vector<std::shared_ptr<SnapshotWatcher>> live;
  {
    absl::MutexLock lock(&mu_);
    current_[fleet] = snapshot;
    auto& watchers = watchers_[fleet];
    // Expired watchers (closed streams) are dropped here, lazily.
    std::vector<std::weak_ptr<SnapshotWatcher>> kept;
    for (auto& weak : watchers) {
      if (auto strong = weak.lock()) {
        live.push_back(std::move(strong));
        kept.push_back(std::move(weak));
      }
    }
    watchers.swap(kept);
  }
  for (const auto& watcher : live) watcher->OnSnapshot(snapshot);
}

std::shared_ptr<const Snapshot> SnapshotCache::Watch(
    const std::string& fleet, std::weak_ptr<SnapshotWatcher> watcher) {
  absl::MutexLock lock(&mu_);
  auto& watchers = watchers_[fleet];
  // Streams come and go between writes: drop the closed ones here too.
  watchers.erase(std::remove_if(watchers.begin(), watchers.end(),
                                [](const auto& weak) { return weak.expired(); }),
                 watchers.end());
  watchers.push_back(std::move(watcher));
  auto it = current_.find(fleet);
  return it == current_.end() ? EmptySnapshot() : it->second;
}

}  // namespace nginx_xds
