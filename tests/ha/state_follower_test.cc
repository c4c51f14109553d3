// StateFollower::Commits/Changes: one etcd watch response -> the commits and
// saved rollouts in it, as EtcdStore::Commit and SaveRollout write them (one
// revision = one transaction).

#include "controlplane/replication/state_follower.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/upstreams.h"

namespace nginx_xds {
namespace {

using ::nginx_xds::testing::NormalizedUpstream;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kPrefix[] = "/nginx-xds/";

void Put(etcdserverpb::WatchResponse* response, int64_t revision, const std::string& key,
         const std::string& value) {
  auto* event = response->add_events();
  event->set_type(mvccpb::Event::PUT);
  event->mutable_kv()->set_key(kPrefix + key);
  event->mutable_kv()->set_value(value);
  event->mutable_kv()->set_mod_revision(revision);
}

void Delete(etcdserverpb::WatchResponse* response, int64_t revision, const std::string& key) {
  auto* event = response->add_events();
  event->set_type(mvccpb::Event::DELETE);
  event->mutable_kv()->set_key(kPrefix + key);
  event->mutable_kv()->set_mod_revision(revision);
}

std::string Record(uint64_t slot, const nginx_xds::v1::Upstream& upstream) {
  return absl::StrCat(slot, "\n", upstream.SerializeAsString());
}

// Validates that each revision that moved the version is one commit, in order, with its
// puts (and slots), deletes and slot count; a revision that only saved a rollout is none.
TEST(StateFollowerCommitsTest, RevisionsBecomeCommitsInOrder) {
  etcdserverpb::WatchResponse response;
  Put(&response, 10, "version", "7");
  Put(&response, 10, "upstreams/web/a", Record(0, NormalizedUpstream("a", {"10.0.0.1:80"})));
  Put(&response, 10, "upstreams/web/b", Record(1, NormalizedUpstream("b", {"10.0.0.2:80"})));
  Put(&response, 10, "fleets/web", "7 2");
  nginx_xds::v1::Rollout rollout;
  rollout.set_fleet("web");
  Put(&response, 11, "rollouts/web", rollout.SerializeAsString());
  Put(&response, 11, "rollout-stable/web", "");
  Put(&response, 12, "version", "8");
  Delete(&response, 12, "upstreams/web/a");
  Put(&response, 12, "fleets/web", "8 2");
  auto commits = StateFollower::Commits(kPrefix, response);
  ASSERT_TRUE(commits.ok()) << commits.status();
  ASSERT_EQ(commits->size(), 2u);
  const StoredCommit& first = (*commits)[0];
  EXPECT_EQ(first.fleet, "web");
  EXPECT_EQ(first.version, 7u);
  EXPECT_EQ(first.slot_count, 2u);
  ASSERT_EQ(first.puts.size(), 2u);
  EXPECT_EQ(first.puts[1].name(), "b");
  EXPECT_THAT(first.slots, ElementsAre(0u, 1u));
  EXPECT_TRUE(first.delete_keys.empty());
  const StoredCommit& second = (*commits)[1];
  EXPECT_EQ(second.version, 8u);
  EXPECT_TRUE(second.puts.empty());
  EXPECT_THAT(second.delete_keys, ElementsAre("a"));
}

// Validates that records the store could not have written are DATA_LOSS (the follower then
// reloads the whole state) rather than applied half.
TEST(StateFollowerCommitsTest, UnreadableRecordsAreDataLoss) {
  etcdserverpb::WatchResponse bad_version;
  Put(&bad_version, 5, "version", "x");
  EXPECT_EQ(StateFollower::Commits(kPrefix, bad_version).status().code(),
            absl::StatusCode::kDataLoss);

  etcdserverpb::WatchResponse no_fleet;
  Put(&no_fleet, 5, "version", "3");
  EXPECT_THAT(StateFollower::Commits(kPrefix, no_fleet).status().message(),
              HasSubstr("without a fleet"));

  etcdserverpb::WatchResponse other_fleet;
  Put(&other_fleet, 5, "version", "3");
  Put(&other_fleet, 5, "fleets/web", "3 1");
  Put(&other_fleet, 5, "upstreams/api/a", Record(0, NormalizedUpstream("a", {"10.0.0.1:80"})));
  EXPECT_EQ(StateFollower::Commits(kPrefix, other_fleet).status().code(),
            absl::StatusCode::kDataLoss);

  etcdserverpb::WatchResponse wrong_name;
  Put(&wrong_name, 5, "version", "3");
  Put(&wrong_name, 5, "fleets/web", "3 1");
  Put(&wrong_name, 5, "upstreams/web/a", Record(0, NormalizedUpstream("b", {"10.0.0.1:80"})));
  EXPECT_EQ(StateFollower::Commits(kPrefix, wrong_name).status().code(),
            absl::StatusCode::kDataLoss);
}

// Validates that a revision saving a rollout (both its keys, as EtcdStore::SaveRollout
// writes them) is one rollout change with its stable upstreams, in revision order between
// the commits, and that a rollout saved without its stable upstreams is DATA_LOSS.
TEST(StateFollowerChangesTest, SavedRolloutsComeInRevisionOrder) {
  etcdserverpb::WatchResponse response;
  Put(&response, 10, "version", "7");
  Put(&response, 10, "fleets/web", "7 1");
  nginx_xds::v1::Rollout rollout;
  rollout.set_fleet("web");
  rollout.set_state(nginx_xds::v1::ROLLOUT_STATE_CANARY);
  rollout.set_stable_version(7);
  nginx_xds::v1::ListUpstreamsResponse stable;
  stable.set_version(7);
  *stable.add_upstreams() = NormalizedUpstream("a", {"10.0.0.1:80"});
  Put(&response, 11, "rollouts/web", rollout.SerializeAsString());
  Put(&response, 11, "rollout-stable/web", stable.SerializeAsString());
  Put(&response, 12, "version", "8");
  Put(&response, 12, "fleets/web", "8 1");
  auto changes = StateFollower::Changes(kPrefix, response);
  ASSERT_TRUE(changes.ok()) << changes.status();
  ASSERT_EQ(changes->size(), 3u);
  EXPECT_TRUE((*changes)[0].commit && !(*changes)[0].rollout);
  ASSERT_TRUE((*changes)[1].rollout && !(*changes)[1].commit);
  EXPECT_EQ((*changes)[1].rollout->rollout.stable_version(), 7u);
  ASSERT_EQ((*changes)[1].rollout->stable_upstreams.size(), 1u);
  EXPECT_EQ((*changes)[1].rollout->stable_upstreams[0].name(), "a");
  ASSERT_TRUE((*changes)[2].commit);
  EXPECT_EQ((*changes)[2].commit->version, 8u);

  etcdserverpb::WatchResponse half;
  Put(&half, 5, "rollouts/web", rollout.SerializeAsString());
  EXPECT_THAT(StateFollower::Changes(kPrefix, half).status().message(),
              HasSubstr("without its rollout-stable key"));
  etcdserverpb::WatchResponse other;
  Put(&other, 5, "rollouts/api", rollout.SerializeAsString());
  Put(&other, 5, "rollout-stable/api", stable.SerializeAsString());
  EXPECT_EQ(StateFollower::Changes(kPrefix, other).status().code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace nginx_xds
