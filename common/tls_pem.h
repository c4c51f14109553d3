#ifndef COMMON_TLS_PEM_H_
#define COMMON_TLS_PEM_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace nginx_xds {

// PEM material for one end of a TLS connection, as gRPC takes it: contents,
// not file names. Empty fields are absent.
struct TlsPem {
  // Certificates that verify the peer (a CA bundle).
  std::string ca;
  // This end's certificate chain, leaf first.
  std::string cert;
  // The private key of `cert`.
  std::string key;
};

// Reads a whole file of secret or PEM material. `what` names the file in the
// error, e.g. "--xds_tls_key". NOT_FOUND / PERMISSION_DENIED / INVALID_ARGUMENT
// (empty file) with a message naming `what` and `path`.
absl::StatusOr<std::string> ReadSecretFile(absl::string_view what, const std::string& path);

// Checks PEM text with OpenSSL, so that a bad file is reported when it is
// configured rather than at the first handshake. Each returns
// INVALID_ARGUMENT with a one-line reason.
//
// At least one certificate, every block a certificate.
absl::Status CheckPemCertificates(absl::string_view pem);
// Exactly one private key (any algorithm OpenSSL reads), unencrypted.
absl::Status CheckPemPrivateKey(absl::string_view pem);
// Whether the first certificate of `cert_pem` is the public half of `key_pem`.
absl::Status CheckPemKeyMatches(absl::string_view cert_pem, absl::string_view key_pem);

}  // namespace nginx_xds

#endif  // COMMON_TLS_PEM_H_
