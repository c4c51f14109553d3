#include "controlplane/api/grpc/rollout_grpc.h"

#include <string>
#include <utility>

namespace nginx_xds {

namespace {

// The token first; then `result` or its error.
template <typename T>
grpc::Status Answer(const AdminAuth* auth, const grpc::ServerContext& context,
                    const std::function<absl::StatusOr<T>()>& call, T* response) {
  grpc::Status allowed = auth->CheckGrpc(context);
  if (!allowed.ok()) return allowed;
  absl::StatusOr<T> result = call();
  if (!result.ok()) {
    return grpc::Status(static_cast<grpc::StatusCode>(result.status().code()),
                        std::string(result.status().message()));
  }
  *response = *std::move(result);
  return grpc::Status::OK;
}

}  // namespace

grpc::Status RolloutGrpcService::StartRollout(grpc::ServerContext* context,
                                              const nginx_xds::v1::StartRolloutRequest* request,
                                              nginx_xds::v1::Rollout* response) {
  return Answer<nginx_xds::v1::Rollout>(
      auth_, *context, [&] { return service_->StartRollout(*request); }, response);
}

grpc::Status RolloutGrpcService::GetRollout(grpc::ServerContext* context,
                                            const nginx_xds::v1::GetRolloutRequest* request,
                                            nginx_xds::v1::Rollout* response) {
  return Answer<nginx_xds::v1::Rollout>(
      auth_, *context, [&] { return service_->GetRollout(request->fleet()); }, response);
}

grpc::Status RolloutGrpcService::PromoteRollout(grpc::ServerContext* context,
                                                const nginx_xds::v1::PromoteRolloutRequest* request,
                                                nginx_xds::v1::RolloutResponse* response) {
  return Answer<nginx_xds::v1::RolloutResponse>(
      auth_, *context, [&] { return service_->PromoteRollout(request->fleet(), request->force()); },
      response);
}

grpc::Status RolloutGrpcService::AbortRollout(grpc::ServerContext* context,
                                              const nginx_xds::v1::AbortRolloutRequest* request,
                                              nginx_xds::v1::RolloutResponse* response) {
  return Answer<nginx_xds::v1::RolloutResponse>(
      auth_, *context, [&] { return service_->AbortRollout(request->fleet()); }, response);
}

}  // namespace nginx_xds
