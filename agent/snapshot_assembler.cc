#include "agent/snapshot_assembler.h"

#include <map>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/upstream_rules.h"
#include "common/xds_mapping.h"
#include "google/protobuf/util/message_differencer.h"

namespace nginx_xds {
namespace {

using envoy::config::cluster::v3::Cluster;
using envoy::config::endpoint::v3::ClusterLoadAssignment;
using envoy::service::discovery::v3::DiscoveryResponse;

nginx_xds::v1::RejectedUpstream Rejection(const std::string& name, const std::string& message) {
  nginx_xds::v1::RejectedUpstream rejected;
  rejected.set_name(name);
  rejected.set_message(ReasonAbout(name, message));
  return rejected;
}

bool SameClusters(const std::map<std::string, Cluster>& a, const std::map<std::string, Cluster>& b) {
  if (a.size() != b.size()) return false;
  for (auto i = a.begin(), j = b.begin(); i != a.end(); ++i, ++j) {
    if (i->first != j->first ||
        !google::protobuf::util::MessageDifferencer::Equals(i->second, j->second)) {
      return false;
    }
  }
  return true;
}

}  // namespace

std::string ReasonAbout(const std::string& name, const std::string& message) {
  for (const char* kind : {"upstream", "cluster"}) {
    const std::string prefix = absl::StrCat(kind, " \"", name, "\": ");
    if (absl::StartsWith(message, prefix)) return message.substr(prefix.size());
  }
  return message;
}

std::string RejectedUpstreamsMessage(const std::vector<nginx_xds::v1::RejectedUpstream>& rejected) {
  std::string message;
  for (const auto& each : rejected) {
    absl::StrAppend(&message, message.empty() ? "" : "\n", "upstream \"", each.name(),
                    "\": ", each.message());
  }
  return message;
}

nginx_xds::v1::Snapshot WithoutRejected(
    const nginx_xds::v1::Snapshot& offered,
    const std::vector<nginx_xds::v1::RejectedUpstream>& rejected,
    const nginx_xds::v1::Snapshot* previous) {
  std::map<std::string, const nginx_xds::v1::Upstream*> kept;
  for (const auto& upstream : offered.upstreams()) kept[UpstreamKey(upstream.name())] = &upstream;
  for (const auto& each : rejected) kept.erase(UpstreamKey(each.name()));
  if (previous != nullptr) {
    for (const auto& each : rejected) {
      const std::string key = UpstreamKey(each.name());
      for (const auto& upstream : previous->upstreams()) {
        if (UpstreamKey(upstream.name()) == key) kept[key] = &upstream;
      }
    }
  }
  nginx_xds::v1::Snapshot result;
  result.set_version(offered.version());
  for (const auto& [key, upstream] : kept) *result.add_upstreams() = *upstream;
  return result;
}

SnapshotAssembler::TypeState* SnapshotAssembler::StateFor(const std::string& type_url) {
  if (type_url == kClusterTypeUrl) return &clusters_;
  if (type_url == kEndpointTypeUrl) return &assignments_;
  return nullptr;
}

void SnapshotAssembler::NackPending(TypeState* state, const std::string& type_url,
                                    const std::string& message, Outcome* outcome) {
  if (!state->pending) return;
  outcome->nacks.push_back(Nack{type_url, state->pending->nonce, message});
  state->pending.reset();
}

void SnapshotAssembler::SupersedePending(TypeState* state, const std::string& type_url,
                                         Outcome* outcome) {
  if (!state->pending) return;
  outcome->superseded.push_back(Answer{type_url, state->pending->nonce});
  state->pending.reset();
}

SnapshotAssembler::Outcome SnapshotAssembler::Offer(const DiscoveryResponse& response) {
  Outcome outcome;
  const std::string& type_url = response.type_url();
  auto nack = [&](std::string message) {
    outcome.nacks.push_back(Nack{type_url, response.nonce(), std::move(message)});
  };
  if (candidate_outstanding_) {
    nack("a previous snapshot is still being applied");
    return outcome;
  }
  TypeState* state = StateFor(type_url);
  if (state == nullptr) {
    nack(absl::StrCat("unknown type_url \"", type_url, "\""));
    return outcome;
  }
  const bool is_cluster = state == &clusters_;
  TypeState* other = is_cluster ? &assignments_ : &clusters_;
  const std::string other_type_url = is_cluster ? kEndpointTypeUrl : kClusterTypeUrl;
  const char* kind = is_cluster ? "cluster" : "ClusterLoadAssignment";
  const char* proto_name = is_cluster ? "envoy.config.cluster.v3.Cluster"
                                      : "envoy.config.endpoint.v3.ClusterLoadAssignment";

  // Decode and check the response on its own.
  Resources resources;
  resources.version = response.version_info();
  resources.nonce = response.nonce();
  std::string error;
  if (resources.version.empty()) error = "the response has no version_info";
  for (int i = 0; error.empty() && i < response.resources_size(); ++i) {
    const google::protobuf::Any& any = response.resources(i);
    const std::string where = absl::StrCat("resource ", i, ": ");
    if (any.type_url() != type_url) {
      error = absl::StrCat(where, "type_url \"", any.type_url(),
                           "\" does not match the response's type_url \"", type_url, "\"");
      break;
    }
    std::string name;
    if (is_cluster) {
      Cluster cluster;
      if (!any.UnpackTo(&cluster)) {
        error = absl::StrCat(where, "cannot decode ", proto_name);
        break;
      }
      name = cluster.name();
      if (name.empty()) {
        error = absl::StrCat(where, "cluster has no name");
        break;
      }
      auto [it, inserted] = resources.clusters.emplace(UpstreamKey(name), std::move(cluster));
      if (!inserted) {
        error = absl::StrCat(where, "duplicate cluster \"", name, "\"");
        break;
      }
    } else {
      ClusterLoadAssignment assignment;
      if (!any.UnpackTo(&assignment)) {
        error = absl::StrCat(where, "cannot decode ", proto_name);
        break;
      }
      name = assignment.cluster_name();
      if (name.empty()) {
        error = absl::StrCat(where, "ClusterLoadAssignment has no cluster_name");
        break;
      }
      auto [it, inserted] = resources.assignments.emplace(UpstreamKey(name), std::move(assignment));
      if (!inserted) {
        error = absl::StrCat(where, "duplicate ", kind, " \"", name, "\"");
        break;
      }
    }
  }

  if (!error.empty()) {
    nack(error);
    // A pending response of the other type can no longer be completed: this
    // version is broken, or the server has moved on from its version.
    if (other->pending && other->pending->version == response.version_info()) {
      NackPending(other, other_type_url, error, &outcome);
    } else {
      SupersedePending(other, other_type_url, &outcome);
    }
    return outcome;
  }

  // A newer response of the same type replaces a pending one; the server
  // treats the older nonce as stale. ClusterLoadAssignment responses may
  // carry only the assignments that changed: they are merged by name onto
  // the newest ones held (those of a pending one included).
  if (!is_cluster) {
    const Resources* base = state->latest();
    if (base != nullptr) {
      for (const auto& [key, assignment] : base->assignments) {
        resources.assignments.emplace(key, assignment);
      }
    }
  }
  // A Cluster list equal to the one held at another version than the
  // assignments held: only a server that sends both types whole at every
  // version sends that (SotW sends the list only when a Cluster changed), so
  // the assignments of its version follow; wait for them rather than hand
  // over the new version with the old ones.
  bool wait_for_assignments = false;
  if (is_cluster && other->latest() != nullptr &&
      other->latest()->version != resources.version && state->latest() != nullptr) {
    wait_for_assignments = SameClusters(state->latest()->clusters, resources.clusters);
  }
  state->pending = std::move(resources);
  const std::string& version = state->pending->version;
  if (wait_for_assignments) return outcome;

  // Ready when every cluster of the (complete) Cluster list has its
  // assignment; assignments of clusters not in the list are ignored. The
  // version is that of the newest response.
  const Resources* clusters = clusters_.latest();
  const Resources* assignments = assignments_.latest();
  if (clusters == nullptr || assignments == nullptr) return outcome;
  for (const auto& [key, cluster] : clusters->clusters) {
    if (assignments->assignments.count(key) == 0) return outcome;
  }
  Candidate candidate;
  Assemble(*clusters, *assignments, &candidate.snapshot, &candidate.rejected);
  candidate.snapshot.set_version(version);
  if (clusters_.pending) candidate.answers.push_back({kClusterTypeUrl, clusters_.pending->nonce});
  if (assignments_.pending) {
    candidate.answers.push_back({kEndpointTypeUrl, assignments_.pending->nonce});
  }
  candidate_outstanding_ = true;
  candidate_snapshot_ = candidate.snapshot;
  outcome.candidate = std::move(candidate);
  return outcome;
}

void SnapshotAssembler::Assemble(const Resources& clusters, const Resources& assignments,
                                 nginx_xds::v1::Snapshot* snapshot,
                                 std::vector<nginx_xds::v1::RejectedUpstream>* rejected) {
  snapshot->set_version(clusters.version);
  for (const auto& [key, cluster] : clusters.clusters) {
    auto it = assignments.assignments.find(key);
    if (it == assignments.assignments.end()) {
      rejected->push_back(Rejection(
          cluster.name(),
          absl::StrCat("no ClusterLoadAssignment at version \"", clusters.version, "\"")));
      continue;
    }
    absl::StatusOr<nginx_xds::v1::Upstream> upstream = FromXds(cluster, it->second);
    absl::Status valid = upstream.ok() ? ValidateNormalizedUpstream(*upstream) : upstream.status();
    if (!valid.ok()) {
      rejected->push_back(Rejection(cluster.name(), std::string(valid.message())));
      continue;
    }
    *snapshot->add_upstreams() = *std::move(upstream);
  }
}

void SnapshotAssembler::Commit(std::optional<nginx_xds::v1::Snapshot> applied) {
  if (!candidate_outstanding_) return;
  if (applied) candidate_snapshot_ = std::move(applied);
  for (TypeState* state : {&clusters_, &assignments_}) {
    if (state->pending) {
      state->accepted = std::move(state->pending);
      state->pending.reset();
    }
  }
  // A cluster removed from the list drops its assignment.
  if (clusters_.accepted && assignments_.accepted) {
    auto& held = assignments_.accepted->assignments;
    for (auto it = held.begin(); it != held.end();) {
      it = clusters_.accepted->clusters.count(it->first) ? std::next(it) : held.erase(it);
    }
  }
  last_good_ = std::move(candidate_snapshot_);
  candidate_snapshot_.reset();
  candidate_outstanding_ = false;
}

void SnapshotAssembler::Reject() {
  if (!candidate_outstanding_) return;
  clusters_.pending.reset();
  assignments_.pending.reset();
  candidate_snapshot_.reset();
  candidate_outstanding_ = false;
}

void SnapshotAssembler::ResetStream() {
  Reject();
  clusters_.pending.reset();
  assignments_.pending.reset();
}

}  // namespace nginx_xds
