#ifndef TESTS_CONTROLPLANE_TEST_CONTROL_PLANE_H_
#define TESTS_CONTROLPLANE_TEST_CONTROL_PLANE_H_

#include <unistd.h>

#include <cstdlib>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "controlplane/control_plane.h"
#include "gtest/gtest.h"

namespace nginx_xds {

// Options for a control plane that a test runs in process: every server on
// 127.0.0.1 with a port picked by the kernel, and a fresh store named after
// the running test in $TEST_TMPDIR.
inline ControlPlane::Options TestControlPlaneOptions(absl::Duration ack_timeout) {
  ControlPlane::Options options;
  options.xds_listen = "127.0.0.1:0";
  options.admin_listen = "127.0.0.1:0";
  options.http_listen = "127.0.0.1:0";
  options.database_path = std::string(getenv("TEST_TMPDIR")) + "/" +
                          ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".db";
  unlink(options.database_path.c_str());
  options.ack_timeout = ack_timeout;
  return options;
}

// The status of `node` as `registry` reports it; empty when it knows no such node.
inline nginx_xds::v1::NodeStatus NodeStatusOf(const NodeRegistry& registry,
                                              const std::string& node) {
  const nginx_xds::v1::FleetStatus fleet = registry.Status("");
  for (const auto& status : fleet.nodes()) {
    if (status.id() == node) return status;
  }
  return {};
}

// Waits (10 s at most, woken by every registry change) until `done` holds
// for the node's status; a test failure names the node otherwise.
template <typename Pred>
nginx_xds::v1::NodeStatus AwaitNodeStatus(const NodeRegistry& registry, const std::string& node,
                                          Pred done) {
  uint64_t seen = 0;
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < deadline) {
    auto status = NodeStatusOf(registry, node);
    if (done(status)) return status;
    seen = registry.WaitForChange(seen, deadline);
  }
  ADD_FAILURE() << "node " << node << " never reached the awaited state";
  return NodeStatusOf(registry, node);
}

}  // namespace nginx_xds

#endif  // TESTS_CONTROLPLANE_TEST_CONTROL_PLANE_H_
