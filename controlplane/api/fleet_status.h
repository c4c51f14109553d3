#ifndef CONTROLPLANE_API_FLEET_STATUS_H_
#define CONTROLPLANE_API_FLEET_STATUS_H_

#include <string>

#include "controlplane/fleet/node_registry.h"
#include "controlplane/fleet/upstream_service.h"
#include "controlplane/rollout/rollout_service.h"
#include "nginx_xds/v1/management.pb.h"

namespace nginx_xds {

// The one fleet status, for FleetService.GetFleetStatus / WatchFleetStatus
// and GET /fleet/status alike. `fleet` empty means every fleet: each fleet
// that was written or has nodes, with its version (0 before its first
// write); otherwise that one fleet, known or not. Nodes and rollouts are
// those of the same fleets. It reads the fleet layer and the rollouts, which
// is why it lives with the APIs that answer with it.
nginx_xds::v1::FleetStatus BuildFleetStatus(const NodeRegistry& registry,
                                            const UpstreamService& upstreams,
                                            const RolloutService& rollouts,
                                            const std::string& fleet);

}  // namespace nginx_xds

#endif  // CONTROLPLANE_API_FLEET_STATUS_H_
