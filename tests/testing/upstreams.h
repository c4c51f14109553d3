#ifndef TESTS_TESTING_UPSTREAMS_H_
#define TESTS_TESTING_UPSTREAMS_H_

// The C++ tests' shared helpers for building upstreams, so each test file
// does not define its own. Header-only: each is a few lines.

#include <string>
#include <vector>

#include "nginx_xds/v1/upstream.pb.h"

namespace nginx_xds {
namespace testing {

// An upstream as a client would write it: a name, servers by address and,
// if given, a zone; every other field is left for the control plane to fill.
inline nginx_xds::v1::Upstream MakeUpstream(const std::string& name,
                                            const std::vector<std::string>& addresses,
                                            const std::string& zone = "") {
  nginx_xds::v1::Upstream upstream;
  upstream.set_name(name);
  if (!zone.empty()) upstream.set_zone(zone);
  for (const std::string& address : addresses) upstream.add_servers()->set_address(address);
  return upstream;
}

// MakeUpstream with one server on 127.0.0.1:`port` (its own name, so that
// MakeUpstream(name, {}) stays an upstream without servers).
inline nginx_xds::v1::Upstream MakeUpstreamOnPort(const std::string& name, int port) {
  return MakeUpstream(name, {"127.0.0.1:" + std::to_string(port)});
}

}  // namespace testing
}  // namespace nginx_xds

#endif  // TESTS_TESTING_UPSTREAMS_H_
