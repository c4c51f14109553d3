// SQLite -> etcd -> SQLite with Migrate (what `nginx-xds-controlplane
// migrate` runs) against a real etcd: versions, slots and rollouts are
// preserved both ways, a non-empty target is refused unless replaced, and a
// control plane started on the copy serves the same versions.

#include "controlplane/store/migrate.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "controlplane/control_plane.h"
#include "controlplane/store/etcd_store.h"
#include "controlplane/store/sqlite_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/ha/etcd_cluster.h"
#include "tests/testing/upstreams.h"

namespace nginx_xds {
namespace {

using ::nginx_xds::testing::EtcdCluster;
using ::nginx_xds::testing::NormalizedUpstream;
using ::testing::HasSubstr;

std::string TempPath(const std::string& name) {
  return absl::StrCat(getenv("TEST_TMPDIR"), "/", name);
}

// Opens a store URL, waiting for a just-started etcd to elect its leader.
std::unique_ptr<Store> Open(const std::string& url) {
  auto store = OpenStoreUrl(url, EtcdOptions());
  EXPECT_TRUE(store.ok()) << store.status();
  if (!store.ok()) return nullptr;
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (!(*store)->Load().ok() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(50));
  return *std::move(store);
}

// Validates that a store with several fleets, a freed slot and a rollout goes to etcd and
// back unchanged, and that a non-empty target needs replace.
TEST(MigrateTest, SqliteToEtcdAndBackPreservesEverything) {
  EtcdCluster etcd("migrate", 1);
  auto sqlite = Open("sqlite:" + TempPath("source.db"));
  ASSERT_NE(sqlite, nullptr);
  ASSERT_TRUE(sqlite
                  ->Commit("a",
                           {NormalizedUpstream("x", {"10.0.0.1:80"}),
                            NormalizedUpstream("y", {"10.0.0.2:80"})},
                           {})
                  .ok());
  ASSERT_TRUE(sqlite->Commit("b", {NormalizedUpstream("z", {"10.0.1.1:80"})}, {}).ok());
  ASSERT_TRUE(sqlite->Commit("a", {}, {"x"}).ok());  // frees slot 0 of fleet a
  StoredRollout rollout;
  rollout.rollout.set_fleet("b");
  rollout.rollout.set_stable_version(2);
  rollout.stable_upstreams.push_back(NormalizedUpstream("z", {"10.0.1.1:80"}));
  ASSERT_TRUE(sqlite->SaveRollout(rollout).ok());
  auto source = sqlite->Load();
  ASSERT_TRUE(source.ok());

  const std::string etcd_url = absl::StrCat("etcd:", etcd.url(0), "/migrated/");
  auto target = Open(etcd_url);
  ASSERT_NE(target, nullptr);
  auto migrated = Migrate(sqlite.get(), target.get(), false);
  ASSERT_TRUE(migrated.ok()) << migrated.status();
  EXPECT_EQ(migrated->version, 3u);
  EXPECT_EQ(migrated->fleets, 2u);
  EXPECT_EQ(migrated->upstreams, 2u);
  EXPECT_EQ(migrated->rollouts, 1u);
  auto copy = Open(etcd_url)->Load();
  ASSERT_TRUE(copy.ok());
  EXPECT_EQ(copy->version, 3u);
  EXPECT_EQ(copy->fleet_versions, source->fleet_versions);
  EXPECT_EQ(copy->slots, source->slots);
  EXPECT_EQ(copy->slot_counts, source->slot_counts);
  EXPECT_EQ(copy->rollouts.at("b").stable_upstreams.size(), 1u);

  // Again into the same prefix: refused, nothing changed; with replace: done.
  auto again = Migrate(sqlite.get(), target.get(), false);
  EXPECT_EQ(again.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(again.status().message(), HasSubstr("--force"));
  EXPECT_TRUE(Migrate(sqlite.get(), target.get(), true).ok());

  // A new commit on etcd continues the version; then back into a new SQLite file.
  ASSERT_EQ(*target->Commit("a", {NormalizedUpstream("w", {"10.0.0.9:80"})}, {}), 4u);
  auto back = Open("sqlite:" + TempPath("back.db"));
  auto returned = Migrate(target.get(), back.get(), false);
  ASSERT_TRUE(returned.ok()) << returned.status();
  auto final_state = back->Load();
  ASSERT_TRUE(final_state.ok());
  EXPECT_EQ(final_state->version, 4u);
  EXPECT_EQ(final_state->fleet_versions.at("a"), 4u);
  EXPECT_EQ(final_state->fleet_versions.at("b"), 2u);
  EXPECT_EQ(final_state->upstreams.at("a").size(), 2u);
  EXPECT_EQ(*back->Commit("b", {}, {"z"}), 5u);
  // SQLite refuses a non-empty target too.
  EXPECT_EQ(Migrate(target.get(), back.get(), false).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

// Validates that malformed store URLs are refused clearly.
TEST(MigrateTest, BadUrlsAreRefused) {
  EXPECT_THAT(OpenStoreUrl("mysql:x", EtcdOptions()).status().message(),
              HasSubstr("is not sqlite:PATH or etcd:"));
  EXPECT_EQ(OpenStoreUrl("etcd:http://127.0.0.1:2379/noslash", EtcdOptions()).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(OpenStoreUrl("sqlite:", EtcdOptions()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace nginx_xds
