#include "controlplane/xds/snapshot_cache.h"

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

void SnapshotCache::Publish(const std::string& fleet, std::shared_ptr<const Snapshot> snapshot) {
  std::vector<std::shared_ptr<SnapshotWatcher>> live;
  {
    absl::MutexLock lock(&mu_);
    current_[fleet] = snapshot;
    const bool pinned = pins_.count(fleet) != 0;
    auto& watchers = watchers_[fleet];
    // Expired watchers (closed streams) are dropped here, lazily.
    std::vector<Watcher> kept;
    for (auto& each : watchers) {
      auto strong = each.watcher.lock();
      if (!strong) continue;
      if (!pinned || each.canary) live.push_back(std::move(strong));
      kept.push_back(std::move(each));
    }
    watchers.swap(kept);
  }
  for (const auto& watcher : live) watcher->OnSnapshot(snapshot);
}

std::shared_ptr<const Snapshot> SnapshotCache::Watch(const std::string& fleet, WatcherNode node,
                                                     std::weak_ptr<SnapshotWatcher> watcher) {
  absl::MutexLock lock(&mu_);
  auto& watchers = watchers_[fleet];
  // Streams come and go between writes: drop the closed ones here too.
  watchers.erase(std::remove_if(watchers.begin(), watchers.end(),
                                [](const Watcher& each) { return each.watcher.expired(); }),
                 watchers.end());
  auto pin = pins_.find(fleet);
  // A node-less watcher is in no canary group.
  const bool canary = pin != pins_.end() && !node.id.empty() && pin->second.canary(node);
  watchers.push_back(Watcher{std::move(node), std::move(watcher), canary});
  if (pin != pins_.end() && !canary) return pin->second.stable;
  auto it = current_.find(fleet);
  return it == current_.end() ? EmptySnapshot() : it->second;
}

std::shared_ptr<const Snapshot> SnapshotCache::Watch(const std::string& fleet,
                                                     std::weak_ptr<SnapshotWatcher> watcher) {
  return Watch(fleet, WatcherNode(), std::move(watcher));
}

void SnapshotCache::Pin(const std::string& fleet, std::shared_ptr<const Snapshot> stable,
                        CanaryGroup canary) {
  absl::MutexLock lock(&mu_);
  for (auto& each : watchers_[fleet]) each.canary = !each.node.id.empty() && canary(each.node);
  pins_[fleet] = PinState{std::move(stable), std::move(canary)};
}

void SnapshotCache::Unpin(const std::string& fleet) {
  std::vector<std::shared_ptr<SnapshotWatcher>> live;
  std::shared_ptr<const Snapshot> current;
  {
    absl::MutexLock lock(&mu_);
    if (pins_.erase(fleet) == 0) return;
    auto it = current_.find(fleet);
    current = it == current_.end() ? EmptySnapshot() : it->second;
    for (auto& each : watchers_[fleet]) {
      // The canary ones already have it.
      auto strong = each.canary ? nullptr : each.watcher.lock();
      if (strong) live.push_back(std::move(strong));
      each.canary = false;
    }
  }
  for (const auto& watcher : live) watcher->OnSnapshot(current);
}

std::vector<WatcherNode> SnapshotCache::Watchers(const std::string& fleet) const {
  std::vector<WatcherNode> nodes;
  absl::MutexLock lock(&mu_);
  auto it = watchers_.find(fleet);
  if (it == watchers_.end()) return nodes;
  for (const auto& each : it->second) {
    if (!each.watcher.expired()) nodes.push_back(each.node);
  }
  return nodes;
}

}  // namespace nginx_xds
