#include "controlplane/xds/snapshot.h"

#include <utility>

#include "common/xds_mapping.h"

namespace nginx_xds {

UpstreamResources::UpstreamResources(nginx_xds::v1::Upstream u) : upstream(std::move(u)) {
  cluster.PackFrom(ToCluster(upstream));
  assignment.PackFrom(ToLoadAssignment(upstream));
}

Snapshot::Snapshot(uint64_t version, UpstreamMap upstreams)
    : version_(version), version_info_(std::to_string(version)), upstreams_(std::move(upstreams)) {}

const UpstreamResources* Snapshot::Find(const std::string& key) const {
  auto it = upstreams_.find(key);
  return it == upstreams_.end() ? nullptr : it->second.get();
}

void Snapshot::FillResponse(const std::string& type_url, bool wildcard,
                            const std::set<std::string>& names,
                            envoy::service::discovery::v3::DiscoveryResponse* response) const {
  const bool clusters = type_url == kClusterTypeUrl;
  response->set_version_info(version_info_);
  response->set_type_url(type_url);
  for (const auto& [key, resources] : upstreams_) {
    if (!wildcard && names.count(resources->upstream.name()) == 0) continue;
    *response->add_resources() = clusters ? resources->cluster : resources->assignment;
  }
}

}  // namespace nginx_xds
