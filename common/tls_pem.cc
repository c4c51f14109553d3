#include "common/tls_pem.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace nginx_xds {

namespace {

struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct X509Free {
  void operator()(X509* x509) const { X509_free(x509); }
};
struct KeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using KeyPtr = std::unique_ptr<EVP_PKEY, KeyFree>;

BioPtr MemoryBio(absl::string_view pem) {
  return BioPtr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

// OpenSSL's reason for the last error, and clears its queue.
std::string OpenSslReason() {
  unsigned long code = ERR_peek_last_error();
  std::string reason = code != 0 && ERR_reason_error_string(code) != nullptr
                           ? ERR_reason_error_string(code)
                           : "not PEM";
  ERR_clear_error();
  return reason;
}

// A password callback that refuses: an encrypted key cannot be used unattended.
int NoPassword(char*, int, int, void*) { return -1; }

}  // namespace

absl::StatusOr<std::string> ReadSecretFile(absl::string_view what, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int error = errno;
    const std::string message =
        absl::StrCat(what, " \"", path, "\": cannot read: ", strerror(error));
    if (error == EACCES) return absl::PermissionDeniedError(message);
    return absl::NotFoundError(message);
  }
  std::stringstream content;
  content << in.rdbuf();
  if (in.bad()) {
    return absl::NotFoundError(absl::StrCat(what, " \"", path, "\": cannot read"));
  }
  std::string text = content.str();
  if (text.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(what, " \"", path, "\": the file is empty"));
  }
  return text;
}

absl::Status CheckPemCertificates(absl::string_view pem) {
  BioPtr bio = MemoryBio(pem);
  if (bio == nullptr) return absl::InvalidArgumentError("out of memory");
  int count = 0;
  for (;;) {
    X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, NoPassword, nullptr));
    if (cert == nullptr) break;
    ++count;
  }
  const unsigned long last = ERR_peek_last_error();
  // The normal end: no more PEM blocks.
  const bool at_end =
      ERR_GET_LIB(last) == ERR_LIB_PEM && ERR_GET_REASON(last) == PEM_R_NO_START_LINE;
  if (count == 0 || (last != 0 && !at_end)) {
    const std::string reason = OpenSslReason();
    return absl::InvalidArgumentError(count == 0 ? absl::StrCat("no PEM certificate (", reason, ")")
                                                 : absl::StrCat("certificate ", count + 1,
                                                                " is not a valid PEM certificate (",
                                                                reason, ")"));
  }
  ERR_clear_error();
  return absl::OkStatus();
}

absl::Status CheckPemPrivateKey(absl::string_view pem) {
  BioPtr bio = MemoryBio(pem);
  if (bio == nullptr) return absl::InvalidArgumentError("out of memory");
  KeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassword, nullptr));
  if (key == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("no unencrypted PEM private key (", OpenSslReason(), ")"));
  }
  ERR_clear_error();
  return absl::OkStatus();
}

absl::Status CheckPemKeyMatches(absl::string_view cert_pem, absl::string_view key_pem) {
  BioPtr cert_bio = MemoryBio(cert_pem);
  BioPtr key_bio = MemoryBio(key_pem);
  if (cert_bio == nullptr || key_bio == nullptr) {
    return absl::InvalidArgumentError("out of memory");
  }
  X509Ptr cert(PEM_read_bio_X509(cert_bio.get(), nullptr, NoPassword, nullptr));
  KeyPtr key(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, NoPassword, nullptr));
  if (cert == nullptr || key == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read the certificate or the key (", OpenSslReason(), ")"));
  }
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError("the private key does not match the certificate");
  }
  return absl::OkStatus();
}

}  // namespace nginx_xds
