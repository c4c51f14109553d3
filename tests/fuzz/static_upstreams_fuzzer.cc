// Fuzzes what a node says of its nginx.conf upstreams (the JSON in
// Node.metadata["nginx"]["static_upstreams"], controlplane/static_upstreams)
// and their validation before adoption: refused with a message, or each
// upstream normalizes (no DNS) into one that passes
// ValidateNormalizedUpstream.

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/upstream_rules.h"
#include "controlplane/xds/static_upstreams.h"
#include "envoy/config/core/v3/base.pb.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

absl::StatusOr<std::vector<nginx_xds::ServerAddress>> NoDns(const nginx_xds::ServerAddress&) {
  return absl::NotFoundError("no DNS while fuzzing");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  envoy::config::core::v3::Node node;
  if (!nginx_xds::fuzz::ParseProtoInput(
          absl::string_view(reinterpret_cast<const char*>(data), size), &node)) {
    return 0;
  }
  absl::StatusOr<std::vector<nginx_xds::v1::Upstream>> upstreams = nginx_xds::StaticUpstreams(node);
  if (!upstreams.ok()) {
    FUZZ_CHECK(!upstreams.status().message().empty(), "a refusal says why");
    return 0;
  }
  for (nginx_xds::v1::Upstream& upstream : *upstreams) {
    if (!nginx_xds::NormalizeUpstream(&upstream, NoDns).ok()) continue;
    absl::Status valid = nginx_xds::ValidateNormalizedUpstream(upstream);
    FUZZ_CHECK(valid.ok(), absl::StrCat("normalized upstream is valid: ", valid.message()));
  }
  return 0;
}
