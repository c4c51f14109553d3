// Prints a registry with every kind of metric, for `promtool check metrics`
// (tests/common:metrics_promtool_test).

#include <iostream>

#include "common/metrics.h"

int main() {
  nginx_xds::MetricsRegistry registry;
  registry.AddCounter("nginx_xds_writes_total", "Writes by API and result.", {"api", "result"})
      .With({"dynamic", "ok"})
      .Increment();
  registry.AddGauge("nginx_xds_ads_streams", "Open ADS streams.").Get().Set(3);
  registry
      .AddHistogram("nginx_xds_write_duration_seconds", "Write latency.", {"stage"},
                    nginx_xds::LatencyBuckets())
      .With({"durable"})
      .Observe(0.002);
  registry.AddCollector("nginx_xds_fleet_version", "Each fleet's version.",
                        nginx_xds::MetricsRegistry::Type::kGauge,
                        [](nginx_xds::SampleWriter& writer) {
                          writer.Sample("nginx_xds_fleet_version", {{"fleet", "a\"b"}}, 12);
                        });
  std::cout << registry.Render();
}
