#ifndef CONTROLPLANE_XDS_DELTA_STREAM_H_
#define CONTROLPLANE_XDS_DELTA_STREAM_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "controlplane/fleet/node_registry.h"
#include "controlplane/xds/ads_reactor.h"
#include "controlplane/xds/ads_service.h"
#include "controlplane/xds/held_versions.h"
#include "controlplane/xds/snapshot_cache.h"
#include "controlplane/xds/xds_tls.h"
#include "envoy/service/discovery/v3/discovery.pb.h"
#include "grpcpp/grpcpp.h"

namespace nginx_xds {

// The most resource bytes one Delta response carries: more (a new node's
// first sync of a large fleet) goes out over several responses, each after
// the client answered the one before, so no client meets gRPC's 4 MiB
// default receive limit. One resource larger than this goes alone.
inline constexpr size_t kMaxDeltaResponseBytes = 1 << 20;

// One incremental ADS stream (DeltaAggregatedResources). Per type: the
// client's subscription (wildcard, names, or both), what it holds (from
// `initial_resource_versions`, then from what it ACKed) as the snapshot it
// is in sync with plus the exceptions (HeldVersions), and the versions it
// rejected. A response carries only resources
// whose version differs from what the client holds and that it has not
// rejected at that version, and `removed_resources` for names it holds that
// are gone (or that it asked for by name and do not exist). One response
// per type is outstanding at a time; a stale nonce answers nothing (its
// subscription changes still count). The node is registered like a SotW
// node: fleet status shows its ACKs and NACKs, writes wait for it. Owns
// itself until OnDone (AdsReactor).
class DeltaStream final
    : public AdsReactor<envoy::service::discovery::v3::DeltaDiscoveryRequest,
                        envoy::service::discovery::v3::DeltaDiscoveryResponse> {
 public:
  static DeltaStream* Start(SnapshotCache* cache, NodeRegistry* registry,
                            const StaticUpstreamsHandler* on_static_upstreams,
                            absl::StatusOr<std::optional<NodeIdentity>> peer);

  DeltaStream(SnapshotCache* cache, NodeRegistry* registry,
              const StaticUpstreamsHandler* on_static_upstreams);

 private:
  struct TypeState {
    explicit TypeState(const std::string& type_url) : held(type_url) {}

    bool wildcard = false;
    std::set<std::string> names;
    // What the client holds: the snapshot it is in sync with plus only the
    // names it holds at another version, so a client that acknowledged
    // everything costs O(1) here whatever the fleet's size.
    HeldVersions held;
    // name -> version the client rejected: never sent to it again.
    absl::flat_hash_map<std::string, uint64_t> rejected;
    // Names asked for that do not exist, already reported as removed.
    std::set<std::string> reported_absent;
    bool responded = false;
    // The outstanding response.
    bool awaiting_reply = false;
    std::string last_nonce;
    uint64_t in_flight_version = 0;
    std::map<std::string, uint64_t> in_flight;
    std::vector<std::string> in_flight_removed;
    // The last version the registry was told this type is at.
    std::optional<uint64_t> reported_version;
    // What the next response considers: every resource (`full`: the first
    // one, a wildcard subscription, a gap in the change history), or else
    // the names in `dirty` only: those changed by the snapshots since
    // held.base(), those newly subscribed, and those a response had no room
    // for. A name changed by several snapshots is in `dirty` once, so a
    // stream that is behind gets its newest state once.
    bool full = true;
    std::set<std::string> dirty;
  };

  absl::Status HandleRequest(
      const envoy::service::discovery::v3::DeltaDiscoveryRequest& request) override
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnNewSnapshot() override ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void UpdateSubscription(const envoy::service::discovery::v3::DeltaDiscoveryRequest& request,
                          bool first, TypeState* type) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void HandleReply(const envoy::service::discovery::v3::DeltaDiscoveryRequest& request,
                   const std::string& type_url, TypeState* type)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Adds what the snapshots since `type->held.base()` changed to
  // `type->dirty` and makes snapshot_ the base of what the client holds.
  void AbsorbChanges(TypeState* type) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void MaybeSend(const std::string& type_url, TypeState* type) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Ordered so that Clusters go before their assignments.
  std::map<std::string, TypeState> types_ ABSL_GUARDED_BY(mu_);
};

}  // namespace nginx_xds

#endif  // CONTROLPLANE_XDS_DELTA_STREAM_H_
