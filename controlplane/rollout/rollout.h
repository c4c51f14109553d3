#ifndef CONTROLPLANE_ROLLOUT_ROLLOUT_H_
#define CONTROLPLANE_ROLLOUT_ROLLOUT_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "controlplane/xds/snapshot_cache.h"
#include "nginx_xds/v1/management.pb.h"

namespace nginx_xds {

// The pieces of a staged rollout that need no state of their own: who is in
// the canary group, how far the group has got, and how a rollout reads in
// text (its JSON is api/http/status_json's). RolloutService keeps the
// rollouts. Thread-compatible
// (stateless functions).

// Whether `rollout` is open (CANARY or HALTED).
bool RolloutOpen(const nginx_xds::v1::Rollout& rollout);

// Checks the canary group of a rollout about to start: at least one node id
// or label, no empty id or label key, ids no longer than names may be.
// INVALID_ARGUMENT naming the bad field.
absl::Status ValidateCanaryGroup(const nginx_xds::v1::StartRolloutRequest& request);

// Whether `node` is in the canary group of `rollout`: named by id, or its
// labels hold every one of the rollout's labels.
bool InCanaryGroup(const nginx_xds::v1::Rollout& rollout, const WatcherNode& node);

// The canary group of `rollout` as the snapshot cache asks about it.
SnapshotCache::CanaryGroup CanaryGroupOf(const nginx_xds::v1::Rollout& rollout);

// Fills canary_nodes, canary_acked and canary_connected of `rollout` from
// the fleet's node status and the nodes of its live streams (for labels).
void FillCanaryProgress(const nginx_xds::v1::FleetStatus& status,
                        const std::vector<WatcherNode>& watchers, nginx_xds::v1::Rollout* rollout);

// The rejection, by a canary node of the filled `rollout`, of a version newer
// than the stable one that no newer ACK of that node has superseded; none
// when every canary node runs what it was sent.
std::optional<nginx_xds::v1::NodeRejection> CanaryRejection(const nginx_xds::v1::Rollout& rollout);

// "CANARY", "HALTED", "PROMOTED" or "ABORTED".
std::string RolloutStateName(nginx_xds::v1::RolloutState state);

// The rollout as /fleet/status and /rollouts show it in text: one line for
// the rollout, one per canary node, each indented by `indent`.
std::string RolloutText(const nginx_xds::v1::Rollout& rollout, absl::string_view indent);

}  // namespace nginx_xds

#endif  // CONTROLPLANE_ROLLOUT_ROLLOUT_H_
