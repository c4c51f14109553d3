#ifndef CONTROLPLANE_API_GRPC_ADMIN_GRPC_H_
#define CONTROLPLANE_API_GRPC_ADMIN_GRPC_H_

#include "controlplane/api/admin_auth.h"
#include "controlplane/api/grpc/management_service.h"
#include "nginx_xds/v1/management.grpc.pb.h"

namespace nginx_xds {

// The management API as the admin gRPC server registers it: each method
// checks the bearer token (AdminAuth) and only then calls the wrapped
// service. gRPC C++ has no server hook that can refuse a call before its
// handler runs on an insecure port (AuthMetadataProcessor needs TLS,
// interceptors cannot answer), hence one wrapper per method.
//
// Fails closed: a method added to management.proto but not here answers
// UNIMPLEMENTED until it is added (admin_auth_test calls every method of
// both services without a token and expects UNAUTHENTICATED).
class AuthenticatedUpstreamService final : public nginx_xds::v1::UpstreamService::Service {
 public:
  // Both must outlive this.
  AuthenticatedUpstreamService(const AdminAuth* auth, UpstreamGrpcService* inner)
      : auth_(auth), inner_(inner) {}

  grpc::Status ListUpstreams(grpc::ServerContext* context,
                             const nginx_xds::v1::ListUpstreamsRequest* request,
                             nginx_xds::v1::ListUpstreamsResponse* response) override;
  grpc::Status GetUpstream(grpc::ServerContext* context,
                           const nginx_xds::v1::GetUpstreamRequest* request,
                           nginx_xds::v1::Upstream* response) override;
  grpc::Status PutUpstream(grpc::ServerContext* context,
                           const nginx_xds::v1::PutUpstreamRequest* request,
                           nginx_xds::v1::WriteResponse* response) override;
  grpc::Status DeleteUpstream(grpc::ServerContext* context,
                              const nginx_xds::v1::DeleteUpstreamRequest* request,
                              nginx_xds::v1::WriteResponse* response) override;
  grpc::Status AddServer(grpc::ServerContext* context,
                         const nginx_xds::v1::AddServerRequest* request,
                         nginx_xds::v1::WriteResponse* response) override;
  grpc::Status RemoveServer(grpc::ServerContext* context,
                            const nginx_xds::v1::RemoveServerRequest* request,
                            nginx_xds::v1::WriteResponse* response) override;
  grpc::Status UpdateServer(grpc::ServerContext* context,
                            const nginx_xds::v1::UpdateServerRequest* request,
                            nginx_xds::v1::WriteResponse* response) override;

 private:
  const AdminAuth* const auth_;
  UpstreamGrpcService* const inner_;
};

// The fleet status API behind the bearer token; see
// AuthenticatedUpstreamService.
class AuthenticatedFleetService final : public nginx_xds::v1::FleetService::Service {
 public:
  AuthenticatedFleetService(const AdminAuth* auth, FleetGrpcService* inner)
      : auth_(auth), inner_(inner) {}

  grpc::Status GetFleetStatus(grpc::ServerContext* context,
                              const nginx_xds::v1::GetFleetStatusRequest* request,
                              nginx_xds::v1::FleetStatus* response) override;
  grpc::Status WatchFleetStatus(grpc::ServerContext* context,
                                const nginx_xds::v1::GetFleetStatusRequest* request,
                                grpc::ServerWriter<nginx_xds::v1::FleetStatus>* writer) override;

 private:
  const AdminAuth* const auth_;
  FleetGrpcService* const inner_;
};

}  // namespace nginx_xds

#endif  // CONTROLPLANE_API_GRPC_ADMIN_GRPC_H_
