// Fuzzes the dyups POST body parser (controlplane/upstream_block) and the
// validation behind it: a body is refused with a message, or it parses and
// normalizes (host names refused, no DNS here) into an upstream that
// passes ValidateNormalizedUpstream and survives the xDS round trip.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/upstream_block.h"
#include "common/upstream_rules.h"
#include "common/xds_mapping.h"
#include "google/protobuf/util/message_differencer.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

absl::StatusOr<std::vector<nginx_xds::ServerAddress>> NoDns(const nginx_xds::ServerAddress&) {
  return absl::NotFoundError("no DNS while fuzzing");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view body(reinterpret_cast<const char*>(data), size);
  (void)nginx_xds::TokenizeBlock(body);
  absl::StatusOr<nginx_xds::v1::Upstream> upstream = nginx_xds::ParseUpstreamBlock(body);
  if (!upstream.ok()) {
    FUZZ_CHECK(!upstream.status().message().empty(), "a refusal says why");
    return 0;
  }
  upstream->set_name("fuzzed");
  if (!nginx_xds::NormalizeUpstream(&*upstream, NoDns).ok()) return 0;
  absl::Status valid = nginx_xds::ValidateNormalizedUpstream(*upstream);
  FUZZ_CHECK(valid.ok(), absl::StrCat("normalized upstream is valid: ", valid.message()));
  absl::StatusOr<nginx_xds::v1::Upstream> back =
      nginx_xds::FromXds(nginx_xds::ToCluster(*upstream), nginx_xds::ToLoadAssignment(*upstream));
  FUZZ_CHECK(back.ok(), absl::StrCat("xDS form is accepted: ", back.status().message()));
  FUZZ_CHECK(google::protobuf::util::MessageDifferencer::Equals(*back, *upstream),
             "the xDS round trip is the identity");
  return 0;
}
