#ifndef CONTROLPLANE_FLEET_SLOT_TABLE_H_
#define CONTROLPLANE_FLEET_SLOT_TABLE_H_

#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"

namespace nginx_xds {

// The slots of one fleet's upstreams in ngx_http_dyups_module's order (the
// order dyups' GET /list and /detail show): an UpstreamKey per slot, free
// slots reused as dyups reuses them (ngx_dyups_do_update and
// ngx_dyups_find_upstream at b29a7c5). Every operation is O(log n), so a
// write costs the same with 10 upstreams as with 10,000.
//
// A write changes slots before the store has committed it: Begin() starts a
// journal that Rollback() undoes (a failed commit) and Commit() drops.
// Thread-compatible.
class SlotTable {
 public:
  SlotTable() = default;

  // Puts `key` at `slot` (loading what a store kept), growing the table.
  void Set(uint64_t slot, const std::string& key);
  // Grows the table to at least `count` slots (the new ones free).
  void Reserve(uint64_t count);

  // Frees the slot of `key`, if it has one.
  void Free(const std::string& key);

  // Gives `key` its slot as dyups would and returns it. `moves`: an
  // existing upstream moves as dyups' POST moves it (its sandbox upstream
  // took a free slot, or a new one at the end, and freed it again; then
  // find_upstream walks every slot and keeps the last free one it passed).
  uint64_t Take(const std::string& key, bool moves);

  // Slots, used and free.
  size_t size() const { return keys_.size(); }
  // The key in each slot, "" when free.
  const std::vector<std::string>& keys() const { return keys_; }

  void Begin();
  void Commit();
  void Rollback();

 private:
  void Assign(size_t slot, const std::string& key);

  std::vector<std::string> keys_;
  absl::flat_hash_map<std::string, size_t> slot_of_;
  std::set<size_t> free_;

  bool journaling_ = false;
  size_t size_at_begin_ = 0;
  std::vector<std::pair<size_t, std::string>> undo_;  // slot, key it had
};

}  // namespace nginx_xds

#endif  // CONTROLPLANE_FLEET_SLOT_TABLE_H_
