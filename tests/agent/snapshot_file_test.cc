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
#include "tests/testing/upstreams.h"

namespace nginx_xds {
namespace {

using ::testing::HasSubstr;
using testing::NormalizedUpstreamOnPorts;

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
  *snapshot.add_upstreams() = NormalizedUpstreamOnPorts("backends", {6001, 6002});
  *snapshot.add_upstreams() = NormalizedUpstreamOnPorts("api", {7001});
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

// Names and servers of `snapshot`, "name=port,port" each, in its order.
std::vector<std::string> Describe(const nginx_xds::v1::Snapshot& snapshot) {
  std::vector<std::string> out;
  for (const auto& upstream : snapshot.upstreams()) {
    std::string line = upstream.name() + "=";
    for (const auto& server : upstream.servers()) {
      line += server.address().substr(server.address().rfind(':') + 1) + ",";
    }
    out.push_back(line);
  }
  return out;
}

nginx_xds::v1::Snapshot Versioned(const std::string& version,
                                  std::vector<nginx_xds::v1::Upstream> upstreams) {
  nginx_xds::v1::Snapshot snapshot;
  snapshot.set_version(version);
  for (auto& upstream : upstreams) *snapshot.add_upstreams() = std::move(upstream);
  return snapshot;
}

nginx_xds::v1::Snapshot MustLoad(const std::string& path) {
  absl::StatusOr<nginx_xds::v1::Snapshot> loaded = LoadSnapshotFile(path);
  EXPECT_TRUE(loaded.ok()) << loaded.status();
  return loaded.ok() ? *loaded : nginx_xds::v1::Snapshot();
}

// Validate the writer saves the first snapshot whole and each later one as
// one appended record of what changed, and the load replays them.
TEST(SnapshotCacheWriterTest, AppendsChangesAndLoadReplaysThem) {
  const std::string path = TempDir() + "/cache.bin";
  SnapshotCacheWriter writer(path);
  ASSERT_TRUE(writer
                  .Save(Versioned("1", {NormalizedUpstreamOnPorts("a", {1}),
                                        NormalizedUpstreamOnPorts("b", {2})}))
                  .ok());
  EXPECT_EQ(writer.compactions(), 1);
  const std::string base = ReadAll(path);
  ASSERT_TRUE(writer
                  .Save(Versioned("2", {NormalizedUpstreamOnPorts("a", {11}),
                                        NormalizedUpstreamOnPorts("b", {2}),
                                        NormalizedUpstreamOnPorts("c", {3})}))
                  .ok());
  const uint64_t one_record = writer.log_bytes();
  EXPECT_GT(one_record, 0u);
  ASSERT_TRUE(writer
                  .Save(Versioned("3", {NormalizedUpstreamOnPorts("a", {11}),
                                        NormalizedUpstreamOnPorts("c", {33})}))
                  .ok());
  EXPECT_EQ(writer.compactions(), 1);
  // The whole file was not rewritten; the log holds the changes only.
  EXPECT_EQ(ReadAll(path), base);
  EXPECT_EQ(ReadAll(ChangeLogPath(path)).size(), writer.log_bytes());
  nginx_xds::v1::Snapshot loaded = MustLoad(path);
  EXPECT_EQ(loaded.version(), "3");
  EXPECT_EQ(Describe(loaded), (std::vector<std::string>{"a=11,", "c=33,"}));
  // A version that changes nothing writes nothing.
  ASSERT_TRUE(writer
                  .Save(Versioned("3", {NormalizedUpstreamOnPorts("a", {11}),
                                        NormalizedUpstreamOnPorts("c", {33})}))
                  .ok());
  EXPECT_EQ(ReadAll(ChangeLogPath(path)).size(), writer.log_bytes());
}

// Validate a record torn anywhere (a crash in the middle of an append) is
// ignored: the load gives the state before it.
TEST(SnapshotCacheWriterTest, TornTailRecordIsIgnored) {
  const std::string path = TempDir() + "/cache.bin";
  SnapshotCacheWriter writer(path);
  ASSERT_TRUE(writer.Save(Versioned("1", {NormalizedUpstreamOnPorts("a", {1})})).ok());
  ASSERT_TRUE(writer.Save(Versioned("2", {NormalizedUpstreamOnPorts("a", {2})})).ok());
  const std::string first = ReadAll(ChangeLogPath(path));
  ASSERT_TRUE(writer
                  .Save(Versioned("3", {NormalizedUpstreamOnPorts("a", {3}),
                                        NormalizedUpstreamOnPorts("b", {4})}))
                  .ok());
  const std::string both = ReadAll(ChangeLogPath(path));
  for (size_t cut = first.size(); cut < both.size(); ++cut) {
    WriteAll(ChangeLogPath(path), both.substr(0, cut));
    nginx_xds::v1::Snapshot loaded = MustLoad(path);
    EXPECT_EQ(loaded.version(), "2") << "cut at " << cut;
    EXPECT_EQ(Describe(loaded), (std::vector<std::string>{"a=2,"})) << "cut at " << cut;
  }
  WriteAll(ChangeLogPath(path), both);
  EXPECT_EQ(MustLoad(path).version(), "3");
}

// Validate a corrupt record (a flipped byte anywhere) ends the replay there,
// and the records before it still count.
TEST(SnapshotCacheWriterTest, CorruptRecordEndsTheReplay) {
  const std::string path = TempDir() + "/cache.bin";
  SnapshotCacheWriter writer(path);
  ASSERT_TRUE(writer.Save(Versioned("1", {NormalizedUpstreamOnPorts("a", {1})})).ok());
  ASSERT_TRUE(writer.Save(Versioned("2", {NormalizedUpstreamOnPorts("a", {2})})).ok());
  const size_t first = ReadAll(ChangeLogPath(path)).size();
  ASSERT_TRUE(writer.Save(Versioned("3", {NormalizedUpstreamOnPorts("a", {3})})).ok());
  const std::string both = ReadAll(ChangeLogPath(path));
  for (size_t at = first; at < both.size(); ++at) {
    std::string bad = both;
    bad[at] ^= 0x20;
    WriteAll(ChangeLogPath(path), bad);
    EXPECT_EQ(MustLoad(path).version(), "2") << "byte " << at;
  }
  // A flipped byte in the first record leaves the whole snapshot.
  std::string bad = both;
  bad[5] ^= 0x01;
  WriteAll(ChangeLogPath(path), bad);
  EXPECT_EQ(MustLoad(path).version(), "1");
}

// Validate a record that is not the change of the state before it (a log
// left behind by a compaction that crashed before removing it) is not
// replayed onto the newer whole snapshot.
TEST(SnapshotCacheWriterTest, StaleLogAfterCompactionIsNotReplayed) {
  const std::string path = TempDir() + "/cache.bin";
  SnapshotCacheWriter writer(path);
  ASSERT_TRUE(writer.Save(Versioned("1", {NormalizedUpstreamOnPorts("a", {1})})).ok());
  ASSERT_TRUE(writer.Save(Versioned("2", {NormalizedUpstreamOnPorts("a", {2})})).ok());
  const std::string old_log = ReadAll(ChangeLogPath(path));
  // The compaction wrote version 5 whole, then "crashed" before the unlink.
  ASSERT_TRUE(SaveSnapshotFile(path, Versioned("5", {NormalizedUpstreamOnPorts("a", {5})})).ok());
  WriteAll(ChangeLogPath(path), old_log);
  nginx_xds::v1::Snapshot loaded = MustLoad(path);
  EXPECT_EQ(loaded.version(), "5");
  EXPECT_EQ(Describe(loaded), (std::vector<std::string>{"a=5,"}));
}

// Validate the log is compacted once it outgrows the whole snapshot: the
// snapshot is written whole again and the log starts over.
TEST(SnapshotCacheWriterTest, CompactsWhenTheLogOutgrowsTheSnapshot) {
  const std::string path = TempDir() + "/cache.bin";
  SnapshotCacheWriter writer(path, /*compact_min_bytes=*/256);
  ASSERT_TRUE(writer
                  .Save(Versioned("1", {NormalizedUpstreamOnPorts("a", {1}),
                                        NormalizedUpstreamOnPorts("b", {2})}))
                  .ok());
  int version = 1;
  while (writer.compactions() < 2) {
    ++version;
    ASSERT_LT(version, 100) << "never compacted";
    ASSERT_TRUE(
        writer
            .Save(Versioned(std::to_string(version), {NormalizedUpstreamOnPorts("a", {version}),
                                                      NormalizedUpstreamOnPorts("b", {2})}))
            .ok());
    EXPECT_LE(writer.log_bytes(), 256u);
    nginx_xds::v1::Snapshot loaded = MustLoad(path);
    EXPECT_EQ(loaded.version(), std::to_string(version));
  }
  EXPECT_EQ(writer.log_bytes(), 0u);
  EXPECT_EQ(access(ChangeLogPath(path).c_str(), F_OK), -1);
  EXPECT_EQ(MustLoad(path).version(), std::to_string(version));
}

// Validate a writer of a new process starts by writing the snapshot whole,
// so it never appends to a log another writer left.
TEST(SnapshotCacheWriterTest, NewWriterWritesWholeFirst) {
  const std::string path = TempDir() + "/cache.bin";
  {
    SnapshotCacheWriter writer(path);
    ASSERT_TRUE(writer.Save(Versioned("1", {NormalizedUpstreamOnPorts("a", {1})})).ok());
    ASSERT_TRUE(writer.Save(Versioned("2", {NormalizedUpstreamOnPorts("a", {2})})).ok());
  }
  SnapshotCacheWriter writer(path);
  ASSERT_TRUE(writer.Save(Versioned("3", {NormalizedUpstreamOnPorts("a", {3})})).ok());
  EXPECT_EQ(writer.compactions(), 1);
  EXPECT_EQ(access(ChangeLogPath(path).c_str(), F_OK), -1);
  EXPECT_EQ(MustLoad(path).version(), "3");
}

// Validate the resource versions of a Delta stream are kept with the whole
// snapshot (format 2) and in change-log records: a version that changes,
// one that appears and one whose upstream is gone; a torn record with
// versions is ignored like any other.
TEST(SnapshotCacheWriterTest, KeepsResourceVersions) {
  const std::string path = TempDir() + "/cache.bin";
  SnapshotCacheWriter writer(path);
  ResourceVersionMap v1 = {{"a", {"ca1", "ea1"}}, {"b", {"cb1", "eb1"}}};
  ASSERT_TRUE(writer
                  .Save(Versioned("1", {NormalizedUpstreamOnPorts("a", {1}),
                                        NormalizedUpstreamOnPorts("b", {2})}),
                        v1)
                  .ok());
  absl::StatusOr<CachedState> loaded = LoadCacheFile(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->versions, v1);
  EXPECT_EQ(ReadAll(path).rfind("nginx-xds-snapshot 2 ", 0), 0u);

  // Only a's assignment changes: a record with its versions alone.
  ResourceVersionMap v2 = {{"a", {"ca1", "ea2"}}, {"b", {"cb1", "eb1"}}};
  ASSERT_TRUE(writer
                  .Save(Versioned("2", {NormalizedUpstreamOnPorts("a", {11}),
                                        NormalizedUpstreamOnPorts("b", {2})}),
                        v2)
                  .ok());
  const std::string one = ReadAll(ChangeLogPath(path));
  // b is gone, c arrives.
  ResourceVersionMap v3 = {{"a", {"ca1", "ea2"}}, {"c", {"cc1", "ec1"}}};
  ASSERT_TRUE(writer
                  .Save(Versioned("3", {NormalizedUpstreamOnPorts("a", {11}),
                                        NormalizedUpstreamOnPorts("c", {3})}),
                        v3)
                  .ok());
  EXPECT_EQ(writer.compactions(), 1);
  loaded = LoadCacheFile(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->snapshot.version(), "3");
  EXPECT_EQ(loaded->versions, v3);

  // Torn in the last record: the state and the versions of version 2.
  const std::string both = ReadAll(ChangeLogPath(path));
  WriteAll(ChangeLogPath(path), both.substr(0, both.size() - 3));
  loaded = LoadCacheFile(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->snapshot.version(), "2");
  EXPECT_EQ(loaded->versions, v2);
  WriteAll(ChangeLogPath(path), one);
  EXPECT_EQ(LoadCacheFile(path)->versions, v2);
}

// Validate a whole file of format 2 with a damaged versions section is
// corrupt, not half read.
TEST(SnapshotFileTest, MalformedResourceVersionsAreCorrupt) {
  const std::string path = TempDir() + "/cache.bin";
  ASSERT_TRUE(SaveSnapshotFile(path, MakeSnapshot("4"), {{"api", {"c", "e"}}}).ok());
  std::string contents = ReadAll(path);
  // Drop the last byte and fix nothing else: the length check fails first.
  WriteAll(path, contents.substr(0, contents.size() - 1));
  EXPECT_TRUE(absl::IsDataLoss(LoadCacheFile(path).status()));
  // Format 1 files (written without versions) still load, with none.
  ASSERT_TRUE(SaveSnapshotFile(path, MakeSnapshot("5")).ok());
  EXPECT_EQ(ReadAll(path).rfind("nginx-xds-snapshot 1 ", 0), 0u);
  absl::StatusOr<CachedState> loaded = LoadCacheFile(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_TRUE(loaded->versions.empty());
}

// Validate SaveChange: the first save is whole (from `whole`), each later
// one a record of the change alone (upserted, removed, versions) that the
// load replays; `whole` is not asked for then; a log outgrowing the file is
// compacted from `whole`.
TEST(SnapshotCacheWriterTest, SaveChangeAppendsTheChangeAlone) {
  const std::string path = TempDir() + "/cache.bin";
  SnapshotCacheWriter writer(path, /*compact_min_bytes=*/0);
  int wholes = 0;
  // Four more upstreams that never change: the whole file is larger than a
  // record of one change.
  std::vector<nginx_xds::v1::Upstream> steady;
  for (const char* name : {"c", "d", "e", "f"}) {
    steady.push_back(NormalizedUpstreamOnPorts(name, {3, 4, 5}));
  }
  auto with_steady = [&](std::vector<nginx_xds::v1::Upstream> some) {
    some.insert(some.end(), steady.begin(), steady.end());
    return some;
  };
  CachedState state{Versioned("1", with_steady({NormalizedUpstreamOnPorts("a", {1}),
                                                NormalizedUpstreamOnPorts("b", {2})})),
                    {{"a", {"ca", "ea"}}, {"b", {"cb", "eb"}}}};
  auto whole = [&] {
    ++wholes;
    return state;
  };
  ASSERT_TRUE(writer.SaveChange("1", {}, {}, {}, whole).ok());
  EXPECT_EQ(wholes, 1);

  // a changes; b is removed.
  state = CachedState{Versioned("2", with_steady({NormalizedUpstreamOnPorts("a", {11})})),
                      {{"a", {"ca", "ea2"}}}};
  ASSERT_TRUE(writer
                  .SaveChange("2", {NormalizedUpstreamOnPorts("a", {11})}, {"b"},
                              {{"a", {"ca", "ea2"}}, {"b", {}}}, whole)
                  .ok());
  EXPECT_EQ(wholes, 1);
  EXPECT_GT(writer.log_bytes(), 0u);
  absl::StatusOr<CachedState> loaded = LoadCacheFile(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->snapshot.version(), "2");
  EXPECT_EQ(Describe(loaded->snapshot),
            (std::vector<std::string>{"a=11,", "c=3,4,5,", "d=3,4,5,", "e=3,4,5,", "f=3,4,5,"}));
  EXPECT_EQ(loaded->versions, state.versions);

  // Enough changes that the log outgrows the whole file: compacted.
  for (int v = 3; v < 200 && wholes == 1; ++v) {
    state = CachedState{
        Versioned(std::to_string(v), with_steady({NormalizedUpstreamOnPorts("a", {v})})),
        {{"a", {"ca", absl::StrCat("ea", v)}}}};
    ASSERT_TRUE(writer
                    .SaveChange(std::to_string(v), {NormalizedUpstreamOnPorts("a", {v})}, {},
                                state.versions, whole)
                    .ok());
  }
  EXPECT_EQ(wholes, 2);
  loaded = LoadCacheFile(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->snapshot.version(), state.snapshot.version());
  EXPECT_EQ(loaded->versions, state.versions);
}

}  // namespace
}  // namespace nginx_xds
