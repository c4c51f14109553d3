// The control plane's cost per write as the fleet grows (issue 11).
//
// Against a running control plane (--xds, --admin, --controlplane_pid; run
// with --ack_timeout=0s so writes do not wait for this bench's streams):
//
//  1. loads --upstreams upstreams of 10 servers each, and reads the control
//     plane's RSS before and after: memory per endpoint;
//  2. opens one Delta stream (wildcard Clusters and assignments, ACKing
//     each response) and times its initial sync of the whole fleet;
//  3. --writes one-server changes (a random upstream's first server changes
//     weight), each timed until the stream has the new version: the control
//     plane's CPU per write (utime+stime of its process over the phase, so
//     the store commit and the management API are in it) and the bytes the
//     stream received per change;
//  4. the same with one SotW stream instead (bytes per change);
//  5. the same with --streams Delta streams (the others start with
//     initial_resource_versions, as reconnecting nodes would, so opening
//     them does not resend the fleet): fan-out CPU per write, write -> last
//     stream p50/p99.
//
// Its last line is a machine-readable "RESULT key=value ...".

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/xds_mapping.h"
#include "envoy/service/discovery/v3/ads.grpc.pb.h"
#include "envoy/service/discovery/v3/discovery.pb.h"
#include "grpcpp/grpcpp.h"
#include "nginx_xds/v1/management.grpc.pb.h"
#include "nginx_xds/v1/management.pb.h"

ABSL_FLAG(std::string, xds, "127.0.0.1:18000", "The control plane's ADS address.");
ABSL_FLAG(std::string, admin, "127.0.0.1:18001", "The control plane's management API address.");
ABSL_FLAG(int, controlplane_pid, 0, "The control plane's PID (CPU time and RSS).");
ABSL_FLAG(int, upstreams, 100, "Upstreams to load, 10 servers each.");
ABSL_FLAG(int, writes, 200, "One-server changes per phase.");
ABSL_FLAG(int, streams, 1000, "Delta streams in the fan-out phase.");
ABSL_FLAG(std::string, fleet, "scale", "The fleet of every stream and write.");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(120), "How long any one wait may take.");

namespace {

using envoy::service::discovery::v3::AggregatedDiscoveryService;
using envoy::service::discovery::v3::DeltaDiscoveryRequest;
using envoy::service::discovery::v3::DeltaDiscoveryResponse;
using envoy::service::discovery::v3::DiscoveryRequest;
using envoy::service::discovery::v3::DiscoveryResponse;
using Clock = std::chrono::steady_clock;

constexpr int kServers = 10;
constexpr int kMaxReceive = 64 << 20;
const char* const kTypes[] = {nginx_xds::kClusterTypeUrl, nginx_xds::kEndpointTypeUrl};

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// utime + stime of `pid`, in seconds.
double CpuSeconds(int pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Fields after the command (which may hold spaces) start after ')'.
  std::istringstream rest(stat.substr(stat.rfind(')') + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14 || i == 15) ticks += std::stod(field);
  }
  return ticks / sysconf(_SC_CLK_TCK);
}

// VmRSS of `pid` in MiB.
double RssMib(int pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    int64_t kb = 0;
    if (line.rfind("VmRSS:", 0) == 0 &&
        absl::SimpleAtoi(absl::StripAsciiWhitespace(line.substr(6, line.size() - 9)), &kb)) {
      return kb / 1024.0;
    }
  }
  return -1;
}

double Percentile(std::vector<double> values, double p) {
  if (values.empty()) return -1;
  std::sort(values.begin(), values.end());
  size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * values.size()));
  return values[std::clamp<size_t>(rank, 1, values.size()) - 1];
}

// How many streams have reached the target version; waits for all.
class Tracker {
 public:
  void SetTarget(int64_t target, int streams) {
    absl::MutexLock lock(&mu_);
    target_ = target;
    streams_ = streams;
    reached_ = 0;
    for (const auto& [id, version] : versions_) reached_ += version >= target ? 1 : 0;
  }
  void Update(int id, int64_t version) {
    absl::MutexLock lock(&mu_);
    int64_t& mine = versions_[id];
    if (version <= mine) return;
    if (mine < target_ && version >= target_) ++reached_;
    mine = version;
  }
  bool Wait(absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    auto all = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return reached_ >= streams_; };
    return mu_.AwaitWithTimeout(absl::Condition(&all), timeout);
  }
  void Forget(int id) {
    absl::MutexLock lock(&mu_);
    versions_.erase(id);
  }

 private:
  absl::Mutex mu_;
  int64_t target_ ABSL_GUARDED_BY(mu_) = 0;
  int streams_ ABSL_GUARDED_BY(mu_) = 0;
  int reached_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<int, int64_t> versions_ ABSL_GUARDED_BY(mu_);
};

// name -> version per type: what a Delta client holds.
using Held = std::map<std::string, std::map<std::string, std::string>>;

// One simulated node: a Delta or SotW ADS stream on its own channel,
// wildcard on both types, ACKing every response as it arrives; counts the
// bytes it receives and reports the newest version it has to the tracker.
template <typename Request, typename Response>
class ClientStream final : public grpc::ClientBidiReactor<Request, Response> {
 public:
  // `expect`: with it, the stream keeps what it holds (Delta) and Synced()
  // returns once it holds `expect` resources of each type.
  ClientStream(int id, const std::string& target, const std::string& fleet, Tracker* tracker,
               size_t expect, std::shared_ptr<const Held> initial)
      : id_(id), tracker_(tracker), keep_held_(expect > 0), expect_(expect) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt("nginx_xds.bench.stream", id);
    args.SetMaxReceiveMessageSize(kMaxReceive);
    channel_ = grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
    stub_ = AggregatedDiscoveryService::NewStub(channel_);
    absl::MutexLock lock(&mu_);
    for (const char* type_url : kTypes) {
      Request subscribe;
      if (pending_.empty()) {
        subscribe.mutable_node()->set_id(absl::StrCat("scale-", getpid(), "-", id));
        subscribe.mutable_node()->set_cluster(fleet);
        // What this client accepts (its receive limit): a SotW response of a
        // large fleet is one message of every resource.
        auto* nginx = (*subscribe.mutable_node()->mutable_metadata()->mutable_fields())
                          [nginx_xds::kNginxMetadataKey]
                              .mutable_struct_value();
        (*nginx->mutable_fields())[nginx_xds::kMaxResponseBytesKey].set_number_value(kMaxReceive);
      }
      subscribe.set_type_url(type_url);
      if constexpr (std::is_same_v<Request, DeltaDiscoveryRequest>) {
        if (initial != nullptr) {
          auto it = initial->find(type_url);
          if (it != initial->end()) {
            subscribe.mutable_initial_resource_versions()->insert(it->second.begin(),
                                                                  it->second.end());
          }
        }
      }
      pending_.push_back(std::move(subscribe));
    }
  }

  void Start() {
    if constexpr (std::is_same_v<Request, DeltaDiscoveryRequest>) {
      stub_->async()->DeltaAggregatedResources(&context_, this);
    } else {
      stub_->async()->StreamAggregatedResources(&context_, this);
    }
    {
      absl::MutexLock lock(&mu_);
      writing_ = true;
      this->StartWrite(&pending_.front());
    }
    this->StartRead(&response_);
    this->StartCall();
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;
    bytes_.fetch_add(response_.ByteSizeLong(), std::memory_order_relaxed);
    responses_.fetch_add(1, std::memory_order_relaxed);
    Request ack;
    ack.set_type_url(response_.type_url());
    ack.set_response_nonce(response_.nonce());
    int64_t version = 0;
    if constexpr (std::is_same_v<Response, DeltaDiscoveryResponse>) {
      absl::SimpleAtoi(response_.system_version_info(), &version);
      if (keep_held_) {
        absl::MutexLock lock(&held_mu_);
        auto& held = held_[response_.type_url()];
        for (const auto& resource : response_.resources()) held[resource.name()] = resource.version();
        for (const auto& name : response_.removed_resources()) held.erase(name);
        NotifyIfSyncedLocked();
      }
    } else {
      absl::SimpleAtoi(response_.version_info(), &version);
      ack.set_version_info(response_.version_info());
      if (keep_held_) {
        // SotW: counts only (the first responses are complete).
        absl::MutexLock lock(&held_mu_);
        auto& held = held_[response_.type_url()];
        for (int i = 0; i < response_.resources_size(); ++i) held[absl::StrCat(i)];
        NotifyIfSyncedLocked();
      }
    }
    {
      absl::MutexLock lock(&mu_);
      pending_.push_back(std::move(ack));
      if (!writing_) {
        writing_ = true;
        this->StartWrite(&pending_.front());
      }
    }
    tracker_->Update(id_, version);
    this->StartRead(&response_);
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    pending_.pop_front();
    if (!ok) {
      pending_.clear();
      writing_ = false;
      return;
    }
    if (pending_.empty()) {
      writing_ = false;
    } else {
      this->StartWrite(&pending_.front());
    }
  }

  void OnDone(const grpc::Status& status) override {
    status_ = status;
    done_.Notify();
  }

  void Cancel() {
    context_.TryCancel();
    done_.WaitForNotification();
  }

  bool Synced(absl::Duration timeout) { return synced_.WaitForNotificationWithTimeout(timeout); }
  int64_t bytes() const { return bytes_.load(); }
  int64_t responses() const { return responses_.load(); }
  Held held() {
    absl::MutexLock lock(&held_mu_);
    return held_;
  }

 private:
  void NotifyIfSyncedLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(held_mu_) {
    bool all = held_.size() == 2;
    for (const auto& [type, names] : held_) all = all && names.size() >= expect_;
    if (all && !synced_.HasBeenNotified()) synced_.Notify();
  }

  const int id_;
  Tracker* const tracker_;
  const bool keep_held_;
  const size_t expect_;
  absl::Notification synced_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<AggregatedDiscoveryService::Stub> stub_;
  grpc::ClientContext context_;
  Response response_;
  absl::Mutex mu_;
  std::deque<Request> pending_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  absl::Mutex held_mu_;
  Held held_ ABSL_GUARDED_BY(held_mu_);
  std::atomic<int64_t> bytes_{0};
  std::atomic<int64_t> responses_{0};
  grpc::Status status_;
  absl::Notification done_;
};

using DeltaClient = ClientStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse>;
using SotwClient = ClientStream<DiscoveryRequest, DiscoveryResponse>;

// Upstream `index` with its first server at weight `weight`.
nginx_xds::v1::Upstream MakeUpstream(int index, int weight) {
  nginx_xds::v1::Upstream upstream;
  upstream.set_name(absl::StrCat("u", index));
  for (int s = 0; s < kServers; ++s) {
    auto* server = upstream.add_servers();
    server->set_address(absl::StrCat("10.", index / 250 % 250, ".", index % 250, ".", s + 1, ":80"));
    if (s == 0) server->set_weight(weight);
  }
  return upstream;
}

// Writes through the management API, up to `window` calls in flight.
class Writer {
 public:
  Writer(const std::string& admin, std::string fleet)
      : stub_(nginx_xds::v1::UpstreamService::NewStub(
            grpc::CreateChannel(admin, grpc::InsecureChannelCredentials()))),
        fleet_(std::move(fleet)) {}

  // Puts `upstream` without waiting (at most `window` outstanding).
  void PutAsync(nginx_xds::v1::Upstream upstream, int window) {
    {
      absl::MutexLock lock(&mu_);
      auto room = [this, window]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return in_flight_ < window;
      };
      mu_.Await(absl::Condition(&room));
      ++in_flight_;
    }
    auto call = std::make_shared<Call>();
    call->request.set_fleet(fleet_);
    *call->request.mutable_upstream() = std::move(upstream);
    stub_->async()->PutUpstream(&call->context, &call->request, &call->response,
                                [this, call](grpc::Status status) {
                                  absl::MutexLock lock(&mu_);
                                  --in_flight_;
                                  if (!status.ok()) {
                                    ++errors_;
                                    fprintf(stderr, "PutUpstream: %s\n",
                                            status.error_message().c_str());
                                  }
                                  last_version_ = std::max<int64_t>(last_version_,
                                                                    call->response.version());
                                });
  }

  // Waits for every call; the newest version written.
  int64_t Drain() {
    absl::MutexLock lock(&mu_);
    auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return in_flight_ == 0; };
    mu_.Await(absl::Condition(&idle));
    return last_version_;
  }

  int errors() {
    absl::MutexLock lock(&mu_);
    return errors_;
  }

 private:
  struct Call {
    grpc::ClientContext context;
    nginx_xds::v1::PutUpstreamRequest request;
    nginx_xds::v1::WriteResponse response;
  };
  std::unique_ptr<nginx_xds::v1::UpstreamService::Stub> stub_;
  const std::string fleet_;
  absl::Mutex mu_;
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  int errors_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t last_version_ ABSL_GUARDED_BY(mu_) = 0;
};

struct PhaseResult {
  double cpu_ms_per_write = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  bool ok = true;
};

// `writes` one-server changes, one at a time, each until `streams` streams
// have its version.
PhaseResult WritePhase(Writer* writer, Tracker* tracker, int streams, int upstreams, int writes,
                       int pid, std::mt19937* random, std::vector<int>* weights) {
  PhaseResult result;
  std::vector<double> latencies;
  const double cpu_before = CpuSeconds(pid);
  for (int w = 0; w < writes; ++w) {
    const int index = static_cast<int>((*random)() % upstreams);
    (*weights)[index] = (*weights)[index] % 5 + 1;
    const Clock::time_point start = Clock::now();
    writer->PutAsync(MakeUpstream(index, (*weights)[index]), 1);
    const int64_t version = writer->Drain();
    tracker->SetTarget(version, streams);
    if (!tracker->Wait(absl::GetFlag(FLAGS_timeout))) {
      fprintf(stderr, "write %d (version %lld) did not reach every stream\n", w,
              static_cast<long long>(version));
      result.ok = false;
      break;
    }
    latencies.push_back(Ms(Clock::now() - start));
  }
  result.cpu_ms_per_write = (CpuSeconds(pid) - cpu_before) * 1000.0 / std::max(1, writes);
  result.p50_ms = Percentile(latencies, 50);
  result.p99_ms = Percentile(latencies, 99);
  return result;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  setvbuf(stdout, nullptr, _IOLBF, 0);
  const std::string xds = absl::GetFlag(FLAGS_xds);
  const std::string fleet = absl::GetFlag(FLAGS_fleet);
  const int pid = absl::GetFlag(FLAGS_controlplane_pid);
  const int n = absl::GetFlag(FLAGS_upstreams);
  const int writes = absl::GetFlag(FLAGS_writes);
  const int n_streams = std::max(1, absl::GetFlag(FLAGS_streams));
  const absl::Duration timeout = absl::GetFlag(FLAGS_timeout);
  if (pid <= 0 || n < 1) {
    fprintf(stderr, "--controlplane_pid and --upstreams >= 1 are required\n");
    return 2;
  }
  std::mt19937 random(11);
  std::vector<int> weights(n, 1);
  Writer writer(absl::GetFlag(FLAGS_admin), fleet);

  // 1. Load, and memory per endpoint.
  const double rss_empty = RssMib(pid);
  const Clock::time_point load_start = Clock::now();
  for (int i = 0; i < n; ++i) writer.PutAsync(MakeUpstream(i, 1), 32);
  const int64_t loaded = writer.Drain();
  const double load_s = Ms(Clock::now() - load_start) / 1000.0;
  if (writer.errors() > 0) return 1;
  const double rss_loaded = RssMib(pid);
  const double bytes_per_endpoint = (rss_loaded - rss_empty) * 1048576.0 / (n * kServers);
  printf("loaded %d upstreams (%d endpoints) in %.1f s, version %lld; RSS %.1f -> %.1f MiB\n", n,
         n * kServers, load_s, static_cast<long long>(loaded), rss_empty, rss_loaded);

  // 2. Initial Delta sync of the whole fleet to one new stream.
  Tracker tracker;
  tracker.SetTarget(loaded, 1);
  const Clock::time_point sync_start = Clock::now();
  auto first = std::make_unique<DeltaClient>(0, xds, fleet, &tracker, n, nullptr);
  first->Start();
  // Synced: every upstream's Cluster and assignment held.
  const bool synced = first->Synced(timeout);
  const double sync_ms = Ms(Clock::now() - sync_start);
  const int64_t sync_bytes = first->bytes();
  const int64_t sync_responses = first->responses();
  if (!synced) {
    fprintf(stderr, "the initial sync did not complete\n");
    return 1;
  }
  printf("initial Delta sync: %d endpoints in %.1f ms, %lld bytes in %lld responses\n",
         n * kServers, sync_ms, static_cast<long long>(sync_bytes),
         static_cast<long long>(sync_responses));

  // 3. One Delta stream.
  int64_t bytes_before = first->bytes();
  PhaseResult delta1 = WritePhase(&writer, &tracker, 1, n, writes, pid, &random, &weights);
  const double delta_bytes = static_cast<double>(first->bytes() - bytes_before) / writes;
  printf("1 Delta stream: CP CPU %.3f ms/write, write->stream p50 %.2f p99 %.2f ms, %.0f bytes/change\n",
         delta1.cpu_ms_per_write, delta1.p50_ms, delta1.p99_ms, delta_bytes);

  // 4. One SotW stream.
  first->Cancel();
  tracker.Forget(0);
  auto sotw = std::make_unique<SotwClient>(1, xds, fleet, &tracker, n, nullptr);
  tracker.SetTarget(writer.Drain(), 1);
  sotw->Start();
  if (!tracker.Wait(timeout) || !sotw->Synced(timeout)) {
    fprintf(stderr, "the SotW stream did not sync\n");
    return 1;
  }
  bytes_before = sotw->bytes();
  PhaseResult sotw1 = WritePhase(&writer, &tracker, 1, n, writes, pid, &random, &weights);
  const double sotw_bytes = static_cast<double>(sotw->bytes() - bytes_before) / writes;
  printf("1 SotW stream: CP CPU %.3f ms/write, p50 %.2f p99 %.2f ms, %.0f bytes/change\n",
         sotw1.cpu_ms_per_write, sotw1.p50_ms, sotw1.p99_ms, sotw_bytes);
  sotw->Cancel();
  tracker.Forget(1);

  // 5. n_streams Delta streams that start with what the first one held.
  auto initial = std::make_shared<const Held>(first->held());
  // The first stream held the fleet before phases 3-4's writes: the others
  // get those changes on opening.
  std::vector<std::unique_ptr<DeltaClient>> streams;
  tracker.SetTarget(writer.Drain(), n_streams);
  const Clock::time_point open_start = Clock::now();
  const double open_cpu_before = CpuSeconds(pid);
  for (int i = 0; i < n_streams; ++i) {
    streams.push_back(std::make_unique<DeltaClient>(100 + i, xds, fleet, &tracker, 0, initial));
    streams.back()->Start();
  }
  if (!tracker.Wait(timeout)) {
    fprintf(stderr, "not every one of %d streams synced\n", n_streams);
    return 1;
  }
  const double open_s = Ms(Clock::now() - open_start) / 1000.0;
  // The control plane's own share of it (the bench's clients share the CPUs).
  const double open_cpu_s = CpuSeconds(pid) - open_cpu_before;
  const double rss_streams = RssMib(pid);
  // One write first: each stream has had its catch-up response (the
  // changes since `initial`) once it has this write's version.
  WritePhase(&writer, &tracker, n_streams, n, 1, pid, &random, &weights);
  int64_t fan_bytes_before = 0;
  for (const auto& s : streams) fan_bytes_before += s->bytes();
  const int fan_writes = std::max(1, writes / 4);
  PhaseResult fan = WritePhase(&writer, &tracker, n_streams, n, fan_writes, pid, &random, &weights);
  int64_t fan_bytes = 0;
  for (const auto& s : streams) fan_bytes += s->bytes();
  const double fan_bytes_per_stream =
      static_cast<double>(fan_bytes - fan_bytes_before) / fan_writes / n_streams;
  printf("%d Delta streams (opened in %.1f s, CP CPU %.1f s, CP RSS %.1f MiB): CP CPU %.3f "
         "ms/write, write->last stream p50 %.2f p99 %.2f ms, %.0f bytes/stream/change\n",
         n_streams, open_s, open_cpu_s, rss_streams, fan.cpu_ms_per_write, fan.p50_ms, fan.p99_ms,
         fan_bytes_per_stream);
  for (auto& s : streams) s->Cancel();

  printf(
      "RESULT upstreams=%d endpoints=%d load_s=%.1f rss_empty_mib=%.1f rss_loaded_mib=%.1f "
      "bytes_per_endpoint=%.0f sync_ms=%.1f sync_bytes=%lld sync_responses=%lld "
      "d1_cpu_ms=%.3f d1_p50_ms=%.2f d1_p99_ms=%.2f delta_bytes=%.0f "
      "sotw_cpu_ms=%.3f sotw_p50_ms=%.2f sotw_p99_ms=%.2f sotw_bytes=%.0f "
      "streams=%d open_s=%.1f open_cpu_s=%.1f rss_streams_mib=%.1f dn_cpu_ms=%.3f dn_p50_ms=%.2f "
      "dn_p99_ms=%.2f dn_bytes=%.0f ok=%s\n",
      n, n * kServers, load_s, rss_empty, rss_loaded, bytes_per_endpoint, sync_ms,
      static_cast<long long>(sync_bytes), static_cast<long long>(sync_responses), delta1.cpu_ms_per_write, delta1.p50_ms,
      delta1.p99_ms, delta_bytes, sotw1.cpu_ms_per_write, sotw1.p50_ms, sotw1.p99_ms, sotw_bytes,
      n_streams, open_s, open_cpu_s, rss_streams, fan.cpu_ms_per_write, fan.p50_ms, fan.p99_ms,
      fan_bytes_per_stream, delta1.ok && sotw1.ok && fan.ok ? "yes" : "no");
  return delta1.ok && sotw1.ok && fan.ok ? 0 : 1;
}
