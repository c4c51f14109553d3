#ifndef COMMON_XDS_MAPPING_H_
#define COMMON_XDS_MAPPING_H_

#include "absl/status/statusor.h"
#include "envoy/config/cluster/v3/cluster.pb.h"
#include "envoy/config/endpoint/v3/endpoint.pb.h"
#include "nginx_xds/v1/upstream.pb.h"

namespace nginx_xds {

inline constexpr char kClusterTypeUrl[] = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
inline constexpr char kEndpointTypeUrl[] =
    "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment";

// The key of nginx-only settings in Metadata.filter_metadata.
inline constexpr char kNginxMetadataKey[] = "nginx";

// The largest response an xDS client accepts unless it says otherwise:
// gRPC's default receive limit. A client may declare its own in
// Node.metadata["nginx"]["max_response_bytes"] (the agent does).
inline constexpr size_t kDefaultMaxResponseBytes = 4 << 20;
inline constexpr char kMaxResponseBytesKey[] = "max_response_bytes";

// Maps an nginx upstream onto xDS (see docs/architecture.md, "Mapping"):
// a Cluster of type EDS over ADS whose lb_policy approximates the method and
// whose metadata["nginx"] keeps the exact method, hash key, zone and
// keepalive settings.
envoy::config::cluster::v3::Cluster ToCluster(const nginx_xds::v1::Upstream& upstream);

// The upstream's servers as a ClusterLoadAssignment: one locality per server
// (sub_zone "server-INDEX", weighted as the server, so that gRPC clients
// follow nginx's weights), priority 0 for primaries and 1 for backups,
// weight as load_balancing_weight, down as DRAINING, max_fails /
// fail_timeout / max_conns in metadata["nginx"]. Addresses become
// socket_address or pipe.
envoy::config::endpoint::v3::ClusterLoadAssignment ToLoadAssignment(
    const nginx_xds::v1::Upstream& upstream);

// The inverse of the two above: validates both resources (names match,
// known method, addresses well formed, values in range) and returns the
// upstream, normalized. INVALID_ARGUMENT names the cluster, the field and the
// value on error.
absl::StatusOr<nginx_xds::v1::Upstream> FromXds(
    const envoy::config::cluster::v3::Cluster& cluster,
    const envoy::config::endpoint::v3::ClusterLoadAssignment& assignment);

}  // namespace nginx_xds

#endif  // COMMON_XDS_MAPPING_H_
