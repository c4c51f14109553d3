#ifndef CONTROLPLANE_STORE_SQLITE_STORE_H_
#define CONTROLPLANE_STORE_SQLITE_STORE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "controlplane/store/store.h"

struct sqlite3;

namespace nginx_xds {

// A Store in one SQLite file (WAL, synchronous=FULL): a commit is on disk
// before Commit() returns, so a killed process loses nothing acknowledged.
class SqliteStore : public Store {
 public:
  // Opens or creates the database at `path` and its schema.
  static absl::StatusOr<std::unique_ptr<SqliteStore>> Open(const std::string& path);

  ~SqliteStore() override;

  absl::StatusOr<StoredState> Load() override;
  using Store::Commit;
  absl::StatusOr<uint64_t> Commit(absl::string_view fleet,
                                  const std::vector<nginx_xds::v1::Upstream>& puts,
                                  const std::vector<std::string>& delete_keys,
                                  const Placement& placement) override;
  absl::Status SaveRollout(const StoredRollout& rollout) override;
  absl::Status Import(const StoredState& state, bool replace) override;

 private:
  explicit SqliteStore(sqlite3* db) : db_(db) {}

  sqlite3* db_;
};

}  // namespace nginx_xds

#endif  // CONTROLPLANE_STORE_SQLITE_STORE_H_
