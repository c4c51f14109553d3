#ifndef CONTROLPLANE_METRICS_WRITE_METRICS_H_
#define CONTROLPLANE_METRICS_WRITE_METRICS_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/metrics.h"
#include "nginx_xds/v1/management.pb.h"

namespace nginx_xds {

// The metrics of the write path, the only ones bumped while a write runs
// (everything else is read at scrape time): writes by API, operation and
// result; how long a write took to be durable and to be answered by its
// fleet; how long the store's commit took; and the last writes answered,
// for the live fleet page. Each site that records is one line. Thread-safe; registers its families
// in the registry it is given, which must outlive it.
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
  // One write the fleet answered (ACKs, NACKs or the ACK timeout), `took`
  // from the service taking it: the acked latency, and a line of the recent
  // writes.
  void Answered(const std::string& fleet, absl::string_view operation,
                const nginx_xds::v1::WriteResponse& response, absl::Duration took)
      ABSL_LOCKS_EXCLUDED(mu_);
  // One Store::Commit.
  void StoreCommit(absl::Duration took) { store_commit_.Observe(absl::ToDoubleSeconds(took)); }

  // "ok" (every connected node acknowledged), "rejected" (a node NACKed
  // it), "unacked" (stored, but not every node answered in time), or the
  // error's code in lower case ("invalid_argument", "not_found", ...).
  static std::string WriteResult(const absl::StatusOr<nginx_xds::v1::WriteResponse>& result);

  // One answered write, for the live fleet page.
  struct WriteRecord {
    absl::Time time;
    std::string fleet;
    std::string operation;
    uint64_t version = 0;
    uint32_t acked = 0;
    uint32_t connected = 0;
    // The nodes that rejected it.
    std::vector<std::string> rejected_by;
    // WriteResult's word.
    std::string result;
    absl::Duration took;
  };
  // The last `kRecentWrites` writes answered, newest first.
  static constexpr size_t kRecentWrites = 50;
  std::vector<WriteRecord> Recent() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  MetricsRegistry::Family<Counter>& writes_;
  MetricsRegistry::Family<Histogram>& durable_;
  MetricsRegistry::Family<Histogram>& acked_;
  Histogram& store_commit_;
  mutable absl::Mutex mu_;
  std::deque<WriteRecord> recent_ ABSL_GUARDED_BY(mu_);
};

}  // namespace nginx_xds

#endif  // CONTROLPLANE_METRICS_WRITE_METRICS_H_
