// Fan-out benchmark of the nginx-xds control plane.
//
// Opens --streams ADS streams (state of the world), each on its own channel
// (its own TCP connection) with its own node id, as that many nginx agents
// would; each subscribes wildcard to Clusters and ClusterLoadAssignments and
// ACKs every response at once. All streams run on gRPC's callback API, so the
// bench needs a handful of threads, not one per stream. Then it measures:
//
//  1. latency: --writes sequential PutUpstream calls, each timed from just
//     before the call until the last stream has sent its ACK of the new
//     version on both types (p50, p99, max);
//  2. throughput: --writers threads issue writes back to back for
//     --sustain_seconds; writes/s completed, then whether (and how fast) every
//     stream converged on the final version;
//  3. the control plane's RSS (--controlplane_pid): idle, with the streams
//     open, after the writes.
//
// Its last line is a machine-readable "RESULT key=value ..." for bench/run.sh.

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/strings/str_format.h"
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

ABSL_FLAG(std::string, xds, "127.0.0.1:18000", "The control plane's ADS address (host:port).");
ABSL_FLAG(std::string, admin, "127.0.0.1:18001",
          "The control plane's management API address (host:port).");
ABSL_FLAG(int, streams, 100, "How many ADS streams (simulated nginx nodes) to open.");
ABSL_FLAG(int, writes, 1000, "How many sequential writes to time in the latency phase.");
ABSL_FLAG(int, sustain_seconds, 10, "How long the throughput phase writes back to back.");
ABSL_FLAG(int, writers, 4, "Concurrent writers in the throughput phase.");
ABSL_FLAG(std::string, fleet, "bench", "The fleet (node.cluster) of every stream and write.");
ABSL_FLAG(std::string, node_prefix, "",
          "Node ids are this plus the stream's index; empty: \"bench-<pid>-\", new ids every run.");
ABSL_FLAG(int, silent_streams, 0,
          "More streams of the same fleet that subscribe and never read (hostile or stuck "
          "clients); each also ACKs guessed nonces 1-50 of both types.");
ABSL_FLAG(int, controlplane_pid, 0, "The control plane's PID, to read its RSS; 0 skips it.");
ABSL_FLAG(absl::Duration, write_timeout, absl::Seconds(10),
          "How long one write may take to reach every stream before it counts as timed out.");
ABSL_FLAG(int, idle_writes, 0,
          "After the latency phase, this many more sequential writes, each after --idle_pause.");
ABSL_FLAG(absl::Duration, idle_pause, absl::Seconds(1),
          "The idle pause before each of the --idle_writes (writes on a quiet system).");
ABSL_FLAG(absl::Duration, open_timeout, absl::Seconds(60),
          "How long opening every stream (and its first ACKs) may take.");
ABSL_FLAG(absl::Duration, converge_timeout, absl::Seconds(30),
          "How long to wait for every stream to take the final version after the last write.");

namespace {

using envoy::service::discovery::v3::AggregatedDiscoveryService;
using envoy::service::discovery::v3::DiscoveryRequest;
using envoy::service::discovery::v3::DiscoveryResponse;
using nginx_xds::v1::PutUpstreamRequest;
using nginx_xds::v1::UpstreamService;
using nginx_xds::v1::WriteResponse;
using Clock = std::chrono::steady_clock;

constexpr int kTypes = 2;
const char* const kTypeUrls[kTypes] = {nginx_xds::kClusterTypeUrl, nginx_xds::kEndpointTypeUrl};

int TypeIndex(const std::string& type_url) {
  for (int i = 0; i < kTypes; ++i) {
    if (type_url == kTypeUrls[i]) return i;
  }
  return -1;
}

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// Tracks, per stream, the lowest version it has ACKed on both types, and
// answers "when did the last stream get to version V".
class Tracker {
 public:
  explicit Tracker(int streams) : min_acked_(streams, -1), reached_(streams) {}

  // Stream `index` has now ACKed `version` on both types (as of `when`).
  void Update(int index, int64_t version, Clock::time_point when) {
    absl::MutexLock lock(&mu_);
    if (version <= min_acked_[index]) return;
    const bool crossing = min_acked_[index] < target_ && version >= target_;
    min_acked_[index] = version;
    reached_[index] = when;
    if (crossing) {
      --remaining_;
      last_ = std::max(last_, when);
    }
  }

  // Starts waiting for `version`. It may be called after some streams (or
  // all) already ACKed it: the time each reached its current version counts.
  // That is exact while no newer version exists (sequential writes).
  void SetTarget(int64_t version) {
    absl::MutexLock lock(&mu_);
    target_ = version;
    remaining_ = 0;
    last_ = Clock::time_point::min();
    for (size_t i = 0; i < min_acked_.size(); ++i) {
      if (min_acked_[i] < version) {
        ++remaining_;
      } else {
        last_ = std::max(last_, reached_[i]);
      }
    }
  }

  // Stops counting (while versions race ahead in the throughput phase).
  void ClearTarget() {
    absl::MutexLock lock(&mu_);
    target_ = std::numeric_limits<int64_t>::max();
    remaining_ = static_cast<int>(min_acked_.size());
  }

  // Waits until every stream has ACKed the target; returns when the last one
  // did, or nothing at `deadline`.
  std::optional<Clock::time_point> Wait(absl::Time deadline) {
    absl::MutexLock lock(&mu_);
    auto done = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return remaining_ == 0; };
    if (!mu_.AwaitWithDeadline(absl::Condition(&done), deadline)) return std::nullopt;
    return last_;
  }

  int Remaining() {
    absl::MutexLock lock(&mu_);
    return remaining_;
  }

 private:
  absl::Mutex mu_;
  std::vector<int64_t> min_acked_ ABSL_GUARDED_BY(mu_);
  std::vector<Clock::time_point> reached_ ABSL_GUARDED_BY(mu_);
  int64_t target_ ABSL_GUARDED_BY(mu_) = std::numeric_limits<int64_t>::max();
  int remaining_ ABSL_GUARDED_BY(mu_) = 0;
  Clock::time_point last_ ABSL_GUARDED_BY(mu_);
};

// Counts streams that have ended, and why.
class DoneCounter {
 public:
  void Done(const grpc::Status& status, bool expected) {
    absl::MutexLock lock(&mu_);
    ++done_;
    if (!expected || !status.ok()) {
      ++failed_;
      if (first_error_.empty()) {
        first_error_ = absl::StrCat("code ", status.error_code(), ": ", status.error_message());
      }
    }
  }
  bool WaitAll(int n, absl::Time deadline) {
    absl::MutexLock lock(&mu_);
    auto all = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return done_ >= n; };
    return mu_.AwaitWithDeadline(absl::Condition(&all), deadline);
  }
  int done() {
    absl::MutexLock lock(&mu_);
    return done_;
  }
  int failed() {
    absl::MutexLock lock(&mu_);
    return failed_;
  }
  std::string first_error() {
    absl::MutexLock lock(&mu_);
    return first_error_;
  }

 private:
  absl::Mutex mu_;
  int done_ ABSL_GUARDED_BY(mu_) = 0;
  int failed_ ABSL_GUARDED_BY(mu_) = 0;
  std::string first_error_ ABSL_GUARDED_BY(mu_);
};

// One simulated nginx: an ADS stream on its own channel that subscribes to
// both types and ACKs every response as soon as it arrives.
class AdsClientStream final : public grpc::ClientBidiReactor<DiscoveryRequest, DiscoveryResponse> {
 public:
  AdsClientStream(int index, const std::string& target, const std::string& node_id,
                  const std::string& fleet, Tracker* tracker, DoneCounter* done)
      : index_(index), node_id_(node_id), fleet_(fleet), tracker_(tracker), done_(done) {
    grpc::ChannelArguments args;
    // One connection per simulated node: no subchannel sharing across channels.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt("nginx_xds.bench.stream", index);
    channel_ = grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
    stub_ = AggregatedDiscoveryService::NewStub(channel_);
  }

  void Start() {
    stub_->async()->StreamAggregatedResources(&context_, this);
    {
      absl::MutexLock lock(&mu_);
      for (int type = 0; type < kTypes; ++type) {
        Outgoing subscribe;
        if (type == 0) {
          auto* node = subscribe.request.mutable_node();
          node->set_id(node_id_);
          node->set_cluster(fleet_);
          node->set_user_agent_name("ads_fanout_bench");
        }
        subscribe.request.set_type_url(kTypeUrls[type]);  // no names: wildcard
        EnqueueLocked(std::move(subscribe));
      }
    }
    StartRead(&response_);
    StartCall();
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // the stream ended; OnDone follows
    const int type = TypeIndex(response_.type_url());
    uint64_t version = 0;
    const bool parsed = absl::SimpleAtoi(response_.version_info(), &version);
    responses_.fetch_add(1, std::memory_order_relaxed);
    if (type < 0 || !parsed) {
      bad_responses_.fetch_add(1, std::memory_order_relaxed);
    } else {
      absl::MutexLock lock(&mu_);
      if (!closing_) {
        Outgoing ack;
        ack.request.set_version_info(response_.version_info());
        ack.request.set_type_url(response_.type_url());
        ack.request.set_response_nonce(response_.nonce());
        ack.type = type;
        ack.version = static_cast<int64_t>(version);
        EnqueueLocked(std::move(ack));
      }
    }
    StartRead(&response_);
  }

  void OnWriteDone(bool ok) override {
    int64_t both = -1;
    {
      absl::MutexLock lock(&mu_);
      Outgoing sent = std::move(pending_.front());
      pending_.pop_front();
      if (!ok) {
        // Broken stream: OnDone follows. Write nothing more.
        pending_.clear();
        writing_ = false;
        return;
      }
      if (sent.type >= 0) {
        acked_[sent.type] = std::max(acked_[sent.type], sent.version);
        both = std::min(acked_[0], acked_[1]);
      }
      if (!pending_.empty()) {
        StartWrite(&pending_.front().request);
      } else {
        writing_ = false;
        MaybeWritesDoneLocked();
      }
    }
    if (both >= 0) tracker_->Update(index_, both, Clock::now());
  }

  void OnDone(const grpc::Status& status) override {
    bool expected;
    {
      absl::MutexLock lock(&mu_);
      expected = closing_;
      ended_ = true;
    }
    status_ = status;
    done_->Done(status, expected);
  }

  // Half-closes the stream once queued writes are out; the server then ends it.
  void Close() {
    absl::MutexLock lock(&mu_);
    closing_ = true;
    if (!ended_) MaybeWritesDoneLocked();
  }

  void Cancel() { context_.TryCancel(); }

  int64_t responses() const { return responses_.load(std::memory_order_relaxed); }
  int64_t bad_responses() const { return bad_responses_.load(std::memory_order_relaxed); }

 private:
  struct Outgoing {
    DiscoveryRequest request;
    int type = -1;  // set on ACKs
    int64_t version = -1;
  };

  void EnqueueLocked(Outgoing outgoing) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    pending_.push_back(std::move(outgoing));
    if (writing_) return;
    writing_ = true;
    StartWrite(&pending_.front().request);
  }

  void MaybeWritesDoneLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (closing_ && !writing_ && !writes_done_) {
      writes_done_ = true;
      StartWritesDone();
    }
  }

  const int index_;
  const std::string node_id_;
  const std::string fleet_;
  Tracker* const tracker_;
  DoneCounter* const done_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<AggregatedDiscoveryService::Stub> stub_;
  grpc::ClientContext context_;
  DiscoveryResponse response_;  // the read buffer; one read at a time
  std::atomic<int64_t> responses_{0};
  std::atomic<int64_t> bad_responses_{0};
  grpc::Status status_;

  absl::Mutex mu_;
  std::deque<Outgoing> pending_ ABSL_GUARDED_BY(mu_);  // front is being written
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  bool writes_done_ ABSL_GUARDED_BY(mu_) = false;
  bool ended_ ABSL_GUARDED_BY(mu_) = false;  // OnDone ran
  int64_t acked_[kTypes] ABSL_GUARDED_BY(mu_) = {-1, -1};
};

// A node that subscribes and never reads its stream, and ACKs nonces it
// guesses (issue 12's hostile client): the control plane must hold at most a
// response per type for it, however many writes go by.
class SilentStream final : public grpc::ClientBidiReactor<DiscoveryRequest, DiscoveryResponse> {
 public:
  SilentStream(int index, const std::string& target, const std::string& node_id,
               const std::string& fleet) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt("nginx_xds.bench.silent", index);
    channel_ = grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
    stub_ = AggregatedDiscoveryService::NewStub(channel_);
    for (int type = 0; type < kTypes; ++type) {
      DiscoveryRequest subscribe;
      if (type == 0) {
        subscribe.mutable_node()->set_id(node_id);
        subscribe.mutable_node()->set_cluster(fleet);
        subscribe.mutable_node()->set_user_agent_name("ads_fanout_bench silent");
      }
      subscribe.set_type_url(kTypeUrls[type]);
      requests_.push_back(std::move(subscribe));
    }
    for (int guess = 1; guess <= 50; ++guess) {
      for (int type = 0; type < kTypes; ++type) {
        DiscoveryRequest ack;
        ack.set_type_url(kTypeUrls[type]);
        ack.set_version_info(std::to_string(guess));
        ack.set_response_nonce(std::to_string(guess));
        requests_.push_back(std::move(ack));
      }
    }
  }

  void Start() {
    stub_->async()->StreamAggregatedResources(&context_, this);
    StartWrite(&requests_[0]);
    StartCall();
  }

  void OnWriteDone(bool ok) override {
    if (ok && ++next_ < requests_.size()) StartWrite(&requests_[next_]);
  }

  void OnDone(const grpc::Status&) override { done_.Notify(); }

  // Ends the stream and waits until gRPC is done with this object.
  void Stop() {
    context_.TryCancel();
    done_.WaitForNotification();
  }

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<AggregatedDiscoveryService::Stub> stub_;
  grpc::ClientContext context_;
  std::vector<DiscoveryRequest> requests_;
  size_t next_ = 0;
  absl::Notification done_;
};

struct Rss {
  double rss_mib = -1;
  double hwm_mib = -1;
  int threads = -1;
};

// VmRSS, VmHWM and Threads from /proc/PID/status.
Rss ReadRss(int pid) {
  Rss rss;
  if (pid <= 0) return rss;
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    auto value = [&line](const char* key) -> std::optional<int64_t> {
      if (line.rfind(key, 0) != 0) return std::nullopt;
      std::string rest = line.substr(strlen(key));
      rest.erase(
          std::remove_if(rest.begin(), rest.end(), [](char c) { return !(c >= '0' && c <= '9'); }),
          rest.end());
      int64_t n;
      if (!absl::SimpleAtoi(rest, &n)) return std::nullopt;
      return n;
    };
    if (auto kb = value("VmRSS:")) rss.rss_mib = *kb / 1024.0;
    if (auto kb = value("VmHWM:")) rss.hwm_mib = *kb / 1024.0;
    if (auto n = value("Threads:")) rss.threads = static_cast<int>(*n);
  }
  return rss;
}

std::string FormatRss(const Rss& rss) {
  if (rss.rss_mib < 0) return "n/a";
  return absl::StrFormat("VmRSS %.1f MiB (VmHWM %.1f MiB, %d threads)", rss.rss_mib, rss.hwm_mib,
                         rss.threads);
}

// The bench's upstream as of write number `n`: each write changes the first
// server's port (alternating) and the second server's weight.
nginx_xds::v1::Upstream MakeUpstream(int64_t n) {
  nginx_xds::v1::Upstream upstream;
  upstream.set_name("bench_backend");
  upstream.set_zone("bench_backend");
  auto* first = upstream.add_servers();
  first->set_address(absl::StrCat("127.0.0.1:", 10000 + n % 2));
  auto* second = upstream.add_servers();
  second->set_address("127.0.0.1:10100");
  second->set_weight(1 + static_cast<uint32_t>(n % 100));
  return upstream;
}

// One PutUpstream call. It goes through the callback API like the streams:
// a blocking (sync API) call in the same process would poll the shared
// pollset and pick up the streams' completions, whose callbacks then wait for
// a callback thread to wake up (tens of ms when the process is otherwise
// idle), skewing what the bench measures.
grpc::Status Put(UpstreamService::Stub* stub, const std::string& fleet, int64_t n,
                 absl::Duration timeout, WriteResponse* response) {
  PutUpstreamRequest request;
  request.set_fleet(fleet);
  *request.mutable_upstream() = MakeUpstream(n);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  absl::Notification done;
  grpc::Status result;
  stub->async()->PutUpstream(&context, &request, response, [&](grpc::Status status) {
    result = std::move(status);
    done.Notify();
  });
  done.WaitForNotification();
  return result;
}

double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return -1;
  // Nearest rank.
  size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * sorted.size()));
  rank = std::clamp<size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "ads_fanout_bench --xds=HOST:PORT --admin=HOST:PORT --streams=N --writes=W "
      "--sustain_seconds=S [--fleet=F] [--controlplane_pid=PID]");
  absl::ParseCommandLine(argc, argv);
  setvbuf(stdout, nullptr, _IOLBF, 0);  // keep stdout and stderr lines in order in a log
  const std::string xds = absl::GetFlag(FLAGS_xds);
  const std::string admin = absl::GetFlag(FLAGS_admin);
  const int n_streams = absl::GetFlag(FLAGS_streams);
  const int n_writes = absl::GetFlag(FLAGS_writes);
  const int sustain_seconds = absl::GetFlag(FLAGS_sustain_seconds);
  const int n_writers = std::max(1, absl::GetFlag(FLAGS_writers));
  const std::string fleet = absl::GetFlag(FLAGS_fleet);
  const int cp_pid = absl::GetFlag(FLAGS_controlplane_pid);
  const absl::Duration write_timeout = absl::GetFlag(FLAGS_write_timeout);
  if (n_streams < 1 || n_writes < 0 || sustain_seconds < 0) {
    fprintf(stderr, "--streams must be >= 1, --writes and --sustain_seconds >= 0\n");
    return 2;
  }
  printf(
      "ads_fanout_bench: xds=%s admin=%s streams=%d writes=%d sustain=%ds writers=%d "
      "fleet=%s\n",
      xds.c_str(), admin.c_str(), n_streams, n_writes, sustain_seconds, n_writers, fleet.c_str());

  // (3a) The control plane's memory before any stream.
  const Rss rss_idle = ReadRss(cp_pid);
  printf("control plane idle: %s\n", FormatRss(rss_idle).c_str());

  auto admin_channel = grpc::CreateChannel(admin, grpc::InsecureChannelCredentials());
  auto upstreams = UpstreamService::NewStub(admin_channel);

  // Every write number must differ from the last one (a global counter).
  std::atomic<int64_t> write_number{0};
  WriteResponse first_write;
  grpc::Status status = Put(upstreams.get(), fleet, write_number++, write_timeout, &first_write);
  if (!status.ok()) {
    fprintf(stderr, "first PutUpstream failed: %d %s\n", status.error_code(),
            status.error_message().c_str());
    return 1;
  }

  // Open every stream and wait for each to ACK the current version on both types.
  Tracker tracker(n_streams);
  DoneCounter done;
  std::vector<std::unique_ptr<AdsClientStream>> streams;
  streams.reserve(n_streams);
  std::string node_prefix = absl::GetFlag(FLAGS_node_prefix);
  if (node_prefix.empty()) node_prefix = absl::StrCat("bench-", getpid(), "-");
  const Clock::time_point open_start = Clock::now();
  tracker.SetTarget(static_cast<int64_t>(first_write.version()));
  for (int i = 0; i < n_streams; ++i) {
    streams.push_back(std::make_unique<AdsClientStream>(i, xds, absl::StrCat(node_prefix, i), fleet,
                                                        &tracker, &done));
    streams.back()->Start();
  }
  auto opened = tracker.Wait(absl::Now() + absl::GetFlag(FLAGS_open_timeout));
  const int n_silent = absl::GetFlag(FLAGS_silent_streams);
  std::vector<std::unique_ptr<SilentStream>> silent;
  for (int i = 0; i < n_silent; ++i) {
    silent.push_back(std::make_unique<SilentStream>(i, xds, absl::StrCat(node_prefix, "silent-", i),
                                                    fleet));
    silent.back()->Start();
  }
  if (n_silent > 0) printf("opened %d streams that never read\n", n_silent);
  const double open_ms = Ms(Clock::now() - open_start);
  if (!opened) {
    fprintf(stderr, "only %d of %d streams ACKed version %" PRIu64 " in time (%d ended: %s)\n",
            n_streams - tracker.Remaining(), n_streams, first_write.version(), done.done(),
            done.first_error().c_str());
  } else {
    printf("opened %d streams, all ACKed version %" PRIu64 " on both types in %.0f ms\n", n_streams,
           first_write.version(), open_ms);
  }

  // (3b) With the streams open. Let the servers settle first.
  absl::SleepFor(absl::Seconds(1));
  const Rss rss_streams = ReadRss(cp_pid);
  printf("control plane with %d streams: %s\n", n_streams, FormatRss(rss_streams).c_str());

  // (1) Latency: sequential writes, each until the last stream ACKed it on both types.
  struct LatencyRun {
    std::vector<double> latencies;  // write -> last ACK, sorted
    std::vector<double> call_ms;    // the PutUpstream call alone, sorted
    int errors = 0;
    int timeouts = 0;
    int slow_fanouts = 0;  // last ACK > 20 ms after the write's answer
    std::string first_error;
    double wall_s = 0;
    double p50() const { return Percentile(latencies, 50); }
    double p99() const { return Percentile(latencies, 99); }
    double max() const { return latencies.empty() ? -1 : latencies.back(); }
  };
  auto run_latency = [&](const char* label, int count, absl::Duration pause) {
    LatencyRun run;
    run.latencies.reserve(count);
    run.call_ms.reserve(count);
    const Clock::time_point run_start = Clock::now();
    for (int w = 0; w < count && opened; ++w) {
      if (pause > absl::ZeroDuration()) absl::SleepFor(pause);
      WriteResponse response;
      const Clock::time_point start = Clock::now();
      grpc::Status s = Put(upstreams.get(), fleet, write_number++, write_timeout, &response);
      const Clock::time_point answered = Clock::now();
      if (!s.ok()) {
        ++run.errors;
        if (run.first_error.empty()) {
          run.first_error = absl::StrCat(s.error_code(), " ", s.error_message());
        }
        continue;
      }
      run.call_ms.push_back(Ms(answered - start));
      tracker.SetTarget(static_cast<int64_t>(response.version()));
      auto last = tracker.Wait(absl::Now() + write_timeout);
      if (!last) {
        ++run.timeouts;
        fprintf(stderr, "%s write %d (version %" PRIu64 "): %d streams had not ACKed after %s\n",
                label, w, response.version(), tracker.Remaining(),
                absl::FormatDuration(write_timeout).c_str());
        continue;
      }
      run.latencies.push_back(Ms(*last - start));
      // Fan-out that lags its write's answer by far is worth a line.
      if (Ms(*last - answered) > 20 && ++run.slow_fanouts <= 5) {
        fprintf(stderr,
                "slow fan-out (%s): write %d (version %" PRIu64
                ") answered in %.2f ms, "
                "last ACK %.2f ms after the answer\n",
                label, w, response.version(), Ms(answered - start), Ms(*last - answered));
      }
    }
    run.wall_s = Ms(Clock::now() - run_start) / 1000.0;
    std::sort(run.latencies.begin(), run.latencies.end());
    std::sort(run.call_ms.begin(), run.call_ms.end());
    printf(
        "%s (write -> last ACK on both types), %zu writes in %.1f s: p50 %.2f ms, "
        "p99 %.2f ms, max %.2f ms; errors %d, timeouts %d\n",
        label, run.latencies.size(), run.wall_s, run.p50(), run.p99(), run.max(), run.errors,
        run.timeouts);
    printf("  PutUpstream call alone: p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
           Percentile(run.call_ms, 50), Percentile(run.call_ms, 99),
           run.call_ms.empty() ? -1.0 : run.call_ms.back());
    if (run.slow_fanouts > 0) {
      printf("  writes whose last ACK came > 20 ms after their answer: %d (first 5 on stderr)\n",
             run.slow_fanouts);
    }
    if (!run.first_error.empty()) printf("  first write error: %s\n", run.first_error.c_str());
    return run;
  };
  // A few uncounted writes first: the process has just been idle for a second.
  const LatencyRun warm_up = run_latency("warm-up", std::min(n_writes, 5), absl::ZeroDuration());
  const LatencyRun back_to_back = run_latency("latency", n_writes, absl::ZeroDuration());
  // The same with an idle pause before each write, as an operator's writes
  // arrive: it shows what waking an idle process costs.
  const LatencyRun idle = run_latency("idle-write latency", absl::GetFlag(FLAGS_idle_writes),
                                      absl::GetFlag(FLAGS_idle_pause));
  const double p50 = back_to_back.p50(), p99 = back_to_back.p99(), pmax = back_to_back.max();
  const int write_errors = warm_up.errors + back_to_back.errors + idle.errors;
  const int write_timeouts = warm_up.timeouts + back_to_back.timeouts + idle.timeouts;
  const std::vector<double>& call_ms = back_to_back.call_ms;

  // (2) Throughput: writers back to back for sustain_seconds.
  int64_t responses_before = 0;
  for (const auto& stream : streams) responses_before += stream->responses();
  tracker.ClearTarget();
  std::atomic<int64_t> sustained_ok{0}, sustained_errors{0};
  std::atomic<uint64_t> final_version{0};
  absl::Mutex last_mu;
  Clock::time_point last_answer = Clock::now();
  std::vector<std::vector<double>> writer_ms(n_writers);
  const Clock::time_point sustain_start = Clock::now();
  const Clock::time_point sustain_end = sustain_start + std::chrono::seconds(sustain_seconds);
  if (opened && sustain_seconds > 0) {
    std::vector<std::thread> writers;
    for (int t = 0; t < n_writers; ++t) {
      writers.emplace_back([&, t] {
        // One channel per writer, as separate clients would have.
        grpc::ChannelArguments args;
        args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
        auto stub = UpstreamService::NewStub(
            grpc::CreateCustomChannel(admin, grpc::InsecureChannelCredentials(), args));
        while (Clock::now() < sustain_end) {
          WriteResponse response;
          const Clock::time_point start = Clock::now();
          grpc::Status s = Put(stub.get(), fleet, write_number++, write_timeout, &response);
          const Clock::time_point end = Clock::now();
          if (!s.ok()) {
            ++sustained_errors;
            continue;
          }
          ++sustained_ok;
          writer_ms[t].push_back(Ms(end - start));
          uint64_t seen = final_version.load();
          while (response.version() > seen &&
                 !final_version.compare_exchange_weak(seen, response.version())) {
          }
          absl::MutexLock lock(&last_mu);
          last_answer = std::max(last_answer, end);
        }
      });
    }
    for (auto& writer : writers) writer.join();
  }
  const double sustain_s = Ms(Clock::now() - sustain_start) / 1000.0;
  const double writes_per_s = sustain_s > 0 ? sustained_ok.load() / sustain_s : 0;
  std::vector<double> all_writer_ms;
  for (const auto& each : writer_ms)
    all_writer_ms.insert(all_writer_ms.end(), each.begin(), each.end());
  std::sort(all_writer_ms.begin(), all_writer_ms.end());
  printf("throughput: %" PRId64
         " writes in %.1f s with %d writers = %.1f writes/s "
         "(errors %" PRId64 "); PutUpstream p50 %.2f ms, p99 %.2f ms\n",
         sustained_ok.load(), sustain_s, n_writers, writes_per_s, sustained_errors.load(),
         Percentile(all_writer_ms, 50), Percentile(all_writer_ms, 99));

  // Convergence on the final version, timed from the last write's answer.
  bool converged = false;
  double converge_ms = -1;
  if (sustained_ok.load() > 0) {
    tracker.SetTarget(static_cast<int64_t>(final_version.load()));
    auto last = tracker.Wait(absl::Now() + absl::GetFlag(FLAGS_converge_timeout));
    converged = last.has_value();
    if (converged) {
      converge_ms = std::max(0.0, Ms(*last - last_answer));
      printf("converged: all %d streams ACKed final version %" PRIu64
             " on both types %.2f ms after the last write was answered\n",
             n_streams, final_version.load(), converge_ms);
    } else {
      printf("NOT converged: %d of %d streams had not ACKed final version %" PRIu64 " after %s\n",
             tracker.Remaining(), n_streams, final_version.load(),
             absl::FormatDuration(absl::GetFlag(FLAGS_converge_timeout)).c_str());
    }
  }
  int64_t responses_after = 0, bad = 0;
  for (const auto& stream : streams) {
    responses_after += stream->responses();
    bad += stream->bad_responses();
  }
  const int64_t sustain_versions = sustained_ok.load();
  printf("  responses per stream during the throughput phase: %.1f (for %" PRId64
         " versions x 2 types; fewer means versions were coalesced); bad responses %" PRId64 "\n",
         static_cast<double>(responses_after - responses_before) / n_streams, sustain_versions,
         bad);

  // (3c) After the writes, streams still open.
  absl::SleepFor(absl::Seconds(1));
  const Rss rss_after = ReadRss(cp_pid);
  printf("control plane after the writes: %s\n", FormatRss(rss_after).c_str());

  // Streams that ended before we closed them are failures.
  const int ended_early = done.done();
  const std::string early_error = done.first_error();

  for (auto& stream : silent) stream->Stop();
  silent.clear();

  // Close every stream: half-close, then cancel what has not ended.
  for (auto& stream : streams) stream->Close();
  if (!done.WaitAll(n_streams, absl::Now() + absl::Seconds(10))) {
    fprintf(stderr, "%d streams did not end after half-close; cancelling them\n",
            n_streams - done.done());
    for (auto& stream : streams) stream->Cancel();
    done.WaitAll(n_streams, absl::Now() + absl::Seconds(10));
  }
  absl::SleepFor(absl::Seconds(1));
  const Rss rss_closed = ReadRss(cp_pid);
  printf("control plane after the streams closed: %s\n", FormatRss(rss_closed).c_str());
  printf("streams ended before close: %d%s%s; stream errors in all: %d\n", ended_early,
         early_error.empty() ? "" : ", first: ", early_error.c_str(), done.failed());
  if (done.done() < n_streams) {
    // Reactors still referenced by gRPC must not be destroyed: leave them.
    for (auto& stream : streams) stream.release();
  }
  streams.clear();

  auto fmt = [](double v) { return v < 0 ? std::string("na") : absl::StrFormat("%.2f", v); };
  absl::PrintF(
      "RESULT silent_streams=%d streams=%d writes=%d idle_writes=%d idle_p50_ms=%s idle_max_ms=%s p50_ms=%s "
      "p99_ms=%s max_ms=%s write_errors=%d write_timeouts=%d writes_per_s=%.1f sustained_writes=%d"
      " sustained_errors=%d converged=%s converge_ms=%s open_ms=%.0f "
      "rss_idle_mib=%s rss_streams_mib=%s rss_after_mib=%s rss_closed_mib=%s "
      "hwm_mib=%s cp_threads=%d stream_failures=%d call_p50_ms=%s call_p99_ms=%s "
      "sustained_call_p50_ms=%s sustained_call_p99_ms=%s sustain_responses_per_stream=%.1f\n",
      n_silent, n_streams, back_to_back.latencies.size(), idle.latencies.size(), fmt(idle.p50()),
      fmt(idle.max()), fmt(p50), fmt(p99), fmt(pmax), write_errors, write_timeouts, writes_per_s,
      sustained_ok.load(), sustained_errors.load(),
      sustained_ok.load() == 0 ? "na" : (converged ? "yes" : "no"), fmt(converge_ms), open_ms,
      fmt(rss_idle.rss_mib), fmt(rss_streams.rss_mib), fmt(rss_after.rss_mib),
      fmt(rss_closed.rss_mib), fmt(rss_closed.hwm_mib), rss_streams.threads, done.failed(),
      fmt(Percentile(call_ms, 50)), fmt(Percentile(call_ms, 99)),
      fmt(Percentile(all_writer_ms, 50)), fmt(Percentile(all_writer_ms, 99)),
      static_cast<double>(responses_after - responses_before) / n_streams);
  fflush(stdout);
  const bool ok = opened.has_value() && write_errors == 0 && write_timeouts == 0 &&
                  (sustained_ok.load() == 0 || converged) && done.failed() == 0;
  return ok ? 0 : 1;
}
