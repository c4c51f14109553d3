#include "controlplane/xds/change_log.h"

#include <algorithm>
#include <utility>

namespace nginx_xds {

bool ChangeLog::Append(uint64_t parent, uint64_t version, std::vector<std::string> names) {
  absl::MutexLock lock(&mu_);
  if (parent != newest_ || version <= parent) return false;
  name_count_ += names.size();
  records_.push_back(Record{version, std::move(names)});
  newest_ = version;
  while (records_.size() > kMaxVersions || (name_count_ > kMaxNames && records_.size() > 1)) {
    name_count_ -= records_.front().names.size();
    oldest_ = records_.front().version;
    records_.pop_front();
  }
  return true;
}

bool ChangeLog::Collect(uint64_t from, uint64_t to, std::set<std::string>* names) const {
  absl::ReaderMutexLock lock(&mu_);
  if (from < oldest_ || to > newest_ || from > to) return false;
  auto it = std::upper_bound(records_.begin(), records_.end(), from,
                             [](uint64_t v, const Record& record) { return v < record.version; });
  for (; it != records_.end() && it->version <= to; ++it) {
    names->insert(it->names.begin(), it->names.end());
  }
  return true;
}

}  // namespace nginx_xds
