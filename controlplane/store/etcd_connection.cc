#include "controlplane/store/etcd_connection.h"

#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "etcd/api/etcdserverpb/rpc.grpc.pb.h"

namespace nginx_xds {
namespace {

absl::StatusOr<std::string> ReadFile(const char* flag, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat(flag, " \"", path, "\" cannot be read"));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// "http(s)://host:port" or "host:port" as a gRPC address; `tls` says which scheme.
absl::StatusOr<std::string> Address(absl::string_view endpoint, bool* tls) {
  absl::string_view address = endpoint;
  *tls = absl::ConsumePrefix(&address, "https://");
  if (!*tls) absl::ConsumePrefix(&address, "http://");
  absl::ConsumeSuffix(&address, "/");
  if (address.empty() || address.find(':') == absl::string_view::npos ||
      address.find('/') != absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("etcd endpoint \"", endpoint, "\" is not http(s)://HOST:PORT"));
  }
  return std::string(address);
}

}  // namespace

std::string EtcdPrefixEnd(std::string prefix) {
  while (!prefix.empty()) {
    if (static_cast<unsigned char>(prefix.back()) < 0xff) {
      prefix.back() = static_cast<char>(prefix.back() + 1);
      return prefix;
    }
    prefix.pop_back();
  }
  return std::string(1, '\0');
}

absl::StatusOr<std::shared_ptr<EtcdConnection>> EtcdConnection::Open(const EtcdOptions& options) {
  if (options.endpoints.empty()) return absl::InvalidArgumentError("no etcd endpoint given");
  std::vector<std::string> addresses;
  int tls_count = 0;
  for (const std::string& endpoint : options.endpoints) {
    bool tls = false;
    absl::StatusOr<std::string> address = Address(endpoint, &tls);
    if (!address.ok()) return address.status();
    tls_count += tls ? 1 : 0;
    addresses.push_back(*std::move(address));
  }
  const bool tls = tls_count > 0;
  if (tls && tls_count != static_cast<int>(addresses.size())) {
    return absl::InvalidArgumentError("etcd endpoints mix http:// and https://");
  }
  if (options.cert_file.empty() != options.key_file.empty()) {
    return absl::InvalidArgumentError("an etcd client certificate needs its key, and the reverse");
  }
  if (!tls && (!options.ca_file.empty() || !options.cert_file.empty())) {
    return absl::InvalidArgumentError(
        "etcd TLS files are given but the endpoints are http://; use https://");
  }
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  if (tls) {
    grpc::SslCredentialsOptions ssl;
    if (!options.ca_file.empty()) {
      auto ca = ReadFile("the etcd CA file", options.ca_file);
      if (!ca.ok()) return ca.status();
      ssl.pem_root_certs = *std::move(ca);
    }
    if (!options.cert_file.empty()) {
      auto cert = ReadFile("the etcd client certificate", options.cert_file);
      if (!cert.ok()) return cert.status();
      auto key = ReadFile("the etcd client key", options.key_file);
      if (!key.ok()) return key.status();
      ssl.pem_cert_chain = *std::move(cert);
      ssl.pem_private_key = *std::move(key);
    }
    credentials = grpc::SslCredentials(ssl);
  }
  std::string password;
  if (!options.user.empty()) {
    if (options.password_file.empty()) {
      return absl::InvalidArgumentError("an etcd user needs its password file");
    }
    auto read = ReadFile("the etcd password file", options.password_file);
    if (!read.ok()) return read.status();
    password = std::string(absl::StripTrailingAsciiWhitespace(*read));
  }
  // Several endpoints: gRPC's pick_first tries them in order and moves on
  // when one fails. ipv4: takes a list; names resolve through dns:.
  std::string target =
      addresses.size() == 1 ? addresses[0] : absl::StrCat("ipv4:", absl::StrJoin(addresses, ","));
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(256 << 20);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  // A watch stream idles for long: keepalive finds a dead member or link.
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 5000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 3000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  if (tls && addresses.size() > 1) {
    // An ipv4: list has no one host name to check certificates against:
    // every member's certificate must name the first endpoint's host (or
    // give one DNS name that resolves to every member instead of a list).
    args.SetSslTargetNameOverride(addresses[0].substr(0, addresses[0].rfind(':')));
  }
  auto channel = grpc::CreateCustomChannel(target, credentials, args);
  return std::shared_ptr<EtcdConnection>(
      new EtcdConnection(options, std::move(target), std::move(channel), std::move(password)));
}

EtcdConnection::EtcdConnection(EtcdOptions options, std::string target,
                               std::shared_ptr<grpc::Channel> channel, std::string password)
    : options_(std::move(options)),
      target_(std::move(target)),
      channel_(std::move(channel)),
      password_(std::move(password)) {}

absl::Status EtcdConnection::Prepare(grpc::ClientContext* context, absl::Duration timeout) {
  if (timeout != absl::InfiniteDuration()) {
    context->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  }
  if (options_.user.empty()) return absl::OkStatus();
  absl::MutexLock lock(&mu_);
  if (token_.empty()) {
    etcdserverpb::AuthenticateRequest request;
    request.set_name(options_.user);
    request.set_password(password_);
    etcdserverpb::AuthenticateResponse response;
    grpc::ClientContext auth_context;
    auth_context.set_deadline(absl::ToChronoTime(absl::Now() + options_.timeout));
    grpc::Status status =
        etcdserverpb::Auth::NewStub(channel_)->Authenticate(&auth_context, request, &response);
    if (!status.ok()) {
      absl::StatusCode code = static_cast<absl::StatusCode>(status.error_code());
      if (code == absl::StatusCode::kDeadlineExceeded) code = absl::StatusCode::kUnavailable;
      return absl::Status(code, absl::StrCat("etcd at ", target_, ": authenticate as \"",
                                             options_.user, "\": ", status.error_message()));
    }
    token_ = response.token();
  }
  context->AddMetadata("token", token_);
  return absl::OkStatus();
}

void EtcdConnection::DropToken() {
  absl::MutexLock lock(&mu_);
  token_.clear();
}

absl::Status EtcdConnection::Call(const char* what,
                                  const std::function<grpc::Status(grpc::ClientContext*)>& call) {
  return Call(what, options_.timeout, call);
}

absl::Status EtcdConnection::Call(const char* what, absl::Duration timeout,
                                  const std::function<grpc::Status(grpc::ClientContext*)>& call) {
  grpc::Status status;
  for (int attempt = 0; attempt < 2; ++attempt) {
    grpc::ClientContext context;
    absl::Status prepared = Prepare(&context, timeout);
    if (!prepared.ok()) return prepared;
    status = call(&context);
    // etcd's simple tokens expire (--auth-token-ttl): authenticate again once.
    if (status.error_code() != grpc::StatusCode::UNAUTHENTICATED || options_.user.empty()) break;
    DropToken();
  }
  if (status.ok()) return absl::OkStatus();
  absl::StatusCode code = static_cast<absl::StatusCode>(status.error_code());
  // A member without quorum answers after its timeout: the same as
  // unreachable. etcd itself may answer first with its context's error as
  // UNKNOWN "context deadline exceeded". A commit that timed out may still
  // land later; a replica then learns it through its watch like any other.
  if (code == absl::StatusCode::kDeadlineExceeded ||
      (code == absl::StatusCode::kUnknown &&
       absl::StrContains(status.error_message(), "deadline exceeded"))) {
    code = absl::StatusCode::kUnavailable;
  }
  return absl::Status(
      code, absl::StrCat("etcd store: ", what, " at ", target_, ": ", status.error_message()));
}

}  // namespace nginx_xds
