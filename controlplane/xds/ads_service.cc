#include "controlplane/xds/ads_service.h"

#include <utility>

#include "controlplane/xds/ads_stream.h"
#include "controlplane/xds/delta_stream.h"

namespace nginx_xds {

AdsService::AdsService(SnapshotCache* cache, NodeRegistry* registry,
                       StaticUpstreamsHandler on_static_upstreams)
    : cache_(cache), registry_(registry), on_static_upstreams_(std::move(on_static_upstreams)) {}

grpc::ServerBidiReactor<envoy::service::discovery::v3::DiscoveryRequest,
                        envoy::service::discovery::v3::DiscoveryResponse>*
AdsService::StreamAggregatedResources(grpc::CallbackServerContext* context) {
  std::shared_ptr<const grpc::AuthContext> auth = context->auth_context();
  absl::StatusOr<std::optional<NodeIdentity>> peer = std::nullopt;
  if (auth != nullptr) peer = NodeIdentityOf(*auth);
  return AdsStream::Start(cache_, registry_, &on_static_upstreams_, std::move(peer));
}

grpc::ServerBidiReactor<envoy::service::discovery::v3::DeltaDiscoveryRequest,
                        envoy::service::discovery::v3::DeltaDiscoveryResponse>*
AdsService::DeltaAggregatedResources(grpc::CallbackServerContext* context) {
  std::shared_ptr<const grpc::AuthContext> auth = context->auth_context();
  absl::StatusOr<std::optional<NodeIdentity>> peer = std::nullopt;
  if (auth != nullptr) peer = NodeIdentityOf(*auth);
  return DeltaStream::Start(cache_, registry_, &on_static_upstreams_, std::move(peer));
}

}  // namespace nginx_xds
