#ifndef CONTROLPLANE_STORE_MIGRATE_H_
#define CONTROLPLANE_STORE_MIGRATE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "controlplane/store/etcd_connection.h"
#include "controlplane/store/store.h"

namespace nginx_xds {

// Opens the store a URL names: "sqlite:PATH" (the file, created if
// missing) or "etcd:ENDPOINT[,ENDPOINT...][/PREFIX]", e.g.
// "etcd:http://10.0.0.1:2379,http://10.0.0.2:2379/nginx-xds/" (the prefix
// defaults to /nginx-xds/; TLS and the user come from `etcd`).
// INVALID_ARGUMENT for anything else.
absl::StatusOr<std::unique_ptr<Store>> OpenStoreUrl(const std::string& url, EtcdOptions etcd);

// What a migration copied.
struct Migrated {
  uint64_t version = 0;
  size_t fleets = 0;
  size_t upstreams = 0;
  size_t rollouts = 0;
};

// Copies everything `from` holds into `to` (Store::Import: versions, slots
// and rollouts preserved), then reads `to` back and checks it holds the
// same. FAILED_PRECONDITION when `to` is not empty, unless `replace`;
// DATA_LOSS when the read-back differs.
absl::StatusOr<Migrated> Migrate(Store* from, Store* to, bool replace);

}  // namespace nginx_xds

#endif  // CONTROLPLANE_STORE_MIGRATE_H_
