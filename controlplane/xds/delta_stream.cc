#include "controlplane/xds/delta_stream.h"

#include <utility>

#include "common/upstream_rules.h"
#include "controlplane/xds/ads_traffic.h"
#include "controlplane/xds/stream_node.h"

namespace nginx_xds {

namespace {

using envoy::service::discovery::v3::DeltaDiscoveryRequest;
using envoy::service::discovery::v3::DeltaDiscoveryResponse;

}  // namespace

// Whether `name` is in the client's subscription.
static bool InScope(bool wildcard, const std::set<std::string>& names, const std::string& name) {
  return wildcard || names.count(name) > 0;
}

DeltaStream* DeltaStream::Start(SnapshotCache* cache, NodeRegistry* registry,
                                const StaticUpstreamsHandler* on_static_upstreams,
                                absl::StatusOr<std::optional<NodeIdentity>> peer) {
  auto stream = std::make_shared<DeltaStream>(cache, registry, on_static_upstreams);
  DeltaStream* raw = stream.get();
  Begin(std::move(stream), std::move(peer));
  return raw;
}

DeltaStream::DeltaStream(SnapshotCache* cache, NodeRegistry* registry,
                         const StaticUpstreamsHandler* on_static_upstreams)
    : AdsReactor(cache, registry, on_static_upstreams) {}

absl::Status DeltaStream::HandleRequest(const DeltaDiscoveryRequest& request) {
  const std::string& type_url = request.type_url();
  if (!IsServedType(type_url)) return absl::OkStatus();
  auto [it, first] = types_.try_emplace(type_url, type_url);
  TypeState& type = it->second;
  if (first) registry_->Subscribed(node_, type_url);
  // Validate that only the reply to the newest response counts; a stale
  // request still changes the subscription.
  if (!request.response_nonce().empty() && request.response_nonce() == type.last_nonce &&
      type.awaiting_reply) {
    HandleReply(request, type_url, &type);
  }
  UpdateSubscription(request, first, &type);
  MaybeSend(type_url, &type);
  return absl::OkStatus();
}

void DeltaStream::UpdateSubscription(const DeltaDiscoveryRequest& request, bool first,
                                     TypeState* type) {
  const bool was_wildcard = type->wildcard;
  for (const std::string& name : request.resource_names_subscribe()) {
    if (name == "*") {
      type->wildcard = true;
    } else {
      std::string kept = name.substr(0, kMaxNameLength + 1);
      if (!InScope(was_wildcard, type->names, kept)) {
        // Coming into scope: the client holds none of it (whatever it held
        // before it unsubscribed, it forgot).
        type->held.Set(kept, HeldVersions::kNone);
      }
      // A new name is considered by the next response.
      if (type->names.insert(kept).second) type->dirty.insert(std::move(kept));
    }
  }
  // A type's first request without names subscribes to everything (the
  // legacy wildcard), as Envoy's and gRPC's clients expect.
  if (first && request.resource_names_subscribe().empty()) type->wildcard = true;
  if (type->wildcard && !was_wildcard) {
    type->full = true;
    // Every other name comes into scope, none of it held: the base goes
    // (AbsorbChanges compares the whole snapshot once).
    type->held.NarrowTo(type->names);
  }
  bool dropped_wildcard = false;
  for (const std::string& name : request.resource_names_unsubscribe()) {
    if (name == "*") {
      dropped_wildcard = type->wildcard;
      type->wildcard = false;
    } else {
      type->names.erase(name);
      type->reported_absent.erase(name);
      // The client forgets what it no longer subscribes to.
      if (!type->wildcard) type->held.Forget(name);
    }
  }
  if (dropped_wildcard) type->held.KeepOnly(type->names);
  if (first) {
    // What the client holds already (its cache, its previous stream) is not
    // sent again: compared with the current snapshot once, only the
    // differences kept.
    type->held.Start(snapshot_, request.initial_resource_versions(), type->wildcard, type->names);
  }
}

void DeltaStream::HandleReply(const DeltaDiscoveryRequest& request, const std::string& type_url,
                              TypeState* type) {
  type->awaiting_reply = false;
  std::vector<nginx_xds::v1::RejectedUpstream> rejected;
  if (request.has_error_detail()) {
    // A NACK rejects the upstreams its details name (the others applied),
    // or every resource of the response.
    rejected = RejectedUpstreamsOf(request.error_detail());
    if (rejected.empty()) {
      for (const auto& [name, version] : type->in_flight) {
        nginx_xds::v1::RejectedUpstream each;
        each.set_name(name);
        each.set_message(request.error_detail().message());
        rejected.push_back(std::move(each));
      }
    }
  }
  std::set<std::string> rejected_keys;
  for (const auto& each : rejected) rejected_keys.insert(UpstreamKey(each.name()));
  for (const auto& [name, version] : type->in_flight) {
    if (rejected_keys.count(UpstreamKey(name))) {
      type->rejected[name] = version;
    } else {
      // Unsubscribed meanwhile: forgotten, nothing to keep.
      if (InScope(type->wildcard, type->names, name)) type->held.Set(name, version);
      type->rejected.erase(name);
    }
  }
  for (const std::string& name : type->in_flight_removed) {
    type->held.Set(name, HeldVersions::kNone);
  }
  type->in_flight.clear();
  type->in_flight_removed.clear();
  if (request.has_error_detail()) {
    registry_->Nacked(node_, type_url, type->in_flight_version, request.error_detail().message(),
                      rejected);
    type->reported_version = type->in_flight_version;
  }
}

void DeltaStream::OnNewSnapshot() {
  for (auto& [type_url, type] : types_) MaybeSend(type_url, &type);
}

void DeltaStream::AbsorbChanges(TypeState* type) {
  const std::shared_ptr<const Snapshot>& base = type->held.base();
  if (base != snapshot_) {
    std::set<std::string> changed;
    if (base != nullptr && snapshot_->ChangedSince(*base, &changed)) {
      type->held.Advance(snapshot_, changed, type->wildcard, type->names);
      if (!type->full) type->dirty.insert(changed.begin(), changed.end());
    } else {
      // No base yet, beyond the recorded history, or another line (as
      // after a pin): compare everything once.
      type->held.Rebase(snapshot_, type->wildcard, type->names);
      type->full = true;
    }
  }
  if (type->full) type->dirty.clear();
}

void DeltaStream::MaybeSend(const std::string& type_url, TypeState* type) {
  // Changes are absorbed while a response is outstanding, so the next one
  // carries each changed resource once, at its newest state.
  AbsorbChanges(type);
  if (type->awaiting_reply || finish_) return;
  DeltaDiscoveryResponse response;
  size_t bytes = 0;
  bool more = false;
  // Adds `resource` when the client lacks this version of it; false when
  // the response has no room left for it (it goes in a later one).
  // After AbsorbChanges the client's holdings are based on snapshot_, where
  // `resource` is from: that saves looking each name up again.
  auto consider = [&](const std::string& name, const PackedResource* resource) {
    if (resource == nullptr) return true;
    if (type->held.Get(name, resource) == resource->version_bits) return true;
    // Validate that a version this node rejected is never sent to it again.
    auto rejected = type->rejected.find(name);
    if (rejected != type->rejected.end() && rejected->second == resource->version_bits) {
      return true;
    }
    if (bytes > 0 && bytes + resource->any.value().size() > kMaxDeltaResponseBytes) {
      more = true;
      return false;
    }
    bytes += resource->any.value().size();
    auto* out = response.add_resources();
    out->set_name(name);
    out->set_version(resource->version);
    *out->mutable_resource() = resource->any;
    type->in_flight[name] = resource->version_bits;
    type->reported_absent.erase(name);
    return true;
  };
  auto remove = [&](const std::string& name) {
    response.add_removed_resources(name);
    type->in_flight_removed.push_back(name);
  };
  if (type->full) {
    if (type->wildcard) {
      for (const auto& [key, resources] : snapshot_->upstreams()) {
        consider(resources->upstream.name(), resources->OfType(type_url));
      }
    }
    for (const std::string& name : type->names) {
      const PackedResource* resource = snapshot_->FindResource(type_url, name);
      if (resource != nullptr) {
        if (!type->wildcard) consider(name, resource);
      } else if (type->held.Get(name, nullptr) == HeldVersions::kNone &&
                 type->reported_absent.insert(name).second) {
        // Asked for by name and does not exist: Delta's "does not exist".
        remove(name);
      }
    }
    // Held and gone: only exceptions can be, as the base is snapshot_.
    for (const auto& [name, version] : type->held.exceptions()) {
      if (version != HeldVersions::kNone && InScope(type->wildcard, type->names, name) &&
          snapshot_->FindResource(type_url, name) == nullptr) {
        remove(name);
        if (type->names.count(name)) type->reported_absent.insert(name);
      }
    }
    // Cut short by the size limit: the next response walks again.
    type->full = more;
  } else {
    // Only what changed: O(change), whatever the fleet's size.
    for (auto it = type->dirty.begin(); it != type->dirty.end();) {
      const std::string& name = *it;
      const PackedResource* resource = snapshot_->FindResource(type_url, name);
      bool done = true;
      if (resource != nullptr) {
        if (type->wildcard || type->names.count(name)) done = consider(name, resource);
      } else if (InScope(type->wildcard, type->names, name) &&
                 type->held.Get(name, nullptr) != HeldVersions::kNone) {
        remove(name);
        if (type->names.count(name)) type->reported_absent.insert(name);
      } else if (type->names.count(name) && type->reported_absent.insert(name).second) {
        remove(name);
      }
      it = done ? type->dirty.erase(it) : std::next(it);
    }
  }
  const uint64_t version = snapshot_->version();
  if (response.resources_size() == 0 && response.removed_resources_size() == 0 &&
      type->responded) {
    // The client holds every resource of this version it subscribes to (or
    // rejected it): it is up to date, without a response.
    if (!more && type->reported_version != version) {
      registry_->Acked(node_, type_url, version);
      type->reported_version = version;
    }
    return;
  }
  response.set_type_url(type_url);
  response.set_system_version_info(snapshot_->version_info());
  response.set_nonce(NewNonce());
  type->last_nonce = response.nonce();
  type->in_flight_version = version;
  type->awaiting_reply = true;
  type->responded = true;
  AdsTraffic::Global().Sent(type_url, response.ByteSizeLong());  // metrics: the one counting line
  Write(std::move(response));
}

}  // namespace nginx_xds
