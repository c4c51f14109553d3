#include "agent/snapshot_file.h"

#include <dirent.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "tests/agent/test_resources.h"

namespace nginx_xds {
namespace {

using ::testing::HasSubstr;
using testing::MakeUpstream;

std::string TempDir() {
  const char* dir = std::getenv("TEST_TMPDIR");
  std::string base = dir != nullptr ? dir : "/tmp";
  std::string path = absl::StrCat(base, "/snapshot_file_test_XXXXXX");
  std::vector<char> buf(path.begin(), path.end());
  buf.push_back('\0');
  return mkdtemp(buf.data());
}

std::vector<std::string> ListDir(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return names;
  while (struct dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  closedir(d);
  return names;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteAll(const std::string& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << contents;
}

nginx_xds::v1::Snapshot MakeSnapshot(const std::string& version) {
  nginx_xds::v1::Snapshot snapshot;
  snapshot.set_version(version);
  *snapshot.add_upstreams() = MakeUpstream("backends", {6001, 6002});
  *snapshot.add_upstreams() = MakeUpstream("api", {7001});
  return snapshot;
}

// Validate a saved snapshot loads back unchanged.
TEST(SnapshotFileTest, RoundTrip) {
  const std::string path = TempDir() + "/cache.bin";
  nginx_xds::v1::Snapshot snapshot = MakeSnapshot("7");
  ASSERT_TRUE(SaveSnapshotFile(path, snapshot).ok());
  absl::StatusOr<nginx_xds::v1::Snapshot> loaded = LoadSnapshotFile(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(*loaded, snapshot))
      << loaded->DebugString();
}

// Validate a snapshot without upstreams round-trips too.
TEST(SnapshotFileTest, EmptySnapshotRoundTrip) {
  const std::string path = TempDir() + "/cache.bin";
  nginx_xds::v1::Snapshot snapshot;
  snapshot.set_version("1");
  ASSERT_TRUE(SaveSnapshotFile(path, snapshot).ok());
  absl::StatusOr<nginx_xds::v1::Snapshot> loaded = LoadSnapshotFile(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->version(), "1");
  EXPECT_EQ(loaded->upstreams_size(), 0);
}

// Validate a save replaces the file whole and leaves no temporary behind.
TEST(SnapshotFileTest, AtomicReplace) {
  const std::string dir = TempDir();
  const std::string path = dir + "/cache.bin";
  ASSERT_TRUE(SaveSnapshotFile(path, MakeSnapshot("1")).ok());
  // A reader holding the old file keeps seeing all of it.
  std::ifstream old_reader(path, std::ios::binary);
  ASSERT_TRUE(old_reader.good());
  const std::string old_contents = ReadAll(path);

  ASSERT_TRUE(SaveSnapshotFile(path, MakeSnapshot("2")).ok());
  std::stringstream seen;
  seen << old_reader.rdbuf();
  EXPECT_EQ(seen.str(), old_contents);

  absl::StatusOr<nginx_xds::v1::Snapshot> loaded = LoadSnapshotFile(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->version(), "2");
  EXPECT_THAT(ListDir(dir), ::testing::ElementsAre("cache.bin"));
}

// Validate a failed save leaves the previous file and no temporary.
TEST(SnapshotFileTest, FailedSaveKeepsOldFile) {
  const std::string dir = TempDir();
  absl::Status status = SaveSnapshotFile(dir + "/missing/cache.bin", MakeSnapshot("1"));
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(std::string(status.message()), HasSubstr("missing/cache.bin"));
  EXPECT_TRUE(ListDir(dir).empty());
}

// Validate a missing file is NOT_FOUND, not corruption.
TEST(SnapshotFileTest, MissingFileIsNotFound) {
  absl::StatusOr<nginx_xds::v1::Snapshot> loaded = LoadSnapshotFile(TempDir() + "/none");
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kNotFound);
}

// Validate garbage is reported as a corrupt file, naming the path.
TEST(SnapshotFileTest, GarbageIsCorrupt) {
  const std::string path = TempDir() + "/cache.bin";
  WriteAll(path, "this is not a snapshot\n\x01\x02");
  absl::StatusOr<nginx_xds::v1::Snapshot> loaded = LoadSnapshotFile(path);
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(loaded.status().message(),
            absl::StrCat("cache file \"", path, "\" is corrupt: no nginx-xds-snapshot header"));
}

// Validate a truncated file is detected by its length.
TEST(SnapshotFileTest, TruncatedIsCorrupt) {
  const std::string path = TempDir() + "/cache.bin";
  ASSERT_TRUE(SaveSnapshotFile(path, MakeSnapshot("3")).ok());
  std::string contents = ReadAll(path);
  WriteAll(path, contents.substr(0, contents.size() - 5));
  absl::StatusOr<nginx_xds::v1::Snapshot> loaded = LoadSnapshotFile(path);
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(loaded.status().message()), HasSubstr("bytes of snapshot, found"));
}

// Validate a flipped byte is detected by the checksum.
TEST(SnapshotFileTest, FlippedByteIsCorrupt) {
  const std::string path = TempDir() + "/cache.bin";
  ASSERT_TRUE(SaveSnapshotFile(path, MakeSnapshot("3")).ok());
  std::string contents = ReadAll(path);
  contents[contents.size() - 3] ^= 0x20;
  WriteAll(path, contents);
  absl::StatusOr<nginx_xds::v1::Snapshot> loaded = LoadSnapshotFile(path);
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(loaded.status().message()), HasSubstr("checksum mismatch"));
}

// Validate an empty file is corrupt, not an empty snapshot.
TEST(SnapshotFileTest, EmptyFileIsCorrupt) {
  const std::string path = TempDir() + "/cache.bin";
  WriteAll(path, "");
  EXPECT_EQ(LoadSnapshotFile(path).status().code(), absl::StatusCode::kDataLoss);
}

// Validate well-formed files with invalid upstreams are refused.
TEST(SnapshotFileTest, InvalidUpstreamIsCorrupt) {
  const std::string path = TempDir() + "/cache.bin";
  nginx_xds::v1::Snapshot snapshot = MakeSnapshot("4");
  snapshot.mutable_upstreams(0)->mutable_servers(0)->set_address("not an address");
  ASSERT_TRUE(SaveSnapshotFile(path, snapshot).ok());
  absl::StatusOr<nginx_xds::v1::Snapshot> loaded = LoadSnapshotFile(path);
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(loaded.status().message()), HasSubstr("upstream \"backends\""));
}

}  // namespace
}  // namespace nginx_xds
