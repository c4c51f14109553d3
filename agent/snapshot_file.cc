#include "agent/snapshot_file.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "common/upstream_rules.h"
#include "google/protobuf/util/message_differencer.h"

namespace nginx_xds {
namespace {

constexpr absl::string_view kMagic = "nginx-xds-snapshot";
// 1: the payload is the Snapshot; 2: the Snapshot (length-prefixed), then
// the resource versions (a count, then name, Cluster and
// ClusterLoadAssignment version each, all length-prefixed).
constexpr absl::string_view kFormatVersion = "1";
constexpr absl::string_view kFormatVersionWithVersions = "2";
// Far above any real snapshot; bounds what a corrupt header can make us read.
constexpr uint64_t kMaxPayload = uint64_t{1} << 30;

uint32_t Crc32(absl::string_view data) {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char ch : data) crc = table[(crc ^ ch) & 0xFF] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFu;
}

absl::Status ErrnoStatus(int err, absl::string_view what, absl::string_view path) {
  std::string message = absl::StrCat(what, " \"", path, "\": ", strerror(err));
  switch (err) {
    case ENOENT:
      return absl::NotFoundError(message);
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(message);
    default:
      return absl::InternalError(message);
  }
}

absl::Status WriteAll(int fd, absl::string_view data, const std::string& path) {
  while (!data.empty()) {
    ssize_t n = write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "write", path);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

std::string DirectoryOf(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

constexpr absl::string_view kRecordMagic = "NXLR";
constexpr size_t kRecordHeader = 12;  // magic, length, CRC-32 (little endian)

void PutU32(std::string* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

void PutBytes(std::string* out, absl::string_view bytes) {
  PutU32(out, static_cast<uint32_t>(bytes.size()));
  out->append(bytes.data(), bytes.size());
}

bool GetU32(absl::string_view* in, uint32_t* v) {
  if (in->size() < 4) return false;
  *v = 0;
  for (int i = 0; i < 4; ++i) *v |= uint32_t{static_cast<unsigned char>((*in)[i])} << (8 * i);
  in->remove_prefix(4);
  return true;
}

bool GetBytes(absl::string_view* in, absl::string_view* bytes) {
  uint32_t len;
  if (!GetU32(in, &len) || in->size() < len) return false;
  *bytes = in->substr(0, len);
  in->remove_prefix(len);
  return true;
}

void PutVersions(std::string* out, const ResourceVersionMap& versions) {
  PutU32(out, static_cast<uint32_t>(versions.size()));
  for (const auto& [name, each] : versions) {
    PutBytes(out, name);
    PutBytes(out, each.cluster);
    PutBytes(out, each.assignment);
  }
}

// Reads what PutVersions wrote into `versions` (an entry with both versions
// empty erases the name); false when malformed.
bool GetVersions(absl::string_view* in, ResourceVersionMap* versions) {
  uint32_t n;
  if (!GetU32(in, &n)) return false;
  for (uint32_t i = 0; i < n; ++i) {
    absl::string_view name, cluster, assignment;
    if (!GetBytes(in, &name) || !GetBytes(in, &cluster) || !GetBytes(in, &assignment)) {
      return false;
    }
    if (cluster.empty() && assignment.empty()) {
      versions->erase(std::string(name));
    } else {
      (*versions)[std::string(name)] = ResourceVersions{std::string(cluster), std::string(assignment)};
    }
  }
  return true;
}

// Applies one record's payload to `state`; false (state unchanged) when it
// is malformed, carries an invalid upstream, or is not the change of
// `state`'s version.
bool ApplyRecord(absl::string_view payload, CachedState* state) {
  absl::string_view previous, change_bytes, name;
  uint32_t nremoved;
  if (!GetBytes(&payload, &previous) || previous != state->snapshot.version() ||
      !GetBytes(&payload, &change_bytes) || !GetU32(&payload, &nremoved)) {
    return false;
  }
  nginx_xds::v1::Snapshot change;
  if (!change.ParseFromArray(change_bytes.data(), static_cast<int>(change_bytes.size())) ||
      change.version().empty()) {
    return false;
  }
  for (const auto& upstream : change.upstreams()) {
    if (!ValidateNormalizedUpstream(upstream).ok()) return false;
  }
  std::set<std::string> removed;
  for (uint32_t i = 0; i < nremoved; ++i) {
    if (!GetBytes(&payload, &name)) return false;
    removed.emplace(name);
  }
  // Records of format 2 go on with the resource versions that changed.
  ResourceVersionMap versions = state->versions;
  if (!payload.empty() && !GetVersions(&payload, &versions)) return false;
  if (!payload.empty()) return false;
  nginx_xds::v1::Snapshot* snapshot = &state->snapshot;
  std::map<std::string, nginx_xds::v1::Upstream> by_name;
  for (auto& upstream : *snapshot->mutable_upstreams()) by_name[upstream.name()] = std::move(upstream);
  for (const auto& upstream : change.upstreams()) by_name[upstream.name()] = upstream;
  for (const std::string& gone : removed) by_name.erase(gone);
  snapshot->clear_upstreams();
  for (auto& [unused, upstream] : by_name) *snapshot->add_upstreams() = std::move(upstream);
  snapshot->set_version(change.version());
  state->versions = std::move(versions);
  return true;
}

absl::StatusOr<std::string> ReadWholeFile(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "open", path);
  std::string contents;
  char buf[65536];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      close(fd);
      return ErrnoStatus(err, "read", path);
    }
    if (n == 0) break;
    contents.append(buf, static_cast<size_t>(n));
    if (contents.size() > kMaxPayload + 128) {
      close(fd);
      return absl::DataLossError(absl::StrCat("cache file \"", path, "\": too large"));
    }
  }
  close(fd);
  return contents;
}

// One change-log record: `change` (its version and upserted upstreams) after
// `previous_version`, the names of `removed`, and the resource versions.
std::string MakeRecord(const std::string& previous_version, const nginx_xds::v1::Snapshot& change,
                       const std::vector<std::string>& removed,
                       const ResourceVersionMap& versions) {
  std::string payload;
  PutBytes(&payload, previous_version);
  PutBytes(&payload, change.SerializeAsString());
  PutU32(&payload, static_cast<uint32_t>(removed.size()));
  for (const std::string& name : removed) PutBytes(&payload, name);
  if (!versions.empty()) PutVersions(&payload, versions);
  std::string record(kRecordMagic);
  PutU32(&record, static_cast<uint32_t>(payload.size()));
  PutU32(&record, Crc32(payload));
  record += payload;
  return record;
}

}  // namespace

std::string ChangeLogPath(const std::string& path) { return path + ".log"; }

std::string ChangeLogRecord(const nginx_xds::v1::Snapshot& previous,
                            const nginx_xds::v1::Snapshot& next) {
  return ChangeLogRecord(CachedState{previous, {}}, CachedState{next, {}});
}

std::string ChangeLogRecord(const CachedState& previous_state, const CachedState& next_state) {
  const nginx_xds::v1::Snapshot& previous = previous_state.snapshot;
  const nginx_xds::v1::Snapshot& next = next_state.snapshot;
  std::map<std::string, const nginx_xds::v1::Upstream*> before;
  for (const auto& upstream : previous.upstreams()) before[upstream.name()] = &upstream;
  nginx_xds::v1::Snapshot change;
  change.set_version(next.version());
  for (const auto& upstream : next.upstreams()) {
    auto it = before.find(upstream.name());
    if (it == before.end() ||
        !google::protobuf::util::MessageDifferencer::Equals(*it->second, upstream)) {
      *change.add_upstreams() = upstream;
    }
    if (it != before.end()) before.erase(it);
  }
  // The versions that differ; a name no longer held as an empty entry.
  ResourceVersionMap versions;
  for (const auto& [name, each] : next_state.versions) {
    auto it = previous_state.versions.find(name);
    if (it == previous_state.versions.end() || it->second != each) versions[name] = each;
  }
  for (const auto& [name, each] : previous_state.versions) {
    if (next_state.versions.count(name) == 0) versions[name] = ResourceVersions{};
  }
  if (change.upstreams().empty() && before.empty() && versions.empty() &&
      previous.version() == next.version()) {
    return "";
  }
  std::vector<std::string> removed;
  for (const auto& [name, unused] : before) removed.push_back(name);
  return MakeRecord(previous.version(), change, removed, versions);
}

nginx_xds::v1::Snapshot ReplayChangeLog(nginx_xds::v1::Snapshot base, absl::string_view contents,
                                        int* replayed) {
  CachedState state{std::move(base), {}};
  ReplayChangeLog(&state, contents, replayed);
  return std::move(state.snapshot);
}

void ReplayChangeLog(CachedState* state, absl::string_view contents, int* replayed) {
  if (replayed != nullptr) *replayed = 0;
  while (contents.size() >= kRecordHeader && contents.substr(0, 4) == kRecordMagic) {
    absl::string_view header = contents.substr(4, 8);
    uint32_t length, crc;
    GetU32(&header, &length);
    GetU32(&header, &crc);
    if (length > kMaxPayload || contents.size() - kRecordHeader < length) break;  // torn
    absl::string_view payload = contents.substr(kRecordHeader, length);
    if (Crc32(payload) != crc || !ApplyRecord(payload, state)) break;
    contents.remove_prefix(kRecordHeader + length);
    if (replayed != nullptr) ++*replayed;
  }
}

SnapshotCacheWriter::SnapshotCacheWriter(std::string path, uint64_t compact_min_bytes)
    : path_(std::move(path)), compact_min_bytes_(compact_min_bytes) {}

absl::Status SnapshotCacheWriter::Compact(const CachedState& now) {
  saved_.reset();
  saved_version_.reset();
  absl::Status status = SaveSnapshotFile(path_, now.snapshot, now.versions);
  if (!status.ok()) return status;
  // A crash before the unlink leaves a log whose first record is not the
  // change of the new whole snapshot: LoadSnapshotFile replays none of it.
  const std::string log = ChangeLogPath(path_);
  if (unlink(log.c_str()) != 0 && errno != ENOENT) return ErrnoStatus(errno, "unlink", log);
  saved_ = now;
  saved_version_ = now.snapshot.version();
  base_bytes_ = now.snapshot.ByteSizeLong();
  log_bytes_ = 0;
  ++compactions_;
  return absl::OkStatus();
}

absl::Status SnapshotCacheWriter::Save(const nginx_xds::v1::Snapshot& snapshot,
                                       const ResourceVersionMap& versions) {
  if (path_.empty()) return absl::InvalidArgumentError("empty cache file path");
  CachedState now{snapshot, versions};
  if (!saved_) return Compact(now);
  const std::string record = ChangeLogRecord(*saved_, now);
  if (record.empty()) return absl::OkStatus();
  if (log_bytes_ + record.size() > std::max(compact_min_bytes_, base_bytes_)) return Compact(now);
  absl::Status status = Append(record);
  if (!status.ok()) return status;
  saved_ = std::move(now);
  saved_version_ = saved_->snapshot.version();
  return absl::OkStatus();
}

absl::Status SnapshotCacheWriter::SaveChange(const std::string& version,
                                             const std::vector<nginx_xds::v1::Upstream>& upserted,
                                             const std::vector<std::string>& removed,
                                             const ResourceVersionMap& versions,
                                             const std::function<CachedState()>& whole) {
  if (path_.empty()) return absl::InvalidArgumentError("empty cache file path");
  // The whole state is not kept here: a later Save() compacts.
  saved_.reset();
  if (!saved_version_) return Compact(whole());
  if (upserted.empty() && removed.empty() && versions.empty() && *saved_version_ == version) {
    return absl::OkStatus();
  }
  nginx_xds::v1::Snapshot change;
  change.set_version(version);
  for (const auto& upstream : upserted) *change.add_upstreams() = upstream;
  const std::string record = MakeRecord(*saved_version_, change, removed, versions);
  if (log_bytes_ + record.size() > std::max(compact_min_bytes_, base_bytes_)) {
    return Compact(whole());
  }
  absl::Status status = Append(record);
  if (!status.ok()) return status;
  saved_version_ = version;
  return absl::OkStatus();
}

absl::Status SnapshotCacheWriter::Append(const std::string& record) {
  const std::string log = ChangeLogPath(path_);
  int fd = open(log.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    saved_.reset();
    saved_version_.reset();
    return ErrnoStatus(errno, "open", log);
  }
  // One write(): a crash leaves the record whole or torn at the tail, where
  // replay stops.
  absl::Status status = WriteAll(fd, record, log);
  if (status.ok() && fsync(fd) != 0) status = ErrnoStatus(errno, "fsync", log);
  if (close(fd) != 0 && status.ok()) status = ErrnoStatus(errno, "close", log);
  if (!status.ok()) {
    // What the log ends with is unknown now: write it whole next time.
    saved_.reset();
    saved_version_.reset();
    return status;
  }
  if (log_bytes_ == 0) {
    // The log's creation must survive a crash too.
    const std::string dir = DirectoryOf(path_);
    int dir_fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd >= 0) {
      fsync(dir_fd);
      close(dir_fd);
    }
  }
  log_bytes_ += record.size();
  return absl::OkStatus();
}

absl::Status SaveSnapshotFile(const std::string& path, const nginx_xds::v1::Snapshot& snapshot,
                              const ResourceVersionMap& versions) {
  if (path.empty()) return absl::InvalidArgumentError("empty cache file path");
  std::string payload;
  if (!snapshot.SerializeToString(&payload)) {
    return absl::InternalError("cannot serialize the snapshot");
  }
  if (!versions.empty()) {
    std::string with_versions;
    PutBytes(&with_versions, payload);
    PutVersions(&with_versions, versions);
    payload = std::move(with_versions);
  }
  std::string contents =
      absl::StrFormat("%s %s %d %08x\n", kMagic,
                      versions.empty() ? kFormatVersion : kFormatVersionWithVersions,
                      payload.size(), Crc32(payload));
  contents += payload;

  std::string temp = path + ".tmp.XXXXXX";
  std::vector<char> temp_buf(temp.begin(), temp.end());
  temp_buf.push_back('\0');
  int fd = mkstemp(temp_buf.data());
  if (fd < 0) return ErrnoStatus(errno, "mkstemp", temp);
  temp.assign(temp_buf.data());

  absl::Status status = WriteAll(fd, contents, temp);
  if (status.ok() && fchmod(fd, 0644) != 0) status = ErrnoStatus(errno, "fchmod", temp);
  if (status.ok() && fsync(fd) != 0) status = ErrnoStatus(errno, "fsync", temp);
  if (close(fd) != 0 && status.ok()) status = ErrnoStatus(errno, "close", temp);
  if (status.ok() && rename(temp.c_str(), path.c_str()) != 0) {
    status = ErrnoStatus(errno, "rename to", path);
  }
  if (!status.ok()) {
    unlink(temp.c_str());
    return status;
  }
  // Make the rename itself durable.
  const std::string dir = DirectoryOf(path);
  int dir_fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    if (fsync(dir_fd) != 0) status = ErrnoStatus(errno, "fsync directory", dir);
    close(dir_fd);
  }
  return status;
}

absl::StatusOr<nginx_xds::v1::Snapshot> LoadSnapshotFile(const std::string& path) {
  absl::StatusOr<CachedState> state = LoadCacheFile(path);
  if (!state.ok()) return state.status();
  return std::move(state->snapshot);
}

absl::StatusOr<CachedState> LoadCacheFile(const std::string& path) {
  absl::StatusOr<std::string> contents = ReadWholeFile(path);
  if (!contents.ok()) return contents.status();
  absl::StatusOr<CachedState> state = ParseCacheFile(*contents, path);
  if (!state.ok()) return state;
  absl::StatusOr<std::string> log = ReadWholeFile(ChangeLogPath(path));
  if (!log.ok()) return state;  // no log (or unreadable): the whole snapshot is the state
  ReplayChangeLog(&*state, *log);
  return state;
}

absl::StatusOr<nginx_xds::v1::Snapshot> ParseSnapshotFile(absl::string_view contents,
                                                          absl::string_view path) {
  absl::StatusOr<CachedState> state = ParseCacheFile(contents, path);
  if (!state.ok()) return state.status();
  return std::move(state->snapshot);
}

absl::StatusOr<CachedState> ParseCacheFile(absl::string_view contents, absl::string_view path) {
  if (contents.size() > kMaxPayload + 128) {
    return absl::DataLossError(absl::StrCat("cache file \"", path, "\": too large"));
  }
  auto corrupt = [&path](absl::string_view why) {
    return absl::DataLossError(absl::StrCat("cache file \"", path, "\" is corrupt: ", why));
  };
  size_t newline = contents.find('\n');
  if (newline == std::string::npos || newline > 128) {
    return corrupt("no nginx-xds-snapshot header");
  }
  std::vector<absl::string_view> header = absl::StrSplit(contents.substr(0, newline), ' ');
  if (header.size() != 4 || header[0] != kMagic) {
    return corrupt("no nginx-xds-snapshot header");
  }
  const bool with_versions = header[1] == kFormatVersionWithVersions;
  if (header[1] != kFormatVersion && !with_versions) {
    return corrupt(absl::StrCat("unknown format version \"", header[1], "\""));
  }
  uint64_t length = 0;
  uint32_t crc = 0;
  if (!absl::SimpleAtoi(header[2], &length) || length > kMaxPayload ||
      !absl::SimpleHexAtoi(header[3], &crc)) {
    return corrupt("malformed header");
  }
  absl::string_view payload = contents.substr(newline + 1);
  if (payload.size() != length) {
    return corrupt(absl::StrCat("expected ", length, " bytes of snapshot, found ", payload.size()));
  }
  if (Crc32(payload) != crc) return corrupt("checksum mismatch");
  CachedState state;
  nginx_xds::v1::Snapshot& snapshot = state.snapshot;
  if (with_versions) {
    absl::string_view rest = payload;
    if (!GetBytes(&rest, &payload) || !GetVersions(&rest, &state.versions) || !rest.empty()) {
      return corrupt("malformed resource versions");
    }
  }
  if (!snapshot.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    return corrupt("cannot parse the snapshot");
  }
  if (snapshot.version().empty()) return corrupt("the snapshot has no version");
  for (const auto& upstream : snapshot.upstreams()) {
    absl::Status status = ValidateNormalizedUpstream(upstream);
    if (!status.ok()) {
      return corrupt(absl::StrCat("upstream \"", upstream.name(), "\": ", status.message()));
    }
  }
  return state;
}

}  // namespace nginx_xds
