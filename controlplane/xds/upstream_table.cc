#include "controlplane/xds/upstream_table.h"

#include <algorithm>

namespace nginx_xds {

namespace {

// A chunk this small after a delete is merged into its right neighbour when
// both fit in one, so deletes do not leave a long list of tiny chunks.
constexpr size_t kMinChunk = UpstreamTable::kMaxChunk / 4;

bool KeyLess(const UpstreamTable::Entry& entry, const std::string& key) { return entry.first < key; }

}  // namespace

UpstreamTable::const_iterator& UpstreamTable::const_iterator::operator++() {
  if (++entry_ == (*chunks_)[chunk_]->size()) {
    ++chunk_;
    entry_ = 0;
  }
  return *this;
}

UpstreamTable::UpstreamTable() : chunks_(std::make_shared<const Chunks>()) {}

UpstreamTable::UpstreamTable(const std::map<std::string, Value>& entries) {
  auto chunks = std::make_shared<Chunks>();
  // Full chunks but for room to grow: a put into a chunk then rarely splits.
  constexpr size_t kFill = kMaxChunk * 3 / 4;
  std::shared_ptr<Chunk> chunk;
  for (const auto& entry : entries) {
    if (!chunk || chunk->size() == kFill) {
      chunk = std::make_shared<Chunk>();
      chunk->reserve(kFill);
      chunks->push_back(chunk);
    }
    chunk->push_back(entry);
  }
  chunks_ = std::move(chunks);
  size_ = entries.size();
}

size_t UpstreamTable::ChunkOf(const Chunks& chunks, const std::string& key) {
  // The last chunk whose first key is <= key (the first chunk for smaller keys).
  auto it = std::upper_bound(chunks.begin(), chunks.end(), key,
                             [](const std::string& k, const std::shared_ptr<const Chunk>& chunk) {
                               return k < chunk->front().first;
                             });
  return it == chunks.begin() ? 0 : static_cast<size_t>(it - chunks.begin()) - 1;
}

const UpstreamResources* UpstreamTable::Find(const std::string& key) const {
  if (chunks_->empty()) return nullptr;
  const Chunk& chunk = *(*chunks_)[ChunkOf(*chunks_, key)];
  auto it = std::lower_bound(chunk.begin(), chunk.end(), key, KeyLess);
  return it != chunk.end() && it->first == key ? it->second.get() : nullptr;
}

UpstreamTable UpstreamTable::With(const std::vector<Entry>& puts,
                                  const std::vector<std::string>& deletes) const {
  auto chunks = std::make_shared<Chunks>(*chunks_);
  size_t size = size_;
  for (const std::string& key : deletes) {
    if (chunks->empty()) break;
    const size_t index = ChunkOf(*chunks, key);
    const Chunk& old = *(*chunks)[index];
    auto found = std::lower_bound(old.begin(), old.end(), key, KeyLess);
    if (found == old.end() || found->first != key) continue;
    auto chunk = std::make_shared<Chunk>(old);
    chunk->erase(chunk->begin() + (found - old.begin()));
    --size;
    if (chunk->empty()) {
      chunks->erase(chunks->begin() + index);
      continue;
    }
    if (chunk->size() < kMinChunk && index + 1 < chunks->size() &&
        chunk->size() + (*chunks)[index + 1]->size() <= kMaxChunk) {
      const Chunk& next = *(*chunks)[index + 1];
      chunk->insert(chunk->end(), next.begin(), next.end());
      chunks->erase(chunks->begin() + index + 1);
    }
    (*chunks)[index] = std::move(chunk);
  }
  for (const Entry& put : puts) {
    if (chunks->empty()) {
      chunks->push_back(std::make_shared<const Chunk>(Chunk{put}));
      ++size;
      continue;
    }
    const size_t index = ChunkOf(*chunks, put.first);
    auto chunk = std::make_shared<Chunk>(*(*chunks)[index]);
    auto it = std::lower_bound(chunk->begin(), chunk->end(), put.first, KeyLess);
    if (it != chunk->end() && it->first == put.first) {
      it->second = put.second;
    } else {
      chunk->insert(it, put);
      ++size;
    }
    if (chunk->size() <= kMaxChunk) {
      (*chunks)[index] = std::move(chunk);
      continue;
    }
    // Split in halves: both keep room to grow.
    const size_t half = chunk->size() / 2;
    auto right = std::make_shared<const Chunk>(chunk->begin() + half, chunk->end());
    chunk->erase(chunk->begin() + half, chunk->end());
    (*chunks)[index] = std::move(chunk);
    chunks->insert(chunks->begin() + index + 1, std::move(right));
  }
  return UpstreamTable(std::move(chunks), size);
}

}  // namespace nginx_xds
