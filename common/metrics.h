#ifndef COMMON_METRICS_H_
#define COMMON_METRICS_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace nginx_xds {

// Metrics in Prometheus' text exposition format (version 0.0.4). Debian 12
// packages no C++ Prometheus client, so this is the small part of one the
// project needs: counters, gauges and histograms in families with fixed
// label names, plus collectors that report values read at scrape time
// (per-fleet versions, per-node lag). Updating a metric is lock-free; a
// family's lock is taken only to find or add a label set. Thread-safe.
//
// Label sets must stay bounded: label values come from fleets, nodes,
// APIs and results, never from upstream servers.

// Label values of one series, in the order of its family's label names.
using LabelValues = std::vector<std::string>;

class Counter {
 public:
  void Increment(double by = 1);
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Gauge {
 public:
  void Set(double value) { value_.store(value, std::memory_order_relaxed); }
  void Add(double by);
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Histogram {
 public:
  // `bounds`: the buckets' upper bounds, increasing; +Inf is implied.
  explicit Histogram(std::vector<double> bounds);
  void Observe(double value);

  const std::vector<double>& bounds() const { return bounds_; }
  // Per bucket (bounds, then +Inf), not cumulative.
  std::vector<uint64_t> BucketCounts() const;
  uint64_t Count() const { return count_.load(std::memory_order_relaxed); }
  double Sum() const { return sum_.load(std::memory_order_relaxed); }

 private:
  const std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;
  std::atomic<uint64_t> count_{0};
  std::atomic<double> sum_{0};
};

// Seconds from 0.5 ms to 10 s, for latencies of writes and commits.
std::vector<double> LatencyBuckets();

// Writes one sample line; given to collectors.
class SampleWriter {
 public:
  explicit SampleWriter(std::string* out) : out_(out) {}
  // `name{labels} value`; `labels` as name/value pairs.
  void Sample(absl::string_view name,
              const std::vector<std::pair<std::string, std::string>>& labels, double value);

 private:
  std::string* out_;
};

class MetricsRegistry {
 public:
  enum class Type { kCounter, kGauge, kHistogram };

  // Families are created once (at start) and live as long as the registry.
  // `name` follows Prometheus' conventions (`_total`, `_seconds`, `_bytes`).
  template <typename T>
  class Family {
   public:
    // The series with these label values (one per label name), created on
    // first use; the reference stays valid for the registry's life.
    T& With(const LabelValues& values) ABSL_LOCKS_EXCLUDED(mu_);
    // The series of a family without labels.
    T& Get() { return With({}); }

   private:
    friend class MetricsRegistry;
    Family(std::vector<std::string> label_names, std::function<std::unique_ptr<T>()> make)
        : label_names_(std::move(label_names)), make_(std::move(make)) {}

    const std::vector<std::string> label_names_;
    const std::function<std::unique_ptr<T>()> make_;
    mutable absl::Mutex mu_;
    std::map<LabelValues, std::unique_ptr<T>> series_ ABSL_GUARDED_BY(mu_);
  };

  Family<Counter>& AddCounter(std::string name, std::string help,
                              std::vector<std::string> label_names = {});
  Family<Gauge>& AddGauge(std::string name, std::string help,
                          std::vector<std::string> label_names = {});
  Family<Histogram>& AddHistogram(std::string name, std::string help,
                                  std::vector<std::string> label_names, std::vector<double> bounds);

  // Values read when scraped: `collect` writes the samples of metric `name`
  // (declared with its type and help) through the SampleWriter.
  void AddCollector(std::string name, std::string help, Type type,
                    std::function<void(SampleWriter&)> collect);

  // Every metric in the text exposition format, families in the order added.
  std::string Render() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Entry {
    std::string name;
    std::string help;
    Type type;
    std::function<void(std::string*)> render;
  };

  mutable absl::Mutex mu_;
  std::vector<Entry> entries_ ABSL_GUARDED_BY(mu_);
};

// A label value or help text escaped as the text format wants it.
std::string EscapeLabelValue(absl::string_view value);

}  // namespace nginx_xds

#endif  // COMMON_METRICS_H_
