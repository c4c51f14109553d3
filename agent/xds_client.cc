#include "agent/xds_client.h"

#include <algorithm>
#include <chrono>
#include <exception>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "agent/snapshot_file.h"
#include "common/xds_mapping.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"

namespace nginx_xds {
namespace {

using envoy::service::discovery::v3::AggregatedDiscoveryService;
using envoy::service::discovery::v3::DiscoveryRequest;
using envoy::service::discovery::v3::DiscoveryResponse;

// google.rpc.Code INVALID_ARGUMENT, the code of every NACK.
constexpr int kNackCode = 3;
// How often blocking waits look for a shutdown they cannot be woken from.
constexpr absl::Duration kPollInterval = absl::Milliseconds(100);

const char* TypeName(const std::string& type_url) {
  if (type_url == kClusterTypeUrl) return "Cluster";
  if (type_url == kEndpointTypeUrl) return "ClusterLoadAssignment";
  return "unknown";
}

}  // namespace

absl::StatusOr<std::vector<std::string>> SplitServers(const std::string& server) {
  std::vector<std::string> servers;
  for (absl::string_view each : absl::StrSplit(server, ',')) {
    each = absl::StripAsciiWhitespace(each);
    if (each.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("control plane address list \"", server, "\" has an empty entry"));
    }
    servers.emplace_back(each);
  }
  return servers;
}

void SnapshotVerdict::Done(absl::Status status,
                           std::vector<nginx_xds::v1::RejectedUpstream> rejected) const {
  if (!state_) return;
  absl::MutexLock lock(&state_->mu);
  if (state_->status) return;
  state_->status = std::move(status);
  state_->rejected = std::move(rejected);
}

XdsClient::XdsClient(XdsClientOptions options, SnapshotHandler on_snapshot, LogHandler on_log)
    : options_(std::move(options)),
      on_snapshot_(std::move(on_snapshot)),
      on_log_(std::move(on_log)),
      backoff_(options_.backoff_initial, options_.backoff_max, options_.random),
      cache_writer_(options_.cache_path) {}

XdsClient::~XdsClient() { Shutdown(); }

absl::StatusOr<envoy::config::core::v3::Node> XdsClient::MakeNode(const XdsClientOptions& options) {
  envoy::config::core::v3::Node node;
  node.set_id(options.node_id);
  node.set_cluster(options.fleet);
  node.set_user_agent_name(options.user_agent);
  for (const auto& [key, value] : options.labels) {
    if (key.empty() || key == kNginxMetadataKey) {
      return absl::InvalidArgumentError(
          absl::StrCat("label key \"", key, "\" is reserved or empty"));
    }
    (*node.mutable_metadata()->mutable_fields())[key].set_string_value(value);
  }
  google::protobuf::Struct* nginx =
      (*node.mutable_metadata()->mutable_fields())[kNginxMetadataKey].mutable_struct_value();
  (*nginx->mutable_fields())[kMaxResponseBytesKey].set_number_value(kAgentMaxResponseBytes);
  google::protobuf::ListValue* list =
      (*nginx->mutable_fields())["static_upstreams"].mutable_list_value();
  for (const auto& upstream : options.static_upstreams) {
    std::string json;
    auto status = google::protobuf::util::MessageToJsonString(upstream, &json);
    if (!status.ok()) {
      return absl::InternalError(absl::StrCat("static upstream \"", upstream.name(),
                                              "\": cannot convert to JSON: ", status.ToString()));
    }
    status = google::protobuf::util::JsonStringToMessage(json, list->add_values());
    if (!status.ok()) {
      return absl::InternalError(
          absl::StrCat("static upstream \"", upstream.name(),
                       "\": cannot convert JSON to a Struct: ", status.ToString()));
    }
  }
  return node;
}

absl::Status XdsClient::Start() {
  absl::MutexLock lock(&mu_);
  if (started_) return absl::FailedPreconditionError("the agent is already started");
  if (shutdown_) return absl::FailedPreconditionError("the agent is shut down");
  absl::StatusOr<envoy::config::core::v3::Node> node = MakeNode(options_);
  if (!node.ok()) return node.status();
  absl::StatusOr<std::vector<std::string>> servers = SplitServers(options_.server);
  if (!servers.ok()) return servers.status();
  node_ = *std::move(node);
  servers_ = *std::move(servers);
  channels_.resize(servers_.size());
  sotw_only_.assign(servers_.size(), false);
  try {
    thread_ = std::thread([this] { RunOrLog(); });
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("cannot start the agent thread: ", e.what()));
  }
  started_ = true;
  return absl::OkStatus();
}

void XdsClient::Shutdown() {
  std::shared_ptr<SnapshotVerdict::State> verdict;
  {
    absl::MutexLock lock(&mu_);
    shutdown_ = true;
    if (context_ != nullptr) context_->TryCancel();
    verdict = verdict_;
  }
  if (verdict) {
    absl::MutexLock lock(&verdict->mu);
    verdict->cancelled = true;
  }
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) {
    try {
      thread_.join();
    } catch (const std::system_error&) {
      // Only when the thread is gone already; nothing left to wait for.
    }
  }
}

bool XdsClient::connected() {
  absl::MutexLock lock(&mu_);
  return context_ != nullptr;
}

bool XdsClient::shutting_down() {
  absl::MutexLock lock(&mu_);
  return shutdown_;
}

void XdsClient::Log(AgentLogLevel level, const std::string& message) {
  if (!on_log_) return;
  try {
    on_log_(level, message);
  } catch (...) {
    // A throwing log handler must not take the agent down.
  }
}

void XdsClient::RunOrLog() {
  try {
    Run();
  } catch (const std::exception& e) {
    Log(AgentLogLevel::kError, absl::StrCat("agent thread stopped: ", e.what()));
  } catch (...) {
    Log(AgentLogLevel::kError, "agent thread stopped by an unknown exception");
  }
}

void XdsClient::Run() {
  if (!options_.cache_path.empty()) {
    absl::StatusOr<CachedState> cached = LoadCacheFile(options_.cache_path);
    if (cached.ok()) {
      Log(AgentLogLevel::kInfo, absl::StrCat("cache file \"", options_.cache_path, "\" holds version ",
                                        cached->snapshot.version()));
      // Not yet the version the client holds: only once the embedder has
      // accepted it (see HandOverCache) is it sent as version_info.
      cached_ = std::move(cached->snapshot);
      cached_versions_ = std::move(cached->versions);
      // Delta: the resources of the file are held, so the control plane
      // sends only what differs; the first snapshot handed over is whole
      // all the same (built from them).
      if (options_.protocol == XdsProtocol::kDelta) delta_.Seed(*cached_, cached_versions_);
    } else if (absl::IsNotFound(cached.status())) {
      Log(AgentLogLevel::kDebug, absl::StrCat("no cache file \"", options_.cache_path, "\" yet"));
    } else {
      Log(AgentLogLevel::kWarn, absl::StrCat("ignoring the cache file: ", cached.status().message()));
    }
  }

  bool first_attempt = true;
  while (!shutting_down()) {
    StreamResult result;
    const std::string& server = servers_[current_];
    grpc::Channel* channel = ChannelTo(current_);
    if (WaitForReady(channel, options_.connect_timeout)) {
      auto stub = AggregatedDiscoveryService::NewStub(channels_[current_]);
      const bool sotw = options_.protocol == XdsProtocol::kSotw || sotw_only_[current_];
      result = sotw ? RunStream(stub.get()) : RunDeltaStream(stub.get());
    } else if (!shutting_down()) {
      Log(AgentLogLevel::kWarn, absl::StrCat("control plane ", server, " is not reachable"));
    }
    if (shutting_down()) break;
    assembler_.ResetStream();
    delta_.Reject();
    if (first_attempt && !result.got_snapshot) HandOverCache();
    first_attempt = false;
    if (shutting_down()) break;
    if (result.delta_unimplemented) {
      // A control plane from before Delta (during an upgrade): the same
      // server again, at once, in state of the world.
      sotw_only_[current_] = true;
      Log(AgentLogLevel::kWarn, absl::StrCat("control plane ", server,
                                             " does not serve Delta xDS; using state of the world"));
      continue;
    }
    // Another replica may serve while this one is down; what the client
    // holds goes with it (Delta: initial_resource_versions).
    current_ = (current_ + 1) % servers_.size();
    absl::Duration delay = backoff_.Next();
    Log(AgentLogLevel::kInfo, absl::StrCat("reconnecting to ", servers_[current_], " in ",
                                      absl::FormatDuration(delay)));
    if (!Sleep(delay)) break;
  }
  Log(AgentLogLevel::kDebug, "agent thread exiting");
}

grpc::Channel* XdsClient::ChannelTo(size_t index) {
  if (channels_[index]) return channels_[index].get();
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS,
              static_cast<int>(absl::ToInt64Milliseconds(backoff_.initial())));
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS,
              static_cast<int>(absl::ToInt64Milliseconds(backoff_.initial())));
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
              static_cast<int>(absl::ToInt64Milliseconds(backoff_.max())));
  // Notices a control plane (or link) that vanished without closing the
  // connection within ~30 s, also on an idle stream, and reconnects: a ping
  // every 20 s, 10 s to answer. Our control plane accepts pings every 10 s;
  // a server with gRPC's default floor (5 min) answers too_many_pings, and
  // gRPC then doubles this interval for the channel.
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 20 * 1000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10 * 1000);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  args.SetString(GRPC_ARG_PRIMARY_USER_AGENT_STRING, options_.user_agent);
  args.SetMaxReceiveMessageSize(static_cast<int>(kAgentMaxResponseBytes));
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  if (!options_.tls.ca.empty()) {
    grpc::SslCredentialsOptions tls;
    tls.pem_root_certs = options_.tls.ca;
    tls.pem_cert_chain = options_.tls.cert;
    tls.pem_private_key = options_.tls.key;
    credentials = grpc::SslCredentials(tls);
    if (!options_.tls_server_name.empty()) {
      args.SetSslTargetNameOverride(options_.tls_server_name);
    }
  }
  channels_[index] = grpc::CreateCustomChannel(servers_[index], credentials, args);
  return channels_[index].get();
}

bool XdsClient::WaitForReady(grpc::Channel* channel, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    grpc_connectivity_state state = channel->GetState(/*try_to_connect=*/true);
    if (state == GRPC_CHANNEL_READY) return true;
    if (shutting_down()) return false;
    const absl::Time now = absl::Now();
    if (now >= deadline) return false;
    channel->WaitForStateChange(state, absl::ToChronoTime(std::min(now + kPollInterval, deadline)));
  }
}

bool XdsClient::Sleep(absl::Duration delay) {
  absl::MutexLock lock(&mu_);
  mu_.AwaitWithTimeout(absl::Condition(&shutdown_), delay);
  return !shutdown_;
}

XdsClient::StreamResult XdsClient::RunStream(AggregatedDiscoveryService::Stub* stub) {
  StreamResult result;
  auto context = std::make_unique<grpc::ClientContext>();
  {
    absl::MutexLock lock(&mu_);
    if (shutdown_) return result;
    context_ = context.get();
  }
  Log(AgentLogLevel::kInfo, absl::StrCat("connected to ", servers_[current_]));
  std::unique_ptr<grpc::ClientReaderWriter<DiscoveryRequest, DiscoveryResponse>> stream =
      stub->StreamAggregatedResources(context.get());

  // The Node goes with the stream's first request only.
  DiscoveryRequest first;
  *first.mutable_node() = node_;
  first.set_type_url(kClusterTypeUrl);
  first.set_version_info(last_good_version_);
  bool ok =
      stream->Write(first) && Send(stream.get(), kEndpointTypeUrl, last_good_version_, "", nullptr);

  DiscoveryResponse response;
  while (ok && stream->Read(&response)) {
    ok = HandleResponse(stream.get(), response, &result);
  }
  if (!ok) {
    // Ended by us (shutdown or a failed write): cancel, then drain.
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

bool XdsClient::Send(Stream* stream, const std::string& type_url, const std::string& version,
                     const std::string& nonce, const std::string* error,
                     const nginx_xds::v1::RejectedUpstreams* rejected) {
  DiscoveryRequest request;
  request.set_type_url(type_url);
  request.set_version_info(version);
  request.set_response_nonce(nonce);
  if (error != nullptr) {
    request.mutable_error_detail()->set_code(kNackCode);
    request.mutable_error_detail()->set_message(*error);
    if (rejected != nullptr) request.mutable_error_detail()->add_details()->PackFrom(*rejected);
  }
  return stream->Write(request);
}

bool XdsClient::AnswerApplied(Stream* stream, const std::vector<SnapshotAssembler::Answer>& answers,
                              const std::string& version,
                              const std::vector<nginx_xds::v1::RejectedUpstream>& rejected) {
  if (rejected.empty()) {
    for (const SnapshotAssembler::Answer& answer : answers) {
      if (!Send(stream, answer.type_url, version, answer.nonce, nullptr)) return false;
    }
    return true;
  }
  const std::string message = RejectedUpstreamsMessage(rejected);
  nginx_xds::v1::RejectedUpstreams detail;
  for (const auto& each : rejected) *detail.add_upstreams() = each;
  Log(AgentLogLevel::kWarn, absl::StrCat("version ", version, " applied except ", rejected.size(),
                                    rejected.size() == 1 ? " upstream: " : " upstreams: ",
                                    absl::StrReplaceAll(message, {{"\n", "; "}})));
  for (const SnapshotAssembler::Answer& answer : answers) {
    if (!Send(stream, answer.type_url, last_good_version_, answer.nonce, &message, &detail)) {
      return false;
    }
  }
  return true;
}

bool XdsClient::HandleResponse(Stream* stream, const DiscoveryResponse& response,
                               StreamResult* result) {
  Log(AgentLogLevel::kDebug,
      absl::StrCat("received ", TypeName(response.type_url()), " version ", response.version_info(),
                   " nonce ", response.nonce(), " with ", response.resources_size(), " resources"));
  SnapshotAssembler::Outcome outcome = assembler_.Offer(response);
  for (const SnapshotAssembler::Nack& nack : outcome.nacks) {
    Log(AgentLogLevel::kWarn, absl::StrCat("rejecting ", TypeName(nack.type_url), " nonce ", nack.nonce,
                                      ": ", nack.message));
    if (!Send(stream, nack.type_url, last_good_version_, nack.nonce, &nack.message)) {
      return false;
    }
  }
  for (const SnapshotAssembler::Answer& answer : outcome.superseded) {
    Log(AgentLogLevel::kDebug, absl::StrCat(TypeName(answer.type_url), " nonce ", answer.nonce,
                                       " superseded before its pair arrived"));
    if (!Send(stream, answer.type_url, last_good_version_, answer.nonce, nullptr)) {
      return false;
    }
  }
  if (!outcome.candidate) return true;

  const SnapshotAssembler::Candidate& candidate = *outcome.candidate;
  const nginx_xds::v1::Snapshot* previous = applied_ ? &*applied_ : nullptr;
  // Upstreams the assembler rejected keep their last good state: the
  // embedder is offered that state for them.
  std::vector<nginx_xds::v1::RejectedUpstream> rejected = candidate.rejected;
  const nginx_xds::v1::Snapshot offered = WithoutRejected(candidate.snapshot, rejected, previous);
  std::optional<Verdict> verdict;
  if (applied_ && google::protobuf::util::MessageDifferencer::Equals(*applied_, offered)) {
    Log(AgentLogLevel::kDebug, absl::StrCat("version ", offered.version(), " is already applied"));
    verdict = Verdict{absl::OkStatus(), {}};
  } else {
    verdict = HandOver(offered, /*from_cache=*/false);
    if (!verdict) {
      assembler_.Reject();
      return false;
    }
  }

  if (verdict->status.ok()) {
    for (auto& each : verdict->rejected) {
      each.set_message(ReasonAbout(each.name(), each.message()));
      rejected.push_back(each);
    }
    // What the embedder runs now: the rejected upstreams as they were.
    nginx_xds::v1::Snapshot now = WithoutRejected(offered, verdict->rejected, previous);
    assembler_.Commit(now);
    applied_ = now;
    // SaveCache() writes applied_.
    if (rejected.empty()) last_good_version_ = now.version();
    result->got_snapshot = true;
    backoff_.Reset();
    SaveCache();
    Log(AgentLogLevel::kInfo,
        absl::StrCat("applied version ", now.version(), " (", now.upstreams_size(), " upstreams)"));
    return AnswerApplied(stream, candidate.answers, now.version(), rejected);
  }

  assembler_.Reject();
  std::string message(verdict->status.message());
  if (message.empty()) message = "rejected by nginx";
  Log(AgentLogLevel::kWarn, absl::StrCat("version ", offered.version(), " rejected: ", message));
  for (const SnapshotAssembler::Answer& answer : candidate.answers) {
    if (!Send(stream, answer.type_url, last_good_version_, answer.nonce, &message)) {
      return false;
    }
  }
  return true;
}

void XdsClient::SaveCache() {
  if (options_.cache_path.empty() || !applied_) return;
  absl::Status saved = cache_writer_.Save(*applied_);
  if (!saved.ok()) {
    Log(AgentLogLevel::kWarn, absl::StrCat("cannot write the cache file: ", saved.message()));
  }
}

std::optional<XdsClient::Verdict> XdsClient::HandOver(const nginx_xds::v1::Snapshot& snapshot,
                                                      bool from_cache) {
  return AwaitVerdict(
      [&](SnapshotVerdict verdict) { on_snapshot_(snapshot, from_cache, std::move(verdict)); });
}

std::optional<XdsClient::Verdict> XdsClient::AwaitVerdict(
    const std::function<void(SnapshotVerdict)>& handler) {
  auto state = std::make_shared<SnapshotVerdict::State>();
  {
    absl::MutexLock lock(&mu_);
    if (shutdown_) return std::nullopt;
    verdict_ = state;
  }
  try {
    handler(SnapshotVerdict(state));
  } catch (const std::exception& e) {
    SnapshotVerdict(state).Done(
        absl::InternalError(absl::StrCat("snapshot handler failed: ", e.what())));
  } catch (...) {
    SnapshotVerdict(state).Done(absl::InternalError("snapshot handler failed"));
  }
  std::optional<Verdict> verdict;
  {
    absl::MutexLock lock(&state->mu);
    state->mu.Await(absl::Condition(
        +[](SnapshotVerdict::State* s) { return s->status.has_value() || s->cancelled; },
        state.get()));
    if (!state->cancelled) verdict = Verdict{*state->status, std::move(state->rejected)};
  }
  {
    absl::MutexLock lock(&mu_);
    verdict_.reset();
  }
  return verdict;
}

void XdsClient::HandOverCache() {
  if (cache_handed_over_ || !cached_) return;
  cache_handed_over_ = true;
  Log(AgentLogLevel::kInfo, absl::StrCat("using version ", cached_->version(),
                                    " from the cache file until the control plane answers"));
  std::optional<Verdict> verdict = HandOver(*cached_, /*from_cache=*/true);
  if (!verdict) return;
  if (verdict->status.ok()) {
    // Upstreams rejected now stay as nginx.conf has them: the control plane
    // sends them again once it answers.
    applied_ = WithoutRejected(*cached_, verdict->rejected, nullptr);
    if (verdict->rejected.empty()) {
      applied_ = *cached_;
      last_good_version_ = cached_->version();
    }
    // Delta: the resources held when the file was written are not sent
    // again (initial_resource_versions).
    delta_.Seed(*applied_, cached_versions_);
    delta_embedder_has_state_ = true;
  } else {
    Log(AgentLogLevel::kWarn, absl::StrCat("cached version ", cached_->version(),
                                      " rejected: ", verdict->status.message()));
  }
}

}  // namespace nginx_xds
