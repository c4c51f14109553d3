#include "controlplane/metrics/write_metrics.h"

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"

namespace nginx_xds {

namespace {

// "add server" -> "add_server": label values stay identifiers.
std::string OperationLabel(absl::string_view operation) {
  return absl::StrReplaceAll(operation, {{" ", "_"}});
}

}  // namespace

WriteMetrics::WriteMetrics(MetricsRegistry* registry)
    : writes_(registry->AddCounter(
          "nginx_xds_writes_total",
          "Upstream writes by API (grpc, dynamic, dyups), operation and result (ok, rejected, "
          "unacked, or the error code).",
          {"api", "operation", "result"})),
      durable_(registry->AddHistogram(
          "nginx_xds_write_durable_seconds",
          "From the service taking a write to its commit being durable and published.",
          {"operation"}, LatencyBuckets())),
      acked_(registry->AddHistogram(
          "nginx_xds_write_acked_seconds",
          "From the service taking a write to its fleet's answer (every connected node ACKed or "
          "NACKed, or the ACK timeout).",
          {"operation"}, LatencyBuckets())),
      store_commit_(registry
                        ->AddHistogram("nginx_xds_store_commit_seconds",
                                       "One commit of the store (SQLite or etcd).", {},
                                       LatencyBuckets())
                        .Get()) {}

std::string WriteMetrics::WriteResult(const absl::StatusOr<nginx_xds::v1::WriteResponse>& result) {
  if (!result.ok()) {
    return absl::AsciiStrToLower(absl::StatusCodeToString(result.status().code()));
  }
  if (result->rejections_size() > 0) return "rejected";
  if (result->acked_nodes() < result->connected_nodes()) return "unacked";
  return "ok";
}

void WriteMetrics::Count(absl::string_view api, absl::string_view operation,
                         const absl::StatusOr<nginx_xds::v1::WriteResponse>& result) {
  writes_.With({std::string(api), OperationLabel(operation), WriteResult(result)}).Increment();
}

void WriteMetrics::Durable(absl::string_view operation, absl::Duration took) {
  durable_.With({OperationLabel(operation)}).Observe(absl::ToDoubleSeconds(took));
}

void WriteMetrics::Answered(const std::string& fleet, absl::string_view operation,
                            const nginx_xds::v1::WriteResponse& response, absl::Duration took) {
  acked_.With({OperationLabel(operation)}).Observe(absl::ToDoubleSeconds(took));
  WriteRecord record;
  record.time = absl::Now();
  record.fleet = fleet;
  record.operation = std::string(operation);
  record.version = response.version();
  record.acked = response.acked_nodes();
  record.connected = response.connected_nodes();
  for (const auto& rejection : response.rejections())
    record.rejected_by.push_back(rejection.node());
  record.result = WriteResult(response);
  record.took = took;
  absl::MutexLock lock(&mu_);
  recent_.push_front(std::move(record));
  if (recent_.size() > kRecentWrites) recent_.pop_back();
}

std::vector<WriteMetrics::WriteRecord> WriteMetrics::Recent() const {
  absl::MutexLock lock(&mu_);
  return std::vector<WriteRecord>(recent_.begin(), recent_.end());
}

}  // namespace nginx_xds
