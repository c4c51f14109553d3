#ifndef CONTROLPLANE_XDS_STATIC_UPSTREAMS_H_
#define CONTROLPLANE_XDS_STATIC_UPSTREAMS_H_

#include <vector>

#include "absl/status/statusor.h"
#include "envoy/config/core/v3/base.pb.h"
#include "nginx_xds/v1/upstream.pb.h"

namespace nginx_xds {

// The upstreams an nginx node declares in nginx.conf, which its agent sends
// as Node.metadata["nginx"]["static_upstreams"]: a list of
// nginx_xds.v1.Upstream in JSON form. Empty when the node sends none;
// INVALID_ARGUMENT quoting the entry that is not an upstream. The upstreams
// are as the node wrote them: the caller validates them before adopting.
absl::StatusOr<std::vector<nginx_xds::v1::Upstream>> StaticUpstreams(
    const envoy::config::core::v3::Node& node);

}  // namespace nginx_xds

#endif  // CONTROLPLANE_XDS_STATIC_UPSTREAMS_H_
