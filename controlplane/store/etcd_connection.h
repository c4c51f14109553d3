#ifndef CONTROLPLANE_STORE_ETCD_CONNECTION_H_
#define CONTROLPLANE_STORE_ETCD_CONNECTION_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"

namespace nginx_xds {

// How to reach etcd: its members, TLS and authentication as etcd offers them.
struct EtcdOptions {
  // etcd client URLs or host:port, e.g. "http://127.0.0.1:2379"; tried in
  // order. All http:// or all https:// (TLS, see the files below).
  std::vector<std::string> endpoints;
  // Where nginx-xds keeps its keys.
  std::string prefix = "/nginx-xds/";
  // How long one etcd call may take.
  absl::Duration timeout = absl::Seconds(5);
  // TLS (https:// endpoints): the PEM CA bundle etcd's certificate must
  // chain to (empty: the system's roots), and a client certificate and key
  // for etcd's --client-cert-auth (both or neither).
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  // etcd's user authentication (etcdctl auth enable): a user name, and a
  // file holding its password. Empty: none.
  std::string user;
  std::string password_file;
};

// One gRPC channel to an etcd cluster and the token of its user, shared by
// the store, the replica's watch and its node leases. Thread-safe.
class EtcdConnection {
 public:
  // Checks the options and reads the files they name; connects lazily
  // (errors show at the first call). INVALID_ARGUMENT for a malformed
  // endpoint or an unreadable file.
  static absl::StatusOr<std::shared_ptr<EtcdConnection>> Open(const EtcdOptions& options);

  const EtcdOptions& options() const { return options_; }
  // The gRPC target, for messages ("127.0.0.1:2379" or "ipv4:a,b,c").
  const std::string& target() const { return target_; }
  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }

  // Readies `context` for one call: the auth token (authenticating first
  // when none is held yet); a deadline `timeout` from now unless infinite.
  absl::Status Prepare(grpc::ClientContext* context, absl::Duration timeout)
      ABSL_LOCKS_EXCLUDED(mu_);

  // One unary call with the deadline of EtcdOptions::timeout, retried once
  // with a new token when etcd says the token expired. Its gRPC error as an
  // absl::Status naming etcd and `what`; DEADLINE_EXCEEDED (a member
  // without quorum answers so) becomes UNAVAILABLE.
  absl::Status Call(const char* what, const std::function<grpc::Status(grpc::ClientContext*)>& call)
      ABSL_LOCKS_EXCLUDED(mu_);
  // The same with another deadline (a readiness probe wants a short one).
  absl::Status Call(const char* what, absl::Duration timeout,
                    const std::function<grpc::Status(grpc::ClientContext*)>& call)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Forgets the token, so the next call authenticates again.
  void DropToken() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  EtcdConnection(EtcdOptions options, std::string target, std::shared_ptr<grpc::Channel> channel,
                 std::string password);

  const EtcdOptions options_;
  const std::string target_;
  const std::shared_ptr<grpc::Channel> channel_;
  const std::string password_;
  absl::Mutex mu_;
  std::string token_ ABSL_GUARDED_BY(mu_);
};

// The first key after every key that starts with `prefix` (etcd's range end
// for a prefix read or watch).
std::string EtcdPrefixEnd(std::string prefix);

}  // namespace nginx_xds

#endif  // CONTROLPLANE_STORE_ETCD_CONNECTION_H_
