#ifndef CONTROLPLANE_XDS_ADS_SERVICE_H_
#define CONTROLPLANE_XDS_ADS_SERVICE_H_

#include <functional>
#include <string>
#include <vector>

#include "controlplane/fleet/node_registry.h"
#include "controlplane/xds/snapshot_cache.h"
#include "envoy/service/discovery/v3/ads.grpc.pb.h"
#include "nginx_xds/v1/upstream.pb.h"

namespace nginx_xds {

// Called once per stream with the upstreams an nginx node declares in its
// nginx.conf (sent in its Node metadata); the control plane adopts the ones
// its fleet does not have yet.
using StaticUpstreamsHandler = std::function<void(const std::string& node, const std::string& fleet,
                                                  std::vector<nginx_xds::v1::Upstream> upstreams)>;

// Envoy's Aggregated Discovery Service, state of the world and incremental
// (Delta), for Clusters and ClusterLoadAssignments (nginx) and Listeners and
// RouteConfigurations (proxyless gRPC clients). Each stream is a callback reactor, so a thousand
// idle streams cost no threads. Protocol rules, per stream and type: a nonce
// counter; a request whose nonce is not the last one sent is stale and
// ignored; at most one response is outstanding, and an ACK parks the type
// until a newer snapshot; a NACKed version is recorded for the node and never
// sent to it again. The node may send `node` on its first request only; its
// `cluster` names the fleet. Thread-safe.
class AdsService final
    : public envoy::service::discovery::v3::AggregatedDiscoveryService::CallbackService {
 public:
  AdsService(SnapshotCache* cache, NodeRegistry* registry,
             StaticUpstreamsHandler on_static_upstreams);

  grpc::ServerBidiReactor<envoy::service::discovery::v3::DiscoveryRequest,
                          envoy::service::discovery::v3::DiscoveryResponse>*
  StreamAggregatedResources(grpc::CallbackServerContext* context) override;

  // Incremental (Delta) ADS: see DeltaStream.
  grpc::ServerBidiReactor<envoy::service::discovery::v3::DeltaDiscoveryRequest,
                          envoy::service::discovery::v3::DeltaDiscoveryResponse>*
  DeltaAggregatedResources(grpc::CallbackServerContext* context) override;

 private:
  SnapshotCache* cache_;
  NodeRegistry* registry_;
  StaticUpstreamsHandler on_static_upstreams_;
};

}  // namespace nginx_xds

#endif  // CONTROLPLANE_XDS_ADS_SERVICE_H_
