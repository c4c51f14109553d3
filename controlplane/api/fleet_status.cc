#include "controlplane/api/fleet_status.h"

#include <utility>

namespace nginx_xds {

nginx_xds::v1::FleetStatus BuildFleetStatus(const NodeRegistry& registry,
                                            const UpstreamService& upstreams,
                                            const RolloutService& rollouts,
                                            const std::string& fleet) {
  nginx_xds::v1::FleetStatus status = registry.Status(fleet);
  auto& versions = *status.mutable_fleet_versions();
  if (fleet.empty()) {
    for (const auto& [name, version] : upstreams.FleetVersions()) versions[name] = version;
    for (const auto& node : status.nodes()) versions.insert({node.fleet(), 0});
  } else {
    versions[fleet] = upstreams.FleetVersion(fleet);
  }
  for (auto& rollout : rollouts.Rollouts(fleet)) *status.add_rollouts() = std::move(rollout);
  return status;
}

}  // namespace nginx_xds
