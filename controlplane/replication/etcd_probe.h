#ifndef CONTROLPLANE_REPLICATION_ETCD_PROBE_H_
#define CONTROLPLANE_REPLICATION_ETCD_PROBE_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "controlplane/store/etcd_connection.h"

namespace nginx_xds {

// The newest version in etcd (EtcdStore's version key under the
// connection's prefix; 0 before the first write), read linearizably: etcd
// answers only with its quorum, so a replica on the minority side of a
// partition gets UNAVAILABLE within `timeout`. Used to catch up after a lost
// compare-and-swap and by the readiness probe.
absl::StatusOr<uint64_t> ReadEtcdVersion(EtcdConnection* etcd, absl::Duration timeout);

}  // namespace nginx_xds

#endif  // CONTROLPLANE_REPLICATION_ETCD_PROBE_H_
