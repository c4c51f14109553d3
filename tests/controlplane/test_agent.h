#ifndef TESTS_CONTROLPLANE_TEST_AGENT_H_
#define TESTS_CONTROLPLANE_TEST_AGENT_H_

// An xDS agent for tests that run a control plane in process: the same C ABI
// the nginx module uses.

#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "agent/xds_agent.h"
#include "gtest/gtest.h"

namespace nginx_xds {

// One agent and what it has applied. Rejects snapshots whose upstream list
// contains `reject_upstream`, as an nginx that cannot apply them would; with
// `reject_alone`, rejects only that upstream (nxa_snapshot_reject_upstream,
// reason kAloneReason), which keeps its servers, and applies the rest, as
// nginx does with an upstream whose zone is full.
class TestAgent {
 public:
  static constexpr char kAloneReason[] = "zone \"test\" is full";

  TestAgent(const std::string& node, const std::string& fleet, int xds_port,
            std::string reject_upstream = "", bool reject_alone = false)
      : reject_upstream_(std::move(reject_upstream)), reject_alone_(reject_alone) {
    const std::string server = "127.0.0.1:" + std::to_string(xds_port);
    nxa_config_t config;
    memset(&config, 0, sizeof(config));
    config.server = server.c_str();
    config.node_id = node.c_str();
    config.fleet = fleet.c_str();
    config.on_snapshot = &TestAgent::OnSnapshot;
    config.ctx = this;
    char err[256] = "";
    EXPECT_EQ(nxa_agent_create(&config, &agent_, err, sizeof(err)), NXA_OK) << err;
    EXPECT_EQ(nxa_agent_start(agent_), NXA_OK);
  }

  ~TestAgent() { nxa_agent_destroy(agent_); }

  // Waits (bounded) until the agent applied `version`; returns the servers of
  // `upstream` in that snapshot, one address each.
  std::vector<std::string> AwaitVersion(uint64_t version, const std::string& upstream) {
    absl::MutexLock lock(&mu_);
    auto reached = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return applied_ >= version; };
    EXPECT_TRUE(mu_.AwaitWithTimeout(absl::Condition(&reached), absl::Seconds(20)))
        << "agent never applied version " << version;
    return servers_[upstream];
  }

 private:
  static void OnSnapshot(void* ctx, nxa_snapshot_t* snapshot) {
    auto* self = static_cast<TestAgent*>(ctx);
    std::map<std::string, std::vector<std::string>> servers;
    for (size_t u = 0; u < nxa_snapshot_upstream_count(snapshot); ++u) {
      nxa_upstream_t upstream;
      nxa_snapshot_upstream(snapshot, u, &upstream);
      if (upstream.name == self->reject_upstream_ && self->reject_alone_) {
        nxa_snapshot_reject_upstream(snapshot, u, kAloneReason);
        absl::MutexLock lock(&self->mu_);
        auto kept = self->servers_.find(upstream.name);
        if (kept != self->servers_.end()) servers[upstream.name] = kept->second;
        continue;
      }
      if (upstream.name == self->reject_upstream_) {
        nxa_snapshot_done(snapshot, NXA_ERROR, "cannot apply upstream");
        return;
      }
      for (size_t s = 0; s < upstream.nservers; ++s) {
        nxa_server_t server;
        nxa_snapshot_server(snapshot, u, s, &server);
        servers[upstream.name].push_back(server.address);
      }
    }
    const uint64_t version = std::stoull(nxa_snapshot_version(snapshot));
    {
      absl::MutexLock lock(&self->mu_);
      self->applied_ = version;
      self->servers_ = std::move(servers);
    }
    nxa_snapshot_done(snapshot, NXA_OK, nullptr);
  }

  const std::string reject_upstream_;
  const bool reject_alone_;
  nxa_agent_t* agent_ = nullptr;
  absl::Mutex mu_;
  uint64_t applied_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, std::vector<std::string>> servers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace nginx_xds

#endif  // TESTS_CONTROLPLANE_TEST_AGENT_H_
