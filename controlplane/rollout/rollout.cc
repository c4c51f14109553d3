#include "controlplane/rollout/rollout.h"

#include <algorithm>
#include <map>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/printable.h"
#include "common/upstream_rules.h"

namespace nginx_xds {

namespace {

using nginx_xds::v1::CanaryNode;
using nginx_xds::v1::NodeRejection;
using nginx_xds::v1::Rollout;
using nginx_xds::v1::RolloutState;

bool LabelsMatch(const Rollout& rollout, const std::map<std::string, std::string>& labels) {
  if (rollout.canary_labels().empty()) return false;
  for (const auto& [key, value] : rollout.canary_labels()) {
    auto it = labels.find(key);
    if (it == labels.end() || it->second != value) return false;
  }
  return true;
}

}  // namespace

bool RolloutOpen(const Rollout& rollout) {
  return rollout.state() == nginx_xds::v1::ROLLOUT_STATE_CANARY ||
         rollout.state() == nginx_xds::v1::ROLLOUT_STATE_HALTED;
}

absl::Status ValidateCanaryGroup(const nginx_xds::v1::StartRolloutRequest& request) {
  if (request.canary_node_ids().empty() && request.canary_labels().empty()) {
    return absl::InvalidArgumentError(
        "a rollout needs a canary group: "
        "canary_node_ids, canary_labels or both");
  }
  for (const std::string& id : request.canary_node_ids()) {
    if (id.empty()) return absl::InvalidArgumentError("canary_node_ids has an empty node id");
    if (id.size() > kMaxNameLength) {
      return absl::InvalidArgumentError(
          absl::StrCat("canary node id \"", Printable(id.substr(0, 32)), "...\" is longer than ",
                       kMaxNameLength, " characters"));
    }
  }
  for (const auto& [key, value] : request.canary_labels()) {
    if (key.empty()) return absl::InvalidArgumentError("canary_labels has an empty key");
  }
  return absl::OkStatus();
}

bool InCanaryGroup(const Rollout& rollout, const WatcherNode& node) {
  const auto& ids = rollout.canary_node_ids();
  if (std::find(ids.begin(), ids.end(), node.id) != ids.end()) return true;
  return LabelsMatch(rollout, node.labels);
}

SnapshotCache::CanaryGroup CanaryGroupOf(const Rollout& rollout) {
  return [rollout](const WatcherNode& node) { return InCanaryGroup(rollout, node); };
}

void FillCanaryProgress(const nginx_xds::v1::FleetStatus& status,
                        const std::vector<WatcherNode>& watchers, Rollout* rollout) {
  std::set<std::string> members(rollout->canary_node_ids().begin(),
                                rollout->canary_node_ids().end());
  for (const WatcherNode& watcher : watchers) {
    if (LabelsMatch(*rollout, watcher.labels)) members.insert(watcher.id);
  }
  std::map<std::string, const nginx_xds::v1::NodeStatus*> known;
  for (const auto& node : status.nodes()) {
    if (node.fleet() == rollout->fleet()) known[node.id()] = &node;
  }
  rollout->clear_canary_nodes();
  uint32_t acked = 0;
  uint32_t connected = 0;
  for (const std::string& id : members) {
    CanaryNode* out = rollout->add_canary_nodes();
    out->set_id(id);
    auto it = known.find(id);
    if (it == known.end()) continue;
    const nginx_xds::v1::NodeStatus& node = *it->second;
    out->set_connected(node.connected());
    out->set_acked_version(node.acked_version());
    if (node.has_last_nack() && node.last_nack().version() > rollout->stable_version()) {
      *out->mutable_last_nack() = node.last_nack();
    }
    // The caller keeps those the rollout changed (RolloutService).
    *out->mutable_rejected_upstreams() = node.rejected_upstreams();
    if (!node.connected()) continue;
    ++connected;
    if (node.acked_version() >= rollout->canary_version()) ++acked;
  }
  rollout->set_canary_acked(acked);
  rollout->set_canary_connected(connected);
}

std::optional<NodeRejection> CanaryRejection(const Rollout& rollout) {
  for (const CanaryNode& node : rollout.canary_nodes()) {
    // A whole rejection: the node still runs an older version. (A NACK
    // naming single upstreams counts as applied, see below.)
    if (node.has_last_nack() && node.last_nack().upstreams().empty() &&
        node.last_nack().version() > node.acked_version()) {
      return node.last_nack();
    }
    // Rejects, alone, an upstream the rollout changed: that change halts it
    // too, while the node applies the rest.
    if (!node.rejected_upstreams().empty()) {
      NodeRejection rejection;
      rejection.set_node(node.id());
      std::string message;
      for (const auto& rejected : node.rejected_upstreams()) {
        rejection.set_version(std::max(rejection.version(), rejected.version()));
        absl::StrAppend(&message, message.empty() ? "" : "; ", "upstream \"", rejected.name(),
                        "\": ", rejected.message());
        auto* out = rejection.add_upstreams();
        out->set_name(rejected.name());
        out->set_message(rejected.message());
        *rejection.mutable_time() = rejected.time();
      }
      rejection.set_message(message);
      return rejection;
    }
  }
  return std::nullopt;
}

std::string RolloutStateName(RolloutState state) {
  switch (state) {
    case nginx_xds::v1::ROLLOUT_STATE_CANARY:
      return "CANARY";
    case nginx_xds::v1::ROLLOUT_STATE_HALTED:
      return "HALTED";
    case nginx_xds::v1::ROLLOUT_STATE_PROMOTED:
      return "PROMOTED";
    case nginx_xds::v1::ROLLOUT_STATE_ABORTED:
      return "ABORTED";
    default:
      return "UNSPECIFIED";
  }
}

std::string RolloutText(const Rollout& rollout, absl::string_view indent) {
  std::vector<std::string> group;
  for (const std::string& id : rollout.canary_node_ids()) {
    group.push_back(absl::StrCat("node ", Printable(id)));
  }
  for (const auto& [key, value] : std::map<std::string, std::string>(
           rollout.canary_labels().begin(), rollout.canary_labels().end())) {
    group.push_back(absl::StrCat("label ", Printable(key), "=", Printable(value)));
  }
  std::string text =
      absl::StrCat(indent, "rollout of fleet ", Printable(rollout.fleet()), ": ",
                   RolloutStateName(rollout.state()), ", stable version ", rollout.stable_version(),
                   ", canary version ", rollout.canary_version());
  if (RolloutOpen(rollout)) {
    absl::StrAppend(&text, ", ", rollout.canary_acked(), " of ", rollout.canary_connected(),
                    " connected canary nodes acked");
  }
  absl::StrAppend(&text, ", canary ", absl::StrJoin(group, ", "),
                  rollout.auto_promote() ? ", auto-promote" : "", "\n");
  if (rollout.has_halt()) {
    absl::StrAppend(&text, indent, "  halted: node ", Printable(rollout.halt().node()),
                    " rejected version ", rollout.halt().version(), ": ",
                    Printable(rollout.halt().message()), "\n");
  }
  for (const CanaryNode& node : rollout.canary_nodes()) {
    absl::StrAppend(&text, indent, "  canary node ", Printable(node.id()), ": ",
                    node.connected() ? "connected" : "not connected", ", acked version ",
                    node.acked_version());
    if (node.has_last_nack()) {
      absl::StrAppend(&text, ", last NACK of version ", node.last_nack().version(), ": ",
                      Printable(node.last_nack().message()));
    }
    text += "\n";
  }
  return text;
}

}  // namespace nginx_xds
