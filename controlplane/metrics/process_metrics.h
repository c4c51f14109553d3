#ifndef CONTROLPLANE_METRICS_PROCESS_METRICS_H_
#define CONTROLPLANE_METRICS_PROCESS_METRICS_H_

#include "common/metrics.h"

namespace nginx_xds {

// Registers the standard process metrics of Prometheus' client libraries
// (process_cpu_seconds_total, process_resident_memory_bytes,
// process_virtual_memory_bytes, process_open_fds, process_max_fds,
// process_start_time_seconds), read from /proc/self when scraped. On a
// system without /proc the samples are left out.
void AddProcessCollectors(MetricsRegistry* metrics);

}  // namespace nginx_xds

#endif  // CONTROLPLANE_METRICS_PROCESS_METRICS_H_
