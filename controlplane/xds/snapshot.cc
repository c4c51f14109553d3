#include "controlplane/xds/snapshot.h"

#include <utility>

#include "common/upstream_rules.h"
#include "common/xds_mapping.h"
#include "controlplane/xds/client_resources.h"

namespace nginx_xds {

bool IsServedType(const std::string& type_url) {
  return type_url == kClusterTypeUrl || type_url == kEndpointTypeUrl ||
         type_url == kListenerTypeUrl || type_url == kRouteConfigurationTypeUrl;
}

UpstreamResources::UpstreamResources(nginx_xds::v1::Upstream u) : upstream(std::move(u)) {
  cluster.PackFrom(ToCluster(upstream));
  assignment.PackFrom(ToLoadAssignment(upstream));
  listener.PackFrom(ToListener(upstream.name()));
  route.PackFrom(ToRouteConfiguration(upstream.name()));
}

const google::protobuf::Any* UpstreamResources::OfType(const std::string& type_url) const {
  if (type_url == kClusterTypeUrl) return &cluster;
  if (type_url == kEndpointTypeUrl) return &assignment;
  if (type_url == kListenerTypeUrl) return &listener;
  if (type_url == kRouteConfigurationTypeUrl) return &route;
  return nullptr;
}

Snapshot::Snapshot(uint64_t version, UpstreamMap upstreams)
    : version_(version), version_info_(std::to_string(version)), upstreams_(std::move(upstreams)) {}

const UpstreamResources* Snapshot::Find(const std::string& key) const {
  auto it = upstreams_.find(key);
  return it == upstreams_.end() ? nullptr : it->second.get();
}

const google::protobuf::Any* Snapshot::FindResource(const std::string& type_url,
                                                   const std::string& name) const {
  const UpstreamResources* resources = Find(UpstreamKey(name));
  if (resources == nullptr || resources->upstream.name() != name) return nullptr;
  return resources->OfType(type_url);
}

void Snapshot::FillResponse(const std::string& type_url, bool wildcard,
                            const std::set<std::string>& names,
                            envoy::service::discovery::v3::DiscoveryResponse* response) const {
  response->set_version_info(version_info_);
  response->set_type_url(type_url);
  if (wildcard) {
    for (const auto& [key, resources] : upstreams_) {
      if (const google::protobuf::Any* resource = resources->OfType(type_url)) {
        *response->add_resources() = *resource;
      }
    }
    return;
  }
  for (const std::string& name : names) {
    if (const google::protobuf::Any* resource = FindResource(type_url, name)) {
      *response->add_resources() = *resource;
    }
  }
}

}  // namespace nginx_xds
