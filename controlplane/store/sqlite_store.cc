#include "controlplane/store/sqlite_store.h"

#include <sqlite3.h>

#include <cerrno>
#include <cstdint>
#include <iterator>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/upstream_rules.h"

namespace nginx_xds {
namespace {

using nginx_xds::v1::Upstream;

// Bumped when the tables change; a newer file is refused, not misread.
// 2: upstreams.created, the creation order (dyups lists upstreams in it).
// 3: rollouts, one per fleet (its open or last staged rollout).
// 4: upstreams.created is the upstream's slot (0-based, dyups' list order),
//    fleets.slots how many slots the fleet has, freed ones included.
constexpr int kSchemaVersion = 4;
// Waits this long for another connection's write lock before giving up.
constexpr int kBusyTimeoutMs = 5000;

constexpr char kSchema[] = R"sql(
CREATE TABLE IF NOT EXISTS meta(
  id INTEGER PRIMARY KEY CHECK (id = 0),
  version INTEGER NOT NULL);
INSERT OR IGNORE INTO meta(id, version) VALUES (0, 0);
CREATE TABLE IF NOT EXISTS fleets(
  fleet TEXT PRIMARY KEY NOT NULL,
  version INTEGER NOT NULL,
  slots INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS upstreams(
  fleet TEXT NOT NULL,
  key TEXT NOT NULL,
  body BLOB NOT NULL,
  created INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (fleet, key));
CREATE TABLE IF NOT EXISTS rollouts(
  fleet TEXT PRIMARY KEY NOT NULL,
  rollout BLOB NOT NULL,
  stable BLOB NOT NULL);
)sql";

// Version 1 had no creation order: its upstreams keep the order they were
// listed in, by key.
constexpr char kMigrateFrom1[] = R"sql(
ALTER TABLE upstreams ADD COLUMN created INTEGER NOT NULL DEFAULT 0;
UPDATE upstreams SET created = (
  SELECT COUNT(*) FROM upstreams AS earlier
  WHERE earlier.fleet = upstreams.fleet AND earlier.key <= upstreams.key);
)sql";

// Version 2 becomes 3 by kSchema alone: it adds the rollouts table.

// Versions 1 to 3 kept a creation order (a new upstream after every other
// one): it becomes slots 0..n-1 in that order, with no free slot, so the
// lists read the same after the migration.
constexpr char kMigrateTo4[] = R"sql(
ALTER TABLE fleets ADD COLUMN slots INTEGER NOT NULL DEFAULT 0;
CREATE TEMP TABLE slot_of AS
  SELECT fleet, key, ROW_NUMBER() OVER (PARTITION BY fleet ORDER BY created, key) - 1 AS slot
  FROM upstreams;
UPDATE upstreams SET created = (
  SELECT slot FROM slot_of WHERE slot_of.fleet = upstreams.fleet AND slot_of.key = upstreams.key);
DROP TABLE slot_of;
UPDATE fleets SET slots = (SELECT COUNT(*) FROM upstreams WHERE upstreams.fleet = fleets.fleet);
)sql";

// Busy and locked are worth retrying; corruption means lost data.
absl::StatusCode CodeFor(int rc) {
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return absl::StatusCode::kUnavailable;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return absl::StatusCode::kDataLoss;
    case SQLITE_FULL:
      return absl::StatusCode::kResourceExhausted;
    default:
      return absl::StatusCode::kInternal;
  }
}

absl::Status SqliteError(sqlite3* db, int rc, absl::string_view what) {
  const char* message = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  return absl::Status(CodeFor(rc), absl::StrCat("sqlite store: ", what, ": ", message));
}

// Runs statements that take no parameters and return no rows.
absl::Status Exec(sqlite3* db, const char* sql) {
  int rc = sqlite3_exec(db, sql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return SqliteError(db, rc, sql);
  return absl::OkStatus();
}

// One prepared statement, finalized when it goes out of scope.
class Statement {
 public:
  static absl::StatusOr<Statement> Prepare(sqlite3* db, const char* sql) {
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr);
    if (rc != SQLITE_OK) {
      return SqliteError(db, rc, absl::StrCat("prepare \"", sql, "\""));
    }
    return Statement(db, stmt);
  }

  Statement(Statement&& other) noexcept
      : db_(other.db_), stmt_(std::exchange(other.stmt_, nullptr)) {}
  Statement& operator=(Statement&&) = delete;
  ~Statement() { sqlite3_finalize(stmt_); }

  // Binds `text` (copied) to the 1-based parameter `index`.
  absl::Status BindText(int index, absl::string_view text) {
    return Check(
        sqlite3_bind_text64(stmt_, index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8));
  }

  absl::Status BindBlob(int index, absl::string_view blob) {
    return Check(sqlite3_bind_blob64(stmt_, index, blob.data(), blob.size(), SQLITE_TRANSIENT));
  }

  absl::Status BindInt64(int index, int64_t value) {
    return Check(sqlite3_bind_int64(stmt_, index, value));
  }

  // True while there is a row to read, false when done.
  absl::StatusOr<bool> Step() {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return SqliteError(db_, rc, absl::StrCat("\"", sqlite3_sql(stmt_), "\""));
  }

  // Runs a statement that returns no rows, then makes it reusable.
  absl::Status Run() {
    absl::StatusOr<bool> row = Step();
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
    if (!row.ok()) return row.status();
    return absl::OkStatus();
  }

  bool IsInteger(int column) const { return sqlite3_column_type(stmt_, column) == SQLITE_INTEGER; }
  int64_t Int64(int column) const { return sqlite3_column_int64(stmt_, column); }
  std::string Text(int column) const {
    const unsigned char* text = sqlite3_column_text(stmt_, column);
    if (text == nullptr) return std::string();
    return std::string(reinterpret_cast<const char*>(text), sqlite3_column_bytes(stmt_, column));
  }
  absl::string_view Blob(int column) const {
    const void* blob = sqlite3_column_blob(stmt_, column);
    if (blob == nullptr) return absl::string_view();
    return absl::string_view(static_cast<const char*>(blob), sqlite3_column_bytes(stmt_, column));
  }

 private:
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}

  absl::Status Check(int rc) {
    if (rc == SQLITE_OK) return absl::OkStatus();
    return SqliteError(db_, rc, absl::StrCat("bind \"", sqlite3_sql(stmt_), "\""));
  }

  sqlite3* db_;
  sqlite3_stmt* stmt_;
};

// Returns the status of `expr` if it is an error.
#define NGINX_XDS_RETURN_IF_ERROR(expr) \
  do {                                  \
    absl::Status status_ = (expr);      \
    if (!status_.ok()) return status_;  \
  } while (false)

// The journal mode pragma answers with the mode it ended up in.
absl::Status EnableWal(sqlite3* db) {
  absl::StatusOr<Statement> wal = Statement::Prepare(db, "PRAGMA journal_mode=WAL");
  if (!wal.ok()) return wal.status();
  absl::StatusOr<bool> row = wal->Step();
  if (!row.ok()) return row.status();
  std::string mode = *row ? wal->Text(0) : "";
  if (mode != "wal") {
    return absl::FailedPreconditionError(
        absl::StrCat("sqlite store: cannot use WAL, journal mode is \"", mode, "\""));
  }
  return absl::OkStatus();
}

absl::StatusOr<int> SchemaVersion(sqlite3* db) {
  absl::StatusOr<Statement> pragma = Statement::Prepare(db, "PRAGMA user_version");
  if (!pragma.ok()) return pragma.status();
  absl::StatusOr<bool> row = pragma->Step();
  if (!row.ok()) return row.status();
  return *row ? static_cast<int>(pragma->Int64(0)) : 0;
}

absl::Status CreateSchemaInTransaction(sqlite3* db) {
  absl::StatusOr<int> version = SchemaVersion(db);
  if (!version.ok()) return version.status();
  if (*version > kSchemaVersion) {
    return absl::FailedPreconditionError(absl::StrCat("sqlite store: schema version ", *version,
                                                      " is newer than this program's ",
                                                      kSchemaVersion));
  }
  if (*version == 1) NGINX_XDS_RETURN_IF_ERROR(Exec(db, kMigrateFrom1));
  if (*version >= 1 && *version < 4) NGINX_XDS_RETURN_IF_ERROR(Exec(db, kMigrateTo4));
  NGINX_XDS_RETURN_IF_ERROR(Exec(db, kSchema));
  return Exec(db, absl::StrCat("PRAGMA user_version=", kSchemaVersion).c_str());
}

// Runs `body` between `begin` and COMMIT; rolls back if anything fails, so
// an error leaves the database as it was.
template <typename T, typename Body>
absl::StatusOr<T> InTransaction(sqlite3* db, const char* begin, Body body) {
  NGINX_XDS_RETURN_IF_ERROR(Exec(db, begin));
  absl::StatusOr<T> result = body();
  if (result.ok()) {
    absl::Status committed = Exec(db, "COMMIT");
    if (committed.ok()) return result;
    result = committed;
  }
  // A failed COMMIT can leave the transaction open; end it either way.
  if (!sqlite3_get_autocommit(db)) Exec(db, "ROLLBACK").IgnoreError();
  return result;
}

absl::Status DataLoss(absl::string_view what) {
  return absl::DataLossError(absl::StrCat("sqlite store: ", what));
}

absl::StatusOr<uint64_t> ReadVersion(sqlite3* db) {
  absl::StatusOr<Statement> meta = Statement::Prepare(db, "SELECT version FROM meta WHERE id = 0");
  if (!meta.ok()) return meta.status();
  absl::StatusOr<bool> row = meta->Step();
  if (!row.ok()) return row.status();
  if (!*row || !meta->IsInteger(0) || meta->Int64(0) < 0) {
    return DataLoss("table meta has no valid version");
  }
  return static_cast<uint64_t>(meta->Int64(0));
}

absl::Status LoadVersions(sqlite3* db, StoredState* state) {
  absl::StatusOr<uint64_t> version = ReadVersion(db);
  if (!version.ok()) return version.status();
  state->version = *version;

  absl::StatusOr<Statement> fleets =
      Statement::Prepare(db, "SELECT fleet, version, slots FROM fleets");
  if (!fleets.ok()) return fleets.status();
  absl::StatusOr<bool> row;
  while ((row = fleets->Step()).ok() && *row) {
    std::string fleet = fleets->Text(0);
    if (!fleets->IsInteger(1) || fleets->Int64(1) < 1 ||
        static_cast<uint64_t>(fleets->Int64(1)) > state->version) {
      return DataLoss(absl::StrCat("fleet \"", fleet, "\": invalid version"));
    }
    if (!fleets->IsInteger(2) || fleets->Int64(2) < 0) {
      return DataLoss(absl::StrCat("fleet \"", fleet, "\": invalid slot count"));
    }
    state->fleet_versions[fleet] = static_cast<uint64_t>(fleets->Int64(1));
    state->slot_counts[fleet] = static_cast<uint64_t>(fleets->Int64(2));
    state->upstreams[fleet];  // Every known fleet is listed, even if empty.
  }
  return row.status();
}

absl::Status LoadUpstreams(sqlite3* db, StoredState* state) {
  absl::StatusOr<Statement> select = Statement::Prepare(
      db, "SELECT fleet, key, body, created FROM upstreams ORDER BY fleet, created, key");
  if (!select.ok()) return select.status();
  absl::StatusOr<bool> row;
  while ((row = select->Step()).ok() && *row) {
    std::string fleet = select->Text(0);
    std::string key = select->Text(1);
    std::string where = absl::StrCat("fleet \"", fleet, "\" upstream \"", key, "\": ");
    absl::string_view body = select->Blob(2);
    Upstream upstream;
    if (!upstream.ParseFromArray(body.data(), static_cast<int>(body.size()))) {
      return DataLoss(absl::StrCat(where, "body is not an nginx_xds.v1.Upstream"));
    }
    if (UpstreamKey(upstream.name()) != key) {
      return DataLoss(absl::StrCat(where, "body names upstream \"", upstream.name(), "\""));
    }
    if (state->fleet_versions.count(fleet) == 0) {
      return DataLoss(absl::StrCat(where, "fleet has no version"));
    }
    // Slots are distinct and below the fleet's slot count.
    std::vector<uint64_t>& slots = state->slots[fleet];
    const int64_t slot = select->IsInteger(3) ? select->Int64(3) : -1;
    if (slot < 0 || static_cast<uint64_t>(slot) >= state->slot_counts[fleet] ||
        (!slots.empty() && static_cast<uint64_t>(slot) <= slots.back())) {
      return DataLoss(absl::StrCat(where, "invalid slot"));
    }
    slots.push_back(static_cast<uint64_t>(slot));
    state->upstreams[fleet].push_back(std::move(upstream));
  }
  return row.status();
}

// rollouts.rollout is an nginx_xds.v1.Rollout; rollouts.stable an
// nginx_xds.v1.ListUpstreamsResponse: the stable upstreams in creation order
// and their version.
absl::Status LoadRollouts(sqlite3* db, StoredState* state) {
  absl::StatusOr<Statement> select =
      Statement::Prepare(db, "SELECT fleet, rollout, stable FROM rollouts ORDER BY fleet");
  if (!select.ok()) return select.status();
  absl::StatusOr<bool> row;
  while ((row = select->Step()).ok() && *row) {
    std::string fleet = select->Text(0);
    std::string where = absl::StrCat("fleet \"", fleet, "\" rollout: ");
    StoredRollout stored;
    absl::string_view body = select->Blob(1);
    if (!stored.rollout.ParseFromArray(body.data(), static_cast<int>(body.size())) ||
        stored.rollout.fleet() != fleet) {
      return DataLoss(absl::StrCat(where, "not an nginx_xds.v1.Rollout of this fleet"));
    }
    nginx_xds::v1::ListUpstreamsResponse stable;
    body = select->Blob(2);
    if (!stable.ParseFromArray(body.data(), static_cast<int>(body.size())) ||
        stable.version() != stored.rollout.stable_version()) {
      return DataLoss(absl::StrCat(where, "stable upstreams are not of version ",
                                   stored.rollout.stable_version()));
    }
    if (state->fleet_versions.count(fleet) == 0) {
      return DataLoss(absl::StrCat(where, "fleet has no version"));
    }
    stored.stable_upstreams.assign(std::make_move_iterator(stable.mutable_upstreams()->begin()),
                                   std::make_move_iterator(stable.mutable_upstreams()->end()));
    state->rollouts[fleet] = std::move(stored);
  }
  return row.status();
}

// A put or delete, checked and serialized before the transaction starts.
struct Change {
  std::string key;
  bool is_delete = false;
  std::string body;   // The serialized upstream of a put.
  int64_t slot = -1;  // A put's slot; -1: the store's own placement.
};

absl::StatusOr<std::vector<Change>> PrepareChanges(absl::string_view fleet,
                                                   const std::vector<Upstream>& puts,
                                                   const std::vector<std::string>& delete_keys,
                                                   const Placement& placement) {
  NGINX_XDS_RETURN_IF_ERROR(ValidateName("fleet", fleet));
  if (!placement.slots.empty() && placement.slots.size() != puts.size()) {
    return absl::InvalidArgumentError(absl::StrCat("placement has ", placement.slots.size(),
                                                   " slots for ", puts.size(), " upstreams"));
  }
  std::vector<Change> changes;
  std::set<std::string> keys;
  // Deletes first: a put may take a slot that a delete of the same commit frees.
  for (const std::string& delete_key : delete_keys) {
    Change change{UpstreamKey(delete_key), true, "", -1};
    if (!keys.insert(change.key).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("upstream \"", delete_key, "\" is deleted twice in one commit"));
    }
    changes.push_back(std::move(change));
  }
  for (size_t i = 0; i < puts.size(); ++i) {
    const Upstream& upstream = puts[i];
    NGINX_XDS_RETURN_IF_ERROR(ValidateName("upstream", upstream.name()));
    int64_t slot = -1;
    if (!placement.slots.empty()) {
      if (placement.slots[i] >= placement.slot_count) {
        return absl::InvalidArgumentError(absl::StrCat("slot ", placement.slots[i],
                                                       " of upstream \"", upstream.name(),
                                                       "\" is not below ", placement.slot_count));
      }
      slot = static_cast<int64_t>(placement.slots[i]);
    }
    Change change{UpstreamKey(upstream.name()), false, upstream.SerializeAsString(), slot};
    if (!keys.insert(change.key).second) {
      return absl::InvalidArgumentError(absl::StrCat("upstream \"", upstream.name(),
                                                     "\" is put twice, or both put and deleted, "
                                                     "in one commit"));
    }
    changes.push_back(std::move(change));
  }
  return changes;
}

absl::StatusOr<uint64_t> ApplyChanges(sqlite3* db, absl::string_view fleet,
                                      const std::vector<Change>& changes,
                                      const Placement& placement) {
  absl::StatusOr<uint64_t> current = ReadVersion(db);
  if (!current.ok()) return current.status();
  const uint64_t version = *current + 1;
  const int64_t stored_version = static_cast<int64_t>(version);

  absl::StatusOr<Statement> meta =
      Statement::Prepare(db, "UPDATE meta SET version = ?1 WHERE id = 0");
  if (!meta.ok()) return meta.status();
  NGINX_XDS_RETURN_IF_ERROR(meta->BindInt64(1, stored_version));
  NGINX_XDS_RETURN_IF_ERROR(meta->Run());

  absl::StatusOr<Statement> fleets =
      Statement::Prepare(db,
                         "INSERT INTO fleets(fleet, version, slots) VALUES (?1, ?2, 0) "
                         "ON CONFLICT(fleet) DO UPDATE SET version = excluded.version");
  if (!fleets.ok()) return fleets.status();
  NGINX_XDS_RETURN_IF_ERROR(fleets->BindText(1, fleet));
  NGINX_XDS_RETURN_IF_ERROR(fleets->BindInt64(2, stored_version));
  NGINX_XDS_RETURN_IF_ERROR(fleets->Run());

  // A put in the slot given (?4), or, without one, a new upstream in a new
  // slot after every other one and a replaced one in its own.
  absl::StatusOr<Statement> put =
      Statement::Prepare(db,
                         "INSERT INTO upstreams(fleet, key, body, created) VALUES (?1, ?2, ?3, "
                         "COALESCE(?4, (SELECT slots FROM fleets WHERE fleet = ?1))) "
                         "ON CONFLICT(fleet, key) DO UPDATE SET body = excluded.body, "
                         "created = COALESCE(?4, created)");
  if (!put.ok()) return put.status();
  // Counts the slot a put without one may have taken.
  absl::StatusOr<Statement> count = Statement::Prepare(
      db,
      "UPDATE fleets SET slots = MAX(slots, (SELECT COALESCE(MAX(created), -1) + 1 "
      "FROM upstreams WHERE fleet = ?1)) WHERE fleet = ?1");
  if (!count.ok()) return count.status();
  absl::StatusOr<Statement> remove =
      Statement::Prepare(db, "DELETE FROM upstreams WHERE fleet = ?1 AND key = ?2");
  if (!remove.ok()) return remove.status();
  for (const Change& change : changes) {
    Statement& statement = change.is_delete ? *remove : *put;
    NGINX_XDS_RETURN_IF_ERROR(statement.BindText(1, fleet));
    NGINX_XDS_RETURN_IF_ERROR(statement.BindText(2, change.key));
    if (!change.is_delete) {
      NGINX_XDS_RETURN_IF_ERROR(statement.BindBlob(3, change.body));
      if (change.slot >= 0) NGINX_XDS_RETURN_IF_ERROR(statement.BindInt64(4, change.slot));
    }
    NGINX_XDS_RETURN_IF_ERROR(statement.Run());
    if (!change.is_delete && change.slot < 0) {
      NGINX_XDS_RETURN_IF_ERROR(count->BindText(1, fleet));
      NGINX_XDS_RETURN_IF_ERROR(count->Run());
    }
  }
  if (!placement.slots.empty()) {
    absl::StatusOr<Statement> slots =
        Statement::Prepare(db, "UPDATE fleets SET slots = ?2 WHERE fleet = ?1");
    if (!slots.ok()) return slots.status();
    NGINX_XDS_RETURN_IF_ERROR(slots->BindText(1, fleet));
    NGINX_XDS_RETURN_IF_ERROR(slots->BindInt64(2, static_cast<int64_t>(placement.slot_count)));
    NGINX_XDS_RETURN_IF_ERROR(slots->Run());
  }
  return version;
}

absl::Status Configure(sqlite3* db) {
  sqlite3_busy_timeout(db, kBusyTimeoutMs);
  NGINX_XDS_RETURN_IF_ERROR(EnableWal(db));
  // FULL syncs the WAL on every commit: a returned Commit() survives a crash.
  NGINX_XDS_RETURN_IF_ERROR(Exec(db, "PRAGMA synchronous=FULL"));
  // Keep the WAL small: a checkpoint once it holds 128 KiB (default: 4 MiB),
  // and the file cut back to 256 KiB after it, so the data's size, not the
  // write history's, decides the space the store needs on its volume.
  NGINX_XDS_RETURN_IF_ERROR(Exec(db, "PRAGMA wal_autocheckpoint=32"));
  NGINX_XDS_RETURN_IF_ERROR(Exec(db, "PRAGMA journal_size_limit=262144"));
  return InTransaction<bool>(db, "BEGIN IMMEDIATE",
                             [db]() -> absl::StatusOr<bool> {
                               NGINX_XDS_RETURN_IF_ERROR(CreateSchemaInTransaction(db));
                               return true;
                             })
      .status();
}

}  // namespace

absl::StatusOr<std::unique_ptr<SqliteStore>> SqliteStore::Open(const std::string& path) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  // The store owns the handle from here on, so every return closes it.
  std::unique_ptr<SqliteStore> store(new SqliteStore(db));
  absl::Status status = rc == SQLITE_OK ? Configure(db) : SqliteError(db, rc, "open");
  if (!status.ok()) {
    // SQLite says "unable to open database file" or "attempt to write a
    // readonly database"; the system's reason says what to fix.
    const int system_errno = db != nullptr ? sqlite3_system_errno(db) : 0;
    std::string why;
    if (system_errno == EROFS) why = "; the data directory is on a read-only file system";
    if (system_errno == EACCES) why = "; permission denied on the data directory or file";
    if (system_errno == ENOSPC) why = "; no space left on the data directory's volume";
    return absl::Status(status.code(),
                        absl::StrCat(status.message(), why, " (file \"", path, "\")"));
  }
  return store;
}

SqliteStore::~SqliteStore() { sqlite3_close_v2(db_); }

absl::StatusOr<StoredState> SqliteStore::Load() {
  // One read transaction, so versions and rows are from the same commit.
  return InTransaction<StoredState>(db_, "BEGIN", [this]() -> absl::StatusOr<StoredState> {
    StoredState state;
    NGINX_XDS_RETURN_IF_ERROR(LoadVersions(db_, &state));
    NGINX_XDS_RETURN_IF_ERROR(LoadUpstreams(db_, &state));
    NGINX_XDS_RETURN_IF_ERROR(LoadRollouts(db_, &state));
    return state;
  });
}

absl::StatusOr<uint64_t> SqliteStore::Commit(absl::string_view fleet,
                                             const std::vector<Upstream>& puts,
                                             const std::vector<std::string>& delete_keys,
                                             const Placement& placement) {
  absl::StatusOr<std::vector<Change>> changes = PrepareChanges(fleet, puts, delete_keys, placement);
  if (!changes.ok()) return changes.status();
  // IMMEDIATE takes the write lock first, so the version read is current.
  return InTransaction<uint64_t>(db_, "BEGIN IMMEDIATE",
                                 [&]() { return ApplyChanges(db_, fleet, *changes, placement); });
}

absl::Status SqliteStore::SaveRollout(const StoredRollout& stored) {
  NGINX_XDS_RETURN_IF_ERROR(ValidateName("fleet", stored.rollout.fleet()));
  nginx_xds::v1::ListUpstreamsResponse stable;
  stable.set_version(stored.rollout.stable_version());
  for (const Upstream& upstream : stored.stable_upstreams) *stable.add_upstreams() = upstream;
  const std::string rollout = stored.rollout.SerializeAsString();
  const std::string upstreams = stable.SerializeAsString();
  return InTransaction<bool>(db_, "BEGIN IMMEDIATE",
                             [&]() -> absl::StatusOr<bool> {
                               absl::StatusOr<Statement> save = Statement::Prepare(
                                   db_,
                                   "INSERT OR REPLACE INTO rollouts(fleet, rollout, stable) "
                                   "VALUES (?1, ?2, ?3)");
                               if (!save.ok()) return save.status();
                               NGINX_XDS_RETURN_IF_ERROR(save->BindText(1, stored.rollout.fleet()));
                               NGINX_XDS_RETURN_IF_ERROR(save->BindBlob(2, rollout));
                               NGINX_XDS_RETURN_IF_ERROR(save->BindBlob(3, upstreams));
                               NGINX_XDS_RETURN_IF_ERROR(save->Run());
                               return true;
                             })
      .status();
}

absl::Status SqliteStore::Import(const StoredState& state, bool replace) {
  return InTransaction<bool>(
             db_, "BEGIN IMMEDIATE",
             [&]() -> absl::StatusOr<bool> {
               absl::StatusOr<uint64_t> current = ReadVersion(db_);
               if (!current.ok()) return current.status();
               if (*current != 0 && !replace) {
                 return absl::FailedPreconditionError(absl::StrCat(
                     "sqlite store: holds version ", *current,
                     " already; importing would replace it (--force)"));
               }
               NGINX_XDS_RETURN_IF_ERROR(
                   Exec(db_, "DELETE FROM upstreams; DELETE FROM fleets; DELETE FROM rollouts;"));
               absl::StatusOr<Statement> meta =
                   Statement::Prepare(db_, "UPDATE meta SET version = ?1 WHERE id = 0");
               if (!meta.ok()) return meta.status();
               NGINX_XDS_RETURN_IF_ERROR(meta->BindInt64(1, static_cast<int64_t>(state.version)));
               NGINX_XDS_RETURN_IF_ERROR(meta->Run());
               for (const auto& [fleet, version] : state.fleet_versions) {
                 NGINX_XDS_RETURN_IF_ERROR(ValidateName("fleet", fleet));
                 absl::StatusOr<Statement> row = Statement::Prepare(
                     db_, "INSERT INTO fleets(fleet, version, slots) VALUES (?1, ?2, ?3)");
                 if (!row.ok()) return row.status();
                 auto slot_count = state.slot_counts.find(fleet);
                 NGINX_XDS_RETURN_IF_ERROR(row->BindText(1, fleet));
                 NGINX_XDS_RETURN_IF_ERROR(row->BindInt64(2, static_cast<int64_t>(version)));
                 NGINX_XDS_RETURN_IF_ERROR(row->BindInt64(
                     3, slot_count == state.slot_counts.end()
                            ? 0
                            : static_cast<int64_t>(slot_count->second)));
                 NGINX_XDS_RETURN_IF_ERROR(row->Run());
               }
               for (const auto& [fleet, upstreams] : state.upstreams) {
                 auto slots = state.slots.find(fleet);
                 for (size_t i = 0; i < upstreams.size(); ++i) {
                   absl::StatusOr<Statement> row = Statement::Prepare(
                       db_,
                       "INSERT INTO upstreams(fleet, key, body, created) VALUES (?1, ?2, ?3, ?4)");
                   if (!row.ok()) return row.status();
                   const int64_t slot =
                       slots != state.slots.end() && i < slots->second.size()
                           ? static_cast<int64_t>(slots->second[i])
                           : static_cast<int64_t>(i);
                   NGINX_XDS_RETURN_IF_ERROR(row->BindText(1, fleet));
                   NGINX_XDS_RETURN_IF_ERROR(row->BindText(2, UpstreamKey(upstreams[i].name())));
                   NGINX_XDS_RETURN_IF_ERROR(row->BindBlob(3, upstreams[i].SerializeAsString()));
                   NGINX_XDS_RETURN_IF_ERROR(row->BindInt64(4, slot));
                   NGINX_XDS_RETURN_IF_ERROR(row->Run());
                 }
               }
               for (const auto& [fleet, stored] : state.rollouts) {
                 nginx_xds::v1::ListUpstreamsResponse stable;
                 stable.set_version(stored.rollout.stable_version());
                 for (const Upstream& upstream : stored.stable_upstreams) {
                   *stable.add_upstreams() = upstream;
                 }
                 absl::StatusOr<Statement> row = Statement::Prepare(
                     db_, "INSERT INTO rollouts(fleet, rollout, stable) VALUES (?1, ?2, ?3)");
                 if (!row.ok()) return row.status();
                 NGINX_XDS_RETURN_IF_ERROR(row->BindText(1, fleet));
                 NGINX_XDS_RETURN_IF_ERROR(row->BindBlob(2, stored.rollout.SerializeAsString()));
                 NGINX_XDS_RETURN_IF_ERROR(row->BindBlob(3, stable.SerializeAsString()));
                 NGINX_XDS_RETURN_IF_ERROR(row->Run());
               }
               return true;
             })
      .status();
}

#undef NGINX_XDS_RETURN_IF_ERROR

}  // namespace nginx_xds
