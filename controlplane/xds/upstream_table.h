#ifndef CONTROLPLANE_XDS_UPSTREAM_TABLE_H_
#define CONTROLPLANE_XDS_UPSTREAM_TABLE_H_

#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace nginx_xds {

struct UpstreamResources;

// A persistent sorted map from UpstreamKey to an upstream's resources: a
// version made With() changes shares every part it does not touch with the
// table it was made from. Entries live in sorted chunks of at most
// kMaxChunk, each immutable and shared; a change copies only the chunks it
// touches and the list of chunk pointers (one pointer per chunk, ~n/40
// pointers), never an entry it does not touch. Iterates in key order.
// Immutable, so thread-safe.
class UpstreamTable {
 public:
  using Value = std::shared_ptr<const UpstreamResources>;
  using Entry = std::pair<std::string, Value>;

  static constexpr size_t kMaxChunk = 64;

  // Iterates every entry in key order.
  class const_iterator {
   public:
    const Entry& operator*() const { return (*(*chunks_)[chunk_])[entry_]; }
    const Entry* operator->() const { return &**this; }
    const_iterator& operator++();
    bool operator==(const const_iterator& other) const {
      return chunk_ == other.chunk_ && entry_ == other.entry_;
    }
    bool operator!=(const const_iterator& other) const { return !(*this == other); }

   private:
    friend class UpstreamTable;
    using Chunks = std::vector<std::shared_ptr<const std::vector<Entry>>>;
    const_iterator(const Chunks* chunks, size_t chunk, size_t entry)
        : chunks_(chunks), chunk_(chunk), entry_(entry) {}
    const Chunks* chunks_;
    size_t chunk_;
    size_t entry_;
  };

  UpstreamTable();
  // Every entry of `entries` (a full build: O(n)).
  explicit UpstreamTable(const std::map<std::string, Value>& entries);

  // This table with `deletes` removed and then `puts` set (replacing an entry
  // of the same key); this table is unchanged. O(change * kMaxChunk + n / kMaxChunk).
  UpstreamTable With(const std::vector<Entry>& puts, const std::vector<std::string>& deletes) const;

  // The value of `key`, or null.
  const UpstreamResources* Find(const std::string& key) const;

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  const_iterator begin() const { return const_iterator(chunks_.get(), 0, 0); }
  const_iterator end() const { return const_iterator(chunks_.get(), chunks_->size(), 0); }

 private:
  using Chunk = std::vector<Entry>;
  using Chunks = const_iterator::Chunks;

  UpstreamTable(std::shared_ptr<const Chunks> chunks, size_t size)
      : chunks_(std::move(chunks)), size_(size) {}

  // The chunk `key` belongs in (0 for an empty list).
  static size_t ChunkOf(const Chunks& chunks, const std::string& key);

  std::shared_ptr<const Chunks> chunks_;
  size_t size_ = 0;
};

}  // namespace nginx_xds

#endif  // CONTROLPLANE_XDS_UPSTREAM_TABLE_H_
