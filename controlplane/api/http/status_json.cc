#include "controlplane/api/http/status_json.h"

#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "controlplane/rollout/rollout.h"
#include "google/protobuf/util/time_util.h"

namespace nginx_xds {

namespace {

using nginx_xds::v1::CanaryNode;
using nginx_xds::v1::NodeRejection;
using nginx_xds::v1::Rollout;

}  // namespace

std::string JsonString(absl::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    const unsigned char byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (byte < 0x20 || byte == 0x7f) {
      absl::StrAppendFormat(&out, "\\u%04x", byte);
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string RolloutJson(const Rollout& rollout) {
  auto rejection = [](const NodeRejection& nack) {
    return absl::StrCat("{\"node\":", JsonString(nack.node()), ",\"version\":", nack.version(),
                        ",\"message\":", JsonString(nack.message()), ",\"time\":",
                        JsonString(google::protobuf::util::TimeUtil::ToString(nack.time())), "}");
  };
  std::vector<std::string> ids;
  for (const std::string& id : rollout.canary_node_ids()) ids.push_back(JsonString(id));
  std::vector<std::string> labels;
  for (const auto& [key, value] : std::map<std::string, std::string>(
           rollout.canary_labels().begin(), rollout.canary_labels().end())) {
    labels.push_back(absl::StrCat(JsonString(key), ":", JsonString(value)));
  }
  std::vector<std::string> nodes;
  for (const CanaryNode& node : rollout.canary_nodes()) {
    nodes.push_back(absl::StrCat(
        "{\"id\":", JsonString(node.id()), ",\"connected\":", node.connected() ? "true" : "false",
        ",\"acked_version\":", node.acked_version(),
        ",\"last_nack\":", node.has_last_nack() ? rejection(node.last_nack()) : "null", "}"));
  }
  return absl::StrCat(
      "{\"fleet\":", JsonString(rollout.fleet()), ",\"state\":\"",
      RolloutStateName(rollout.state()), "\",\"stable_version\":", rollout.stable_version(),
      ",\"canary_version\":", rollout.canary_version(), ",\"canary_node_ids\":[",
      absl::StrJoin(ids, ","), "],\"canary_labels\":{", absl::StrJoin(labels, ","),
      "},\"auto_promote\":", rollout.auto_promote() ? "true" : "false",
      ",\"canary_acked\":", rollout.canary_acked(),
      ",\"canary_connected\":", rollout.canary_connected(), ",\"canary_nodes\":[",
      absl::StrJoin(nodes, ","),
      "],\"halt\":", rollout.has_halt() ? rejection(rollout.halt()) : "null",
      ",\"started\":", JsonString(google::protobuf::util::TimeUtil::ToString(rollout.started())),
      ",\"updated\":", JsonString(google::protobuf::util::TimeUtil::ToString(rollout.updated())),
      "}");
}

std::string FleetStatusJson(const nginx_xds::v1::FleetStatus& status) {
  // Fleets by name.
  const std::map<std::string, uint64_t> versions(status.fleet_versions().begin(),
                                                 status.fleet_versions().end());
  std::string body = "{\"fleets\":[";
  bool first = true;
  for (const auto& [fleet, version] : versions) {
    absl::StrAppend(&body, first ? "" : ",", "{\"name\":", JsonString(fleet),
                    ",\"version\":", version, "}");
    first = false;
  }
  body += "],\"nodes\":[";
  first = true;
  for (const auto& node : status.nodes()) {
    absl::StrAppend(&body, first ? "" : ",", "{\"id\":", JsonString(node.id()),
                    ",\"fleet\":", JsonString(node.fleet()),
                    ",\"connected\":", node.connected() ? "true" : "false",
                    ",\"acked_version\":", node.acked_version(),
                    ",\"lagging_at_version\":", node.lagging_at_version(),
                    ",\"streams\":", node.streams(),
                    // With replicas on etcd: the one the node's streams are on.
                    node.replica().empty()
                        ? std::string()
                        : absl::StrCat(",\"replica\":", JsonString(node.replica())),
                    ",\"user_agent\":", JsonString(node.user_agent()), ",\"updated\":",
                    JsonString(google::protobuf::util::TimeUtil::ToString(node.updated())),
                    ",\"last_nack\":");
    if (node.has_last_nack()) {
      absl::StrAppend(
          &body, "{\"version\":", node.last_nack().version(),
          ",\"message\":", JsonString(node.last_nack().message()), ",\"time\":",
          JsonString(google::protobuf::util::TimeUtil::ToString(node.last_nack().time())), "}");
    } else {
      body += "null";
    }
    // The upstreams the node rejects alone while it runs the rest.
    body += ",\"rejected_upstreams\":[";
    for (int i = 0; i < node.rejected_upstreams_size(); ++i) {
      const auto& rejected = node.rejected_upstreams(i);
      absl::StrAppend(&body, i == 0 ? "" : ",", "{\"name\":", JsonString(rejected.name()),
                      ",\"message\":", JsonString(rejected.message()),
                      ",\"version\":", rejected.version(),
                      ",\"since_version\":", rejected.since_version(), ",\"time\":",
                      JsonString(google::protobuf::util::TimeUtil::ToString(rejected.time())), "}");
    }
    body += "]}";
    first = false;
  }
  body += "],\"rollouts\":[";
  first = true;
  for (const auto& rollout : status.rollouts()) {
    absl::StrAppend(&body, first ? "" : ",", RolloutJson(rollout));
    first = false;
  }
  body += "]}";
  return body;
}

}  // namespace nginx_xds
