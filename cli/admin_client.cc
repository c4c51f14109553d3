#include "cli/admin_client.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace nginx_xds::cli {

AdminClient::AdminClient(const Options& options)
    : options_(options),
      channel_(grpc::CreateChannel(options.server, grpc::InsecureChannelCredentials())),
      upstreams_(nginx_xds::v1::UpstreamService::NewStub(channel_)),
      fleet_(nginx_xds::v1::FleetService::NewStub(channel_)),
      rollouts_(nginx_xds::v1::RolloutService::NewStub(channel_)) {}

std::unique_ptr<grpc::ClientContext> AdminClient::Context(bool streaming) const {
  auto context = std::make_unique<grpc::ClientContext>();
  if (!options_.token.empty()) {
    context->AddMetadata("authorization", absl::StrCat("Bearer ", options_.token));
  }
  if (!streaming) context->set_deadline(absl::ToChronoTime(absl::Now() + options_.timeout));
  return context;
}

absl::Status FromGrpc(const grpc::Status& status) {
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

}  // namespace nginx_xds::cli
