#include "agent/snapshot_file.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "common/upstream_rules.h"

namespace nginx_xds {
namespace {

constexpr absl::string_view kMagic = "nginx-xds-snapshot";
constexpr absl::string_view kFormatVersion = "1";
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

}  // namespace

absl::Status SaveSnapshotFile(const std::string& path, const nginx_xds::v1::Snapshot& snapshot) {
  if (path.empty()) return absl::InvalidArgumentError("empty cache file path");
  std::string payload;
  if (!snapshot.SerializeToString(&payload)) {
    return absl::InternalError("cannot serialize the snapshot");
  }
  std::string contents =
      absl::StrFormat("%s %s %d %08x\n", kMagic, kFormatVersion, payload.size(), Crc32(payload));
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
  return ParseSnapshotFile(contents, path);
}

absl::StatusOr<nginx_xds::v1::Snapshot> ParseSnapshotFile(absl::string_view contents,
                                                          absl::string_view path) {
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
  if (header[1] != kFormatVersion) {
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
  nginx_xds::v1::Snapshot snapshot;
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
  return snapshot;
}

}  // namespace nginx_xds
