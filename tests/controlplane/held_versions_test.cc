// What a Delta stream keeps per client (HeldVersions) is O(exceptions): a
// client in sync with the snapshot costs nothing per resource, whatever the
// fleet's size, and each exception (not sent yet, rejected, in flight) is
// kept exactly until it is resolved.

#include "controlplane/xds/held_versions.h"

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/xds_mapping.h"
#include "controlplane/xds/snapshot.h"
#include "gtest/gtest.h"
#include "tests/testing/upstreams.h"

namespace nginx_xds {
namespace {

using nginx_xds::testing::MakeUpstreamOnPort;

std::shared_ptr<const UpstreamResources> Packed(const std::string& name, int port) {
  return std::make_shared<const UpstreamResources>(MakeUpstreamOnPort(name, port));
}

std::shared_ptr<const Snapshot> Fleet(int upstreams) {
  Snapshot::UpstreamMap map;
  for (int i = 0; i < upstreams; ++i) {
    std::string name = absl::StrCat("u", i);
    map[name] = Packed(name, 8000 + i);
  }
  return std::make_shared<const Snapshot>(1, map);
}

// name -> version, as a client sends it in initial_resource_versions.
google::protobuf::Map<std::string, std::string> AllOf(const Snapshot& snapshot) {
  google::protobuf::Map<std::string, std::string> held;
  for (const auto& [key, resources] : snapshot.upstreams()) {
    held[resources->upstream.name()] = resources->assignment.version;
  }
  return held;
}

const std::set<std::string> kNoNames;

// Validate that a wildcard client that holds every resource (declared in
// its first request) keeps no exception, and one that holds all but one
// and a gone one keeps exactly those two.
TEST(HeldVersionsTest, InSyncClientKeepsNothingPerResource) {
  auto fleet = Fleet(1000);
  HeldVersions held(kEndpointTypeUrl);
  held.Start(fleet, AllOf(*fleet), /*wildcard=*/true, kNoNames);
  EXPECT_EQ(held.base(), fleet);
  EXPECT_TRUE(held.exceptions().empty());

  auto partial = AllOf(*fleet);
  partial.erase("u7");
  partial["gone"] = "00000000000000aa";
  held.Start(fleet, partial, true, kNoNames);
  EXPECT_EQ(held.exceptions().size(), 2u);
  EXPECT_EQ(held.Get("u7"), HeldVersions::kNone);
  EXPECT_EQ(held.Get("gone"), 0xaau);
  EXPECT_EQ(held.Get("u8"), fleet->Find("u8")->assignment.version_bits);
}

// Validate that a write moves the base in O(change): a client that has not
// got the change yet keeps its old version of the changed upstream only,
// and nothing once it acknowledged the new one.
TEST(HeldVersionsTest, ChangeIsAnExceptionUntilAcknowledged) {
  auto v1 = Fleet(100);
  HeldVersions held(kEndpointTypeUrl);
  held.Start(v1, AllOf(*v1), true, kNoNames);
  auto v2 = v1->Next(2, {Packed("u3", 9003)}, {"u4"});
  std::set<std::string> changed;
  ASSERT_TRUE(v2->ChangedSince(*v1, &changed));
  held.Advance(v2, changed, true, kNoNames);
  EXPECT_EQ(held.base(), v2);
  EXPECT_EQ(held.exceptions().size(), 2u);
  EXPECT_EQ(held.Get("u3"), v1->Find("u3")->assignment.version_bits);
  EXPECT_EQ(held.Get("u4"), v1->Find("u4")->assignment.version_bits) << "held, though gone";
  held.Set("u3", v2->Find("u3")->assignment.version_bits);
  held.Set("u4", HeldVersions::kNone);
  EXPECT_TRUE(held.exceptions().empty());
}

// Validate that a client subscribed by name keeps nothing for writes to
// names outside its subscription.
TEST(HeldVersionsTest, WritesOutsideTheSubscriptionCostNothing) {
  auto v1 = Fleet(100);
  const std::set<std::string> names = {"u1"};
  HeldVersions held(kEndpointTypeUrl);
  held.Start(v1, AllOf(*v1), false, names);
  EXPECT_TRUE(held.exceptions().empty());
  std::shared_ptr<const Snapshot> at = v1;
  for (int i = 2; i < 50; ++i) {
    auto next = at->Next(i, {Packed(absl::StrCat("u", i), 9000 + i)}, {});
    std::set<std::string> changed;
    ASSERT_TRUE(next->ChangedSince(*at, &changed));
    held.Advance(next, changed, false, names);
    at = next;
  }
  EXPECT_TRUE(held.exceptions().empty());
}

// Validate that a rebase without history (a new line) compares everything
// once and keeps only the differences.
TEST(HeldVersionsTest, RebaseWithoutHistoryKeepsOnlyDifferences) {
  auto v1 = Fleet(100);
  HeldVersions held(kEndpointTypeUrl);
  held.Start(v1, AllOf(*v1), true, kNoNames);
  Snapshot::UpstreamMap map;
  for (const auto& [key, resources] : v1->upstreams()) map[key] = resources;
  map["u5"] = Packed("u5", 9005);
  map.erase("u6");
  auto other_line = std::make_shared<const Snapshot>(7, map);
  held.Rebase(other_line, true, kNoNames);
  EXPECT_EQ(held.exceptions().size(), 2u);
  EXPECT_EQ(held.Get("u5"), v1->Find("u5")->assignment.version_bits);
  EXPECT_EQ(held.Get("u6"), v1->Find("u6")->assignment.version_bits);
}

}  // namespace
}  // namespace nginx_xds
