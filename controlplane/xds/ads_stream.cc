#include "controlplane/xds/ads_stream.h"

#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/upstream_rules.h"
#include "common/xds_mapping.h"
#include "controlplane/xds/ads_traffic.h"
#include "controlplane/xds/client_resources.h"
#include "controlplane/xds/stream_node.h"

namespace nginx_xds {

namespace {

using envoy::service::discovery::v3::DiscoveryRequest;
using envoy::service::discovery::v3::DiscoveryResponse;

}  // namespace

AdsStream* AdsStream::Start(SnapshotCache* cache, NodeRegistry* registry,
                            const StaticUpstreamsHandler* on_static_upstreams,
                            absl::StatusOr<std::optional<NodeIdentity>> peer) {
  auto stream = std::make_shared<AdsStream>(cache, registry, on_static_upstreams);
  AdsStream* raw = stream.get();
  Begin(std::move(stream), std::move(peer));
  return raw;
}

AdsStream::AdsStream(SnapshotCache* cache, NodeRegistry* registry,
                     const StaticUpstreamsHandler* on_static_upstreams)
    : AdsReactor(cache, registry, on_static_upstreams) {}

absl::Status AdsStream::HandleRequest(const DiscoveryRequest& request) {
  const std::string& type_url = request.type_url();
  if (!IsServedType(type_url)) {
    // Other xDS types (secrets, runtime) are not served; a client asking for
    // them gets no response for them, as from a server without such resources.
    return absl::OkStatus();
  }
  auto [it, first] = types_.try_emplace(type_url);
  TypeState& type = it->second;
  if (first) registry_->Subscribed(node_, type_url);

  if (!request.response_nonce().empty()) {
    // Validate that only the reply to the newest response counts: an older
    // nonce means the client has not seen that response yet.
    if (request.response_nonce() != type.last_nonce) return absl::OkStatus();
    type.awaiting_reply = false;
    type.nacked = request.has_error_detail();
    if (request.has_error_detail()) {
      registry_->Nacked(node_, type_url, *type.sent_version, request.error_detail().message(),
                        RejectedByNack(request.error_detail(), type));
    } else {
      // An ACK names the version the client now runs: usually the one just
      // sent, but a client that could not use it yet (its other type is at
      // another version) answers with the version it still has.
      uint64_t running = 0;
      if (absl::SimpleAtoi(request.version_info(), &running)) {
        registry_->Acked(node_, type_url, running);
      }
    }
  } else if (first) {
    // A new stream's first request says which version the client already
    // runs (say, from its cache): nothing is re-sent for that version.
    uint64_t held = 0;
    if (!request.version_info().empty() && absl::SimpleAtoi(request.version_info(), &held)) {
      type.sent_version = held;
      registry_->Acked(node_, type_url, held);
    }
  }
  UpdateSubscription(request, first, &type);
  MaybeSend(type_url, &type);
  return absl::OkStatus();
}

std::vector<nginx_xds::v1::RejectedUpstream> AdsStream::RejectedByNack(
    const google::rpc::Status& error, const TypeState& type) const {
  std::vector<nginx_xds::v1::RejectedUpstream> rejected = RejectedUpstreamsOf(error);
  if (!rejected.empty() || type.wildcard) return rejected;
  // A client that asks by name (a gRPC client asks for the one target it
  // resolves) rejects what it asked for, not the fleet's other upstreams:
  // writes to those must not count its NACK.
  for (const std::string& name : type.names) {
    nginx_xds::v1::RejectedUpstream each;
    each.set_name(name.substr(0, kMaxNameLength));
    each.set_message(error.message());
    rejected.push_back(std::move(each));
  }
  return rejected;
}

std::optional<std::set<std::string>> AdsStream::ChangedForClient(const std::string& type_url,
                                                                 const TypeState& type) const {
  if (!type.sent_snapshot || type.names_changed || (type.wildcard && type.nacked)) {
    return std::nullopt;
  }
  const Snapshot& held = *type.sent_snapshot;
  std::set<std::string> candidates;
  if (!snapshot_->ChangedSince(held, &candidates)) {
    // History does not reach back: a by-name subscription compares its few
    // names; a wildcard one gets everything.
    if (type.wildcard) return std::nullopt;
    candidates = type.names;
  }
  std::set<std::string> changed;
  for (const std::string& name : candidates) {
    if (!type.wildcard && type.names.count(name) == 0) continue;
    const PackedResource* before = held.FindResource(type_url, name);
    const PackedResource* now = snapshot_->FindResource(type_url, name);
    if (before == now) continue;
    if (before != nullptr && now != nullptr && before->version == now->version) continue;
    changed.insert(name);
  }
  return changed;
}

void AdsStream::UpdateSubscription(const DiscoveryRequest& request, bool first, TypeState* type) {
  std::set<std::string> names(request.resource_names().begin(), request.resource_names().end());
  // An empty list on the first request means "everything" (wildcard), and
  // stays so; "*" asks for everything explicitly.
  bool wildcard = names.erase("*") > 0 || (names.empty() && (first || type->wildcard));
  if (wildcard != type->wildcard || names != type->names) {
    type->wildcard = wildcard;
    type->names = std::move(names);
    type->names_changed = true;
  }
}

void AdsStream::OnNewSnapshot() {
  for (auto& [type_url, type] : types_) MaybeSend(type_url, &type);
}

void AdsStream::MaybeSend(const std::string& type_url, TypeState* type) {
  if (type->awaiting_reply || finish_) return;
  const uint64_t version = snapshot_->version();
  const bool newer = !type->sent_version || *type->sent_version != version;
  if (!newer && !type->names_changed) return;
  // Validate that a version this node rejected is never sent to it again.
  if (registry_->Rejected(node_, type_url, version)) return;
  // Clusters and Listeners: the complete list, whenever one changed.
  // ClusterLoadAssignments and RouteConfigurations: the changed ones only.
  const bool complete = type_url == kClusterTypeUrl || type_url == kListenerTypeUrl;
  const std::optional<std::set<std::string>> changed = ChangedForClient(type_url, *type);
  DiscoveryResponse response;
  if (!changed || complete) {
    if (!changed || !changed->empty()) {
      snapshot_->FillResponse(type_url, type->wildcard, type->names, &response);
    }
  } else {
    response.set_version_info(snapshot_->version_info());
    response.set_type_url(type_url);
    for (const std::string& name : *changed) {
      // A removed one is not announced: the Cluster list drops it.
      if (const PackedResource* resource = snapshot_->FindResource(type_url, name)) {
        *response.add_resources() = resource->any;
      }
    }
  }
  if (changed && (changed->empty() || (!complete && response.resources_size() == 0))) {
    // Nothing of this type the client holds changed (a write to another
    // upstream, a server change seen from the Clusters, a removal seen from
    // the assignments): SotW sends nothing, and the client, holding this
    // version's resources already, is up to date at this version.
    type->sent_version = version;
    type->sent_snapshot = snapshot_;
    registry_->Acked(node_, type_url, version);
    return;
  }
  response.set_nonce(NewNonce());
  // Walks the whole response: once per push, for the limit and the metric.
  const size_t bytes = response.ByteSizeLong();
  if (bytes > max_response_bytes_) {
    // The client would drop its stream on it and reconnect forever: say so
    // in fleet status (as a rejection of this version) instead of sending.
    type->sent_version = version;
    registry_->Nacked(
        node_, type_url, version,
        absl::StrCat("not sent by the control plane: the response is ", bytes,
                     " bytes, over the ", max_response_bytes_,
                     " this node accepts (its gRPC receive limit; a client may declare more "
                     "in Node.metadata[\"nginx\"][\"max_response_bytes\"], or use Delta xDS)"));
    return;
  }
  type->last_nonce = response.nonce();
  type->sent_version = version;
  type->sent_snapshot = snapshot_;
  type->awaiting_reply = true;
  type->names_changed = false;
  AdsTraffic::Global().Sent(type_url, bytes);  // metrics: the one counting line
  Write(std::move(response));
}

}  // namespace nginx_xds
