// The persistent upstream table (controlplane/xds/upstream_table) and the
// change log (controlplane/xds/change_log) that make a snapshot's next
// version O(change), and Snapshot::Next / ChangedSince built on them.

#include "controlplane/xds/upstream_table.h"

#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/upstream_rules.h"
#include "common/xds_mapping.h"
#include "controlplane/xds/change_log.h"
#include "controlplane/xds/snapshot.h"
#include "gtest/gtest.h"
#include "tests/testing/upstreams.h"

namespace nginx_xds {
namespace {

using nginx_xds::testing::MakeUpstream;

std::shared_ptr<const UpstreamResources> Resources(const std::string& name, int port = 8080) {
  return std::make_shared<const UpstreamResources>(
      MakeUpstream(name, {absl::StrCat("127.0.0.1:", port)}));
}

std::vector<std::string> Keys(const UpstreamTable& table) {
  std::vector<std::string> keys;
  for (const auto& [key, value] : table) keys.push_back(key);
  return keys;
}

// Validate against std::map over random puts and deletes (thousands, so
// chunks split and merge): same entries, same order, same lookups; and
// every older table still reads as it did.
TEST(UpstreamTableTest, MatchesAMapAndOlderVersionsStayIntact) {
  std::mt19937 random(7);
  std::map<std::string, UpstreamTable::Value> model;
  UpstreamTable table;
  std::vector<std::pair<UpstreamTable, std::map<std::string, UpstreamTable::Value>>> history;
  const auto value = Resources("v");
  for (int round = 0; round < 400; ++round) {
    std::vector<UpstreamTable::Entry> puts;
    std::vector<std::string> deletes;
    const int changes = 1 + random() % 20;
    for (int i = 0; i < changes; ++i) {
      const std::string key = absl::StrCat("k", random() % 2000);
      // More puts than deletes: the table grows to ~1,500 entries.
      if (random() % 4 == 0) {
        deletes.push_back(key);
      } else {
        puts.emplace_back(key, std::make_shared<const UpstreamResources>(*value));
      }
    }
    for (const auto& key : deletes) model.erase(key);
    for (const auto& [key, put] : puts) model[key] = put;
    table = table.With(puts, deletes);
    if (round % 50 == 0) history.emplace_back(table, model);
  }
  ASSERT_GT(model.size(), 500u);
  for (const auto& [old_table, old_model] : history) {
    ASSERT_EQ(old_table.size(), old_model.size());
    std::vector<std::string> expected;
    for (const auto& [key, v] : old_model) {
      expected.push_back(key);
      EXPECT_EQ(old_table.Find(key), v.get()) << key;
    }
    EXPECT_EQ(Keys(old_table), expected);
    EXPECT_EQ(old_table.Find("absent"), nullptr);
  }
}

// Validate that a change shares every chunk it does not touch.
TEST(UpstreamTableTest, NextVersionSharesUntouchedEntries) {
  std::map<std::string, UpstreamTable::Value> entries;
  for (int i = 0; i < 1000; ++i) entries[absl::StrCat("k", 1000 + i)] = Resources("x");
  const UpstreamTable before(entries);
  const UpstreamTable after = before.With({{"k1500", Resources("y")}}, {"k1200"});
  EXPECT_EQ(after.size(), 999u);
  EXPECT_EQ(before.size(), 1000u);
  EXPECT_NE(before.Find("k1200"), nullptr);
  EXPECT_EQ(after.Find("k1200"), nullptr);
  EXPECT_NE(after.Find("k1500"), before.Find("k1500"));
  // The same pointer: the entry was not copied.
  EXPECT_EQ(after.Find("k1001"), before.Find("k1001"));
  EXPECT_EQ(after.Find("k1999"), before.Find("k1999"));
}

// Validate the change log's window: ranges inside it are answered with the
// union of their names, others (too old, branching) are not.
TEST(ChangeLogTest, CollectsRangesAndRefusesWhatItDoesNotKnow) {
  ChangeLog log(10);
  ASSERT_TRUE(log.Append(10, 11, {"a"}));
  ASSERT_TRUE(log.Append(11, 13, {"b", "a"}));
  EXPECT_FALSE(log.Append(11, 14, {"c"}));  // 11 is no longer the newest
  EXPECT_FALSE(log.Append(13, 13, {"c"}));
  std::set<std::string> names;
  ASSERT_TRUE(log.Collect(10, 13, &names));
  EXPECT_EQ(names, (std::set<std::string>{"a", "b"}));
  names.clear();
  ASSERT_TRUE(log.Collect(11, 13, &names));
  EXPECT_EQ(names, (std::set<std::string>{"a", "b"}));
  names.clear();
  ASSERT_TRUE(log.Collect(10, 11, &names));
  EXPECT_EQ(names, (std::set<std::string>{"a"}));
  EXPECT_FALSE(log.Collect(9, 13, &names));
  EXPECT_FALSE(log.Collect(10, 14, &names));
}

// Validate that the log forgets its oldest versions past its bound.
TEST(ChangeLogTest, ForgetsBeyondItsBound) {
  ChangeLog log(0);
  for (uint64_t v = 1; v <= ChangeLog::kMaxVersions + 10; ++v) {
    ASSERT_TRUE(log.Append(v - 1, v, {absl::StrCat("n", v)}));
  }
  std::set<std::string> names;
  EXPECT_FALSE(log.Collect(0, ChangeLog::kMaxVersions + 10, &names));
  EXPECT_TRUE(log.Collect(20, ChangeLog::kMaxVersions + 10, &names));
}

// Validate Snapshot::Next: what it changed (old and new spelling of a
// renamed upstream, deleted names) is known to the snapshots after it,
// across several versions; a snapshot of another line is not comparable.
TEST(SnapshotNextTest, ChangedSinceNamesWhatChanged) {
  Snapshot::UpstreamMap map;
  for (const char* name : {"a", "b", "backends"}) map[UpstreamKey(name)] = Resources(name);
  const auto v1 = std::make_shared<const Snapshot>(1, map);
  const auto v2 = v1->Next(2, {Resources("a", 9000)}, {});
  const auto v3 = v2->Next(3, {Resources("Backends")}, {UpstreamKey("b")});
  EXPECT_EQ(v3->Find(UpstreamKey("b")), nullptr);
  EXPECT_EQ(v3->Find(UpstreamKey("a")), v2->Find(UpstreamKey("a")));
  EXPECT_NE(v3->FindResource(kClusterTypeUrl, "Backends"), nullptr);
  EXPECT_EQ(v3->FindResource(kClusterTypeUrl, "backends"), nullptr);
  std::set<std::string> names;
  ASSERT_TRUE(v3->ChangedSince(*v1, &names));
  EXPECT_EQ(names, (std::set<std::string>{"a", "b", "backends", "Backends"}));
  names.clear();
  ASSERT_TRUE(v3->ChangedSince(*v2, &names));
  EXPECT_EQ(names, (std::set<std::string>{"b", "backends", "Backends"}));
  names.clear();
  ASSERT_TRUE(v3->ChangedSince(*v3, &names));
  EXPECT_TRUE(names.empty());
  // Not older: unknown.
  EXPECT_FALSE(v2->ChangedSince(*v3, &names));
  // Another line (a snapshot built whole, as a restored rollout's stable).
  const Snapshot other(1, map);
  EXPECT_FALSE(v3->ChangedSince(other, &names));
  // A second Next of an older snapshot starts its own line.
  const auto branch = v2->Next(4, {Resources("c")}, {});
  EXPECT_FALSE(branch->ChangedSince(*v2, &names));
}

// Validate the numeric form of resource versions streams keep: the 16 hex
// digits of a packed resource, 0 for a client's own strings.
TEST(VersionBitsTest, PackedVersionsAndForeignStrings) {
  const auto resources = Resources("a");
  EXPECT_NE(resources->assignment.version_bits, 0u);
  EXPECT_EQ(VersionBits(resources->assignment.version), resources->assignment.version_bits);
  EXPECT_EQ(VersionBits("00000000000000ff"), 255u);
  EXPECT_EQ(VersionBits("ffffffffffffffff"), ~uint64_t{0});
  EXPECT_EQ(VersionBits("v1"), 0u);
  EXPECT_EQ(VersionBits("00000000000000FG"), 0u);
}

}  // namespace
}  // namespace nginx_xds
