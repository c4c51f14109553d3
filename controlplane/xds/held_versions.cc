#include "controlplane/xds/held_versions.h"

#include <utility>

namespace nginx_xds {

uint64_t ClientVersionBits(const std::string& version) {
  uint64_t bits = VersionBits(version);
  return bits == HeldVersions::kNone ? 1 : bits;
}

uint64_t HeldVersions::VersionIn(const Snapshot* snapshot, const std::string& name) const {
  if (snapshot == nullptr) return kNone;
  const PackedResource* resource = snapshot->FindResource(type_url_, name);
  return resource == nullptr ? kNone : resource->version_bits;
}

uint64_t HeldVersions::Get(const std::string& name) const {
  auto it = exceptions_.find(name);
  if (it != exceptions_.end()) return it->second;
  return VersionIn(base_.get(), name);
}

uint64_t HeldVersions::Get(const std::string& name, const PackedResource* in_base) const {
  // The common case of a full pass over an in-sync client: no hashing.
  if (exceptions_.empty()) return in_base == nullptr ? kNone : in_base->version_bits;
  auto it = exceptions_.find(name);
  if (it != exceptions_.end()) return it->second;
  return in_base == nullptr ? kNone : in_base->version_bits;
}

void HeldVersions::SetAgainst(const Snapshot* snapshot, const std::string& name, uint64_t held,
                              absl::flat_hash_map<std::string, uint64_t>* out) const {
  if (held == VersionIn(snapshot, name)) {
    out->erase(name);
  } else {
    (*out)[name] = held;
  }
}

void HeldVersions::Set(const std::string& name, uint64_t version) {
  SetAgainst(base_.get(), name, version, &exceptions_);
  ShrinkIfSparse();
}

void HeldVersions::ShrinkIfSparse() {
  // Erasing does not give memory back: a stream whose first sync held
  // thousands of exceptions would keep their slots.
  if (exceptions_.capacity() > 64 && exceptions_.size() < exceptions_.capacity() / 8) {
    exceptions_.rehash(0);
  }
}

void HeldVersions::KeepOnly(const std::set<std::string>& names) {
  absl::erase_if(exceptions_, [&](const auto& entry) { return names.count(entry.first) == 0; });
  ShrinkIfSparse();
}

void HeldVersions::Start(std::shared_ptr<const Snapshot> snapshot,
                         const google::protobuf::Map<std::string, std::string>& initial,
                         bool wildcard, const std::set<std::string>& names) {
  base_ = std::move(snapshot);
  exceptions_.clear();
  if (base_ == nullptr) return;
  auto held_of = [&](const std::string& name) {
    auto it = initial.find(name);
    return it == initial.end() ? kNone : ClientVersionBits(it->second);
  };
  if (wildcard) {
    // One hash lookup per resource, a string compare for the (usual) held
    // current version; no per-name snapshot lookup.
    size_t found = 0;
    for (const auto& [key, resources] : base_->upstreams()) {
      const PackedResource* resource = resources->OfType(type_url_);
      if (resource == nullptr) continue;
      const std::string& name = resources->upstream.name();
      auto it = initial.find(name);
      if (it == initial.end()) {
        exceptions_[name] = kNone;
        continue;
      }
      ++found;
      if (it->second != resource->version) exceptions_[name] = ClientVersionBits(it->second);
    }
    if (found < initial.size()) {
      // Held but gone: removed by the first response.
      for (const auto& [name, version] : initial) {
        if (base_->FindResource(type_url_, name) == nullptr) {
          exceptions_[name] = ClientVersionBits(version);
        }
      }
    }
  }
  for (const std::string& name : names) SetAgainst(base_.get(), name, held_of(name), &exceptions_);
}

void HeldVersions::Advance(std::shared_ptr<const Snapshot> snapshot,
                           const std::set<std::string>& changed, bool wildcard,
                           const std::set<std::string>& names) {
  for (const std::string& name : changed) {
    // Outside the scope nothing is kept (a write to a name this client
    // does not subscribe to costs it nothing).
    if (!wildcard && names.count(name) == 0) continue;
    SetAgainst(snapshot.get(), name, Get(name), &exceptions_);
  }
  base_ = std::move(snapshot);
}

void HeldVersions::Rebase(std::shared_ptr<const Snapshot> snapshot, bool wildcard,
                          const std::set<std::string>& names) {
  absl::flat_hash_map<std::string, uint64_t> next;
  auto keep = [&](const std::string& name) {
    if (next.count(name)) return;
    SetAgainst(snapshot.get(), name, Get(name), &next);
  };
  if (wildcard) {
    if (snapshot != nullptr) {
      for (const auto& [key, resources] : snapshot->upstreams()) keep(resources->upstream.name());
    }
    if (base_ != nullptr) {
      for (const auto& [key, resources] : base_->upstreams()) keep(resources->upstream.name());
    }
    for (const auto& [name, version] : exceptions_) keep(name);
  } else {
    for (const std::string& name : names) keep(name);
  }
  base_ = std::move(snapshot);
  exceptions_ = std::move(next);
}

void HeldVersions::NarrowTo(const std::set<std::string>& names) {
  absl::flat_hash_map<std::string, uint64_t> next;
  for (const std::string& name : names) {
    uint64_t held = Get(name);
    if (held != kNone) next[name] = held;
  }
  base_ = nullptr;
  exceptions_ = std::move(next);
}

}  // namespace nginx_xds
