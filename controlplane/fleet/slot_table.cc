#include "controlplane/fleet/slot_table.h"

#include <algorithm>

namespace nginx_xds {

void SlotTable::Assign(size_t slot, const std::string& key) {
  if (journaling_ && slot < size_at_begin_) undo_.emplace_back(slot, keys_[slot]);
  const std::string& old = keys_[slot];
  if (!old.empty()) {
    auto it = slot_of_.find(old);
    if (it != slot_of_.end() && it->second == slot) slot_of_.erase(it);
  }
  keys_[slot] = key;
  if (key.empty()) {
    free_.insert(slot);
  } else {
    free_.erase(slot);
    slot_of_[key] = slot;
  }
}

void SlotTable::Reserve(uint64_t count) {
  while (keys_.size() < count) {
    keys_.emplace_back();
    free_.insert(keys_.size() - 1);
  }
}

void SlotTable::Set(uint64_t slot, const std::string& key) {
  Reserve(slot + 1);
  Free(key);
  Assign(slot, key);
}

void SlotTable::Free(const std::string& key) {
  auto it = slot_of_.find(key);
  if (it != slot_of_.end()) Assign(it->second, std::string());
}

uint64_t SlotTable::Take(const std::string& key, bool moves) {
  auto own = slot_of_.find(key);
  if (own != slot_of_.end() && !moves) return own->second;
  if (free_.empty()) Reserve(keys_.size() + 1);
  if (own != slot_of_.end()) Assign(own->second, std::string());
  const size_t slot = *free_.rbegin();
  Assign(slot, key);
  return slot;
}

void SlotTable::Begin() {
  journaling_ = true;
  size_at_begin_ = keys_.size();
  undo_.clear();
}

void SlotTable::Commit() {
  journaling_ = false;
  undo_.clear();
}

void SlotTable::Rollback() {
  journaling_ = false;
  // Slots added since Begin() go first, then the old keys come back in
  // reverse order of their changes.
  while (keys_.size() > size_at_begin_) {
    const std::string& key = keys_.back();
    if (!key.empty()) {
      auto it = slot_of_.find(key);
      if (it != slot_of_.end() && it->second == keys_.size() - 1) slot_of_.erase(it);
    }
    free_.erase(keys_.size() - 1);
    keys_.pop_back();
  }
  for (auto it = undo_.rbegin(); it != undo_.rend(); ++it) Assign(it->first, it->second);
  undo_.clear();
}

}  // namespace nginx_xds
