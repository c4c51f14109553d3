#include "controlplane/xds/static_upstreams.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/xds_mapping.h"
#include "google/protobuf/util/json_util.h"

namespace nginx_xds {

absl::StatusOr<std::vector<nginx_xds::v1::Upstream>> StaticUpstreams(
    const envoy::config::core::v3::Node& node) {
  std::vector<nginx_xds::v1::Upstream> upstreams;
  const auto& fields = node.metadata().fields();
  auto nginx = fields.find(kNginxMetadataKey);
  if (nginx == fields.end()) return upstreams;
  const auto& nginx_fields = nginx->second.struct_value().fields();
  auto list = nginx_fields.find("static_upstreams");
  if (list == nginx_fields.end()) return upstreams;
  for (const auto& value : list->second.list_value().values()) {
    std::string json;
    nginx_xds::v1::Upstream upstream;
    if (!google::protobuf::util::MessageToJsonString(value, &json).ok() ||
        !google::protobuf::util::JsonStringToMessage(json, &upstream).ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("node.metadata.nginx.static_upstreams: not an upstream: ", json));
    }
    upstreams.push_back(std::move(upstream));
  }
  return upstreams;
}

}  // namespace nginx_xds
