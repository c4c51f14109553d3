#ifndef CONTROLPLANE_API_HTTP_STATUS_JSON_H_
#define CONTROLPLANE_API_HTTP_STATUS_JSON_H_

#include <string>

#include "absl/strings/string_view.h"
#include "nginx_xds/v1/management.pb.h"

namespace nginx_xds {

// Every JSON body of the HTTP gateway (/fleet/status and /rollouts with
// format=json), rendered from the very messages the gRPC API answers with
// (FleetStatus, Rollout), with one string escaper.
//
// Not protobuf's JSON mapping (MessageToJsonString), on purpose: that
// mapping writes uint64 versions as strings ("7"), states as
// "ROLLOUT_STATE_CANARY", omits unset messages instead of writing null, and
// has fleet_versions as a map where this JSON has a "fleets" list; the
// documented HTTP JSON (README, docs/architecture.md) and its consumers
// (deploy/ scripts, the netns and deploy tests) read numbers, "CANARY",
// null and "fleets". The gRPC API, and `buf curl` on it, give the proto
// mapping. Thread-compatible (stateless functions).

// A JSON string literal: `"`, `\` and the control bytes 0x00-0x1f and 0x7f
// escaped (as \" \\ \u00XX); other bytes, UTF-8 included, as they are.
std::string JsonString(absl::string_view text);

// One rollout: fleet, state ("CANARY", ...), versions, canary group and
// nodes, halt (or null), started, updated.
std::string RolloutJson(const nginx_xds::v1::Rollout& rollout);

// The fleet status: {"fleets":[{"name","version"}...] (by name),
// "nodes":[...], "rollouts":[RolloutJson...]}.
std::string FleetStatusJson(const nginx_xds::v1::FleetStatus& status);

}  // namespace nginx_xds

#endif  // CONTROLPLANE_API_HTTP_STATUS_JSON_H_
