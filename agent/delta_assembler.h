#ifndef AGENT_DELTA_ASSEMBLER_H_
#define AGENT_DELTA_ASSEMBLER_H_

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "agent/resource_versions.h"
#include "envoy/config/cluster/v3/cluster.pb.h"
#include "envoy/config/endpoint/v3/endpoint.pb.h"
#include "envoy/service/discovery/v3/discovery.pb.h"
#include "nginx_xds/v1/upstream.pb.h"

namespace nginx_xds {

// Turns the responses of a Delta ADS stream (Clusters and
// ClusterLoadAssignments, each resource with its own version, see
// common/xds_mapping.h) into nginx_xds.v1.Snapshots, one per response.
//
// The resources are held by name with their versions. An upstream is
// complete when both its Cluster and its ClusterLoadAssignment are held; it
// goes through FromXds and ValidateNormalizedUpstream on its own, and one
// that fails is rejected alone (gRFC A46): its resources of the response are
// not taken, it keeps its last good state, and the rest applies. A resource
// that cannot be decoded is rejected the same way, by its name. Only a
// response that is wrong as a whole (unknown type, no system_version_info, a
// resource without a name) is NACKed whole.
//
// The work per response is proportional to what it changes, except the
// Snapshot it hands over (the embedder's interface is a whole snapshot).
// Each response leads to one Candidate answered by Commit() or Reject():
// only Commit() makes its resources held; Reject() forgets them (the server
// marks them rejected and never re-sends those versions). Not thread-safe:
// one instance belongs to one client thread.
class DeltaAssembler {
 public:
  using Versions = ResourceVersions;

  struct Candidate {
    // The system version of the response.
    std::string version;
    // What the response changes, by name: the upstream as it would be, or
    // nullopt when it would be gone; only names whose upstream differs from
    // the last good state, and none of `rejected`. O(change).
    std::vector<std::pair<std::string, std::optional<nginx_xds::v1::Upstream>>> changes;
    // With Offer(..., /*whole=*/true): every complete upstream as it would
    // be after the response, a rejected one as last good (or absent when it
    // has no last good state). O(upstreams).
    nginx_xds::v1::Snapshot snapshot;
    // The upstreams the agent's own validation rejected.
    std::vector<nginx_xds::v1::RejectedUpstream> rejected;
    // Whether an upstream differs from the last good state.
    bool upstreams_changed = false;
    // Whether the response leaves an upstream it touches with one half (its
    // Cluster or its ClusterLoadAssignment) only: the other is on its way
    // (the server sends both types of one version back to back), or gone
    // with the upstream.
    bool incomplete = false;
    // The upstream names the response sends or removes.
    std::vector<std::string> touched;
    std::string type_url;
    std::string nonce;
  };

  struct Outcome {
    // Set when the response is NACKed whole, with the reason; nothing of it
    // is taken.
    std::optional<std::string> nack;
    std::optional<Candidate> candidate;
  };

  DeltaAssembler() = default;
  DeltaAssembler(const DeltaAssembler&) = delete;
  DeltaAssembler& operator=(const DeltaAssembler&) = delete;

  // Takes one response; a candidate must not be outstanding. `whole`: also
  // build Candidate::snapshot. `refuse` (name -> reason) rejects those
  // upstreams of the response as if invalid: the caller's rejections of the
  // same system version, so the other half of an upstream rejected at that
  // version does not make a state nobody wrote (its new Cluster refused,
  // then its new assignment taken with the old Cluster).
  Outcome Offer(const envoy::service::discovery::v3::DeltaDiscoveryResponse& response,
                bool whole = true, const std::map<std::string, std::string>& refuse = {});

  // Every upstream of the last good state with the outstanding candidate's
  // changes applied (all upstreams; O(upstreams)).
  nginx_xds::v1::Snapshot CandidateSnapshot() const;

  // The last good state, whole (O(upstreams)).
  nginx_xds::v1::Snapshot State() const;

  // How many names have one half (Cluster or assignment) held without the
  // other: a first sync split over several responses is not complete yet.
  size_t half_held() const { return half_held_.size(); }

  // How many upstreams the last good state has.
  size_t size() const { return upstreams_.size(); }

  // The system version of the last good state.
  const std::string& version() const { return version_; }

  // The held versions of `names` (an entry with both empty: none held).
  ResourceVersionMap VersionsOf(const std::vector<std::string>& names) const;

  // Accepts the outstanding candidate but the upstreams of `rejected` (by
  // the embedder): those keep their last good state and their resources of
  // the response are not held.
  void Commit(const std::vector<nginx_xds::v1::RejectedUpstream>& rejected = {});

  // Drops the outstanding candidate; nothing of its response is held.
  void Reject();

  // Makes `snapshot` (from the cache file, accepted by the embedder) the last
  // good state, with the resource versions of `versions` (by upstream name)
  // held: a Delta stream then starts from them (initial_resource_versions)
  // and the server sends only what differs.
  void Seed(const nginx_xds::v1::Snapshot& snapshot,
            const std::map<std::string, Versions>& versions);

  // name -> version of every held resource of `type_url`: a new stream's
  // initial_resource_versions.
  std::map<std::string, std::string> HeldVersions(const std::string& type_url) const;

  // The versions held per upstream name (for the cache file).
  std::map<std::string, Versions> AllVersions() const;

  bool has_candidate() const { return outstanding_; }

 private:
  template <typename Resource>
  struct Held {
    std::string version;
    Resource resource;
  };
  using ClusterMap = std::map<std::string, Held<envoy::config::cluster::v3::Cluster>>;
  using AssignmentMap =
      std::map<std::string, Held<envoy::config::endpoint::v3::ClusterLoadAssignment>>;

  // What the outstanding response changes, to undo it or apply it.
  struct Pending {
    bool is_cluster = false;
    // name -> the held entry before the response (nullopt: none).
    std::map<std::string, std::optional<Held<envoy::config::cluster::v3::Cluster>>> clusters;
    std::map<std::string, std::optional<Held<envoy::config::endpoint::v3::ClusterLoadAssignment>>>
        assignments;
    // name -> the upstream after the response (nullopt: absent).
    std::map<std::string, std::optional<nginx_xds::v1::Upstream>> upstreams;
    std::string version;
  };

  // Puts back the held resources of `name` as they were before the response.
  void Undo(const std::string& name);
  // Updates half_held_ for `name`.
  void Recount(const std::string& name);

  ClusterMap clusters_;
  AssignmentMap assignments_;
  // The last good upstreams, by name.
  std::map<std::string, nginx_xds::v1::Upstream> upstreams_;
  std::string version_;
  bool outstanding_ = false;
  Pending pending_;
  std::set<std::string> half_held_;
};

}  // namespace nginx_xds

#endif  // AGENT_DELTA_ASSEMBLER_H_
