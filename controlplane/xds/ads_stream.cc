#include "controlplane/xds/ads_stream.h"

#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/upstream_rules.h"
#include "common/xds_mapping.h"
#include "controlplane/xds/ads_traffic.h"
#include "controlplane/xds/static_upstreams.h"

namespace nginx_xds {

namespace {

using envoy::service::discovery::v3::DiscoveryRequest;
using envoy::service::discovery::v3::DiscoveryResponse;

bool Supported(const std::string& type_url) {
  return type_url == kClusterTypeUrl || type_url == kEndpointTypeUrl;
}

// Who the node is for the snapshot cache: its id, and the string fields of
// its metadata as labels (a staged rollout's canary group may select on them).
WatcherNode WatcherNodeOf(const envoy::config::core::v3::Node& node) {
  WatcherNode watcher{node.id(), {}};
  for (const auto& [key, value] : node.metadata().fields()) {
    if (value.kind_case() == google::protobuf::Value::kStringValue) {
      watcher.labels[key] = value.string_value();
    }
  }
  return watcher;
}

// The upstreams a NACK rejects alone (the node applied the rest): the
// RejectedUpstreams among its details; empty when it rejects the version
// whole. Names the agent could not have sent (empty) are dropped.
std::vector<nginx_xds::v1::RejectedUpstream> RejectedUpstreamsOf(const google::rpc::Status& error) {
  std::vector<nginx_xds::v1::RejectedUpstream> rejected;
  for (const google::protobuf::Any& detail : error.details()) {
    nginx_xds::v1::RejectedUpstreams upstreams;
    if (!detail.Is<nginx_xds::v1::RejectedUpstreams>() || !detail.UnpackTo(&upstreams)) continue;
    for (const auto& each : upstreams.upstreams()) {
      if (each.name().empty()) continue;
      nginx_xds::v1::RejectedUpstream kept;
      kept.set_name(each.name().substr(0, kMaxNameLength));
      kept.set_message(each.message());
      rejected.push_back(std::move(kept));
    }
  }
  return rejected;
}

}  // namespace

AdsStream* AdsStream::Start(SnapshotCache* cache, NodeRegistry* registry,
                            const StaticUpstreamsHandler* on_static_upstreams,
                            absl::StatusOr<std::optional<NodeIdentity>> peer) {
  auto stream = std::make_shared<AdsStream>(cache, registry, on_static_upstreams);
  AdsStream* raw = stream.get();
  {
    absl::MutexLock lock(&raw->mu_);
    raw->self_ = std::move(stream);
    raw->peer_ = std::move(peer);
  }
  raw->StartRead(&raw->request_);
  return raw;
}

AdsStream::AdsStream(SnapshotCache* cache, NodeRegistry* registry,
                     const StaticUpstreamsHandler* on_static_upstreams)
    : cache_(cache), registry_(registry), on_static_upstreams_(on_static_upstreams) {}

void AdsStream::OnReadDone(bool ok) {
  bool first;
  absl::Status authorized;
  {
    absl::MutexLock lock(&mu_);
    if (!ok) {
      // The client half-closed or went away: answer what is queued, then end.
      FinishLocked(grpc::Status::OK);
      return;
    }
    first = node_.empty();
    // With mutual TLS a node speaks only for itself: checked before its
    // static upstreams are adopted.
    if (first && !peer_.ok()) authorized = peer_.status();
    if (first && peer_.ok() && *peer_) {
      const auto& node = request_.node();
      authorized = CheckNodeIdentity(**peer_, node.id(),
                                     node.cluster().empty() ? kDefaultFleet : node.cluster());
    }
  }
  if (first) {
    absl::Status adopted = authorized.ok() ? AdoptStaticUpstreams(request_.node()) : authorized;
    if (!adopted.ok()) {
      absl::MutexLock lock(&mu_);
      FinishLocked(grpc::Status(static_cast<grpc::StatusCode>(adopted.code()),
                                std::string(adopted.message())));
      return;
    }
  }
  {
    absl::MutexLock lock(&mu_);
    absl::Status status = HandleRequest(request_);
    if (!status.ok()) {
      FinishLocked(grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                                std::string(status.message())));
      return;
    }
  }
  StartRead(&request_);
}

absl::Status AdsStream::AdoptStaticUpstreams(const envoy::config::core::v3::Node& node) {
  auto upstreams = StaticUpstreams(node);
  if (!upstreams.ok()) return upstreams.status();
  if (upstreams->empty() || !*on_static_upstreams_) return absl::OkStatus();
  // Before the first response, so that it already holds the node's own
  // upstreams; without this stream's lock, as adoption publishes (and so
  // calls OnSnapshot). An invalid fleet is reported by Identify().
  const std::string fleet = node.cluster().empty() ? kDefaultFleet : node.cluster();
  (*on_static_upstreams_)(node.id(), fleet, std::move(*upstreams));
  return absl::OkStatus();
}

absl::Status AdsStream::HandleRequest(const DiscoveryRequest& request) {
  if (node_.empty()) {
    absl::Status identified = Identify(request);
    if (!identified.ok()) return identified;
  }
  const std::string& type_url = request.type_url();
  if (!Supported(type_url)) {
    // Other xDS types (listeners, routes) are not served; a client asking for
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
    if (request.has_error_detail()) {
      registry_->Nacked(node_, type_url, *type.sent_version, request.error_detail().message(),
                        RejectedUpstreamsOf(request.error_detail()));
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

absl::Status AdsStream::Identify(const DiscoveryRequest& request) {
  const auto& node = request.node();
  if (node.id().empty()) {
    return absl::InvalidArgumentError("the first request of a stream must carry node.id");
  }
  if (node.id().size() > kMaxNameLength) {
    return absl::InvalidArgumentError("node.id is longer than 255 characters");
  }
  std::string fleet = node.cluster().empty() ? kDefaultFleet : node.cluster();
  absl::Status valid = ValidateName("fleet (node.cluster)", fleet);
  if (!valid.ok()) return valid;
  node_ = node.id();
  fleet_ = std::move(fleet);
  std::string user_agent = node.user_agent_name();
  if (!node.user_agent_version().empty())
    absl::StrAppend(&user_agent, "/", node.user_agent_version());
  registry_->StreamOpened(node_, fleet_, user_agent);
  snapshot_ = cache_->Watch(fleet_, WatcherNodeOf(node), std::weak_ptr<SnapshotWatcher>(self_));
  return absl::OkStatus();
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

void AdsStream::OnSnapshot(std::shared_ptr<const Snapshot> snapshot) {
  absl::MutexLock lock(&mu_);
  if (finish_ || (snapshot_ && snapshot_->version() >= snapshot->version())) return;
  snapshot_ = std::move(snapshot);
  MaybeSendAll();
}

void AdsStream::MaybeSendAll() {
  for (auto& [type_url, type] : types_) MaybeSend(type_url, &type);
}

void AdsStream::MaybeSend(const std::string& type_url, TypeState* type) {
  if (type->awaiting_reply || finish_) return;
  const uint64_t version = snapshot_->version();
  const bool newer = !type->sent_version || *type->sent_version != version;
  if (!newer && !type->names_changed) return;
  // Validate that a version this node rejected is never sent to it again.
  if (registry_->Rejected(node_, type_url, version)) return;
  DiscoveryResponse response;
  snapshot_->FillResponse(type_url, type->wildcard, type->names, &response);
  response.set_nonce(std::to_string(++nonce_));
  type->last_nonce = response.nonce();
  type->sent_version = version;
  type->awaiting_reply = true;
  type->names_changed = false;
  AdsTraffic::Global().Sent(type_url, response.ByteSizeLong());  // metrics: the one counting line
  Write(std::move(response));
}

void AdsStream::Write(DiscoveryResponse response) {
  pending_.push_back(std::move(response));
  if (writing_) return;
  writing_ = true;
  StartWrite(&pending_.front());
}

void AdsStream::OnWriteDone(bool ok) {
  absl::MutexLock lock(&mu_);
  pending_.pop_front();
  if (!ok) {
    // The stream is broken; OnReadDone(false) or OnDone follows.
    pending_.clear();
    writing_ = false;
    FinishLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE, "write failed"));
    return;
  }
  if (!pending_.empty()) {
    StartWrite(&pending_.front());
    return;
  }
  writing_ = false;
  if (finish_ && !finished_) {
    finished_ = true;
    Finish(*finish_);
  }
}

void AdsStream::FinishLocked(const grpc::Status& status) {
  if (!finish_) finish_ = status;
  if (writing_ || finished_) return;
  finished_ = true;
  Finish(*finish_);
}

void AdsStream::OnDone() {
  std::shared_ptr<AdsStream> self;
  {
    absl::MutexLock lock(&mu_);
    if (!node_.empty()) registry_->StreamClosed(node_);
    // Publishers holding a reference see finish_ and leave the stream alone.
    if (!finish_) finish_ = grpc::Status::CANCELLED;
    self = std::move(self_);
  }
  // `self` may be the last reference: this object may be gone after this.
}

}  // namespace nginx_xds
