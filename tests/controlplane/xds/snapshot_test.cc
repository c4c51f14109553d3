// The xDS read path's state (controlplane/xds/snapshot and snapshot_cache):
// immutable per-version snapshots and the cache that hands them to
// watchers, pins included. No streams, no sockets.

#include "controlplane/xds/snapshot.h"

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/upstream_rules.h"
#include "common/xds_mapping.h"
#include "controlplane/xds/snapshot_cache.h"
#include "envoy/config/cluster/v3/cluster.pb.h"
#include "envoy/config/endpoint/v3/endpoint.pb.h"
#include "controlplane/xds/client_resources.h"
#include "gtest/gtest.h"
#include "tests/testing/upstreams.h"

namespace nginx_xds {
namespace {

using nginx_xds::testing::MakeUpstream;

std::shared_ptr<const Snapshot> MakeSnapshot(uint64_t version,
                                             const std::vector<std::string>& names) {
  Snapshot::UpstreamMap upstreams;
  for (const std::string& name : names) {
    upstreams[UpstreamKey(name)] =
        std::make_shared<const UpstreamResources>(MakeUpstream(name, {"127.0.0.1:8080"}));
  }
  return std::make_shared<const Snapshot>(version, std::move(upstreams));
}

// Records the versions a watcher was told about.
class RecordingWatcher : public SnapshotWatcher {
 public:
  void OnSnapshot(std::shared_ptr<const Snapshot> snapshot) override {
    seen.push_back(snapshot->version());
  }
  std::vector<uint64_t> seen;
};

// Validate that an upstream's resources are packed once, as the Cluster and
// ClusterLoadAssignment the mapping makes, named as the upstream.
TEST(UpstreamResourcesTest, PacksClusterAndAssignment) {
  const UpstreamResources resources(MakeUpstream("Backends", {"127.0.0.1:8080"}));
  envoy::config::cluster::v3::Cluster cluster;
  envoy::config::endpoint::v3::ClusterLoadAssignment assignment;
  ASSERT_TRUE(resources.cluster.any.UnpackTo(&cluster));
  ASSERT_TRUE(resources.assignment.any.UnpackTo(&assignment));
  EXPECT_EQ(cluster.name(), "Backends");
  EXPECT_EQ(assignment.cluster_name(), "Backends");
  EXPECT_EQ(resources.cluster.any.type_url(), kClusterTypeUrl);
  EXPECT_EQ(resources.assignment.any.type_url(), kEndpointTypeUrl);
  EXPECT_EQ(resources.listener.any.type_url(), kListenerTypeUrl);
  EXPECT_EQ(resources.route.any.type_url(), kRouteConfigurationTypeUrl);
  EXPECT_EQ(resources.OfType(kListenerTypeUrl), &resources.listener);
  EXPECT_EQ(resources.OfType("type.googleapis.com/made.up"), nullptr);
}

// Validate the Delta versions: 16 hex digits that depend only on a
// resource's content, so a server change gives the assignment a new version
// and leaves the Cluster's as it was, in this process or any other.
TEST(UpstreamResourcesTest, VersionsFollowContentOnly) {
  const UpstreamResources before(MakeUpstream("b", {"127.0.0.1:8080"}));
  const UpstreamResources again(MakeUpstream("b", {"127.0.0.1:8080"}));
  const UpstreamResources after(MakeUpstream("b", {"127.0.0.1:9090"}));
  EXPECT_EQ(before.cluster.version.size(), 16u);
  EXPECT_EQ(before.cluster.version, again.cluster.version);
  EXPECT_EQ(before.assignment.version, again.assignment.version);
  EXPECT_EQ(before.cluster.version, after.cluster.version);
  EXPECT_NE(before.assignment.version, after.assignment.version);
}

// Validate that version_info is the version in decimal and that Find looks
// upstreams up by UpstreamKey (lower case), not by the name as written.
TEST(SnapshotTest, VersionInfoAndFindByKey) {
  const auto snapshot = MakeSnapshot(42, {"Backends"});
  EXPECT_EQ(snapshot->version(), 42u);
  EXPECT_EQ(snapshot->version_info(), "42");
  ASSERT_NE(snapshot->Find("backends"), nullptr);
  EXPECT_EQ(snapshot->Find("backends")->upstream.name(), "Backends");
  EXPECT_EQ(snapshot->Find("Backends"), nullptr);
}

// Validate that a response carries the version and, for a named request,
// only the resources named exactly (xDS names are case-sensitive), while a
// wildcard request gets every resource of the type.
TEST(SnapshotTest, FillResponseNamedAndWildcard) {
  const auto snapshot = MakeSnapshot(7, {"api", "web"});
  envoy::service::discovery::v3::DiscoveryResponse named;
  snapshot->FillResponse(kEndpointTypeUrl, false, {"web", "API"}, &named);
  EXPECT_EQ(named.version_info(), "7");
  EXPECT_EQ(named.type_url(), kEndpointTypeUrl);
  ASSERT_EQ(named.resources_size(), 1);
  envoy::config::endpoint::v3::ClusterLoadAssignment assignment;
  ASSERT_TRUE(named.resources(0).UnpackTo(&assignment));
  EXPECT_EQ(assignment.cluster_name(), "web");

  envoy::service::discovery::v3::DiscoveryResponse all;
  snapshot->FillResponse(kClusterTypeUrl, true, {}, &all);
  ASSERT_EQ(all.resources_size(), 2);
  for (const auto& resource : all.resources()) EXPECT_EQ(resource.type_url(), kClusterTypeUrl);
}

// Validate that an unknown fleet reads as an empty version-0 snapshot.
TEST(SnapshotCacheTest, UnknownFleetIsEmptyVersionZero) {
  SnapshotCache cache;
  const auto snapshot = cache.Get("nowhere");
  ASSERT_NE(snapshot, nullptr);
  EXPECT_EQ(snapshot->version(), 0u);
  EXPECT_TRUE(snapshot->upstreams().empty());
}

// Validate that Watch returns the current snapshot and that a publish
// reaches the fleet's watchers only, not those of other fleets.
TEST(SnapshotCacheTest, PublishReachesTheFleetsWatchers) {
  SnapshotCache cache;
  cache.Publish("web", MakeSnapshot(1, {"a"}));
  auto web = std::make_shared<RecordingWatcher>();
  auto api = std::make_shared<RecordingWatcher>();
  EXPECT_EQ(cache.Watch("web", WatcherNode{"n1", {}}, web)->version(), 1u);
  EXPECT_EQ(cache.Watch("api", WatcherNode{"n2", {}}, api)->version(), 0u);
  cache.Publish("web", MakeSnapshot(2, {"a", "b"}));
  EXPECT_EQ(web->seen, std::vector<uint64_t>({2}));
  EXPECT_TRUE(api->seen.empty());
  EXPECT_EQ(cache.Get("web")->version(), 2u);
}

// Validate that a watcher that expired is neither told nor listed.
TEST(SnapshotCacheTest, ExpiredWatchersAreDropped) {
  SnapshotCache cache;
  auto kept = std::make_shared<RecordingWatcher>();
  auto gone = std::make_shared<RecordingWatcher>();
  cache.Watch("web", WatcherNode{"kept", {}}, kept);
  cache.Watch("web", WatcherNode{"gone", {}}, gone);
  gone.reset();
  cache.Publish("web", MakeSnapshot(1, {"a"}));
  EXPECT_EQ(kept->seen, std::vector<uint64_t>({1}));
  const auto watchers = cache.Watchers("web");
  ASSERT_EQ(watchers.size(), 1u);
  EXPECT_EQ(watchers[0].id, "kept");
}

// Validate the pin of a staged rollout: while pinned, only canary watchers
// see new snapshots and a new non-canary watcher starts on the stable one;
// Unpin brings the others to the current snapshot, once.
TEST(SnapshotCacheTest, PinKeepsOthersOnStableUntilUnpin) {
  SnapshotCache cache;
  const auto stable = MakeSnapshot(1, {"a"});
  cache.Publish("web", stable);
  auto canary = std::make_shared<RecordingWatcher>();
  auto other = std::make_shared<RecordingWatcher>();
  cache.Watch("web", WatcherNode{"canary", {{"role", "canary"}}}, canary);
  cache.Watch("web", WatcherNode{"other", {}}, other);
  cache.Pin("web", stable, [](const WatcherNode& node) { return node.labels.count("role") != 0; });

  cache.Publish("web", MakeSnapshot(2, {"a", "b"}));
  EXPECT_EQ(canary->seen, std::vector<uint64_t>({2}));
  EXPECT_TRUE(other->seen.empty());
  auto late = std::make_shared<RecordingWatcher>();
  EXPECT_EQ(cache.Watch("web", WatcherNode{"late", {}}, late)->version(), 1u);
  auto late_canary = std::make_shared<RecordingWatcher>();
  EXPECT_EQ(cache.Watch("web", WatcherNode{"c2", {{"role", "x"}}}, late_canary)->version(), 2u);

  cache.Unpin("web");
  EXPECT_EQ(canary->seen, std::vector<uint64_t>({2}));
  EXPECT_EQ(other->seen, std::vector<uint64_t>({2}));
  EXPECT_EQ(late->seen, std::vector<uint64_t>({2}));
  cache.Publish("web", MakeSnapshot(3, {"a"}));
  EXPECT_EQ(other->seen, std::vector<uint64_t>({2, 3}));
}

// Validate that a watcher without a node is never in a canary group, even
// when the group would take any node.
TEST(SnapshotCacheTest, NodelessWatcherIsNeverCanary) {
  SnapshotCache cache;
  const auto stable = MakeSnapshot(1, {"a"});
  cache.Publish("web", stable);
  cache.Pin("web", stable, [](const WatcherNode&) { return true; });
  auto anonymous = std::make_shared<RecordingWatcher>();
  EXPECT_EQ(cache.Watch("web", anonymous)->version(), 1u);
  cache.Publish("web", MakeSnapshot(2, {"a"}));
  EXPECT_TRUE(anonymous->seen.empty());
}

}  // namespace
}  // namespace nginx_xds
