#include "controlplane/store/sqlite_store.h"

#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "nginx_xds/v1/upstream.pb.h"
#include "tests/testing/upstreams.h"

namespace nginx_xds {
namespace {

using google::protobuf::util::MessageDifferencer;
using nginx_xds::v1::Upstream;
using ::testing::HasSubstr;

using nginx_xds::testing::NormalizedUpstream;

// A fresh database path in its own directory under TEST_TMPDIR.
std::string NewDatabasePath() {
  const char* root = getenv("TEST_TMPDIR");
  std::string dir_template = std::string(root != nullptr ? root : "/tmp") + "/store.XXXXXX";
  EXPECT_NE(mkdtemp(dir_template.data()), nullptr);
  return dir_template + "/store.db";
}

std::unique_ptr<SqliteStore> OpenOrDie(const std::string& path) {
  absl::StatusOr<std::unique_ptr<SqliteStore>> store = SqliteStore::Open(path);
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? *std::move(store) : nullptr;
}

StoredState LoadOrDie(Store& store) {
  absl::StatusOr<StoredState> state = store.Load();
  EXPECT_TRUE(state.ok()) << state.status();
  return state.ok() ? *std::move(state) : StoredState();
}

// Runs `sql` on the file through a separate connection, as a tamperer would.
void ExecRaw(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* error = nullptr;
  EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error), SQLITE_OK)
      << (error ? error : "");
  sqlite3_free(error);
  sqlite3_close(db);
}

class SqliteStoreTest : public ::testing::Test {
 protected:
  SqliteStoreTest() : path_(NewDatabasePath()), store_(OpenOrDie(path_)) {}

  void Reopen() {
    store_.reset();
    store_ = OpenOrDie(path_);
  }

  std::string path_;
  std::unique_ptr<SqliteStore> store_;
};

// Validates that the WAL stays small however many writes go through (it
// grew to 1 MiB for 60 KB of data before checkpoints were set; issue 12).
TEST_F(SqliteStoreTest, WalStaysSmallOverManyWrites) {
  Upstream big = NormalizedUpstream("big", {"10.0.0.1:80"});
  for (int i = 2; i < 60; ++i) big.add_servers()->set_address(absl::StrCat("10.0.0.", i, ":80"));
  for (int i = 0; i < 400; ++i) {
    big.mutable_servers(0)->set_weight(static_cast<uint32_t>(i % 100 + 1));
    ASSERT_TRUE(store_->Commit("a", {big}, {}).ok());
  }
  struct stat wal;
  ASSERT_EQ(stat((path_ + "-wal").c_str(), &wal), 0);
  EXPECT_LE(wal.st_size, 512 * 1024);
  EXPECT_EQ(LoadOrDie(*store_).version, 400u);
}

// Validate that a new store loads empty at version 0.
TEST_F(SqliteStoreTest, NewStoreIsEmptyAtVersionZero) {
  StoredState state = LoadOrDie(*store_);
  EXPECT_EQ(state.version, 0u);
  EXPECT_TRUE(state.fleet_versions.empty());
  EXPECT_TRUE(state.upstreams.empty());
}

// Validate that a committed upstream, every field included, is loaded
// back after the store is closed and opened again.
TEST_F(SqliteStoreTest, DataSurvivesCloseAndReopen) {
  Upstream upstream = NormalizedUpstream("Backends", {"10.0.0.1:80"});
  upstream.mutable_servers(0)->set_backup(true);
  ASSERT_TRUE(store_->Commit("default", {upstream}, {}).ok());
  Reopen();
  StoredState state = LoadOrDie(*store_);
  ASSERT_EQ(state.upstreams["default"].size(), 1u);
  EXPECT_TRUE(MessageDifferencer::Equals(state.upstreams["default"][0], upstream));
}

// Validate that versions strictly increase across fleets and that a
// fleet's version is that of its last commit.
TEST_F(SqliteStoreTest, VersionsStrictlyIncreaseAndBecomeTheFleetVersion) {
  absl::StatusOr<uint64_t> first =
      store_->Commit("a", {NormalizedUpstream("x", {"10.0.0.1:80"})}, {});
  absl::StatusOr<uint64_t> second =
      store_->Commit("b", {NormalizedUpstream("x", {"10.0.0.2:80"})}, {});
  absl::StatusOr<uint64_t> third = store_->Commit("a", {}, {"x"});
  ASSERT_TRUE(first.ok() && second.ok() && third.ok());
  EXPECT_LT(*first, *second);
  EXPECT_LT(*second, *third);
  StoredState state = LoadOrDie(*store_);
  EXPECT_EQ(state.version, *third);
  EXPECT_EQ(state.fleet_versions["a"], *third);
  EXPECT_EQ(state.fleet_versions["b"], *second);
}

// Validate that the version counter is restored on open and keeps
// increasing.
TEST_F(SqliteStoreTest, VersionsKeepIncreasingAcrossReopen) {
  absl::StatusOr<uint64_t> before =
      store_->Commit("default", {NormalizedUpstream("x", {"10.0.0.1:80"})}, {});
  ASSERT_TRUE(before.ok());
  Reopen();
  EXPECT_EQ(LoadOrDie(*store_).version, *before);
  absl::StatusOr<uint64_t> after =
      store_->Commit("default", {NormalizedUpstream("y", {"10.0.0.1:80"})}, {});
  ASSERT_TRUE(after.ok());
  EXPECT_GT(*after, *before);
}

// Validate that two fleets keep separate upstreams of the same name.
TEST_F(SqliteStoreTest, FleetsKeepSeparateUpstreamsOfTheSameName) {
  Upstream in_a = NormalizedUpstream("backends", {"10.0.0.1:80"});
  Upstream in_b = NormalizedUpstream("backends", {"10.0.0.2:80"});
  ASSERT_TRUE(store_->Commit("a", {in_a}, {}).ok());
  ASSERT_TRUE(store_->Commit("b", {in_b}, {}).ok());
  ASSERT_TRUE(store_->Commit("a", {}, {"backends"}).ok());
  StoredState state = LoadOrDie(*store_);
  EXPECT_TRUE(state.upstreams["a"].empty());
  ASSERT_EQ(state.upstreams["b"].size(), 1u);
  EXPECT_TRUE(MessageDifferencer::Equals(state.upstreams["b"][0], in_b));
}

// Validate that a put replaces the upstream of the same key (the name in
// lower case), whatever its spelling.
TEST_F(SqliteStoreTest, PutReplacesTheUpstreamWithTheSameKey) {
  ASSERT_TRUE(
      store_->Commit("default", {NormalizedUpstream("Backends", {"10.0.0.1:80"})}, {}).ok());
  Upstream replacement = NormalizedUpstream("backends", {"10.0.0.2:80"});
  ASSERT_TRUE(store_->Commit("default", {replacement}, {}).ok());
  StoredState state = LoadOrDie(*store_);
  ASSERT_EQ(state.upstreams["default"].size(), 1u);
  EXPECT_TRUE(MessageDifferencer::Equals(state.upstreams["default"][0], replacement));
}

// Validate that a delete removes the named upstream and no other.
TEST_F(SqliteStoreTest, DeleteRemovesOnlyTheNamedUpstream) {
  ASSERT_TRUE(store_
                  ->Commit("default",
                           {NormalizedUpstream("one", {"10.0.0.1:80"}),
                            NormalizedUpstream("two", {"10.0.0.2:80"})},
                           {})
                  .ok());
  ASSERT_TRUE(store_->Commit("default", {}, {"One"}).ok());
  StoredState state = LoadOrDie(*store_);
  ASSERT_EQ(state.upstreams["default"].size(), 1u);
  EXPECT_EQ(state.upstreams["default"][0].name(), "two");
}

// Validate that a commit deleting an unknown key still makes a version.
TEST_F(SqliteStoreTest, DeletingAnUnknownKeyStillMakesAVersion) {
  absl::StatusOr<uint64_t> version = store_->Commit("default", {}, {"nothing"});
  ASSERT_TRUE(version.ok()) << version.status();
  EXPECT_EQ(LoadOrDie(*store_).version, *version);
}

// Load lists a fleet's upstreams in creation order, across commits and
// reopens; a replaced upstream keeps its place (dyups lists them so).
TEST_F(SqliteStoreTest, LoadListsUpstreamsInCreationOrder) {
  ASSERT_TRUE(store_
                  ->Commit("default",
                           {NormalizedUpstream("c", {"10.0.0.1:80"}),
                            NormalizedUpstream("A", {"10.0.0.1:80"})},
                           {})
                  .ok());
  ASSERT_TRUE(store_->Commit("default", {NormalizedUpstream("b", {"10.0.0.1:80"})}, {}).ok());
  ASSERT_TRUE(store_->Commit("default", {NormalizedUpstream("C", {"10.0.0.2:80"})}, {}).ok());
  ASSERT_TRUE(store_->Commit("other", {NormalizedUpstream("z", {"10.0.0.1:80"})}, {}).ok());
  Reopen();
  StoredState state = LoadOrDie(*store_);
  ASSERT_EQ(state.upstreams["default"].size(), 3u);
  EXPECT_EQ(state.upstreams["default"][0].name(), "C");
  EXPECT_EQ(state.upstreams["default"][0].servers(0).address(), "10.0.0.2:80");
  EXPECT_EQ(state.upstreams["default"][1].name(), "A");
  EXPECT_EQ(state.upstreams["default"][2].name(), "b");
}

// Validate that an upstream deleted and created again is listed last.
TEST_F(SqliteStoreTest, DeletedAndRecreatedUpstreamGoesLast) {
  ASSERT_TRUE(store_
                  ->Commit("default",
                           {NormalizedUpstream("a", {"10.0.0.1:80"}),
                            NormalizedUpstream("b", {"10.0.0.1:80"}),
                            NormalizedUpstream("c", {"10.0.0.1:80"})},
                           {})
                  .ok());
  ASSERT_TRUE(store_->Commit("default", {}, {"c"}).ok());
  ASSERT_TRUE(store_->Commit("default", {}, {"a"}).ok());
  ASSERT_TRUE(store_->Commit("default", {NormalizedUpstream("a", {"10.0.0.1:80"})}, {}).ok());
  StoredState state = LoadOrDie(*store_);
  ASSERT_EQ(state.upstreams["default"].size(), 2u);
  EXPECT_EQ(state.upstreams["default"][0].name(), "b");
  EXPECT_EQ(state.upstreams["default"][1].name(), "a");
}

// A schema 1 file (no creation order) opens with its upstreams in the order
// it listed them, by key, and new ones after them.
TEST_F(SqliteStoreTest, SchemaOneFileIsMigratedKeepingItsOrder) {
  const std::string path = NewDatabasePath();
  ExecRaw(path,
          "CREATE TABLE meta(id INTEGER PRIMARY KEY CHECK (id = 0), version INTEGER NOT NULL);"
          "INSERT INTO meta(id, version) VALUES (0, 3);"
          "CREATE TABLE fleets(fleet TEXT PRIMARY KEY NOT NULL, version INTEGER NOT NULL);"
          "INSERT INTO fleets VALUES ('default', 3);"
          "CREATE TABLE upstreams(fleet TEXT NOT NULL, key TEXT NOT NULL, "
          "body BLOB NOT NULL, PRIMARY KEY (fleet, key));"
          "PRAGMA user_version=1;");
  for (const char* name : {"zeta", "alpha", "mid"}) {
    const std::string body = NormalizedUpstream(name, {"10.0.0.1:80"}).SerializeAsString();
    std::string hex;
    for (unsigned char c : body) {
      static const char kDigits[] = "0123456789abcdef";
      hex += kDigits[c >> 4];
      hex += kDigits[c & 15];
    }
    ExecRaw(path, "INSERT INTO upstreams VALUES ('default', '" + std::string(name) + "', x'" + hex +
                      "');");
  }
  std::unique_ptr<SqliteStore> store = OpenOrDie(path);
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Commit("default", {NormalizedUpstream("beta", {"10.0.0.1:80"})}, {}).ok());
  StoredState state = LoadOrDie(*store);
  EXPECT_EQ(state.version, 4u);
  ASSERT_EQ(state.upstreams["default"].size(), 4u);
  EXPECT_EQ(state.upstreams["default"][0].name(), "alpha");
  EXPECT_EQ(state.upstreams["default"][1].name(), "mid");
  EXPECT_EQ(state.upstreams["default"][2].name(), "zeta");
  EXPECT_EQ(state.upstreams["default"][3].name(), "beta");
}

// A schema 2 file (before rollouts) opens as it was, and then keeps rollouts.
TEST_F(SqliteStoreTest, SchemaTwoFileIsMigratedAndKeepsRollouts) {
  const std::string path = NewDatabasePath();
  ExecRaw(path,
          "CREATE TABLE meta(id INTEGER PRIMARY KEY CHECK (id = 0), version INTEGER NOT NULL);"
          "INSERT INTO meta(id, version) VALUES (0, 1);"
          "CREATE TABLE fleets(fleet TEXT PRIMARY KEY NOT NULL, version INTEGER NOT NULL);"
          "INSERT INTO fleets VALUES ('web', 1);"
          "CREATE TABLE upstreams(fleet TEXT NOT NULL, key TEXT NOT NULL, body BLOB NOT NULL, "
          "created INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (fleet, key));"
          "PRAGMA user_version=2;");
  {
    std::unique_ptr<SqliteStore> store = OpenOrDie(path);
    ASSERT_NE(store, nullptr);
    StoredState state = LoadOrDie(*store);
    EXPECT_EQ(state.version, 1u);
    EXPECT_TRUE(state.rollouts.empty());
    StoredRollout rollout;
    rollout.rollout.set_fleet("web");
    rollout.rollout.set_state(nginx_xds::v1::ROLLOUT_STATE_CANARY);
    rollout.rollout.set_stable_version(1);
    rollout.rollout.add_canary_node_ids("c1");
    rollout.stable_upstreams.push_back(NormalizedUpstream("app", {"10.0.0.1:80"}));
    ASSERT_TRUE(store->SaveRollout(rollout).ok());
  }
  std::unique_ptr<SqliteStore> store = OpenOrDie(path);
  ASSERT_NE(store, nullptr);
  StoredState state = LoadOrDie(*store);
  ASSERT_EQ(state.rollouts.count("web"), 1u);
  const StoredRollout& loaded = state.rollouts["web"];
  EXPECT_EQ(loaded.rollout.state(), nginx_xds::v1::ROLLOUT_STATE_CANARY);
  EXPECT_EQ(loaded.rollout.stable_version(), 1u);
  ASSERT_EQ(loaded.rollout.canary_node_ids_size(), 1);
  ASSERT_EQ(loaded.stable_upstreams.size(), 1u);
  EXPECT_EQ(loaded.stable_upstreams[0].name(), "app");
}

// A commit's placement is stored: each put's slot, the fleet's slot count
// (freed slots at the end included), across a reopen.
TEST_F(SqliteStoreTest, PlacementKeepsSlotsAndTheSlotCount) {
  Placement three;
  three.slots = {2, 0};
  three.slot_count = 3;
  ASSERT_TRUE(store_
                  ->Commit("default",
                           {NormalizedUpstream("two", {"10.0.0.1:80"}),
                            NormalizedUpstream("zero", {"10.0.0.1:80"})},
                           {}, three)
                  .ok());
  Placement moved;
  moved.slots = {4};
  moved.slot_count = 6;
  ASSERT_TRUE(
      store_->Commit("default", {NormalizedUpstream("zero", {"10.0.0.2:80"})}, {}, moved).ok());
  Reopen();
  StoredState state = LoadOrDie(*store_);
  ASSERT_EQ(state.upstreams["default"].size(), 2u);
  EXPECT_EQ(state.upstreams["default"][0].name(), "two");
  EXPECT_EQ(state.upstreams["default"][1].name(), "zero");
  EXPECT_EQ(state.slots["default"], (std::vector<uint64_t>{2, 4}));
  EXPECT_EQ(state.slot_counts["default"], 6u);
  // A commit without placement puts a new upstream after every slot.
  ASSERT_TRUE(store_->Commit("default", {NormalizedUpstream("last", {"10.0.0.1:80"})}, {}).ok());
  state = LoadOrDie(*store_);
  EXPECT_EQ(state.slots["default"], (std::vector<uint64_t>{2, 4, 6}));
  EXPECT_EQ(state.slot_counts["default"], 7u);
}

// A placement that does not fit its puts is refused and changes nothing.
TEST_F(SqliteStoreTest, BadPlacementIsRejectedAndChangesNothing) {
  Placement outside;
  outside.slots = {3};
  outside.slot_count = 3;
  absl::StatusOr<uint64_t> result =
      store_->Commit("default", {NormalizedUpstream("x", {"10.0.0.1:80"})}, {}, outside);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(result.status().message(), HasSubstr("slot 3 of upstream \"x\" is not below 3"));
  Placement short_one;
  short_one.slots = {0};
  short_one.slot_count = 2;
  result = store_->Commit(
      "default",
      {NormalizedUpstream("x", {"10.0.0.1:80"}), NormalizedUpstream("y", {"10.0.0.1:80"})}, {},
      short_one);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(LoadOrDie(*store_).version, 0u);
}

// Two upstreams in one slot is a damaged file, not a list to guess at.
TEST_F(SqliteStoreTest, SharedSlotGivesDataLoss) {
  ASSERT_TRUE(store_
                  ->Commit("edge",
                           {NormalizedUpstream("one", {"10.0.0.1:80"}),
                            NormalizedUpstream("two", {"10.0.0.1:80"})},
                           {})
                  .ok());
  ExecRaw(path_, "UPDATE upstreams SET created = 0");
  absl::StatusOr<StoredState> state = store_->Load();
  EXPECT_EQ(state.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(state.status().message(), HasSubstr("invalid slot"));
}

// A schema 3 file (creation order with gaps, no slot count) opens with its
// upstreams in slots 0..n-1 in that order and no free slot; it is schema 4
// after.
TEST_F(SqliteStoreTest, SchemaThreeFileIsMigratedToSlots) {
  const std::string path = NewDatabasePath();
  ExecRaw(path,
          "CREATE TABLE meta(id INTEGER PRIMARY KEY CHECK (id = 0), version INTEGER NOT NULL);"
          "INSERT INTO meta(id, version) VALUES (0, 9);"
          "CREATE TABLE fleets(fleet TEXT PRIMARY KEY NOT NULL, version INTEGER NOT NULL);"
          "INSERT INTO fleets VALUES ('default', 9);"
          "INSERT INTO fleets VALUES ('empty', 2);"
          "CREATE TABLE upstreams(fleet TEXT NOT NULL, key TEXT NOT NULL, body BLOB NOT NULL, "
          "created INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (fleet, key));"
          "CREATE TABLE rollouts(fleet TEXT PRIMARY KEY NOT NULL, rollout BLOB NOT NULL, "
          "stable BLOB NOT NULL);"
          "PRAGMA user_version=3;");
  const std::vector<std::pair<const char*, int>> rows = {{"zeta", 2}, {"alpha", 9}, {"mid", 5}};
  for (const auto& [name, created] : rows) {
    const std::string body = NormalizedUpstream(name, {"10.0.0.1:80"}).SerializeAsString();
    std::string hex;
    for (unsigned char c : body) {
      static const char kDigits[] = "0123456789abcdef";
      hex += kDigits[c >> 4];
      hex += kDigits[c & 15];
    }
    ExecRaw(path, "INSERT INTO upstreams VALUES ('default', '" + std::string(name) + "', x'" + hex +
                      "', " + std::to_string(created) + ");");
  }
  {
    std::unique_ptr<SqliteStore> store = OpenOrDie(path);
    ASSERT_NE(store, nullptr);
    StoredState state = LoadOrDie(*store);
    EXPECT_EQ(state.version, 9u);
    ASSERT_EQ(state.upstreams["default"].size(), 3u);
    EXPECT_EQ(state.upstreams["default"][0].name(), "zeta");
    EXPECT_EQ(state.upstreams["default"][1].name(), "mid");
    EXPECT_EQ(state.upstreams["default"][2].name(), "alpha");
    EXPECT_EQ(state.slots["default"], (std::vector<uint64_t>{0, 1, 2}));
    EXPECT_EQ(state.slot_counts["default"], 3u);
    EXPECT_EQ(state.slot_counts["empty"], 0u);
  }
  // Opened again: already schema 4, nothing migrates twice.
  std::unique_ptr<SqliteStore> store = OpenOrDie(path);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(LoadOrDie(*store).slots["default"], (std::vector<uint64_t>{0, 1, 2}));
}

// Validate that a commit that puts and deletes the same key is
// INVALID_ARGUMENT and stores nothing.
TEST_F(SqliteStoreTest, KeyBothPutAndDeletedIsRejectedAndChangesNothing) {
  absl::StatusOr<uint64_t> result =
      store_->Commit("default", {NormalizedUpstream("x", {"10.0.0.1:80"})}, {"X"});
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(LoadOrDie(*store_).version, 0u);
}

// Validate that a commit to an invalid fleet name is INVALID_ARGUMENT
// naming it.
TEST_F(SqliteStoreTest, InvalidFleetNameIsRejected) {
  absl::StatusOr<uint64_t> result =
      store_->Commit("bad fleet", {NormalizedUpstream("x", {"10.0.0.1:80"})}, {});
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(result.status().message(), HasSubstr("fleet name \"bad fleet\""));
}

// A failure after the puts (here a trigger on the delete) must roll back
// the puts and the version too.
TEST_F(SqliteStoreTest, FailedCommitRollsBackEverything) {
  absl::StatusOr<uint64_t> first =
      store_->Commit("default", {NormalizedUpstream("keep", {"10.0.0.1:80"})}, {});
  ASSERT_TRUE(first.ok());
  ExecRaw(path_,
          "CREATE TRIGGER poison BEFORE DELETE ON upstreams "
          "WHEN OLD.key = 'keep' BEGIN SELECT RAISE(ABORT, 'poisoned'); END;");
  absl::StatusOr<uint64_t> failed =
      store_->Commit("default", {NormalizedUpstream("fresh", {"10.0.0.2:80"})}, {"keep"});
  ASSERT_FALSE(failed.ok());
  EXPECT_THAT(failed.status().message(), HasSubstr("poisoned"));
  StoredState state = LoadOrDie(*store_);
  EXPECT_EQ(state.version, *first);
  EXPECT_EQ(state.fleet_versions["default"], *first);
  ASSERT_EQ(state.upstreams["default"].size(), 1u);
  EXPECT_EQ(state.upstreams["default"][0].name(), "keep");
}

// Validate that a row that does not parse is DATA_LOSS naming its fleet
// and key.
TEST_F(SqliteStoreTest, CorruptRowGivesDataLossNamingFleetAndKey) {
  ASSERT_TRUE(store_->Commit("edge", {NormalizedUpstream("Backends", {"10.0.0.1:80"})}, {}).ok());
  ExecRaw(path_, "UPDATE upstreams SET body = x'ffffffff' WHERE key = 'backends'");
  absl::StatusOr<StoredState> state = store_->Load();
  EXPECT_EQ(state.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(state.status().message(), HasSubstr("fleet \"edge\" upstream \"backends\""));
}

// Validate that a row whose body names another upstream than its key is
// DATA_LOSS.
TEST_F(SqliteStoreTest, RowWhoseBodyNamesAnotherUpstreamGivesDataLoss) {
  ASSERT_TRUE(store_->Commit("edge", {NormalizedUpstream("one", {"10.0.0.1:80"})}, {}).ok());
  ExecRaw(path_, "UPDATE upstreams SET key = 'two'");
  absl::StatusOr<StoredState> state = store_->Load();
  EXPECT_EQ(state.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(state.status().message(), HasSubstr("fleet \"edge\" upstream \"two\""));
}

// Validate that a path that cannot be opened gives an error naming it.
TEST(SqliteStoreOpenTest, UnopenablePathGivesErrorNamingIt) {
  absl::StatusOr<std::unique_ptr<SqliteStore>> store =
      SqliteStore::Open("/nonexistent-dir/for/sure/store.db");
  ASSERT_FALSE(store.ok());
  EXPECT_THAT(store.status().message(), HasSubstr("\"/nonexistent-dir/for/sure/store.db\""));
}

// The child commits, reports the version through a pipe and is SIGKILLed
// without closing the store; the parent must find the write.
TEST(SqliteStoreCrashTest, CommitSurvivesAKilledProcess) {
  const std::string path = NewDatabasePath();
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(fds[0]);
    uint64_t version = 0;
    absl::StatusOr<std::unique_ptr<SqliteStore>> store = SqliteStore::Open(path);
    if (store.ok()) {
      absl::StatusOr<uint64_t> committed =
          (*store)->Commit("default", {NormalizedUpstream("survivor", {"10.0.0.1:80"})}, {});
      if (committed.ok()) version = *committed;
    }
    if (write(fds[1], &version, sizeof(version)) != sizeof(version)) _exit(1);
    while (true) pause();  // Keeps the store open until SIGKILL.
  }
  close(fds[1]);
  uint64_t version = 0;
  ssize_t got = read(fds[0], &version, sizeof(version));
  close(fds[0]);
  ASSERT_EQ(kill(child, SIGKILL), 0);
  int wait_status = 0;
  ASSERT_EQ(waitpid(child, &wait_status, 0), child);
  EXPECT_TRUE(WIFSIGNALED(wait_status) && WTERMSIG(wait_status) == SIGKILL);
  ASSERT_EQ(got, static_cast<ssize_t>(sizeof(version)));
  ASSERT_GT(version, 0u) << "the child's commit failed";

  std::unique_ptr<SqliteStore> store = OpenOrDie(path);
  ASSERT_NE(store, nullptr);
  StoredState state = LoadOrDie(*store);
  EXPECT_EQ(state.version, version);
  ASSERT_EQ(state.upstreams["default"].size(), 1u);
  EXPECT_EQ(state.upstreams["default"][0].name(), "survivor");
}

}  // namespace
}  // namespace nginx_xds
