// XdsClient's Delta stream (DeltaAggregatedResources); the rest of the client
// (channels, failover, backoff, the cache file, hand-over) is xds_client.cc.

#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "agent/xds_client.h"
#include "common/xds_mapping.h"

namespace nginx_xds {
namespace {

using envoy::service::discovery::v3::AggregatedDiscoveryService;
using envoy::service::discovery::v3::DeltaDiscoveryRequest;
using envoy::service::discovery::v3::DeltaDiscoveryResponse;
using DeltaStream = grpc::ClientReaderWriterInterface<DeltaDiscoveryRequest, DeltaDiscoveryResponse>;

// google.rpc.Code INVALID_ARGUMENT, the code of every NACK.
constexpr int kNackCode = 3;
// The longest a first sync waits for the other halves of its resources.
constexpr absl::Duration kFirstSyncWait = absl::Seconds(5);

const char* TypeName(const std::string& type_url) {
  if (type_url == kClusterTypeUrl) return "Cluster";
  if (type_url == kEndpointTypeUrl) return "ClusterLoadAssignment";
  return "unknown";
}

// An ACK of `nonce`, or with `error` a NACK (naming the upstreams of
// `rejected` when set).
bool Answer(DeltaStream* stream, const std::string& type_url, const std::string& nonce,
            const std::string* error = nullptr,
            const nginx_xds::v1::RejectedUpstreams* rejected = nullptr) {
  DeltaDiscoveryRequest request;
  request.set_type_url(type_url);
  request.set_response_nonce(nonce);
  if (error != nullptr) {
    request.mutable_error_detail()->set_code(kNackCode);
    request.mutable_error_detail()->set_message(*error);
    if (rejected != nullptr) request.mutable_error_detail()->add_details()->PackFrom(*rejected);
  }
  return stream->Write(request);
}

}  // namespace

XdsClient::StreamResult XdsClient::RunDeltaStream(AggregatedDiscoveryService::Stub* stub) {
  StreamResult result;
  auto context = std::make_unique<grpc::ClientContext>();
  {
    absl::MutexLock lock(&mu_);
    if (shutdown_) return result;
    context_ = context.get();
  }
  Log(AgentLogLevel::kInfo, absl::StrCat("connected to ", servers_[current_], " (Delta)"));
  std::unique_ptr<grpc::ClientReaderWriter<DeltaDiscoveryRequest, DeltaDiscoveryResponse>> stream =
      stub->DeltaAggregatedResources(context.get());

  // Clusters first, so that an assignment does not arrive before its
  // cluster; the Node goes with the stream's first request only.
  bool ok = true;
  for (const char* type_url : {kClusterTypeUrl, kEndpointTypeUrl}) {
    DeltaDiscoveryRequest subscribe;
    if (std::string(type_url) == kClusterTypeUrl) *subscribe.mutable_node() = node_;
    subscribe.set_type_url(type_url);
    subscribe.add_resource_names_subscribe("*");
    for (const auto& [name, version] : delta_.HeldVersions(type_url)) {
      (*subscribe.mutable_initial_resource_versions())[name] = version;
    }
    ok = ok && stream->Write(subscribe);
  }

  DeltaDiscoveryResponse response;
  while (ok && stream->Read(&response)) {
    ok = HandleDeltaResponse(stream.get(), response, &result);
  }
  if (!ok) {
    context->TryCancel();
    while (stream->Read(&response)) {
    }
  }
  grpc::Status status = stream->Finish();
  {
    absl::MutexLock lock(&mu_);
    context_ = nullptr;
  }
  result.delta_unimplemented = status.error_code() == grpc::StatusCode::UNIMPLEMENTED;
  if (!shutting_down()) {
    Log(AgentLogLevel::kWarn, absl::StrCat("stream to ", servers_[current_], " ended: ",
                                      status.error_code(), " ", status.error_message()));
  }
  return result;
}

bool XdsClient::HandleDeltaResponse(DeltaStream* stream, const DeltaDiscoveryResponse& response,
                                    StreamResult* result) {
  Log(AgentLogLevel::kDebug,
      absl::StrCat("received ", TypeName(response.type_url()), " version ",
                   response.system_version_info(), " nonce ", response.nonce(), " with ",
                   response.resources_size(), " resources and ",
                   response.removed_resources_size(), " removed"));
  // An upstream rejected at this version stays rejected at it, whichever
  // half of it comes later.
  std::map<std::string, std::string> refuse;
  for (const auto& [name, version] : delta_rejected_at_) {
    if (version == response.system_version_info()) refuse[name] = delta_rejected_[name].message();
  }
  // With a change handler no whole snapshot is made per response.
  DeltaAssembler::Outcome outcome = delta_.Offer(response, /*whole=*/!on_change_, refuse);
  if (outcome.nack) {
    Log(AgentLogLevel::kWarn, absl::StrCat("rejecting ", TypeName(response.type_url()), " nonce ",
                                           response.nonce(), ": ", *outcome.nack));
    return Answer(stream, response.type_url(), response.nonce(), &*outcome.nack);
  }
  const DeltaAssembler::Candidate& candidate = *outcome.candidate;
  std::vector<nginx_xds::v1::RejectedUpstream> rejected = candidate.rejected;

  // Nothing for the embedder: no upstream changed, and either the other
  // halves of new upstreams are still to come (a snapshot without them is
  // no state to run, not even at first) or it runs this version already.
  bool nothing_to_hand_over =
      candidate.changes.empty() && rejected.empty() &&
      (candidate.incomplete ||
       (delta_embedder_has_state_ && delta_.version() == candidate.version));
  // A first sync split over several responses (the server sends at most
  // 1 MiB per response) is handed over once complete: every resource with
  // its other half. A half that never comes does not hold nginx back for
  // longer than kFirstSyncWait.
  if (!nothing_to_hand_over && !delta_embedder_has_state_ && delta_.half_held() > 0) {
    const absl::Time now = absl::Now();
    if (!first_sync_waiting_since_) first_sync_waiting_since_ = now;
    nothing_to_hand_over = now - *first_sync_waiting_since_ < kFirstSyncWait;
  }
  std::optional<Verdict> verdict;
  if (nothing_to_hand_over) {
    Log(AgentLogLevel::kDebug,
        absl::StrCat("version ", candidate.version, " changes nothing to apply yet"));
    verdict = Verdict{absl::OkStatus(), {}};
  } else if (on_change_) {
    UpstreamChange change;
    change.version = candidate.version;
    change.whole = !delta_embedder_has_state_;
    if (change.whole) {
      nginx_xds::v1::Snapshot all = delta_.CandidateSnapshot();
      change.upserted.assign(all.upstreams().begin(), all.upstreams().end());
    } else {
      for (const auto& [name, upstream] : candidate.changes) {
        if (upstream) {
          change.upserted.push_back(*upstream);
        } else {
          change.removed.push_back(name);
        }
      }
    }
    verdict = AwaitVerdict([&](SnapshotVerdict each) { on_change_(change, std::move(each)); });
  } else {
    verdict = HandOver(candidate.snapshot, /*from_cache=*/false);
  }
  if (!verdict) {
    delta_.Reject();
    return false;
  }

  if (!verdict->status.ok()) {
    delta_.Reject();
    std::string message(verdict->status.message());
    if (message.empty()) message = "rejected by nginx";
    Log(AgentLogLevel::kWarn, absl::StrCat("version ", candidate.version, " rejected: ", message));
    return Answer(stream, candidate.type_url, candidate.nonce, &message);
  }

  std::set<std::string> refused;
  for (auto& each : verdict->rejected) {
    each.set_message(ReasonAbout(each.name(), each.message()));
    refused.insert(each.name());
    rejected.push_back(each);
  }
  delta_.Commit(verdict->rejected);
  const bool handed_over = !nothing_to_hand_over;
  if (handed_over) delta_embedder_has_state_ = true;
  // A name the response sent or removed is settled by it: applied, or
  // rejected again just now.
  for (const std::string& name : candidate.touched) {
    delta_rejected_.erase(name);
    delta_rejected_at_.erase(name);
  }
  for (const auto& each : rejected) {
    delta_rejected_[each.name()] = each;
    delta_rejected_at_[each.name()] = candidate.version;
  }
  if (!rejected.empty()) {
    Log(AgentLogLevel::kWarn,
        absl::StrCat("version ", candidate.version, " applied except ", rejected.size(),
                     rejected.size() == 1 ? " upstream: " : " upstreams: ",
                     absl::StrReplaceAll(RejectedUpstreamsMessage(rejected), {{"\n", "; "}})));
  }
  if (handed_over) {
    result->got_snapshot = true;
    backoff_.Reset();
    SaveDeltaCache(candidate, refused);
    Log(AgentLogLevel::kInfo,
        absl::StrCat("applied version ", candidate.version, " (", delta_.size(), " upstreams, ",
                     candidate.changes.size(), " changed)",
                     delta_rejected_.empty()
                         ? ""
                         : absl::StrCat(", ", delta_rejected_.size(), " rejected")));
  }
  if (delta_rejected_.empty()) return Answer(stream, candidate.type_url, candidate.nonce);
  // Every answer names what the node still does not run (see delta_rejected_).
  rejected.clear();
  for (const auto& [name, each] : delta_rejected_) rejected.push_back(each);
  const std::string message = RejectedUpstreamsMessage(rejected);
  nginx_xds::v1::RejectedUpstreams detail;
  for (const auto& each : rejected) *detail.add_upstreams() = each;
  return Answer(stream, candidate.type_url, candidate.nonce, &message, &detail);
}

void XdsClient::SaveDeltaCache(const DeltaAssembler::Candidate& candidate,
                               const std::set<std::string>& refused) {
  if (options_.cache_path.empty()) return;
  std::vector<nginx_xds::v1::Upstream> upserted;
  std::vector<std::string> removed;
  for (const auto& [name, upstream] : candidate.changes) {
    if (refused.count(name)) continue;  // kept as it was
    if (upstream) {
      upserted.push_back(*upstream);
    } else {
      removed.push_back(name);
    }
  }
  absl::Status saved = cache_writer_.SaveChange(
      candidate.version, upserted, removed, delta_.VersionsOf(candidate.touched),
      [this] { return CachedState{delta_.State(), delta_.AllVersions()}; });
  if (!saved.ok()) {
    Log(AgentLogLevel::kWarn, absl::StrCat("cannot write the cache file: ", saved.message()));
  }
}

}  // namespace nginx_xds
