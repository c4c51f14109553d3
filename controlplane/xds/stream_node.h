#ifndef CONTROLPLANE_XDS_STREAM_NODE_H_
#define CONTROLPLANE_XDS_STREAM_NODE_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/random/random.h"
#include "absl/status/statusor.h"
#include "controlplane/xds/ads_service.h"
#include "controlplane/xds/snapshot_cache.h"
#include "controlplane/xds/xds_tls.h"
#include "envoy/config/core/v3/base.pb.h"
#include "google/rpc/status.pb.h"
#include "nginx_xds/v1/management.pb.h"

namespace nginx_xds {

// What the SotW and Delta streams do alike: the `node` of a stream's first
// request, and reading a NACK.

// The node's fleet: its `cluster`, "default" when empty.
std::string FleetOfNode(const envoy::config::core::v3::Node& node);

// INVALID_ARGUMENT unless the node has an id of at most 255 characters and a
// valid fleet name.
absl::Status ValidateStreamNode(const envoy::config::core::v3::Node& node);

// "name/version" of the node's user agent, for fleet status.
std::string UserAgentOf(const envoy::config::core::v3::Node& node);

// Who the node is for the snapshot cache: its id, and the string fields of
// its metadata as labels (a staged rollout's canary group may select on them).
WatcherNode WatcherNodeOf(const envoy::config::core::v3::Node& node);

// With mutual TLS a node speaks only for itself: PERMISSION_DENIED (or the
// certificate's own error) when `peer` does not allow `node`.
absl::Status AuthorizeNode(const absl::StatusOr<std::optional<NodeIdentity>>& peer,
                           const envoy::config::core::v3::Node& node);

// Hands the upstreams of the node's nginx.conf (its metadata) to the
// adoption handler, before the stream's first response so that it already
// holds them. Call without the stream's lock: adoption publishes.
absl::Status AdoptStaticUpstreams(const envoy::config::core::v3::Node& node,
                                  const StaticUpstreamsHandler& on_static_upstreams);

// The largest response the node accepts: what it declares in
// metadata["nginx"]["max_response_bytes"] (1 MiB to 1 GiB), else gRPC's
// default 4 MiB.
size_t MaxResponseBytesOf(const envoy::config::core::v3::Node& node);

// A response nonce no client can guess (64 random bits in hex): a client
// that does not read its stream cannot ACK responses it never saw to make
// the server build more of them.
std::string RandomNonce(absl::BitGen* random);

// The upstreams a NACK rejects alone (the node applied the rest): the
// RejectedUpstreams among its details; empty when it rejects the response
// whole. Names the agent could not have sent (empty) are dropped.
std::vector<nginx_xds::v1::RejectedUpstream> RejectedUpstreamsOf(const google::rpc::Status& error);

}  // namespace nginx_xds

#endif  // CONTROLPLANE_XDS_STREAM_NODE_H_
