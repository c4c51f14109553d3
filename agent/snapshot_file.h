#ifndef AGENT_SNAPSHOT_FILE_H_
#define AGENT_SNAPSHOT_FILE_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nginx_xds/v1/upstream.pb.h"

namespace nginx_xds {

// The agent's last-good cache: one Snapshot per file, so that nginx can start
// with the upstreams it last applied while the control plane is down.
//
// The file is a one-line header "nginx-xds-snapshot 1 <length> <crc32>\n"
// followed by the binary Snapshot proto, so truncation and corruption are
// detected rather than parsed into a wrong snapshot. Functions are
// thread-compatible (concurrent writers of one path each produce a whole file).

// Writes `snapshot` to `path` atomically: a temporary file in the same
// directory is written, fsynced and renamed over `path`, then the directory is
// fsynced. A reader sees the old file or the new one, never a mix. Returns
// INTERNAL / PERMISSION_DENIED etc. naming the path and the failing call.
absl::Status SaveSnapshotFile(const std::string& path, const nginx_xds::v1::Snapshot& snapshot);

// Reads a file written by SaveSnapshotFile and checks its header, length,
// checksum and every upstream (ValidateNormalizedUpstream). NOT_FOUND when the
// file does not exist; DATA_LOSS naming the path and the defect when it is
// corrupt.
absl::StatusOr<nginx_xds::v1::Snapshot> LoadSnapshotFile(const std::string& path);

// LoadSnapshotFile's checks on `contents`, a whole file already read;
// `path` only names the file in errors.
absl::StatusOr<nginx_xds::v1::Snapshot> ParseSnapshotFile(absl::string_view contents,
                                                          absl::string_view path);

}  // namespace nginx_xds

#endif  // AGENT_SNAPSHOT_FILE_H_
