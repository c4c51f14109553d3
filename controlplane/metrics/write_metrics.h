#ifndef CONTROLPLANE_METRICS_WRITE_METRICS_H_
#define CONTROLPLANE_METRICS_WRITE_METRICS_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/metrics.h"
#include "nginx_xds/v1/management.pb.h"

namespace nginx_xds {

// The metrics of the write path, the only ones bumped while a write runs
// (everything else is read at scrape time): writes by API, operation and
// result; how long a write took to be durable and to be answered by its
// fleet; how long the store's commit took. Each site that records is one
// line. Thread-safe; registers its families in the registry it is given,
// which must outlive it.
class WriteMetrics {
 public:
  explicit WriteMetrics(MetricsRegistry* registry);

  // One write through `api` ("grpc", "dynamic", "dyups"): `operation` is
  // the service's ("put", "add server", ...; spaces become '_'), the result
  // WriteResult's.
  void Count(absl::string_view api, absl::string_view operation,
             const absl::StatusOr<nginx_xds::v1::WriteResponse>& result);
  // From the service taking a write to its commit (durable and published).
  void Durable(absl::string_view operation, absl::Duration took);
  // From the service taking a write to the fleet's answer (ACKs, NACKs or
  // the ACK timeout).
  void Acked(absl::string_view operation, absl::Duration took);
  // One Store::Commit.
  void StoreCommit(absl::Duration took) { store_commit_.Observe(absl::ToDoubleSeconds(took)); }

  // "ok" (every connected node acknowledged), "rejected" (a node NACKed
  // it), "unacked" (stored, but not every node answered in time), or the
  // error's code in lower case ("invalid_argument", "not_found", ...).
  static std::string WriteResult(const absl::StatusOr<nginx_xds::v1::WriteResponse>& result);

 private:
  MetricsRegistry::Family<Counter>& writes_;
  MetricsRegistry::Family<Histogram>& durable_;
  MetricsRegistry::Family<Histogram>& acked_;
  Histogram& store_commit_;
};

}  // namespace nginx_xds

#endif  // CONTROLPLANE_METRICS_WRITE_METRICS_H_
