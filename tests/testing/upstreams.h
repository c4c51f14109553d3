#ifndef TESTS_TESTING_UPSTREAMS_H_
#define TESTS_TESTING_UPSTREAMS_H_

// The C++ tests' shared helpers for building upstreams, so each test file
// does not define its own. Header-only: each is a few lines.

#include <string>
#include <vector>

#include "common/upstream_rules.h"
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

// An upstream as the control plane stores and sends it: servers by address,
// the zone if given, and every default (keepalive, weight, max_fails,
// fail_timeout) filled in as NormalizeUpstream fills it.
inline nginx_xds::v1::Upstream NormalizedUpstream(const std::string& name,
                                                  const std::vector<std::string>& addresses,
                                                  const std::string& zone = "") {
  nginx_xds::v1::Upstream upstream = MakeUpstream(name, {}, zone);
  upstream.set_keepalive_requests(kDefaultKeepaliveRequests);
  upstream.set_keepalive_time_ms(kDefaultKeepaliveTimeMs);
  upstream.set_keepalive_timeout_ms(kDefaultKeepaliveTimeoutMs);
  for (const std::string& address : addresses) {
    nginx_xds::v1::Server* server = upstream.add_servers();
    server->set_address(address);
    server->set_weight(kDefaultWeight);
    server->set_max_fails(kDefaultMaxFails);
    server->set_fail_timeout(kDefaultFailTimeoutSeconds);
  }
  return upstream;
}

// NormalizedUpstream with one server per port on 127.0.0.1 and the zone
// "zone_for_<name>": what the agent tests' fake control plane sends.
inline nginx_xds::v1::Upstream NormalizedUpstreamOnPorts(const std::string& name,
                                                         const std::vector<int>& ports) {
  std::vector<std::string> addresses;
  for (int port : ports) addresses.push_back("127.0.0.1:" + std::to_string(port));
  return NormalizedUpstream(name, addresses, "zone_for_" + name);
}

}  // namespace testing
}  // namespace nginx_xds

#endif  // TESTS_TESTING_UPSTREAMS_H_
