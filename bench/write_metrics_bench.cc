// What the metrics add to one write, measured without the noise of a whole
// end-to-end run (BENCHMARKS.md, "Metrics on the write path"): the lines a
// write runs (WriteMetrics: count, durable and acked latency, store commit,
// recent writes) and, at scrape time, rendering them and reading the node
// registry's counters of a large fleet.
//
//   bazel run -c opt //bench:write_metrics_bench
#include <string>

#include "absl/time/time.h"
#include "benchmark/benchmark.h"
#include "common/metrics.h"
#include "controlplane/fleet/node_registry.h"
#include "controlplane/metrics/write_metrics.h"

namespace nginx_xds {
namespace {

constexpr char kClusters[] = "type.googleapis.com/envoy.config.cluster.v3.Cluster";

// Everything one write through the HTTP gateway records, in the order the
// write path records it.
void BM_MetricsOfOneWrite(benchmark::State& state) {
  MetricsRegistry registry;
  WriteMetrics metrics(&registry);
  nginx_xds::v1::WriteResponse response;
  response.set_version(42);
  response.set_acked_nodes(3);
  response.set_connected_nodes(3);
  for (auto _ : state) {
    metrics.StoreCommit(absl::Microseconds(900));
    metrics.Durable("update server", absl::Microseconds(1000));
    metrics.Answered("default", "update server", response, absl::Microseconds(2500));
    metrics.Count("dynamic", "update server", response);
  }
}
BENCHMARK(BM_MetricsOfOneWrite);

// A scrape of the write metrics (every family, 6 operations x 3 APIs).
void BM_RenderWriteMetrics(benchmark::State& state) {
  MetricsRegistry registry;
  WriteMetrics metrics(&registry);
  nginx_xds::v1::WriteResponse response;
  for (const char* api : {"grpc", "dynamic", "dyups"}) {
    for (const char* op : {"put", "replace", "delete", "add server", "remove server",
                           "update server"}) {
      metrics.Count(api, op, response);
      metrics.Durable(op, absl::Milliseconds(1));
      metrics.Answered("default", op, response, absl::Milliseconds(2));
    }
  }
  size_t bytes = 0;
  for (auto _ : state) bytes = registry.Render().size();
  state.counters["bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_RenderWriteMetrics);

// What the per-node collectors read at scrape time for a fleet of N nodes.
void BM_NodeCounters(benchmark::State& state) {
  NodeRegistry registry;
  for (int i = 0; i < state.range(0); ++i) {
    const std::string id = "node-" + std::to_string(i);
    registry.StreamOpened(id, "default", "bench");
    registry.Subscribed(id, kClusters);
    registry.Acked(id, kClusters, 7);
  }
  for (auto _ : state) benchmark::DoNotOptimize(registry.Counters());
}
BENCHMARK(BM_NodeCounters)->Arg(100)->Arg(1000)->Arg(10000);

}  // namespace
}  // namespace nginx_xds

BENCHMARK_MAIN();
