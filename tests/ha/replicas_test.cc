// Three control plane replicas (in this process) on a real 3-member etcd
// cluster: a write through any replica reaches every replica with one
// version; concurrent writes on all of them all land, with distinct
// versions, and every replica publishes every version in order; writes go
// on when an etcd member dies; with etcd gone writes fail clearly (naming
// etcd), readiness fails, and both come back with etcd; a rollout started,
// halted, promoted or aborted on any replica is followed by every replica.

#include <algorithm>
#include <atomic>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "controlplane/control_plane.h"
#include "controlplane/rollout/rollout_service.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/controlplane/test_agent.h"
#include "tests/ha/etcd_cluster.h"
#include "tests/testing/upstreams.h"

namespace nginx_xds {
namespace {

using ::nginx_xds::testing::EtcdCluster;
using ::nginx_xds::testing::MakeUpstream;
using ::testing::HasSubstr;

// Records every version a replica publishes for one fleet, as an ADS stream
// would see them.
class VersionRecorder : public SnapshotWatcher {
 public:
  void OnSnapshot(std::shared_ptr<const Snapshot> snapshot) override {
    absl::MutexLock lock(&mu_);
    versions_.push_back(snapshot->version());
  }
  std::vector<uint64_t> versions() const {
    absl::MutexLock lock(&mu_);
    return versions_;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<uint64_t> versions_;
};

class ReplicasTest : public ::testing::Test {
 protected:
  void SetUp() override {
    etcd_ = std::make_unique<EtcdCluster>(
        ::testing::UnitTest::GetInstance()->current_test_info()->name(), 3);
    for (int i = 0; i < 3; ++i) {
      ControlPlane::Options options;
      options.xds_listen = "127.0.0.1:0";
      options.admin_listen = "127.0.0.1:0";
      options.http_listen = "127.0.0.1:0";
      options.etcd_endpoints = etcd_->urls(i);
      options.etcd_timeout = absl::Seconds(2);
      options.ack_timeout = absl::Seconds(5);
      options.replica_id = absl::StrCat("replica-", i);
      // etcd may still be electing its first leader: a replica that cannot
      // load yet is started again, as its supervisor would.
      absl::StatusOr<std::unique_ptr<ControlPlane>> started;
      const absl::Time deadline = absl::Now() + absl::Seconds(30);
      do {
        started = ControlPlane::Start(options);
      } while (!started.ok() && absl::Now() < deadline);
      ASSERT_TRUE(started.ok()) << started.status();
      replicas_.push_back(*std::move(started));
    }
  }

  void TearDown() override {
    replicas_.clear();
    etcd_.reset();
  }

  // Waits until every (running) replica has `version` or newer.
  void AwaitEveryReplica(uint64_t version) {
    for (auto& replica : replicas_) {
      if (replica == nullptr) continue;
      ASSERT_TRUE(replica->upstreams()->WaitForVersion(version, absl::Now() + absl::Seconds(10)))
          << "a replica stayed at version " << replica->upstreams()->Version() << ", not "
          << version;
    }
  }

  std::unique_ptr<EtcdCluster> etcd_;
  std::vector<std::unique_ptr<ControlPlane>> replicas_;
};

// Validates that a write through each replica reaches every replica with the same version.
TEST_F(ReplicasTest, WritesThroughEachReplicaReachEveryReplica) {
  uint64_t last = 0;
  for (int i = 0; i < 3; ++i) {
    auto written = replicas_[i]->upstreams()->Put(
        "web", MakeUpstream(absl::StrCat("u", i), {absl::StrCat("10.0.0.", i + 1, ":80")}));
    ASSERT_TRUE(written.ok()) << written.status();
    EXPECT_GT(written->version(), last) << "versions go up across replicas";
    last = written->version();
    AwaitEveryReplica(last);
  }
  for (auto& replica : replicas_) {
    EXPECT_EQ(replica->upstreams()->FleetVersion("web"), last);
    for (int i = 0; i < 3; ++i) {
      auto got = replica->upstreams()->Get("web", absl::StrCat("u", i));
      ASSERT_TRUE(got.ok()) << got.status();
      EXPECT_EQ(got->servers(0).address(), absl::StrCat("10.0.0.", i + 1, ":80"));
    }
  }
}

// Validates that concurrent writes on all replicas (which lose compare-and-swaps to each
// other) all land with distinct versions, and that every replica publishes every version
// of the fleet, in order, none skipped.
TEST_F(ReplicasTest, ConcurrentWritesLandWithDistinctVersionsInOrder) {
  std::vector<std::shared_ptr<VersionRecorder>> recorders;
  for (auto& replica : replicas_) {
    recorders.push_back(std::make_shared<VersionRecorder>());
    replica->cache()->Watch("web", recorders.back());
  }
  constexpr int kWrites = 40;
  absl::Mutex mu;
  std::vector<uint64_t> versions;
  std::vector<std::string> errors;
  std::vector<std::thread> writers;
  for (int i = 0; i < 3; ++i) {
    writers.emplace_back([&, i] {
      for (int w = 0; w < kWrites; ++w) {
        // Server changes of one upstream too: each is validated on the newest state.
        auto written = replicas_[i]->upstreams()->Put(
            "web", MakeUpstream(absl::StrCat("r", i, "-", w % 5),
                                {absl::StrCat("10.", i, ".", w, ".1:80")}));
        absl::MutexLock lock(&mu);
        if (written.ok()) {
          versions.push_back(written->version());
        } else {
          errors.push_back(std::string(written.status().message()));
        }
      }
    });
  }
  for (auto& writer : writers) writer.join();
  ASSERT_TRUE(errors.empty()) << errors.front();
  std::set<uint64_t> distinct(versions.begin(), versions.end());
  EXPECT_EQ(distinct.size(), versions.size()) << "a version was handed out twice";
  const uint64_t newest = *distinct.rbegin();
  AwaitEveryReplica(newest);
  for (size_t r = 0; r < replicas_.size(); ++r) {
    std::vector<uint64_t> seen = recorders[r]->versions();
    EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end())) << "replica " << r << " reordered";
    EXPECT_EQ(std::set<uint64_t>(seen.begin(), seen.end()), distinct)
        << "replica " << r << " skipped or invented a version";
    EXPECT_EQ(seen.size(), distinct.size()) << "replica " << r << " published a version twice";
  }
  // The same state everywhere: each upstream as its last write left it.
  const auto reference = replicas_[0]->upstreams()->List("web");
  EXPECT_EQ(reference.size(), 15u);
  for (auto& replica : replicas_) {
    const auto list = replica->upstreams()->List("web");
    ASSERT_EQ(list.size(), reference.size());
    for (size_t k = 0; k < list.size(); ++k) {
      EXPECT_EQ(list[k].DebugString(), reference[k].DebugString());
    }
    EXPECT_EQ(replica->upstreams()->ListInCreationOrder("web").size(), 15u);
  }
}

// Validates that writes continue on the quorum when one etcd member is killed.
TEST_F(ReplicasTest, EtcdMemberKilledWritesContinue) {
  etcd_->Kill(0);  // the member replica 0 talks to first
  uint64_t last = 0;
  for (int i = 0; i < 3; ++i) {
    // gRPC moves replica 0 to the next member once its connection broke;
    // its readiness says when.
    const absl::Time deadline = absl::Now() + absl::Seconds(15);
    absl::Status ready;
    while (!(ready = replicas_[i]->Ready()).ok() && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(50));
    }
    ASSERT_TRUE(ready.ok()) << ready;
    auto written = replicas_[i]->upstreams()->Put(
        "web", MakeUpstream("u", {absl::StrCat("10.0.0.", i + 1, ":80")}));
    ASSERT_TRUE(written.ok()) << written.status();
    last = written->version();
  }
  AwaitEveryReplica(last);
}

// Validates that with etcd down writes fail clearly (UNAVAILABLE naming etcd), nothing
// changes, readiness fails, and that all of it resumes when etcd is back.
TEST_F(ReplicasTest, EtcdDownWritesFailClearlyAndResume) {
  auto first = replicas_[0]->upstreams()->Put("web", MakeUpstream("u", {"10.0.0.1:80"}));
  ASSERT_TRUE(first.ok()) << first.status();
  AwaitEveryReplica(first->version());
  for (int i = 0; i < 3; ++i) etcd_->Kill(i);
  auto refused = replicas_[1]->upstreams()->Put("web", MakeUpstream("u", {"10.0.0.2:80"}));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(refused.status().message(), HasSubstr("etcd"));
  EXPECT_FALSE(replicas_[1]->Ready().ok());
  // Reads still serve the last state.
  auto kept = replicas_[1]->upstreams()->Get("web", "u");
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(kept->servers(0).address(), "10.0.0.1:80");

  for (int i = 0; i < 3; ++i) etcd_->Start(i);
  for (auto& replica : replicas_) {
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    absl::Status ready;
    while (!(ready = replica->Ready()).ok() && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(100));
    }
    ASSERT_TRUE(ready.ok()) << ready;
  }
  auto resumed = replicas_[1]->upstreams()->Put("web", MakeUpstream("u", {"10.0.0.3:80"}));
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  EXPECT_EQ(resumed->version(), first->version() + 1) << "the refused write left nothing";
  AwaitEveryReplica(resumed->version());
  EXPECT_EQ(replicas_[2]->upstreams()->Get("web", "u")->servers(0).address(), "10.0.0.3:80");
}

// Waits until `replica`'s fleet status shows `count` connected nodes of `fleet`.
void AwaitConnectedNodes(ControlPlane* replica, const std::string& fleet, int count) {
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  int connected = 0;
  while (absl::Now() < deadline) {
    connected = 0;
    const auto status = replica->registry()->Status(fleet);
    for (const auto& node : status.nodes()) {
      if (node.connected()) ++connected;
    }
    if (connected == count) return;
    absl::SleepFor(absl::Milliseconds(20));
  }
  FAIL() << "replica " << replica->replica_id() << " shows " << connected
         << " connected nodes, not " << count;
}

// Validates that fleet status from any replica shows every node of every replica (with
// its replica), that a write through a replica without nodes is answered once the nodes
// on the other replicas have ACKed it, and that a stopped replica's nodes leave the status.
TEST_F(ReplicasTest, NodesOfEveryReplicaInStatusAndWriteWaits) {
  auto first = replicas_[2]->upstreams()->Put("web", MakeUpstream("u", {"10.0.0.1:80"}));
  ASSERT_TRUE(first.ok()) << first.status();
  // Fleet status watchers of a replica without nodes are woken by remote ones.
  const uint64_t seen = replicas_[2]->registry()->WaitForChange(~uint64_t{0}, absl::InfinitePast());
  auto a = std::make_unique<TestAgent>("node-a", "web", replicas_[0]->xds_port());
  auto b = std::make_unique<TestAgent>("node-b", "web", replicas_[1]->xds_port());
  a->AwaitVersion(first->version(), "u");
  b->AwaitVersion(first->version(), "u");
  for (auto& replica : replicas_) AwaitConnectedNodes(replica.get(), "web", 2);
  EXPECT_NE(replicas_[2]->registry()->WaitForChange(seen, absl::Now() + absl::Seconds(5)), seen);
  const auto status = replicas_[2]->registry()->Status("web");
  ASSERT_EQ(status.nodes_size(), 2);
  EXPECT_EQ(status.nodes(0).id(), "node-a");
  EXPECT_EQ(status.nodes(0).replica(), "replica-0");
  EXPECT_EQ(status.nodes(1).replica(), "replica-1");

  // Replica 2 has no node: its write waits for replica 0's and 1's through etcd.
  auto second = replicas_[2]->upstreams()->Put("web", MakeUpstream("u", {"10.0.0.2:80"}));
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->connected_nodes(), 2u);
  EXPECT_EQ(second->acked_nodes(), 2u);
  EXPECT_EQ(a->AwaitVersion(second->version(), "u"), std::vector<std::string>{"10.0.0.2:80"});

  // Replica 1 stops (its lease is revoked): its node leaves every status.
  b.reset();
  replicas_[1].reset();
  AwaitConnectedNodes(replicas_[0].get(), "web", 1);
  AwaitConnectedNodes(replicas_[2].get(), "web", 1);
}

// Waits until `replica` shows the rollout of `fleet` in `state` from `stable_version`.
void AwaitRollout(ControlPlane* replica, const std::string& fleet,
                  nginx_xds::v1::RolloutState state, uint64_t stable_version) {
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  absl::StatusOr<nginx_xds::v1::Rollout> rollout;
  while (absl::Now() < deadline) {
    rollout = replica->rollouts()->GetRollout(fleet);
    if (rollout.ok() && rollout->state() == state && rollout->stable_version() == stable_version) {
      return;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  ADD_FAILURE() << "replica " << replica->replica_id() << " shows rollout "
                << (rollout.ok() ? rollout->ShortDebugString() : rollout.status().ToString())
                << ", not state " << state << " from stable version " << stable_version;
}

// The version `node` of `fleet` last acknowledged, as `replica`'s fleet status shows it.
uint64_t AckedVersion(ControlPlane* replica, const std::string& fleet, const std::string& node) {
  const auto status = replica->registry()->Status(fleet);
  for (const auto& each : status.nodes()) {
    if (each.id() == node) return each.acked_version();
  }
  return 0;
}

class RolloutReplicasTest : public ReplicasTest {
 protected:
  // Version 1 of "web" on every replica, a canary node on replica 1 and a
  // non-canary node on replica 2 (replica 0 has none), both at it.
  void SetUp() override {
    ReplicasTest::SetUp();
    if (HasFatalFailure()) return;
    auto first = replicas_[0]->upstreams()->Put("web", MakeUpstream("u", {"10.0.0.1:80"}));
    ASSERT_TRUE(first.ok()) << first.status();
    first_ = first->version();
    AwaitEveryReplica(first_);
    canary_ = std::make_unique<TestAgent>("canary", "web", replicas_[1]->xds_port(), "bad");
    stable_ = std::make_unique<TestAgent>("stable", "web", replicas_[2]->xds_port());
    canary_->AwaitVersion(first_, "u");
    stable_->AwaitVersion(first_, "u");
    // Replica 0 checks the canary id against its (merged) fleet status.
    for (auto& replica : replicas_) AwaitConnectedNodes(replica.get(), "web", 2);
  }

  void TearDown() override {
    canary_.reset();
    stable_.reset();
    ReplicasTest::TearDown();
  }

  // Starts a rollout of "web" with the canary node on replica 0 and waits
  // until every replica follows it.
  void StartOnReplica0(uint64_t stable_version) {
    nginx_xds::v1::StartRolloutRequest start;
    start.set_fleet("web");
    start.add_canary_node_ids("canary");
    auto started = replicas_[0]->rollouts()->StartRollout(start);
    ASSERT_TRUE(started.ok()) << started.status();
    ASSERT_EQ(started->stable_version(), stable_version);
    for (auto& replica : replicas_) {
      AwaitRollout(replica.get(), "web", nginx_xds::v1::ROLLOUT_STATE_CANARY, stable_version);
    }
  }

  // A write through replica 0 after the rollout closed reaches both nodes
  // and is answered for both: no replica keeps the fleet pinned.
  void ExpectUnpinnedEverywhere(const std::string& address) {
    auto after = replicas_[0]->upstreams()->Put("web", MakeUpstream("u", {address}));
    ASSERT_TRUE(after.ok()) << after.status();
    EXPECT_FALSE(after->canary());
    EXPECT_EQ(after->connected_nodes(), 2u);
    EXPECT_EQ(after->acked_nodes(), 2u);
    EXPECT_EQ(canary_->AwaitVersion(after->version(), "u"), std::vector<std::string>{address});
    EXPECT_EQ(stable_->AwaitVersion(after->version(), "u"), std::vector<std::string>{address});
  }

  uint64_t first_ = 0;
  std::unique_ptr<TestAgent> canary_;
  std::unique_ptr<TestAgent> stable_;
};

// Validates that a rollout started on replica 0 pins the non-canary node on replica 2 (a
// write through replica 2 reaches the canary on replica 1 only and is answered for it),
// that a promote through replica 2 sends it to everyone and every replica closes the
// rollout, and that an abort through replica 1 of a second rollout reverts everyone.
TEST_F(RolloutReplicasTest, RolloutOnOneReplicaPromotedAndAbortedThroughOthers) {
  ASSERT_NO_FATAL_FAILURE(StartOnReplica0(first_));
  // What replica 2 sends a non-canary node (besides the real one, "stable").
  auto probe = std::make_shared<VersionRecorder>();
  replicas_[2]->cache()->Watch("web", WatcherNode{"probe", {}}, probe);

  auto canary_write = replicas_[2]->upstreams()->Put("web", MakeUpstream("u", {"10.0.0.2:80"}));
  ASSERT_TRUE(canary_write.ok()) << canary_write.status();
  const uint64_t second = canary_write->version();
  EXPECT_TRUE(canary_write->canary()) << "replica 2 answered for the whole fleet";
  EXPECT_EQ(canary_write->connected_nodes(), 1u);
  EXPECT_EQ(canary_write->acked_nodes(), 1u);
  EXPECT_EQ(canary_->AwaitVersion(second, "u"), std::vector<std::string>{"10.0.0.2:80"});
  // Replica 2 publishes a followed version before WaitForVersion sees it
  // (one lock), so a version its non-canary watchers were not told by then
  // was sent to none of them: no sleep needed to prove it.
  AwaitEveryReplica(second);
  EXPECT_THAT(probe->versions(), ::testing::IsEmpty())
      << "replica 2 sent the canary's version to a non-canary node";
  EXPECT_EQ(AckedVersion(replicas_[2].get(), "web", "stable"), first_);

  auto promoted = replicas_[2]->rollouts()->PromoteRollout("web", false);
  ASSERT_TRUE(promoted.ok()) << promoted.status();
  EXPECT_EQ(promoted->rollout().state(), nginx_xds::v1::ROLLOUT_STATE_PROMOTED);
  EXPECT_EQ(promoted->rollout().canary_version(), second);
  EXPECT_EQ(stable_->AwaitVersion(second, "u"), std::vector<std::string>{"10.0.0.2:80"});
  EXPECT_THAT(probe->versions(), ::testing::ElementsAre(second));
  for (auto& replica : replicas_) {
    AwaitRollout(replica.get(), "web", nginx_xds::v1::ROLLOUT_STATE_PROMOTED, first_);
  }

  // A second rollout, from the promoted version, aborted through replica 1.
  ASSERT_NO_FATAL_FAILURE(StartOnReplica0(second));
  auto probe2 = std::make_shared<VersionRecorder>();
  replicas_[2]->cache()->Watch("web", WatcherNode{"probe2", {}}, probe2);
  auto third = replicas_[0]->upstreams()->Put("web", MakeUpstream("u", {"10.0.0.3:80"}));
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_TRUE(third->canary());
  EXPECT_EQ(canary_->AwaitVersion(third->version(), "u"), std::vector<std::string>{"10.0.0.3:80"});
  auto aborted = replicas_[1]->rollouts()->AbortRollout("web");
  ASSERT_TRUE(aborted.ok()) << aborted.status();
  const uint64_t reverted = aborted->rollout().canary_version();
  EXPECT_GT(reverted, third->version());
  EXPECT_EQ(canary_->AwaitVersion(reverted, "u"), std::vector<std::string>{"10.0.0.2:80"});
  for (auto& replica : replicas_) {
    AwaitRollout(replica.get(), "web", nginx_xds::v1::ROLLOUT_STATE_ABORTED, second);
    auto kept = replica->upstreams()->Get("web", "u");
    ASSERT_TRUE(kept.ok()) << kept.status();
    EXPECT_EQ(kept->servers(0).address(), "10.0.0.2:80");
  }
  // Replica 2's non-canary nodes were told the reverted version at the
  // abort (unpinned), never the canary's. (The real one is not sent it: it
  // holds the same upstreams, and Delta sends no change.)
  EXPECT_THAT(probe2->versions(), ::testing::ElementsAre(reverted));
  ExpectUnpinnedEverywhere("10.0.0.4:80");
}

// Validates that a canary NACK (the canary on replica 1 rejects "bad") halts the rollout
// started on replica 0 on every replica, that a promote through replica 2 is refused as
// halted, and that a replica restarted during the rollout still pins it.
TEST_F(RolloutReplicasTest, HaltSeenEverywhereAndRestartKeepsRollout) {
  ASSERT_NO_FATAL_FAILURE(StartOnReplica0(first_));
  auto rejected = replicas_[0]->upstreams()->Put("web", MakeUpstream("bad", {"10.0.0.9:80"}));
  ASSERT_TRUE(rejected.ok()) << rejected.status();
  EXPECT_TRUE(rejected->canary());
  EXPECT_EQ(rejected->rejections_size(), 1);
  for (auto& replica : replicas_) {
    AwaitRollout(replica.get(), "web", nginx_xds::v1::ROLLOUT_STATE_HALTED, first_);
  }
  auto refused = replicas_[2]->rollouts()->PromoteRollout("web", false);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(refused.status().message(), HasSubstr("halted"));

  // Replica 2 restarted (its node reconnects to it): the rollout is loaded
  // from etcd and its non-canary node stays on the stable version.
  stable_.reset();
  ControlPlane::Options options;
  options.xds_listen = "127.0.0.1:0";
  options.admin_listen = "127.0.0.1:0";
  options.http_listen = "127.0.0.1:0";
  options.etcd_endpoints = etcd_->urls(2);
  options.etcd_timeout = absl::Seconds(2);
  options.replica_id = "replica-2b";
  replicas_[2].reset();
  auto restarted = ControlPlane::Start(options);
  ASSERT_TRUE(restarted.ok()) << restarted.status();
  replicas_[2] = *std::move(restarted);
  AwaitRollout(replicas_[2].get(), "web", nginx_xds::v1::ROLLOUT_STATE_HALTED, first_);
  stable_ = std::make_unique<TestAgent>("stable", "web", replicas_[2]->xds_port());
  EXPECT_EQ(stable_->AwaitVersion(first_, "u"), std::vector<std::string>{"10.0.0.1:80"});
  for (auto& replica : replicas_) AwaitConnectedNodes(replica.get(), "web", 2);
  auto aborted = replicas_[2]->rollouts()->AbortRollout("web");
  ASSERT_TRUE(aborted.ok()) << aborted.status();
  for (auto& replica : replicas_) {
    AwaitRollout(replica.get(), "web", nginx_xds::v1::ROLLOUT_STATE_ABORTED, first_);
    EXPECT_EQ(replica->upstreams()->Get("web", "bad").status().code(), absl::StatusCode::kNotFound);
  }
  ExpectUnpinnedEverywhere("10.0.0.5:80");
}

}  // namespace
}  // namespace nginx_xds
