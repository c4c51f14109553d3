#ifndef TESTS_CONTROLPLANE_TEST_SERVICES_H_
#define TESTS_CONTROLPLANE_TEST_SERVICES_H_

#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <utility>

#include "absl/time/time.h"
#include "controlplane/fleet/node_registry.h"
#include "controlplane/fleet/upstream_service.h"
#include "controlplane/rollout/rollout_service.h"
#include "controlplane/store/sqlite_store.h"
#include "controlplane/xds/snapshot_cache.h"
#include "gtest/gtest.h"

namespace nginx_xds {
namespace testing {

// The control plane's services without any server: a SQLite store named
// after the running test in $TEST_TMPDIR, the snapshot cache, the node
// registry, UpstreamService and RolloutService wired as ControlPlane wires
// them. No node connects, so writes are answered at once (0 nodes).
class TestServices {
 public:
  // A fresh store.
  TestServices() {
    path_ = std::string(getenv("TEST_TMPDIR")) + "/" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".db";
    unlink(path_.c_str());
    Open();
  }

  // Closes and opens the same store again, as a restart would.
  void Reopen() {
    rollouts_.reset();
    upstreams_.reset();
    store_.reset();
    Open();
  }

  UpstreamService* upstreams() { return upstreams_.get(); }
  RolloutService* rollouts() { return rollouts_.get(); }
  NodeRegistry* registry() { return registry_.get(); }
  SnapshotCache* cache() { return cache_.get(); }

 private:
  void Open() {
    cache_ = std::make_unique<SnapshotCache>();
    registry_ = std::make_unique<NodeRegistry>();
    auto store = SqliteStore::Open(path_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    auto state = store_->Load();
    ASSERT_TRUE(state.ok()) << state.status();
    auto rollouts = std::move(state->rollouts);
    UpstreamService::Options options;
    options.ack_timeout = absl::ZeroDuration();
    upstreams_ = UpstreamService::Restore(store_.get(), *std::move(state), cache_.get(),
                                          registry_.get(), options);
    RolloutService::Options rollout_options;
    rollout_options.ack_timeout = absl::ZeroDuration();
    rollouts_ = RolloutService::Create(store_.get(), upstreams_.get(), cache_.get(),
                                       registry_.get(), rollout_options, std::move(rollouts));
  }

  std::string path_;
  std::unique_ptr<SnapshotCache> cache_;
  std::unique_ptr<NodeRegistry> registry_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<UpstreamService> upstreams_;
  // Declared last: goes first, as it unhooks from upstreams_.
  std::unique_ptr<RolloutService> rollouts_;
};

}  // namespace testing
}  // namespace nginx_xds

#endif  // TESTS_CONTROLPLANE_TEST_SERVICES_H_
