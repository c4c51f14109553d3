#include "controlplane/replication/etcd_probe.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "etcd/api/etcdserverpb/rpc.grpc.pb.h"

namespace nginx_xds {

absl::StatusOr<uint64_t> ReadEtcdVersion(EtcdConnection* etcd, absl::Duration timeout) {
  etcdserverpb::RangeRequest request;
  request.set_key(etcd->options().prefix + "version");
  etcdserverpb::RangeResponse response;
  auto kv = etcdserverpb::KV::NewStub(etcd->channel());
  absl::Status status = etcd->Call("read the version", timeout, [&](grpc::ClientContext* context) {
    return kv->Range(context, request, &response);
  });
  if (!status.ok()) return status;
  uint64_t version = 0;
  if (response.kvs_size() > 0 && !absl::SimpleAtoi(response.kvs(0).value(), &version)) {
    return absl::DataLossError(
        absl::StrCat("etcd store: key \"", request.key(), "\" is not a number"));
  }
  return version;
}

}  // namespace nginx_xds
