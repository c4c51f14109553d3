#ifndef CONTROLPLANE_API_HTTP_XDS_BOOTSTRAP_H_
#define CONTROLPLANE_API_HTTP_XDS_BOOTSTRAP_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "controlplane/api/http/query.h"

namespace nginx_xds {

// What a proxyless gRPC client's bootstrap says about this control plane.
struct XdsBootstrapServer {
  // host:port of the ADS server as bound (--xds_listen with its real port).
  std::string listen_address;
  // The ADS server uses TLS; with a client CA, mutual TLS.
  bool tls = false;
  bool mutual_tls = false;
};

// The bootstrap JSON (gRFC A27; GRPC_XDS_BOOTSTRAP) a gRPC client needs to
// resolve `xds:///UPSTREAM` through this control plane, for the query
// parameters of `GET /xds/bootstrap`:
//   node=ID (required)   the client's node id, as fleet status shows it
//   fleet=NAME           its fleet (node.cluster), "default" when absent
//   server=HOST:PORT     the address clients reach the ADS server at; needed
//                        when it listens on every address (0.0.0.0, [::])
//   ca_file=, cert_file=, key_file=  the client's PEM files when the ADS
//                        server uses TLS (cert and key with mutual TLS),
//                        written as gRFC A65's "tls" channel credentials
// node.locality is always present (grpc-js-xds refuses a bootstrap without
// it). INVALID_ARGUMENT says which parameter is missing, unknown, repeated
// or malformed.
absl::StatusOr<std::string> XdsBootstrapJson(const XdsBootstrapServer& server,
                                             const std::vector<QueryParam>& params);

}  // namespace nginx_xds

#endif  // CONTROLPLANE_API_HTTP_XDS_BOOTSTRAP_H_
