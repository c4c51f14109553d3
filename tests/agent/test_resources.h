#ifndef TESTS_AGENT_TEST_RESOURCES_H_
#define TESTS_AGENT_TEST_RESOURCES_H_

#include <string>
#include <vector>

#include "envoy/service/discovery/v3/discovery.pb.h"
#include "nginx_xds/v1/upstream.pb.h"

namespace nginx_xds {
namespace testing {

// Upstreams themselves: tests/testing/upstreams.h (NormalizedUpstreamOnPorts).

// A Cluster response carrying ToCluster() of each upstream.
envoy::service::discovery::v3::DiscoveryResponse ClusterResponse(
    const std::string& version, const std::string& nonce,
    const std::vector<nginx_xds::v1::Upstream>& upstreams);

// A ClusterLoadAssignment response carrying ToLoadAssignment() of each upstream.
envoy::service::discovery::v3::DiscoveryResponse EndpointResponse(
    const std::string& version, const std::string& nonce,
    const std::vector<nginx_xds::v1::Upstream>& upstreams);

}  // namespace testing
}  // namespace nginx_xds

#endif  // TESTS_AGENT_TEST_RESOURCES_H_
