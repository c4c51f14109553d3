#ifndef AGENT_XDS_CLIENT_H_
#define AGENT_XDS_CLIENT_H_

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/backoff.h"
#include "agent/delta_assembler.h"
#include "agent/snapshot_assembler.h"
#include "agent/snapshot_file.h"
#include "common/tls_pem.h"
#include "envoy/service/discovery/v3/ads.grpc.pb.h"
#include "envoy/service/discovery/v3/discovery.pb.h"
#include "grpcpp/grpcpp.h"
#include "nginx_xds/v1/upstream.pb.h"

namespace nginx_xds {

// The largest response the agent accepts (its gRPC receive limit, set on
// purpose: a SotW response of 10,000 upstreams of 10 servers is ~12 MB, over
// gRPC's 4 MiB default). Declared to the control plane in the Node metadata,
// which reports a larger response in fleet status instead of sending it.
inline constexpr size_t kAgentMaxResponseBytes = 64 << 20;

// Log levels, numbered as NXA_LOG_* in agent/xds_agent.h.
enum class AgentLogLevel { kError = 0, kWarn = 1, kInfo = 2, kDebug = 3 };

// The embedder's answer to one handed-over snapshot. Copyable; the first
// Done() counts and later ones are ignored. Safe to call from any thread, also
// after the XdsClient is gone.
class SnapshotVerdict {
 public:
  // OK applies the snapshot (ACK); anything else rejects it whole (NACK
  // with the status's message). OK with `rejected` (each with the name of an
  // upstream of the snapshot and the reason) applies every other upstream:
  // the rejected ones keep what the embedder had, and the response is
  // NACKed naming them (see RejectedUpstreams in upstream.proto).
  void Done(absl::Status status, std::vector<nginx_xds::v1::RejectedUpstream> rejected = {}) const;

 private:
  friend class XdsClient;
  struct State {
    absl::Mutex mu;
    std::optional<absl::Status> status ABSL_GUARDED_BY(mu);
    std::vector<nginx_xds::v1::RejectedUpstream> rejected ABSL_GUARDED_BY(mu);
    bool cancelled ABSL_GUARDED_BY(mu) = false;
  };
  explicit SnapshotVerdict(std::shared_ptr<State> state) : state_(std::move(state)) {}
  std::shared_ptr<State> state_;
};

// Which ADS variant the client speaks.
enum class XdsProtocol {
  // DeltaAggregatedResources: per-resource versions, only changes sent, and
  // initial_resource_versions on a new stream so nothing held is re-sent.
  kDelta,
  // StreamAggregatedResources (state of the world).
  kSotw,
};

// The control plane addresses of `server`, a comma-separated list
// ("h1:p1,h2:p2", spaces around the commas allowed); INVALID_ARGUMENT when
// it or one of its entries is empty.
absl::StatusOr<std::vector<std::string>> SplitServers(const std::string& server);

struct XdsClientOptions {
  // The control plane, e.g. "127.0.0.1:18000" (a gRPC target), or several
  // replicas "h1:p1,h2:p2": the client keeps one stream to one of them and,
  // when it fails, moves on to the next after the backoff.
  std::string server;
  XdsProtocol protocol = XdsProtocol::kDelta;
  std::string node_id;
  // Sent as Node.cluster.
  std::string fleet = "default";
  std::string user_agent = "nginx-xds-agent";
  // The last-good cache file; empty: none.
  std::string cache_path;
  // Declared in nginx.conf; sent in the Node metadata.
  std::vector<nginx_xds::v1::Upstream> static_upstreams;
  // Sent as string fields of the Node metadata (a staged rollout's canary
  // group may select nodes by them); the key "nginx" is reserved.
  std::map<std::string, std::string> labels;
  absl::Duration backoff_initial = Backoff::kDefaultInitial;
  absl::Duration backoff_max = Backoff::kDefaultMax;
  // How long the first connection attempt may take before the cached
  // snapshot is handed over.
  absl::Duration connect_timeout = absl::Seconds(1);
  // The backoff's jitter source; null: random.
  Backoff::RandomSource random;
  // TLS to the control plane, on when `tls.ca` is set (the server's
  // certificate must chain to it); `tls.cert` and `tls.key` present a client
  // certificate (mutual TLS).
  TlsPem tls;
  // The name the server's certificate must carry; empty: the host of `server`.
  std::string tls_server_name;
};

// An ADS client for Clusters and ClusterLoadAssignments, Delta (the default)
// or state of the world.
//
// Delta: the wildcard subscription of both types (Clusters first) carries
// initial_resource_versions, the resources held; each response goes through
// a DeltaAssembler and is answered by its nonce after the embedder's
// verdict on the snapshot it makes: an ACK, or a NACK naming the upstreams
// rejected alone (their resources are then not held, and the server never
// re-sends those versions) or the reason when rejected whole. A version
// that changes none of the node's resources brings no response, so it is
// never handed over.
//
// State of the world: one thread keeps one stream to the control plane at a
// time: the first request per type carries version_info = the version the embedder last
// accepted (also one handed over from the cache file), the stream's first
// request carries the Node. Each response is validated by
// a SnapshotAssembler; an invalid one is NACKed at once. A complete snapshot
// is handed to the SnapshotHandler and the client waits for its verdict, then
// writes the cache file and ACKs, or NACKs with the embedder's message.
// Upstreams rejected one by one (by the assembler's validation or by the
// embedder) keep their last good state: everything else of the snapshot is
// applied and cached, and the responses are NACKed naming each rejected
// upstream, in the message (a line `upstream "NAME": reason` each) and as a
// RejectedUpstreams in error_detail.details. Such a NACK carries the version
// of the last snapshot applied without rejections as version_info. Any
// stream end is followed by a reconnect after a jittered backoff that resets
// after a good response. When the first attempt fails and the cache file
// holds a snapshot, that one is handed over once (from_cache) and never ACKed.
//
// Start() and Shutdown() are called from one embedder thread; the handlers
// run on the client's thread. No exception leaves it.
class XdsClient {
 public:
  // Receives a validated snapshot; `verdict.Done()` must follow exactly once,
  // from any thread, possibly before this returns. Until then the client
  // sends no ACK or NACK and hands over no newer snapshot.
  using SnapshotHandler = std::function<void(const nginx_xds::v1::Snapshot& snapshot,
                                             bool from_cache, SnapshotVerdict verdict)>;
  using LogHandler = std::function<void(AgentLogLevel level, const std::string& message)>;

  // Delta: what one response changes. `whole`: the embedder has no state
  // from this client yet, and `upserted` is every upstream.
  struct UpstreamChange {
    std::string version;
    bool whole = false;
    // New or changed upstreams (whole: all of them).
    std::vector<nginx_xds::v1::Upstream> upserted;
    // Names of upstreams gone.
    std::vector<std::string> removed;
  };
  // Receives a change (Delta); like SnapshotHandler otherwise. The embedder
  // may reject upstreams of `upserted` one by one through the verdict.
  using ChangeHandler = std::function<void(const UpstreamChange& change, SnapshotVerdict verdict)>;

  XdsClient(XdsClientOptions options, SnapshotHandler on_snapshot, LogHandler on_log);
  // Shutdown().
  ~XdsClient();

  XdsClient(const XdsClient&) = delete;
  XdsClient& operator=(const XdsClient&) = delete;

  // Starts the thread. FAILED_PRECONDITION when already started; INTERNAL
  // when the thread or channel cannot be made.
  absl::Status Start() ABSL_LOCKS_EXCLUDED(mu_);

  // Cancels the stream, wakes every wait (also one for a verdict) and joins
  // the thread. Idempotent.
  void Shutdown() ABSL_LOCKS_EXCLUDED(mu_);

  // Delta: hand over changes to `on_change` instead of whole snapshots to
  // the SnapshotHandler (which still gets the one from the cache file), so
  // a change costs the agent O(change). Before Start() only.
  void SetChangeHandler(ChangeHandler on_change) { on_change_ = std::move(on_change); }

  // Whether a stream to the control plane is open now. Thread-safe.
  bool connected() ABSL_LOCKS_EXCLUDED(mu_);

  // The Node sent on a stream's first request. Exposed for tests.
  static absl::StatusOr<envoy::config::core::v3::Node> MakeNode(const XdsClientOptions& options);

 private:
  using Stream =
      grpc::ClientReaderWriterInterface<envoy::service::discovery::v3::DiscoveryRequest,
                                        envoy::service::discovery::v3::DiscoveryResponse>;

  // What one stream achieved.
  struct StreamResult {
    // Whether the embedder accepted a snapshot from the stream.
    bool got_snapshot = false;
    // The server answered the Delta stream UNIMPLEMENTED (a control plane
    // from before Delta).
    bool delta_unimplemented = false;
  };

  void Run();
  void RunOrLog();
  // Waits up to `timeout` for the channel to be READY; false on timeout or shutdown.
  bool WaitForReady(grpc::Channel* channel, absl::Duration timeout) ABSL_LOCKS_EXCLUDED(mu_);
  StreamResult RunStream(envoy::service::discovery::v3::AggregatedDiscoveryService::Stub* stub)
      ABSL_LOCKS_EXCLUDED(mu_);
  StreamResult RunDeltaStream(
      envoy::service::discovery::v3::AggregatedDiscoveryService::Stub* stub)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Handles one Delta response; false when the stream must end.
  bool HandleDeltaResponse(
      grpc::ClientReaderWriterInterface<envoy::service::discovery::v3::DeltaDiscoveryRequest,
                                        envoy::service::discovery::v3::DeltaDiscoveryResponse>*
          stream,
      const envoy::service::discovery::v3::DeltaDiscoveryResponse& response,
      StreamResult* result) ABSL_LOCKS_EXCLUDED(mu_);
  // Opens (once) the channel to server `index` of servers_.
  grpc::Channel* ChannelTo(size_t index);
  // Handles one response; false when the stream must end.
  bool HandleResponse(Stream* stream,
                      const envoy::service::discovery::v3::DiscoveryResponse& response,
                      StreamResult* result) ABSL_LOCKS_EXCLUDED(mu_);
  // The embedder's verdict on a snapshot: see SnapshotVerdict::Done.
  struct Verdict {
    absl::Status status;
    std::vector<nginx_xds::v1::RejectedUpstream> rejected;
  };
  // Hands `snapshot` over and waits for the verdict; nullopt on shutdown.
  std::optional<Verdict> HandOver(const nginx_xds::v1::Snapshot& snapshot, bool from_cache)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Calls `handler` with a new verdict and waits for it; nullopt on shutdown.
  std::optional<Verdict> AwaitVerdict(const std::function<void(SnapshotVerdict)>& handler)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Sends the answer to `answers` after `snapshot` was applied except the
  // upstreams of `rejected`: an ACK, or a NACK naming them.
  bool AnswerApplied(Stream* stream, const std::vector<SnapshotAssembler::Answer>& answers,
                     const std::string& version,
                     const std::vector<nginx_xds::v1::RejectedUpstream>& rejected);
  void HandOverCache() ABSL_LOCKS_EXCLUDED(mu_);
  // Writes applied_ to the cache file; a failure is logged.
  void SaveCache();
  // Delta: appends the change `candidate` made (but the upstreams of
  // `refused`, which stay as they were) and its resource versions to the
  // cache file, in O(change); a failure is logged.
  void SaveDeltaCache(const DeltaAssembler::Candidate& candidate,
                      const std::set<std::string>& refused);
  bool Send(Stream* stream, const std::string& type_url, const std::string& version,
            const std::string& nonce, const std::string* error,
            const nginx_xds::v1::RejectedUpstreams* rejected = nullptr);
  // Sleeps `delay` unless shut down first; false when shut down.
  bool Sleep(absl::Duration delay) ABSL_LOCKS_EXCLUDED(mu_);
  bool shutting_down() ABSL_LOCKS_EXCLUDED(mu_);
  void Log(AgentLogLevel level, const std::string& message);

  const XdsClientOptions options_;
  const SnapshotHandler on_snapshot_;
  const LogHandler on_log_;
  ChangeHandler on_change_;

  // Owned by the client thread.
  envoy::config::core::v3::Node node_;
  SnapshotAssembler assembler_;
  DeltaAssembler delta_;
  // Delta: the upstreams the node does not run as the control plane has
  // them, by name, each with its reason; every answer NACKs naming them (as
  // SotW's answers do, where the server sends them again each version) until
  // a later state of the upstream is applied or it is removed, so that fleet
  // status keeps showing them.
  std::map<std::string, nginx_xds::v1::RejectedUpstream> delta_rejected_;
  // The system version at which each of delta_rejected_ was rejected.
  std::map<std::string, std::string> delta_rejected_at_;
  // Delta: whether the embedder runs a state this client handed over (or
  // the cache file's): then it gets changes, else the whole state.
  bool delta_embedder_has_state_ = false;
  // Delta: since when the first hand-over waits for the other halves of a
  // first sync split over several responses (a node starting gets one
  // whole state, not the first megabyte of it); unset: not waiting.
  std::optional<absl::Time> first_sync_waiting_since_;
  // The control plane replicas, and a channel to each once used.
  std::vector<std::string> servers_;
  std::vector<std::shared_ptr<grpc::Channel>> channels_;
  // The servers that do not serve Delta: spoken to in state of the world.
  std::vector<bool> sotw_only_;
  // The one streams go to now.
  size_t current_ = 0;
  Backoff backoff_;
  // The version sent as version_info (on a new stream and in NACKs): that of
  // the snapshot the embedder accepted last without rejecting an upstream,
  // from the stream or the cache file; empty before any. A cached version the embedder was never
  // handed is not claimed: the control plane would then not send it again.
  std::string last_good_version_;
  // What the embedder holds now; a re-sent identical snapshot is ACKed
  // without handing it over again.
  std::optional<nginx_xds::v1::Snapshot> applied_;
  std::optional<nginx_xds::v1::Snapshot> cached_;
  // The resource versions the cache file holds with cached_.
  std::map<std::string, DeltaAssembler::Versions> cached_versions_;
  bool cache_handed_over_ = false;
  // Writes what the embedder runs to the cache file, per change.
  SnapshotCacheWriter cache_writer_;

  absl::Mutex mu_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ClientContext* context_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::shared_ptr<SnapshotVerdict::State> verdict_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace nginx_xds

#endif  // AGENT_XDS_CLIENT_H_
