#include "tests/agent/test_resources.h"

#include "absl/strings/str_cat.h"
#include "common/upstream_rules.h"
#include "common/xds_mapping.h"

namespace nginx_xds {
namespace testing {

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
