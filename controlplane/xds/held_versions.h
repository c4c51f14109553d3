#ifndef CONTROLPLANE_XDS_HELD_VERSIONS_H_
#define CONTROLPLANE_XDS_HELD_VERSIONS_H_

#include <cstdint>
#include <memory>
#include <set>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "controlplane/xds/snapshot.h"
#include "google/protobuf/map.h"

namespace nginx_xds {

// Which version of each resource of one type one Delta client holds, kept
// as the snapshot it is in sync with (`base`, shared and immutable) plus
// only the exceptions: names whose held version differs from base's
// (rejected versions kept, responses not yet acknowledged, names not sent
// yet, names held that base lacks). A client that acknowledged everything
// costs O(1) here, not O(fleet).
//
// Exact for the names in the client's scope (`wildcard`, or `names`);
// a name outside it is undefined here, so the stream must Set(name, kNone)
// when a name comes into scope (see DeltaStream::UpdateSubscription).
class HeldVersions {
 public:
  // Not held.
  static constexpr uint64_t kNone = 0;

  explicit HeldVersions(std::string type_url) : type_url_(std::move(type_url)) {}

  const std::shared_ptr<const Snapshot>& base() const { return base_; }
  // name -> held version (kNone: not held), where it differs from base.
  const absl::flat_hash_map<std::string, uint64_t>& exceptions() const { return exceptions_; }

  // The version of `name` held.
  uint64_t Get(const std::string& name) const;
  // The same, given base's resource of `name` (null: base lacks it), which
  // saves looking it up when base is the snapshot the caller walks.
  uint64_t Get(const std::string& name, const PackedResource* in_base) const;
  // The client now holds `version` of `name` (kNone: nothing).
  void Set(const std::string& name, uint64_t version);
  // `name` left the client's scope (it unsubscribed): nothing is kept for
  // it; Set(name, kNone) when it comes back.
  void Forget(const std::string& name) { exceptions_.erase(name); }
  // The client no longer holds anything outside `names` (it dropped the
  // wildcard): forgets those exceptions. O(exceptions).
  void KeepOnly(const std::set<std::string>& names);

  // The client's first request: it holds `initial` (name -> its version
  // string) of what is in scope. Compares against `snapshot` once: O(the
  // request + scope); keeps only the differences.
  void Start(std::shared_ptr<const Snapshot> snapshot,
             const google::protobuf::Map<std::string, std::string>& initial, bool wildcard,
             const std::set<std::string>& names);
  // Makes `snapshot` the base, given `changed`, the names that may differ
  // between base and it (Snapshot::ChangedSince). O(changed).
  void Advance(std::shared_ptr<const Snapshot> snapshot, const std::set<std::string>& changed,
               bool wildcard, const std::set<std::string>& names);
  // Makes `snapshot` the base when what changed is not known (no base yet,
  // a gap in the history, the scope grew to the wildcard): compares every
  // name in scope. O(fleet) for a wildcard client.
  void Rebase(std::shared_ptr<const Snapshot> snapshot, bool wildcard,
              const std::set<std::string>& names);
  // The client holds nothing beyond what it holds of `names` (it just
  // subscribed to the wildcard and holds nothing else); no base.
  void NarrowTo(const std::set<std::string>& names);

 private:
  uint64_t VersionIn(const Snapshot* snapshot, const std::string& name) const;
  void SetAgainst(const Snapshot* snapshot, const std::string& name, uint64_t held,
                  absl::flat_hash_map<std::string, uint64_t>* out) const;
  void ShrinkIfSparse();

  std::string type_url_;
  std::shared_ptr<const Snapshot> base_;
  absl::flat_hash_map<std::string, uint64_t> exceptions_;
};

// A version a client says it holds, as HeldVersions keeps it: one that is
// not ours (VersionBits 0) is held at a version no resource has (1), so it
// is replaced, and removed if the name does not exist.
uint64_t ClientVersionBits(const std::string& version);

}  // namespace nginx_xds

#endif  // CONTROLPLANE_XDS_HELD_VERSIONS_H_
