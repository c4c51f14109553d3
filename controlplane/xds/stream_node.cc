#include "controlplane/xds/stream_node.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/upstream_rules.h"
#include "common/xds_mapping.h"
#include "controlplane/xds/static_upstreams.h"

namespace nginx_xds {

std::string FleetOfNode(const envoy::config::core::v3::Node& node) {
  return FleetOrDefault(node.cluster());
}

absl::Status ValidateStreamNode(const envoy::config::core::v3::Node& node) {
  if (node.id().empty()) {
    return absl::InvalidArgumentError("the first request of a stream must carry node.id");
  }
  if (node.id().size() > kMaxNameLength) {
    return absl::InvalidArgumentError("node.id is longer than 255 characters");
  }
  return ValidateName("fleet (node.cluster)", FleetOfNode(node));
}

std::string UserAgentOf(const envoy::config::core::v3::Node& node) {
  std::string user_agent = node.user_agent_name();
  if (!node.user_agent_version().empty()) {
    absl::StrAppend(&user_agent, "/", node.user_agent_version());
  }
  return user_agent;
}

WatcherNode WatcherNodeOf(const envoy::config::core::v3::Node& node) {
  WatcherNode watcher{node.id(), {}};
  for (const auto& [key, value] : node.metadata().fields()) {
    if (value.kind_case() == google::protobuf::Value::kStringValue) {
      watcher.labels[key] = value.string_value();
    }
  }
  return watcher;
}

absl::Status AuthorizeNode(const absl::StatusOr<std::optional<NodeIdentity>>& peer,
                           const envoy::config::core::v3::Node& node) {
  if (!peer.ok()) return peer.status();
  if (!*peer) return absl::OkStatus();
  return CheckNodeIdentity(**peer, node.id(), FleetOfNode(node));
}

absl::Status AdoptStaticUpstreams(const envoy::config::core::v3::Node& node,
                                  const StaticUpstreamsHandler& on_static_upstreams) {
  auto upstreams = StaticUpstreams(node);
  if (!upstreams.ok()) return upstreams.status();
  if (upstreams->empty() || !on_static_upstreams) return absl::OkStatus();
  // An invalid fleet is reported by ValidateStreamNode.
  on_static_upstreams(node.id(), FleetOfNode(node), std::move(*upstreams));
  return absl::OkStatus();
}

size_t MaxResponseBytesOf(const envoy::config::core::v3::Node& node) {
  auto nginx = node.metadata().fields().find(kNginxMetadataKey);
  if (nginx == node.metadata().fields().end() || !nginx->second.has_struct_value()) {
    return kDefaultMaxResponseBytes;
  }
  const auto& fields = nginx->second.struct_value().fields();
  auto declared = fields.find(kMaxResponseBytesKey);
  if (declared == fields.end() || !declared->second.has_number_value()) {
    return kDefaultMaxResponseBytes;
  }
  return static_cast<size_t>(
      std::clamp(declared->second.number_value(), double{1 << 20}, double{1 << 30}));
}

std::string RandomNonce(absl::BitGen* random) {
  return absl::StrCat(absl::Hex(absl::Uniform<uint64_t>(*random), absl::kZeroPad16));
}

std::vector<nginx_xds::v1::RejectedUpstream> RejectedUpstreamsOf(const google::rpc::Status& error) {
  std::vector<nginx_xds::v1::RejectedUpstream> rejected;
  for (const google::protobuf::Any& detail : error.details()) {
    nginx_xds::v1::RejectedUpstreams upstreams;
    if (!detail.Is<nginx_xds::v1::RejectedUpstreams>() || !detail.UnpackTo(&upstreams)) continue;
    for (const auto& each : upstreams.upstreams()) {
      if (each.name().empty()) continue;
      nginx_xds::v1::RejectedUpstream kept;
      kept.set_name(each.name().substr(0, kMaxNameLength));
      kept.set_message(each.message());
      rejected.push_back(std::move(kept));
    }
  }
  return rejected;
}

}  // namespace nginx_xds
