#ifndef CONTROLPLANE_XDS_SNAPSHOT_H_
#define CONTROLPLANE_XDS_SNAPSHOT_H_

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "controlplane/xds/change_log.h"
#include "controlplane/xds/upstream_table.h"
#include "envoy/service/discovery/v3/discovery.pb.h"
#include "google/protobuf/any.pb.h"
#include "nginx_xds/v1/upstream.pb.h"

namespace nginx_xds {

// The number of a 16-hex-digit resource version (PackedResource::version);
// 0, which no packed resource has but by a 2^-64 chance, for anything else
// (a client's own version strings).
uint64_t VersionBits(const std::string& version);

// Whether the ADS server serves resources of `type_url`: Clusters and
// ClusterLoadAssignments for nginx, Listeners and RouteConfigurations for
// proxyless gRPC clients.
bool IsServedType(const std::string& type_url);

// One xDS resource, packed once, with its version for Delta xDS: a digest of
// its bytes (serialized deterministically), so the same content has the same
// version in every process and across restarts, and a resource that did not
// change keeps its version when others do.
struct PackedResource {
  template <typename Message>
  explicit PackedResource(const Message& message) : PackedResource(message.GetTypeName(),
                                                                   Serialize(message)) {}

  google::protobuf::Any any;
  std::string version;
  // `version` as a number (its 16 hex digits): what streams keep per
  // resource a client holds, 8 bytes instead of a string.
  uint64_t version_bits = 0;

 private:
  PackedResource(const std::string& type_name, std::string bytes);
  static std::string Serialize(const google::protobuf::Message& message);
};

// One upstream and its xDS resources, packed once when the upstream is
// written and shared by every snapshot and stream after that. Immutable.
struct UpstreamResources {
  explicit UpstreamResources(nginx_xds::v1::Upstream upstream);

  // The resource of `type_url` (one of the served types), or null.
  const PackedResource* OfType(const std::string& type_url) const;

  nginx_xds::v1::Upstream upstream;
  PackedResource cluster;     // envoy.config.cluster.v3.Cluster
  PackedResource assignment;  // envoy.config.endpoint.v3.ClusterLoadAssignment
  PackedResource listener;    // envoy.config.listener.v3.Listener (gRPC clients)
  PackedResource route;       // envoy.config.route.v3.RouteConfiguration (gRPC clients)
};

// One version of a fleet's upstreams, keyed by UpstreamKey(name). Immutable
// and shared by every stream of the fleet; a write makes the next one with
// Next(), which touches only what the write changes (UpstreamTable) and
// records the names it changed, so a stream can ask what changed since the
// version it has (ChangedSince) instead of comparing every upstream.
// Thread-safe (read-only).
class Snapshot {
 public:
  using UpstreamMap = std::map<std::string, std::shared_ptr<const UpstreamResources>>;

  // A snapshot of every upstream in `upstreams` that starts a new line of
  // versions (nothing is known about what it changed). O(n).
  Snapshot(uint64_t version, const UpstreamMap& upstreams);

  // The next version: this one with `puts` written (replacing upstreams of
  // the same key) and the upstreams of `delete_keys` removed. Shares every
  // other upstream with this one. O(change).
  std::shared_ptr<const Snapshot> Next(
      uint64_t version, std::vector<std::shared_ptr<const UpstreamResources>> puts,
      const std::vector<std::string>& delete_keys) const;

  uint64_t version() const { return version_; }
  const std::string& version_info() const { return version_info_; }
  // Every upstream, in key order.
  const UpstreamTable& upstreams() const { return upstreams_; }

  // Adds to `names` the resource names (upstream names, old and new
  // spelling) that may differ between `older` and this snapshot; O(what
  // changed). False when that is not known (`older` is of another line, not
  // older, or beyond the recorded history): then compare everything.
  bool ChangedSince(const Snapshot& older, std::set<std::string>* names) const;

  // The upstream with `key`, or null.
  const UpstreamResources* Find(const std::string& key) const;

  // The resource of `type_url` named exactly `name`, or null.
  const PackedResource* FindResource(const std::string& type_url, const std::string& name) const;

  // Fills `response` with the version and every resource of `type_url` whose
  // name is in `names` (every resource when `wildcard`). Resource names are
  // the upstream names, matched exactly as xDS clients expect; a name without
  // a resource is left out, which tells a SotW client it does not exist.
  void FillResponse(const std::string& type_url, bool wildcard, const std::set<std::string>& names,
                    envoy::service::discovery::v3::DiscoveryResponse* response) const;

 private:
  Snapshot(uint64_t version, UpstreamTable upstreams, std::shared_ptr<ChangeLog> changes);

  uint64_t version_;
  std::string version_info_;
  UpstreamTable upstreams_;
  // Shared by the snapshots of this line.
  std::shared_ptr<ChangeLog> changes_;
};

}  // namespace nginx_xds

#endif  // CONTROLPLANE_XDS_SNAPSHOT_H_
