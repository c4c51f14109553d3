// XdsClient's Delta stream (DeltaAggregatedResources); the rest of the client
// (channels, failover, backoff, the cache file, hand-over) is xds_client.cc.

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
  DeltaAssembler::Outcome outcome = delta_.Offer(response);
  if (outcome.nack) {
    Log(AgentLogLevel::kWarn, absl::StrCat("rejecting ", TypeName(response.type_url()), " nonce ",
                                      response.nonce(), ": ", *outcome.nack));
    return Answer(stream, response.type_url(), response.nonce(), &*outcome.nack);
  }
  const DeltaAssembler::Candidate& candidate = *outcome.candidate;
  const nginx_xds::v1::Snapshot* previous = applied_ ? &*applied_ : nullptr;
  std::vector<nginx_xds::v1::RejectedUpstream> rejected = candidate.rejected;
  // The candidate holds a rejected upstream as last good already; the
  // embedder's state decides (it may differ after the cache file).
  const nginx_xds::v1::Snapshot offered = WithoutRejected(candidate.snapshot, rejected, previous);
  // Nothing for the embedder: no upstream changed, and either the other
  // halves of new upstreams are still to come (a snapshot without them is
  // no state to run, not even at first) or it runs this version already.
  const bool nothing_to_hand_over =
      !candidate.upstreams_changed && rejected.empty() &&
      (candidate.incomplete || (applied_ && applied_->version() == offered.version()));
  if (nothing_to_hand_over) {
    Log(AgentLogLevel::kDebug,
        absl::StrCat("version ", offered.version(), " changes nothing to apply yet"));
    delta_.Commit();
    for (const std::string& name : candidate.touched) delta_rejected_.erase(name);
    if (delta_rejected_.empty()) return Answer(stream, candidate.type_url, candidate.nonce);
    for (const auto& [name, each] : delta_rejected_) rejected.push_back(each);
    const std::string message = RejectedUpstreamsMessage(rejected);
    nginx_xds::v1::RejectedUpstreams detail;
    for (const auto& each : rejected) *detail.add_upstreams() = each;
    return Answer(stream, candidate.type_url, candidate.nonce, &message, &detail);
  }
  std::optional<Verdict> verdict = HandOver(offered, /*from_cache=*/false);
  if (!verdict) {
    delta_.Reject();
    return false;
  }

  if (!verdict->status.ok()) {
    delta_.Reject();
    std::string message(verdict->status.message());
    if (message.empty()) message = "rejected by nginx";
    Log(AgentLogLevel::kWarn, absl::StrCat("version ", offered.version(), " rejected: ", message));
    return Answer(stream, candidate.type_url, candidate.nonce, &message);
  }

  for (auto& each : verdict->rejected) {
    each.set_message(ReasonAbout(each.name(), each.message()));
    rejected.push_back(each);
  }
  nginx_xds::v1::Snapshot now = WithoutRejected(offered, verdict->rejected, previous);
  delta_.Commit(verdict->rejected);
  // A name the response sent or removed is settled by it: applied, or
  // rejected again just now.
  for (const std::string& name : candidate.touched) delta_rejected_.erase(name);
  for (const auto& each : rejected) delta_rejected_[each.name()] = each;
  if (!rejected.empty()) {
    Log(AgentLogLevel::kWarn,
        absl::StrCat("version ", now.version(), " applied except ", rejected.size(),
                     rejected.size() == 1 ? " upstream: " : " upstreams: ",
                     absl::StrReplaceAll(RejectedUpstreamsMessage(rejected), {{"\n", "; "}})));
  }
  applied_ = std::move(now);
  if (delta_rejected_.empty()) last_good_version_ = applied_->version();
  result->got_snapshot = true;
  backoff_.Reset();
  SaveCache();
  Log(AgentLogLevel::kInfo,
      absl::StrCat("applied version ", applied_->version(), " (", applied_->upstreams_size(),
                   " upstreams)",
                   delta_rejected_.empty()
                       ? ""
                       : absl::StrCat(", ", delta_rejected_.size(), " rejected")));
  if (delta_rejected_.empty()) return Answer(stream, candidate.type_url, candidate.nonce);
  // Every answer names what the node still does not run (see delta_rejected_).
  rejected.clear();
  for (const auto& [name, each] : delta_rejected_) rejected.push_back(each);
  const std::string message = RejectedUpstreamsMessage(rejected);
  nginx_xds::v1::RejectedUpstreams detail;
  for (const auto& each : rejected) *detail.add_upstreams() = each;
  return Answer(stream, candidate.type_url, candidate.nonce, &message, &detail);
}

}  // namespace nginx_xds
