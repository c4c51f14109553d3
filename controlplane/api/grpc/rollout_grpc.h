#ifndef CONTROLPLANE_API_GRPC_ROLLOUT_GRPC_H_
#define CONTROLPLANE_API_GRPC_ROLLOUT_GRPC_H_

#include "controlplane/api/admin_auth.h"
#include "controlplane/rollout/rollout_service.h"
#include "nginx_xds/v1/management.grpc.pb.h"

namespace nginx_xds {

// The gRPC face of RolloutService (staged rollouts), behind the admin
// bearer token: each method checks the token (AdminAuth), converts the
// request, calls the service and maps absl::Status codes one to one onto
// gRPC's. Thread-safe.
class RolloutGrpcService final : public nginx_xds::v1::RolloutService::Service {
 public:
  // Both must outlive this.
  RolloutGrpcService(const AdminAuth* auth, RolloutService* service)
      : auth_(auth), service_(service) {}

  grpc::Status StartRollout(grpc::ServerContext* context,
                            const nginx_xds::v1::StartRolloutRequest* request,
                            nginx_xds::v1::Rollout* response) override;
  grpc::Status GetRollout(grpc::ServerContext* context,
                          const nginx_xds::v1::GetRolloutRequest* request,
                          nginx_xds::v1::Rollout* response) override;
  grpc::Status PromoteRollout(grpc::ServerContext* context,
                              const nginx_xds::v1::PromoteRolloutRequest* request,
                              nginx_xds::v1::RolloutResponse* response) override;
  grpc::Status AbortRollout(grpc::ServerContext* context,
                            const nginx_xds::v1::AbortRolloutRequest* request,
                            nginx_xds::v1::RolloutResponse* response) override;

 private:
  const AdminAuth* const auth_;
  RolloutService* const service_;
};

}  // namespace nginx_xds

#endif  // CONTROLPLANE_API_GRPC_ROLLOUT_GRPC_H_
