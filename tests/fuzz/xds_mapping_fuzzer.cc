// Fuzzes FromXds (common/xds_mapping), the agent's gate for what the
// control plane sends: a Cluster and a ClusterLoadAssignment (one
// DiscoveryResponse's two first resources) are refused with a message, or
// become an upstream that passes ValidateNormalizedUpstream and maps back to
// xDS that FromXds reads as the same upstream.

#include <cstddef>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "common/upstream_rules.h"
#include "common/xds_mapping.h"
#include "envoy/service/discovery/v3/discovery.pb.h"
#include "google/protobuf/util/message_differencer.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  envoy::service::discovery::v3::DiscoveryResponse response;
  if (!nginx_xds::fuzz::ParseProtoInput(
          absl::string_view(reinterpret_cast<const char*>(data), size), &response) ||
      response.resources_size() < 2) {
    return 0;
  }
  envoy::config::cluster::v3::Cluster cluster;
  envoy::config::endpoint::v3::ClusterLoadAssignment assignment;
  if (!response.resources(0).UnpackTo(&cluster) || !response.resources(1).UnpackTo(&assignment)) {
    return 0;
  }
  absl::StatusOr<nginx_xds::v1::Upstream> upstream = nginx_xds::FromXds(cluster, assignment);
  if (!upstream.ok()) {
    FUZZ_CHECK(!upstream.status().message().empty(), "a refusal says why");
    return 0;
  }
  absl::Status valid = nginx_xds::ValidateNormalizedUpstream(*upstream);
  FUZZ_CHECK(valid.ok(), absl::StrCat("accepted upstream is valid: ", valid.message()));
  absl::StatusOr<nginx_xds::v1::Upstream> again =
      nginx_xds::FromXds(nginx_xds::ToCluster(*upstream), nginx_xds::ToLoadAssignment(*upstream));
  FUZZ_CHECK(again.ok(), absl::StrCat("its own xDS form is accepted: ", again.status().message()));
  FUZZ_CHECK(google::protobuf::util::MessageDifferencer::Equals(*again, *upstream),
             "the xDS round trip is the identity");
  return 0;
}
