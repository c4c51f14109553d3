#ifndef TESTS_CONTROLPLANE_TEST_CONTROL_PLANE_H_
#define TESTS_CONTROLPLANE_TEST_CONTROL_PLANE_H_

#include <unistd.h>

#include <cstdlib>
#include <string>

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

}  // namespace nginx_xds

#endif  // TESTS_CONTROLPLANE_TEST_CONTROL_PLANE_H_
