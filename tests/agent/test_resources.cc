#include "tests/agent/test_resources.h"

#include "absl/strings/str_cat.h"
#include "common/upstream_rules.h"
#include "common/xds_mapping.h"

namespace nginx_xds {
namespace testing {

nginx_xds::v1::Upstream MakeUpstream(const std::string& name, std::vector<int> ports) {
  nginx_xds::v1::Upstream upstream;
  upstream.set_name(name);
  upstream.set_zone(absl::StrCat("zone_for_", name));
  upstream.set_keepalive_requests(kDefaultKeepaliveRequests);
  upstream.set_keepalive_time_ms(kDefaultKeepaliveTimeMs);
  upstream.set_keepalive_timeout_ms(kDefaultKeepaliveTimeoutMs);
  for (int port : ports) {
    nginx_xds::v1::Server* server = upstream.add_servers();
    server->set_address(absl::StrCat("127.0.0.1:", port));
    server->set_weight(kDefaultWeight);
    server->set_max_fails(kDefaultMaxFails);
    server->set_fail_timeout(kDefaultFailTimeoutSeconds);
  }
  return upstream;
}

envoy::service::discovery::v3::DiscoveryResponse ClusterResponse(
    const std::string& version, const std::string& nonce,
    const std::vector<nginx_xds::v1::Upstream>& upstreams) {
  envoy::service::discovery::v3::DiscoveryResponse response;
  response.set_version_info(version);
  response.set_nonce(nonce);
  response.set_type_url(kClusterTypeUrl);
  for (const auto& upstream : upstreams) response.add_resources()->PackFrom(ToCluster(upstream));
  return response;
}

envoy::service::discovery::v3::DiscoveryResponse EndpointResponse(
    const std::string& version, const std::string& nonce,
    const std::vector<nginx_xds::v1::Upstream>& upstreams) {
  envoy::service::discovery::v3::DiscoveryResponse response;
  response.set_version_info(version);
  response.set_nonce(nonce);
  response.set_type_url(kEndpointTypeUrl);
  for (const auto& upstream : upstreams) {
    response.add_resources()->PackFrom(ToLoadAssignment(upstream));
  }
  return response;
}

}  // namespace testing
}  // namespace nginx_xds
