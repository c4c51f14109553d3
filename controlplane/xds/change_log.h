#ifndef CONTROLPLANE_XDS_CHANGE_LOG_H_
#define CONTROLPLANE_XDS_CHANGE_LOG_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace nginx_xds {

// What the recent versions of one line of snapshots changed: per version,
// the names of the upstreams it wrote or deleted. Shared by the snapshots of
// the line so that a stream at an older one can ask which names changed up
// to a newer one without comparing every upstream. Keeps the newest
// kMaxVersions versions and at most kMaxNames names; older questions answer
// "unknown" (the caller then compares everything). Thread-safe.
class ChangeLog {
 public:
  static constexpr size_t kMaxVersions = 4096;
  static constexpr size_t kMaxNames = 1 << 17;

  // A line that starts at `version` with nothing recorded.
  explicit ChangeLog(uint64_t version) : oldest_(version), newest_(version) {}

  // Records that `version` follows `parent` and changed `names`. False (and
  // nothing recorded) unless `parent` is the newest version recorded and
  // `version` is newer: the line does not branch.
  bool Append(uint64_t parent, uint64_t version, std::vector<std::string> names)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Adds to `names` every name changed by the versions after `from` up to
  // `to`. False when that range is not (or no longer) recorded.
  bool Collect(uint64_t from, uint64_t to, std::set<std::string>* names) const
      ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Record {
    uint64_t version;
    std::vector<std::string> names;
  };

  mutable absl::Mutex mu_;
  // Collect answers for `from` in [oldest_, newest_].
  uint64_t oldest_ ABSL_GUARDED_BY(mu_);
  uint64_t newest_ ABSL_GUARDED_BY(mu_);
  std::deque<Record> records_ ABSL_GUARDED_BY(mu_);
  size_t name_count_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace nginx_xds

#endif  // CONTROLPLANE_XDS_CHANGE_LOG_H_
