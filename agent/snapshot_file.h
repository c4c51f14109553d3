#ifndef AGENT_SNAPSHOT_FILE_H_
#define AGENT_SNAPSHOT_FILE_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "agent/resource_versions.h"
#include "nginx_xds/v1/upstream.pb.h"

namespace nginx_xds {

// The agent's last-good cache: one Snapshot per file, so that nginx can start
// with the upstreams it last applied while the control plane is down.
//
// The file is a one-line header "nginx-xds-snapshot 1 <length> <crc32>\n"
// followed by the binary Snapshot proto, so truncation and corruption are
// detected rather than parsed into a wrong snapshot. Functions are
// thread-compatible (concurrent writers of one path each produce a whole file).

// What the cache holds: the snapshot the node runs and, from a Delta stream,
// the resource versions it holds (format 2 of the file; format 1 has none).
struct CachedState {
  nginx_xds::v1::Snapshot snapshot;
  ResourceVersionMap versions;
};

// Writes `snapshot` (and `versions`, when any) to `path` atomically: a temporary file in the same
// directory is written, fsynced and renamed over `path`, then the directory is
// fsynced. A reader sees the old file or the new one, never a mix. Returns
// INTERNAL / PERMISSION_DENIED etc. naming the path and the failing call.
absl::Status SaveSnapshotFile(const std::string& path, const nginx_xds::v1::Snapshot& snapshot,
                              const ResourceVersionMap& versions = {});

// Reads a file written by SaveSnapshotFile and checks its header, length,
// checksum and every upstream (ValidateNormalizedUpstream). NOT_FOUND when the
// file does not exist; DATA_LOSS naming the path and the defect when it is
// corrupt.
//
// Then replays the change log next to it (ChangeLogPath(path), written by
// SnapshotCacheWriter) onto it: the result is the last state saved. The log
// is read up to its first record that is torn (a crash in the middle of an
// append), corrupt, or not the change of the state before it (a log left by
// a compaction that crashed, or written by another process).
absl::StatusOr<nginx_xds::v1::Snapshot> LoadSnapshotFile(const std::string& path);

// LoadSnapshotFile with the resource versions kept beside the snapshot.
absl::StatusOr<CachedState> LoadCacheFile(const std::string& path);

// The change log of the cache file `path`.
std::string ChangeLogPath(const std::string& path);

// Replays the records of a change log (`contents`, the whole log file) onto
// `base`, up to the first one that is torn, corrupt or not chained to the
// state before it; `*replayed` (if not NULL) counts the records applied.
nginx_xds::v1::Snapshot ReplayChangeLog(nginx_xds::v1::Snapshot base, absl::string_view contents,
                                        int* replayed = nullptr);
// The same on a state with resource versions.
void ReplayChangeLog(CachedState* state, absl::string_view contents, int* replayed = nullptr);

// One record of a change log: `next` as a change against `previous`.
// Empty when nothing changed (same version, same upstreams).
std::string ChangeLogRecord(const nginx_xds::v1::Snapshot& previous,
                            const nginx_xds::v1::Snapshot& next);
// The same with the resource versions that changed.
std::string ChangeLogRecord(const CachedState& previous, const CachedState& next);

// Keeps the cache file current per change instead of rewriting it whole on
// every version: the first save of a process writes the whole snapshot
// (SaveSnapshotFile) and removes the log; each later save appends one
// record (length, CRC-32, the changed upstreams and the removed names;
// written with one write() and fsynced) to the log. When the log would
// outgrow max(`compact_min_bytes`, the size of the whole file) the snapshot
// is written whole again and the log removed (compaction). A crash at any
// point leaves the last state saved, or the one before it, loadable.
// Thread-compatible.
class SnapshotCacheWriter {
 public:
  explicit SnapshotCacheWriter(std::string path, uint64_t compact_min_bytes = 64 * 1024);

  // `versions`: the Delta resource versions held with `now`.
  absl::Status Save(const nginx_xds::v1::Snapshot& now, const ResourceVersionMap& versions = {});

  // Saves a change of the state last saved, in O(change): version
  // `version`, the upstreams of `upserted` new or changed, those named in
  // `removed` gone, and the resource versions of `versions` (an entry with
  // both versions empty: none held any more). `whole` gives the state after
  // the change, whole; it is called only when the file must be written
  // whole (the first save of this writer, or a compaction).
  absl::Status SaveChange(const std::string& version,
                          const std::vector<nginx_xds::v1::Upstream>& upserted,
                          const std::vector<std::string>& removed,
                          const ResourceVersionMap& versions,
                          const std::function<CachedState()>& whole);

  // The size of the change log as this writer left it (0 after compaction).
  uint64_t log_bytes() const { return log_bytes_; }
  // How many times the whole snapshot was written.
  int compactions() const { return compactions_; }

 private:
  absl::Status Compact(const CachedState& now);

  std::string path_;
  uint64_t compact_min_bytes_;
  // Appends `record` to the log (one write, fsync); on failure what the
  // files hold is unknown, and the next save compacts.
  absl::Status Append(const std::string& record);

  // What the files hold; unset: unknown to Save (it compacts), which
  // SaveChange leaves so, keeping only the version (`saved_version_`).
  std::optional<CachedState> saved_;
  // The version the files hold; unset: unknown (the next save compacts).
  std::optional<std::string> saved_version_;
  uint64_t base_bytes_ = 0;
  uint64_t log_bytes_ = 0;
  int compactions_ = 0;
};

// LoadSnapshotFile's checks on `contents`, a whole file already read;
// `path` only names the file in errors.
absl::StatusOr<nginx_xds::v1::Snapshot> ParseSnapshotFile(absl::string_view contents,
                                                          absl::string_view path);
absl::StatusOr<CachedState> ParseCacheFile(absl::string_view contents, absl::string_view path);

}  // namespace nginx_xds

#endif  // AGENT_SNAPSHOT_FILE_H_
