#include "common/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace nginx_xds {
namespace {

void AddTo(std::atomic<double>* target, double by) {
  double current = target->load(std::memory_order_relaxed);
  while (!target->compare_exchange_weak(current, current + by, std::memory_order_relaxed)) {
  }
}

// Prometheus' number format: integers without a fraction, +Inf/-Inf/NaN.
std::string Number(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (value == std::floor(value) && std::fabs(value) < 1e15) {
    return absl::StrCat(static_cast<int64_t>(value));
  }
  // The shortest text that reads back as the same double: "0.0005", not
  // "0.00050000000000000001" (bucket bounds are label values people read).
  for (int precision = 1; precision < 17; ++precision) {
    std::string text = absl::StrFormat("%.*g", precision, value);
    if (std::strtod(text.c_str(), nullptr) == value) return text;
  }
  return absl::StrFormat("%.17g", value);
}

std::string Labels(const std::vector<std::pair<std::string, std::string>>& labels) {
  if (labels.empty()) return "";
  std::string out = "{";
  for (size_t i = 0; i < labels.size(); ++i) {
    absl::StrAppend(&out, i ? "," : "", labels[i].first, "=\"", EscapeLabelValue(labels[i].second),
                    "\"");
  }
  return out + "}";
}

std::vector<std::pair<std::string, std::string>> Pairs(const std::vector<std::string>& names,
                                                       const LabelValues& values) {
  std::vector<std::pair<std::string, std::string>> pairs;
  for (size_t i = 0; i < names.size(); ++i) pairs.emplace_back(names[i], values[i]);
  return pairs;
}

const char* TypeName(MetricsRegistry::Type type) {
  switch (type) {
    case MetricsRegistry::Type::kCounter:
      return "counter";
    case MetricsRegistry::Type::kGauge:
      return "gauge";
    case MetricsRegistry::Type::kHistogram:
      return "histogram";
  }
  return "untyped";
}

}  // namespace

std::string EscapeLabelValue(absl::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

void Counter::Increment(double by) {
  if (by > 0) AddTo(&value_, by);
}

void Gauge::Add(double by) { AddTo(&value_, by); }

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), buckets_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0);
}

void Histogram::Observe(double value) {
  const size_t bucket = std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin();
  buckets_[bucket].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  AddTo(&sum_, value);
}

std::vector<uint64_t> Histogram::BucketCounts() const {
  std::vector<uint64_t> counts;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    counts.push_back(buckets_[i].load(std::memory_order_relaxed));
  }
  return counts;
}

std::vector<double> LatencyBuckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

void SampleWriter::Sample(absl::string_view name,
                          const std::vector<std::pair<std::string, std::string>>& labels,
                          double value) {
  absl::StrAppend(out_, name, Labels(labels), " ", Number(value), "\n");
}

template <typename T>
T& MetricsRegistry::Family<T>::With(const LabelValues& values) {
  absl::MutexLock lock(&mu_);
  std::unique_ptr<T>& series = series_[values];
  if (series == nullptr) series = make_();
  return *series;
}

template class MetricsRegistry::Family<Counter>;
template class MetricsRegistry::Family<Gauge>;
template class MetricsRegistry::Family<Histogram>;

MetricsRegistry::Family<Counter>& MetricsRegistry::AddCounter(std::string name, std::string help,
                                                              std::vector<std::string> labels) {
  auto* family = new Family<Counter>(std::move(labels), [] { return std::make_unique<Counter>(); });
  std::shared_ptr<Family<Counter>> owned(family);
  AddCollector(name, std::move(help), Type::kCounter, [owned, name](SampleWriter& writer) {
    absl::MutexLock lock(&owned->mu_);
    for (const auto& [values, counter] : owned->series_) {
      writer.Sample(name, Pairs(owned->label_names_, values), counter->Value());
    }
  });
  return *family;
}

MetricsRegistry::Family<Gauge>& MetricsRegistry::AddGauge(std::string name, std::string help,
                                                          std::vector<std::string> labels) {
  auto* family = new Family<Gauge>(std::move(labels), [] { return std::make_unique<Gauge>(); });
  std::shared_ptr<Family<Gauge>> owned(family);
  AddCollector(name, std::move(help), Type::kGauge, [owned, name](SampleWriter& writer) {
    absl::MutexLock lock(&owned->mu_);
    for (const auto& [values, gauge] : owned->series_) {
      writer.Sample(name, Pairs(owned->label_names_, values), gauge->Value());
    }
  });
  return *family;
}

MetricsRegistry::Family<Histogram>& MetricsRegistry::AddHistogram(std::string name,
                                                                  std::string help,
                                                                  std::vector<std::string> labels,
                                                                  std::vector<double> bounds) {
  auto* family = new Family<Histogram>(std::move(labels),
                                       [bounds] { return std::make_unique<Histogram>(bounds); });
  std::shared_ptr<Family<Histogram>> owned(family);
  AddCollector(name, std::move(help), Type::kHistogram, [owned, name](SampleWriter& writer) {
    absl::MutexLock lock(&owned->mu_);
    for (const auto& [values, histogram] : owned->series_) {
      auto labels = Pairs(owned->label_names_, values);
      const std::vector<uint64_t> counts = histogram->BucketCounts();
      uint64_t cumulative = 0;
      for (size_t i = 0; i < counts.size(); ++i) {
        cumulative += counts[i];
        auto with_le = labels;
        with_le.emplace_back(
            "le", i < histogram->bounds().size() ? Number(histogram->bounds()[i]) : "+Inf");
        writer.Sample(absl::StrCat(name, "_bucket"), with_le, static_cast<double>(cumulative));
      }
      writer.Sample(absl::StrCat(name, "_sum"), labels, histogram->Sum());
      writer.Sample(absl::StrCat(name, "_count"), labels, static_cast<double>(cumulative));
    }
  });
  return *family;
}

void MetricsRegistry::AddCollector(std::string name, std::string help, Type type,
                                   std::function<void(SampleWriter&)> collect) {
  Entry entry;
  entry.name = name;
  entry.help = std::move(help);
  entry.type = type;
  entry.render = [collect = std::move(collect)](std::string* out) {
    SampleWriter writer(out);
    collect(writer);
  };
  absl::MutexLock lock(&mu_);
  entries_.push_back(std::move(entry));
}

std::string MetricsRegistry::Render() const {
  absl::MutexLock lock(&mu_);
  std::string out;
  for (const Entry& entry : entries_) {
    std::string help;
    for (char c : entry.help)
      help += c == '\n' ? std::string("\\n") : c == '\\' ? "\\\\" : std::string(1, c);
    absl::StrAppend(&out, "# HELP ", entry.name, " ", help, "\n# TYPE ", entry.name, " ",
                    TypeName(entry.type), "\n");
    entry.render(&out);
  }
  return out;
}

}  // namespace nginx_xds
