// Fuzzes the agent's last-good cache file loader (agent/snapshot_file): a
// file is refused as corrupt with a message, or every upstream in it passes
// ValidateNormalizedUpstream (what nginx applies at start). The same bytes
// are replayed as a change log onto an empty snapshot: whatever it applies
// is valid too.

#include <cstddef>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "agent/snapshot_file.h"
#include "common/upstream_rules.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  nginx_xds::v1::Snapshot empty;
  int replayed = 0;
  nginx_xds::v1::Snapshot replay = nginx_xds::ReplayChangeLog(
      empty, absl::string_view(reinterpret_cast<const char*>(data), size), &replayed);
  FUZZ_CHECK(replayed == 0 || !replay.version().empty(), "a replayed record sets a version");
  for (const auto& upstream : replay.upstreams()) {
    FUZZ_CHECK(nginx_xds::ValidateNormalizedUpstream(upstream).ok(),
               "replayed upstreams are valid");
  }
  absl::StatusOr<nginx_xds::v1::Snapshot> snapshot = nginx_xds::ParseSnapshotFile(
      absl::string_view(reinterpret_cast<const char*>(data), size), "fuzz.pb");
  if (!snapshot.ok()) {
    FUZZ_CHECK(snapshot.status().code() == absl::StatusCode::kDataLoss,
               absl::StrCat("a bad file is DATA_LOSS: ", snapshot.status().ToString()));
    return 0;
  }
  FUZZ_CHECK(!snapshot->version().empty(), "a loaded snapshot has a version");
  for (const auto& upstream : snapshot->upstreams()) {
    FUZZ_CHECK(nginx_xds::ValidateNormalizedUpstream(upstream).ok(), "loaded upstreams are valid");
  }
  return 0;
}
