#include "common/metrics.h"

#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace nginx_xds {
namespace {

using ::testing::HasSubstr;

// Validates the text format of a counter and a gauge family, with HELP and TYPE.
TEST(MetricsRegistryTest, RendersCountersAndGaugesInTextFormat) {
  MetricsRegistry registry;
  auto& writes = registry.AddCounter("nginx_xds_writes_total", "Writes.", {"api", "result"});
  writes.With({"dyups", "ok"}).Increment();
  writes.With({"dyups", "ok"}).Increment(2);
  registry.AddGauge("nginx_xds_streams", "Open streams.").Get().Set(4);
  EXPECT_EQ(registry.Render(),
            "# HELP nginx_xds_writes_total Writes.\n"
            "# TYPE nginx_xds_writes_total counter\n"
            "nginx_xds_writes_total{api=\"dyups\",result=\"ok\"} 3\n"
            "# HELP nginx_xds_streams Open streams.\n"
            "# TYPE nginx_xds_streams gauge\n"
            "nginx_xds_streams 4\n");
}

// Validates that histogram buckets are cumulative, end with +Inf, and carry sum and count.
TEST(MetricsRegistryTest, RendersCumulativeHistogramBuckets) {
  MetricsRegistry registry;
  auto& latency = registry.AddHistogram("x_seconds", "Latency.", {}, {0.1, 1});
  latency.Get().Observe(0.05);
  latency.Get().Observe(0.5);
  latency.Get().Observe(0.5);
  latency.Get().Observe(3);
  EXPECT_EQ(registry.Render(),
            "# HELP x_seconds Latency.\n"
            "# TYPE x_seconds histogram\n"
            "x_seconds_bucket{le=\"0.1\"} 1\n"
            "x_seconds_bucket{le=\"1\"} 3\n"
            "x_seconds_bucket{le=\"+Inf\"} 4\n"
            "x_seconds_sum 4.05\n"
            "x_seconds_count 4\n");
}

// Validates that label values are escaped (backslash, quote, newline).
TEST(MetricsRegistryTest, EscapesLabelValues) {
  MetricsRegistry registry;
  registry.AddGauge("g", "G.", {"node"}).With({"a\"b\\c\nd"}).Set(1);
  EXPECT_THAT(registry.Render(), HasSubstr("g{node=\"a\\\"b\\\\c\\nd\"} 1\n"));
}

// Validates that collectors report values read at scrape time.
TEST(MetricsRegistryTest, CollectorsAreReadAtScrapeTime) {
  MetricsRegistry registry;
  int version = 1;
  registry.AddCollector("fleet_version", "Version.", MetricsRegistry::Type::kGauge,
                        [&](SampleWriter& writer) {
                          writer.Sample("fleet_version", {{"fleet", "edge"}}, version);
                        });
  EXPECT_THAT(registry.Render(), HasSubstr("fleet_version{fleet=\"edge\"} 1\n"));
  version = 7;
  EXPECT_THAT(registry.Render(), HasSubstr("fleet_version{fleet=\"edge\"} 7\n"));
}

// Validates that concurrent increments are all counted.
TEST(MetricsRegistryTest, ConcurrentIncrementsAreAllCounted) {
  MetricsRegistry registry;
  auto& family = registry.AddCounter("c_total", "C.", {"t"});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&family] {
      for (int i = 0; i < 10000; ++i) family.With({"x"}).Increment();
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(family.With({"x"}).Value(), 40000);
}

}  // namespace
}  // namespace nginx_xds
