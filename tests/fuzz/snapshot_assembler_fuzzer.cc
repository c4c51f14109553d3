// Fuzzes the agent's snapshot assembler (agent/snapshot_assembler) with a
// sequence of ADS responses, each a DiscoveryResponse, separated by lines
// of "----": whatever arrives, every candidate it hands over holds only
// valid upstreams, and the last good snapshot only ever holds what was
// committed.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "agent/snapshot_assembler.h"
#include "common/upstream_rules.h"
#include "google/protobuf/util/message_differencer.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  nginx_xds::SnapshotAssembler assembler;
  int index = 0;
  for (absl::string_view chunk : absl::StrSplit(input, "\n----\n")) {
    ++index;
    envoy::service::discovery::v3::DiscoveryResponse response;
    if (!nginx_xds::fuzz::ParseProtoInput(chunk, &response)) continue;
    // A stream that ends between responses: a reconnect.
    if (response.nonce() == "reset") {
      assembler.ResetStream();
      continue;
    }
    nginx_xds::SnapshotAssembler::Outcome outcome = assembler.Offer(response);
    for (const auto& nack : outcome.nacks) {
      FUZZ_CHECK(!nack.message.empty(), "a NACK says why");
    }
    if (!outcome.candidate) continue;
    FUZZ_CHECK(assembler.has_candidate(), "a handed-over candidate is outstanding");
    for (const auto& upstream : outcome.candidate->snapshot.upstreams()) {
      absl::Status valid = nginx_xds::ValidateNormalizedUpstream(upstream);
      FUZZ_CHECK(valid.ok(), absl::StrCat("a candidate's upstream is valid: ", valid.message()));
    }
    // The embedder's verdict alternates, so both paths are taken.
    if (index % 2 == 0) {
      assembler.Commit();
      FUZZ_CHECK(assembler.last_good().has_value(), "a commit makes a last good snapshot");
      FUZZ_CHECK(google::protobuf::util::MessageDifferencer::Equals(*assembler.last_good(),
                                                                    outcome.candidate->snapshot),
                 "the last good snapshot is the committed candidate");
    } else {
      std::optional<nginx_xds::v1::Snapshot> before = assembler.last_good();
      assembler.Reject();
      FUZZ_CHECK(before.has_value() == assembler.last_good().has_value() &&
                     (!before || google::protobuf::util::MessageDifferencer::Equals(
                                     *before, *assembler.last_good())),
                 "a rejected candidate leaves the last good snapshot");
    }
  }
  return 0;
}
