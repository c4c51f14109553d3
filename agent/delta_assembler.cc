#include "agent/delta_assembler.h"

#include <set>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "agent/snapshot_assembler.h"
#include "common/upstream_rules.h"
#include "common/xds_mapping.h"
#include "google/protobuf/util/message_differencer.h"

namespace nginx_xds {
namespace {

using envoy::config::cluster::v3::Cluster;
using envoy::config::endpoint::v3::ClusterLoadAssignment;
using envoy::service::discovery::v3::DeltaDiscoveryResponse;

bool SameUpstream(const std::optional<nginx_xds::v1::Upstream>& a,
                  const nginx_xds::v1::Upstream* b) {
  if (!a.has_value() || b == nullptr) return !a.has_value() && b == nullptr;
  return google::protobuf::util::MessageDifferencer::Equals(*a, *b);
}

}  // namespace

DeltaAssembler::Outcome DeltaAssembler::Offer(const DeltaDiscoveryResponse& response,
                                              bool whole,
                                              const std::map<std::string, std::string>& refuse) {
  Outcome outcome;
  const std::string& type_url = response.type_url();
  if (outstanding_) {
    outcome.nack = "a previous response is still being applied";
    return outcome;
  }
  const bool is_cluster = type_url == kClusterTypeUrl;
  if (!is_cluster && type_url != kEndpointTypeUrl) {
    outcome.nack = absl::StrCat("unknown type_url \"", type_url, "\"");
    return outcome;
  }
  if (response.system_version_info().empty()) {
    outcome.nack = "the response has no system_version_info";
    return outcome;
  }
  // Checks of the response as a whole: without a unique name a resource
  // cannot be rejected alone.
  std::set<std::string> names;
  for (int i = 0; i < response.resources_size(); ++i) {
    const std::string& name = response.resources(i).name();
    if (name.empty()) {
      outcome.nack = absl::StrCat("resource ", i, " has no name");
      return outcome;
    }
    if (!names.insert(name).second) {
      outcome.nack = absl::StrCat("resource \"", name, "\" is sent twice");
      return outcome;
    }
  }
  for (const std::string& name : response.removed_resources()) {
    if (names.count(name)) {
      outcome.nack = absl::StrCat("resource \"", name, "\" is both sent and removed");
      return outcome;
    }
  }

  pending_ = Pending();
  pending_.is_cluster = is_cluster;
  pending_.version = response.system_version_info();
  std::map<std::string, std::string> rejected;  // name -> reason
  std::set<std::string> touched;
  bool incomplete = false;
  // Remembers the held entry of `name` before the response changes it.
  auto save = [&](const std::string& name) {
    if (is_cluster) {
      auto it = clusters_.find(name);
      pending_.clusters.emplace(name, it == clusters_.end() ? std::nullopt
                                                            : std::make_optional(it->second));
    } else {
      auto it = assignments_.find(name);
      pending_.assignments.emplace(
          name, it == assignments_.end() ? std::nullopt : std::make_optional(it->second));
    }
  };

  for (const std::string& name : response.removed_resources()) {
    touched.insert(name);
    save(name);
    if (is_cluster) {
      clusters_.erase(name);
    } else {
      assignments_.erase(name);
    }
  }
  for (const auto& resource : response.resources()) {
    const std::string& name = resource.name();
    touched.insert(name);
    if (resource.version().empty()) {
      rejected[name] = "the resource has no version";
      continue;
    }
    if (resource.resource().type_url() != type_url) {
      rejected[name] = absl::StrCat("type_url \"", resource.resource().type_url(),
                                    "\" does not match the response's type_url \"", type_url, "\"");
      continue;
    }
    if (is_cluster) {
      Cluster cluster;
      if (!resource.resource().UnpackTo(&cluster)) {
        rejected[name] = "cannot decode envoy.config.cluster.v3.Cluster";
        continue;
      }
      if (cluster.name() != name) {
        rejected[name] = absl::StrCat("the cluster is named \"", cluster.name(), "\"");
        continue;
      }
      save(name);
      clusters_[name] = Held<Cluster>{resource.version(), std::move(cluster)};
    } else {
      ClusterLoadAssignment assignment;
      if (!resource.resource().UnpackTo(&assignment)) {
        rejected[name] = "cannot decode envoy.config.endpoint.v3.ClusterLoadAssignment";
        continue;
      }
      if (assignment.cluster_name() != name) {
        rejected[name] = absl::StrCat("the ClusterLoadAssignment is for cluster \"",
                                      assignment.cluster_name(), "\"");
        continue;
      }
      save(name);
      assignments_[name] = Held<ClusterLoadAssignment>{resource.version(), std::move(assignment)};
    }
  }

  // Each upstream the response touches, on its own.
  for (const std::string& name : touched) {
    if (rejected.count(name)) continue;
    auto refused = refuse.find(name);
    if (refused != refuse.end()) {
      rejected[name] = refused->second;
      Undo(name);
      continue;
    }
    auto cluster = clusters_.find(name);
    auto assignment = assignments_.find(name);
    if (cluster == clusters_.end() || assignment == assignments_.end()) {
      // Incomplete: the other half is still to come, or is gone.
      pending_.upstreams[name] = std::nullopt;
      if (cluster != clusters_.end() || assignment != assignments_.end()) incomplete = true;
      continue;
    }
    absl::StatusOr<nginx_xds::v1::Upstream> upstream =
        FromXds(cluster->second.resource, assignment->second.resource);
    absl::Status valid = upstream.ok() ? ValidateNormalizedUpstream(*upstream) : upstream.status();
    if (!valid.ok()) {
      rejected[name] = std::string(valid.message());
      Undo(name);
      continue;
    }
    pending_.upstreams[name] = *std::move(upstream);
  }

  Candidate candidate;
  candidate.type_url = type_url;
  candidate.nonce = response.nonce();
  candidate.incomplete = incomplete;
  candidate.touched.assign(touched.begin(), touched.end());
  for (const auto& [name, reason] : rejected) {
    nginx_xds::v1::RejectedUpstream each;
    each.set_name(name);
    each.set_message(ReasonAbout(name, reason));
    candidate.rejected.push_back(std::move(each));
  }
  for (const std::string& name : touched) Recount(name);
  candidate.version = pending_.version;
  for (const auto& [name, upstream] : pending_.upstreams) {
    auto it = upstreams_.find(name);
    if (!SameUpstream(upstream, it == upstreams_.end() ? nullptr : &it->second)) {
      candidate.upstreams_changed = true;
      candidate.changes.emplace_back(name, upstream);
    }
  }
  outstanding_ = true;
  if (whole) candidate.snapshot = CandidateSnapshot();
  outcome.candidate = std::move(candidate);
  return outcome;
}

nginx_xds::v1::Snapshot DeltaAssembler::CandidateSnapshot() const {
  nginx_xds::v1::Snapshot snapshot;
  snapshot.set_version(outstanding_ ? pending_.version : version_);
  auto next = pending_.upstreams.begin();
  const auto end = outstanding_ ? pending_.upstreams.end() : pending_.upstreams.begin();
  for (const auto& [name, upstream] : upstreams_) {
    for (; next != end && next->first < name; ++next) {
      if (next->second) *snapshot.add_upstreams() = *next->second;
    }
    if (next != end && next->first == name) {
      if (next->second) *snapshot.add_upstreams() = *next->second;
      ++next;
    } else {
      *snapshot.add_upstreams() = upstream;
    }
  }
  for (; next != end; ++next) {
    if (next->second) *snapshot.add_upstreams() = *next->second;
  }
  return snapshot;
}

nginx_xds::v1::Snapshot DeltaAssembler::State() const {
  nginx_xds::v1::Snapshot snapshot;
  snapshot.set_version(version_);
  for (const auto& [name, upstream] : upstreams_) *snapshot.add_upstreams() = upstream;
  return snapshot;
}

ResourceVersionMap DeltaAssembler::VersionsOf(const std::vector<std::string>& names) const {
  ResourceVersionMap versions;
  for (const std::string& name : names) {
    ResourceVersions& each = versions[name];
    auto cluster = clusters_.find(name);
    if (cluster != clusters_.end()) each.cluster = cluster->second.version;
    auto assignment = assignments_.find(name);
    if (assignment != assignments_.end()) each.assignment = assignment->second.version;
  }
  return versions;
}

void DeltaAssembler::Undo(const std::string& name) {
  auto cluster = pending_.clusters.find(name);
  if (cluster != pending_.clusters.end()) {
    if (cluster->second) {
      clusters_[name] = *cluster->second;
    } else {
      clusters_.erase(name);
    }
    pending_.clusters.erase(cluster);
  }
  auto assignment = pending_.assignments.find(name);
  if (assignment != pending_.assignments.end()) {
    if (assignment->second) {
      assignments_[name] = *assignment->second;
    } else {
      assignments_.erase(name);
    }
    pending_.assignments.erase(assignment);
  }
  pending_.upstreams.erase(name);
  Recount(name);
}

void DeltaAssembler::Recount(const std::string& name) {
  if ((clusters_.count(name) != 0) != (assignments_.count(name) != 0)) {
    half_held_.insert(name);
  } else {
    half_held_.erase(name);
  }
}

void DeltaAssembler::Commit(const std::vector<nginx_xds::v1::RejectedUpstream>& rejected) {
  if (!outstanding_) return;
  for (const auto& each : rejected) Undo(each.name());
  for (auto& [name, upstream] : pending_.upstreams) {
    if (upstream) {
      upstreams_[name] = *std::move(upstream);
    } else {
      upstreams_.erase(name);
    }
  }
  version_ = pending_.version;
  pending_ = Pending();
  outstanding_ = false;
}

void DeltaAssembler::Reject() {
  if (!outstanding_) return;
  std::set<std::string> names;
  for (const auto& [name, unused] : pending_.clusters) names.insert(name);
  for (const auto& [name, unused] : pending_.assignments) names.insert(name);
  for (const std::string& name : names) Undo(name);
  pending_ = Pending();
  outstanding_ = false;
}

void DeltaAssembler::Seed(const nginx_xds::v1::Snapshot& snapshot,
                          const std::map<std::string, Versions>& versions) {
  Reject();
  clusters_.clear();
  assignments_.clear();
  upstreams_.clear();
  half_held_.clear();
  version_ = snapshot.version();
  for (const auto& upstream : snapshot.upstreams()) {
    upstreams_[upstream.name()] = upstream;
    auto it = versions.find(upstream.name());
    if (it == versions.end() || it->second.cluster.empty() || it->second.assignment.empty()) {
      continue;
    }
    // The resources as the control plane made them from this upstream; only
    // their versions go back to it, and FromXds over them gives the upstream.
    clusters_[upstream.name()] = Held<Cluster>{it->second.cluster, ToCluster(upstream)};
    assignments_[upstream.name()] =
        Held<ClusterLoadAssignment>{it->second.assignment, ToLoadAssignment(upstream)};
  }
}

std::map<std::string, std::string> DeltaAssembler::HeldVersions(const std::string& type_url) const {
  std::map<std::string, std::string> versions;
  if (type_url == kClusterTypeUrl) {
    for (const auto& [name, held] : clusters_) versions[name] = held.version;
  } else if (type_url == kEndpointTypeUrl) {
    for (const auto& [name, held] : assignments_) versions[name] = held.version;
  }
  return versions;
}

std::map<std::string, DeltaAssembler::Versions> DeltaAssembler::AllVersions() const {
  std::map<std::string, Versions> versions;
  for (const auto& [name, held] : clusters_) versions[name].cluster = held.version;
  for (const auto& [name, held] : assignments_) versions[name].assignment = held.version;
  return versions;
}

}  // namespace nginx_xds
