// Measures what one change costs the agent over Delta, through the C ABI
// with config.deltas as the nginx module runs it, against the real control
// plane in process: for fleets of 100, 1,000 and 10,000 upstreams of 10
// servers, the initial sync time and, per one-server write, the agent
// thread's CPU time and the time from the write's call (Put: SQLite commit,
// snapshot, fan-out) to the hand-over.
//
//   bazel run -c opt //tests/agent/bench:delta_cost_bench -- [--sizes=100,1000,10000] [--sotw]

#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "agent/xds_agent.h"
#include "controlplane/control_plane.h"

ABSL_FLAG(std::vector<std::string>, sizes, std::vector<std::string>({"100", "1000", "10000"}),
          "Fleet sizes (upstreams of 10 servers each).");
ABSL_FLAG(int, changes, 40, "One-server writes measured per size.");
ABSL_FLAG(bool, sotw, false, "Measure state of the world instead, for comparison.");

namespace {

double ThreadCpuMs() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

// Runs on the agent thread: records when and at what thread CPU time each
// snapshot came, and what it held.
struct Embedder {
  absl::Mutex mu;
  int handed ABSL_GUARDED_BY(mu) = 0;
  double cpu_ms ABSL_GUARDED_BY(mu) = 0;
  absl::Time at ABSL_GUARDED_BY(mu);
  size_t count ABSL_GUARDED_BY(mu) = 0;

  static void OnSnapshot(void* ctx, nxa_snapshot_t* snapshot) {
    auto* self = static_cast<Embedder*>(ctx);
    const size_t count = nxa_snapshot_upstream_count(snapshot);
    for (size_t i = 0; i < count; ++i) {
      nxa_upstream_t u;
      nxa_snapshot_upstream(snapshot, i, &u);
    }
    nxa_snapshot_done(snapshot, NXA_OK, nullptr);
    absl::MutexLock lock(&self->mu);
    ++self->handed;
    self->cpu_ms = ThreadCpuMs();
    self->at = absl::Now();
    self->count = count;
  }

  int Await(int n) {
    absl::MutexLock lock(&mu);
    auto done = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return handed >= n; };
    mu.AwaitWithTimeout(absl::Condition(&done), absl::Seconds(60));
    return handed;
  }
};

nginx_xds::v1::Upstream MakeUpstream(int index, int first_port) {
  nginx_xds::v1::Upstream upstream;
  upstream.set_name(absl::StrCat("u", index));
  for (int s = 0; s < 10; ++s) {
    upstream.add_servers()->set_address(
        absl::StrCat("10.", index / 250, ".", index % 250, ".", s + 1, ":", first_port));
  }
  return upstream;
}

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
}

void Run(int size, int changes) {
  nginx_xds::ControlPlane::Options options;
  options.xds_listen = "127.0.0.1:0";
  options.admin_listen = "127.0.0.1:0";
  options.http_listen = "";
  options.database_path = absl::StrCat("/tmp/delta_cost_bench_", getpid(), "_", size, ".db");
  unlink(options.database_path.c_str());
  options.ack_timeout = absl::ZeroDuration();
  auto cp = nginx_xds::ControlPlane::Start(options);
  if (!cp.ok()) {
    std::fprintf(stderr, "control plane: %s\n", std::string(cp.status().message()).c_str());
    return;
  }
  std::vector<nginx_xds::v1::Upstream> upstreams;
  for (int i = 0; i < size; ++i) upstreams.push_back(MakeUpstream(i, 80));
  auto adopted = (*cp)->upstreams()->Adopt("bench", upstreams);
  if (!adopted.ok()) {
    std::fprintf(stderr, "adopt: %s\n", std::string(adopted.status().message()).c_str());
    return;
  }

  Embedder embedder;
  const std::string server = absl::StrCat("127.0.0.1:", (*cp)->xds_port());
  nxa_config_t config = {};
  config.server = server.c_str();
  config.node_id = "bench-node";
  config.fleet = "bench";
  config.on_snapshot = &Embedder::OnSnapshot;
  config.ctx = &embedder;
  config.deltas = 1;
  config.sotw = absl::GetFlag(FLAGS_sotw) ? 1 : 0;
  nxa_agent_t* agent = nullptr;
  char err[256];
  if (nxa_agent_create(&config, &agent, err, sizeof(err)) != NXA_OK) {
    std::fprintf(stderr, "agent: %s\n", err);
    return;
  }
  const absl::Time start = absl::Now();
  nxa_agent_start(agent);
  embedder.Await(1);
  double sync_ms;
  {
    absl::MutexLock lock(&embedder.mu);
    sync_ms = absl::ToDoubleMilliseconds(embedder.at - start);
  }

  std::vector<double> cpu, latency;
  for (int k = 0; k < changes; ++k) {
    int handed;
    double cpu_before;
    {
      absl::MutexLock lock(&embedder.mu);
      handed = embedder.handed;
      cpu_before = embedder.cpu_ms;
    }
    const absl::Time written_at = absl::Now();
    auto written =
        (*cp)->upstreams()->Put("bench", MakeUpstream((k * 7919) % size, 1000 + k));
    if (!written.ok()) break;
    if (embedder.Await(handed + 1) <= handed) break;
    absl::MutexLock lock(&embedder.mu);
    cpu.push_back(embedder.cpu_ms - cpu_before);
    latency.push_back(absl::ToDoubleMilliseconds(embedder.at - written_at));
  }
  nxa_agent_destroy(agent);
  (*cp)->Shutdown(absl::ZeroDuration());
  unlink(options.database_path.c_str());
  if (cpu.empty()) return;
  std::printf("| %d / %d | %.0f ms | %.2f / %.2f ms | %.2f / %.2f ms |\n", size, size * 10,
              sync_ms, Percentile(cpu, 0.5), Percentile(cpu, 0.99), Percentile(latency, 0.5),
              Percentile(latency, 0.99));
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  std::printf(
      "| upstreams / endpoints | initial sync | agent thread CPU per change p50 / p99 | write -> "
      "hand-over p50 / p99 |\n|---:|---:|---:|---:|\n");
  for (const std::string& size : absl::GetFlag(FLAGS_sizes)) {
    Run(std::stoi(size), absl::GetFlag(FLAGS_changes));
  }
  return 0;
}
