#ifndef CONTROLPLANE_METRICS_FLEET_COLLECTORS_H_
#define CONTROLPLANE_METRICS_FLEET_COLLECTORS_H_

#include "common/metrics.h"
#include "controlplane/fleet/node_registry.h"
#include "controlplane/fleet/upstream_service.h"
#include "controlplane/rollout/rollout_service.h"

namespace nginx_xds {

// Registers the metrics read at scrape time from the state the control
// plane keeps anyway, so none of them costs the write path anything: per
// fleet its version and connected/acked node counts; per node (labels: node
// id and fleet, never a server) its lag, the age of its last ACK, its NACKs
// and whether it is connected; open ADS streams; responses and bytes sent
// per resource type (AdsTraffic); rollouts by state; lagging nodes, nodes
// forgotten and streams refused (the registry's bounds). `registry`,
// `upstreams` and `rollouts` must outlive `metrics`.
void AddFleetCollectors(MetricsRegistry* metrics, const NodeRegistry* registry,
                        const UpstreamService* upstreams, const RolloutService* rollouts);

}  // namespace nginx_xds

#endif  // CONTROLPLANE_METRICS_FLEET_COLLECTORS_H_
