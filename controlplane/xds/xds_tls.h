#ifndef CONTROLPLANE_XDS_XDS_TLS_H_
#define CONTROLPLANE_XDS_XDS_TLS_H_

#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "grpcpp/grpcpp.h"

namespace nginx_xds {

// TLS of the ADS server, as files. All empty: plaintext.
struct XdsTlsFiles {
  // The server's certificate chain (PEM, leaf first) and its private key.
  std::string cert;
  std::string key;
  // CA bundle (PEM) that client certificates must chain to. When set, every
  // client must present a valid certificate (mutual TLS) and a node may only
  // speak for the identity its certificate names (see NodeIdentity).
  std::string client_ca;
};

// The server credentials for `files`: insecure when all are empty, else TLS
// (mutual with a client CA). Reads and checks every file first:
// INVALID_ARGUMENT, naming the flag (--xds_tls_*) and the file, for a missing
// half, an unreadable file, bad PEM or a key that does not match the cert.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> XdsServerCredentials(
    const XdsTlsFiles& files);

// Who a client certificate says a node is. With mutual TLS, in this order:
//  - a URI SAN `spiffe://<trust domain>/[<path>/]fleet/<fleet>/node/<id>`
//    names the node and its fleet;
//  - a URI SAN `spiffe://<trust domain>/[<path>/]node/<id>` names the node;
//  - otherwise the subject's Common Name is the node id.
struct NodeIdentity {
  std::string node;
  // Empty: the certificate does not bind the node to a fleet.
  std::string fleet;
  // Where it was read, for messages: the URI or "CN=<name>".
  std::string source;
};

// The identity a verified client certificate carries; nullopt when the peer
// was not authenticated by a certificate (plaintext or TLS without client
// certificates). PERMISSION_DENIED when a certificate names no node.
absl::StatusOr<std::optional<NodeIdentity>> NodeIdentityOf(const grpc::AuthContext& context);

// Parses one URI SAN as above; nullopt when it does not have that form.
std::optional<NodeIdentity> NodeIdentityFromUri(absl::string_view uri);

// PERMISSION_DENIED, naming both sides, when the node id (or the fleet, if
// the certificate names one) a stream declares differs from `identity`.
// `fleet` is the effective fleet (Node.cluster, "default" when empty).
absl::Status CheckNodeIdentity(const NodeIdentity& identity, absl::string_view node,
                               absl::string_view fleet);

}  // namespace nginx_xds

#endif  // CONTROLPLANE_XDS_XDS_TLS_H_
