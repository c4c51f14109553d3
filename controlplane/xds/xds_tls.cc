#include "controlplane/xds/xds_tls.h"

#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/tls_pem.h"
#include "grpc/grpc_security_constants.h"

namespace nginx_xds {

namespace {

absl::StatusOr<std::string> ReadPem(absl::string_view flag, const std::string& path,
                                    absl::Status (*check)(absl::string_view)) {
  auto pem = ReadSecretFile(absl::StrCat("--", flag), path);
  if (!pem.ok()) return absl::InvalidArgumentError(pem.status().message());
  absl::Status valid = check(*pem);
  if (!valid.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, " \"", path, "\": ", valid.message()));
  }
  return pem;
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> XdsServerCredentials(
    const XdsTlsFiles& files) {
  if (files.cert.empty() && files.key.empty() && files.client_ca.empty()) {
    return grpc::InsecureServerCredentials();
  }
  if (files.cert.empty() || files.key.empty()) {
    return absl::InvalidArgumentError(
        files.client_ca.empty() || !files.cert.empty() || !files.key.empty()
            ? "TLS on --xds_listen needs both --xds_tls_cert and --xds_tls_key"
            : "--xds_tls_client_ca needs --xds_tls_cert and --xds_tls_key "
              "(mutual TLS is "
              "TLS first)");
  }
  auto cert = ReadPem("xds_tls_cert", files.cert, &CheckPemCertificates);
  if (!cert.ok()) return cert.status();
  auto key = ReadPem("xds_tls_key", files.key, &CheckPemPrivateKey);
  if (!key.ok()) return key.status();
  absl::Status matches = CheckPemKeyMatches(*cert, *key);
  if (!matches.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--xds_tls_key \"", files.key,
                                                   "\" and --xds_tls_cert \"", files.cert,
                                                   "\": ", matches.message()));
  }
  grpc::SslServerCredentialsOptions options;
  options.pem_key_cert_pairs.push_back({*key, *cert});
  if (files.client_ca.empty()) {
    options.client_certificate_request = GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE;
  } else {
    auto ca = ReadPem("xds_tls_client_ca", files.client_ca, &CheckPemCertificates);
    if (!ca.ok()) return ca.status();
    options.pem_root_certs = *ca;
    options.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(options);
}

std::optional<NodeIdentity> NodeIdentityFromUri(absl::string_view uri) {
  constexpr absl::string_view kScheme = "spiffe://";
  if (!absl::StartsWithIgnoreCase(uri, kScheme)) return std::nullopt;
  absl::string_view rest = uri.substr(kScheme.size());
  const size_t slash = rest.find('/');
  if (slash == 0 || slash == absl::string_view::npos) return std::nullopt;
  std::vector<absl::string_view> path = absl::StrSplit(rest.substr(slash + 1), '/');
  const size_t n = path.size();
  if (n < 2 || path[n - 2] != "node" || path[n - 1].empty()) return std::nullopt;
  NodeIdentity identity;
  identity.node = std::string(path[n - 1]);
  if (n >= 4 && path[n - 4] == "fleet" && !path[n - 3].empty()) {
    identity.fleet = std::string(path[n - 3]);
  }
  identity.source = std::string(uri);
  return identity;
}

absl::StatusOr<std::optional<NodeIdentity>> NodeIdentityOf(const grpc::AuthContext& context) {
  if (!context.IsPeerAuthenticated()) return std::nullopt;
  std::vector<grpc::string_ref> uris = context.FindPropertyValues(GRPC_PEER_URI_PROPERTY_NAME);
  for (const grpc::string_ref& uri : uris) {
    auto identity = NodeIdentityFromUri(absl::string_view(uri.data(), uri.size()));
    if (identity) return identity;
  }
  std::vector<grpc::string_ref> names = context.FindPropertyValues(GRPC_X509_CN_PROPERTY_NAME);
  if (!names.empty() && !names.front().empty()) {
    NodeIdentity identity;
    identity.node = std::string(names.front().data(), names.front().size());
    identity.source = absl::StrCat("CN=", identity.node);
    return identity;
  }
  return absl::PermissionDeniedError(
      "the client certificate names no node: give it a URI SAN "
      "spiffe://<trust domain>/node/<node id> or the node id as its Common "
      "Name");
}

absl::Status CheckNodeIdentity(const NodeIdentity& identity, absl::string_view node,
                               absl::string_view fleet) {
  if (node != identity.node) {
    return absl::PermissionDeniedError(
        absl::StrCat("node.id \"", node, "\" does not match the client certificate's node \"",
                     identity.node, "\" (", identity.source, ")"));
  }
  if (!identity.fleet.empty() && fleet != identity.fleet) {
    return absl::PermissionDeniedError(
        absl::StrCat("node \"", node, "\" declares fleet (node.cluster) \"", fleet,
                     "\" but its client certificate binds it to fleet \"", identity.fleet, "\" (",
                     identity.source, ")"));
  }
  return absl::OkStatus();
}

}  // namespace nginx_xds
