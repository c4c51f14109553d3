#ifndef CONTROLPLANE_XDS_ADS_STREAM_H_
#define CONTROLPLANE_XDS_ADS_STREAM_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "controlplane/fleet/node_registry.h"
#include "controlplane/xds/ads_reactor.h"
#include "controlplane/xds/ads_service.h"
#include "controlplane/xds/snapshot_cache.h"
#include "controlplane/xds/xds_tls.h"
#include "envoy/service/discovery/v3/discovery.pb.h"
#include "grpcpp/grpcpp.h"

namespace nginx_xds {

// One ADS stream (see AdsService for the rules it follows). State of the
// world to the letter of the xDS spec: Clusters and Listeners go out as the
// complete list, and only when one of them changed (a server change is not
// a Cluster change); ClusterLoadAssignments and RouteConfigurations go out
// per changed resource. Owns itself: it
// lives until gRPC calls OnDone() and the last snapshot publisher holding it
// lets go.
class AdsStream final : public AdsReactor<envoy::service::discovery::v3::DiscoveryRequest,
                                           envoy::service::discovery::v3::DiscoveryResponse> {
 public:
  // `peer`: who the client certificate says the node is (mutual TLS), or
  // the error to end the stream with on its first request.
  static AdsStream* Start(SnapshotCache* cache, NodeRegistry* registry,
                          const StaticUpstreamsHandler* on_static_upstreams,
                          absl::StatusOr<std::optional<NodeIdentity>> peer = std::nullopt);

  AdsStream(SnapshotCache* cache, NodeRegistry* registry,
            const StaticUpstreamsHandler* on_static_upstreams);

 private:
  // Per resource type.
  struct TypeState {
    bool wildcard = true;
    std::set<std::string> names;
    // Whether the subscription changed since the last response was sent.
    bool names_changed = false;
    std::string last_nonce;
    // The version the client holds or was last sent; empty before any.
    std::optional<uint64_t> sent_version;
    // The snapshot last sent (or known to be held, nothing subscribed having
    // changed since): what the next response is the difference from, so a
    // resource the client rejected is not sent again unchanged. Null:
    // unknown, send everything.
    std::shared_ptr<const Snapshot> sent_snapshot;
    // Whether the client's last answer was a NACK: a wildcard subscription
    // then gets the whole state at the next version, as before it.
    bool nacked = false;
    bool awaiting_reply = false;
  };

  absl::Status HandleRequest(const envoy::service::discovery::v3::DiscoveryRequest& request) override
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnNewSnapshot() override ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void UpdateSubscription(const envoy::service::discovery::v3::DiscoveryRequest& request,
                          bool first, TypeState* type) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The upstreams a NACK of `type` rejects: its RejectedUpstreams details
  // (nginx agents), else every name of a by-name subscription.
  std::vector<nginx_xds::v1::RejectedUpstream> RejectedByNack(const google::rpc::Status& error,
                                                              const TypeState& type) const;
  // The names of the resources `type` subscribes to that differ between
  // the snapshot last sent and the current one (added, changed or
  // removed); nullopt when that is not known (nothing held yet, the
  // subscription changed, a wildcard one was NACKed, or the change history
  // does not reach back).
  std::optional<std::set<std::string>> ChangedForClient(const std::string& type_url,
                                                        const TypeState& type) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void MaybeSend(const std::string& type_url, TypeState* type) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Ordered so that Clusters are always sent before their assignments.
  std::map<std::string, TypeState> types_ ABSL_GUARDED_BY(mu_);
};

}  // namespace nginx_xds

#endif  // CONTROLPLANE_XDS_ADS_STREAM_H_
