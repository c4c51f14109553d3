#include "controlplane/api/grpc/admin_grpc.h"

namespace nginx_xds {

grpc::Status AuthenticatedUpstreamService::ListUpstreams(
    grpc::ServerContext* context, const nginx_xds::v1::ListUpstreamsRequest* request,
    nginx_xds::v1::ListUpstreamsResponse* response) {
  grpc::Status allowed = auth_->CheckGrpc(*context);
  if (!allowed.ok()) return allowed;
  return inner_->ListUpstreams(context, request, response);
}

grpc::Status AuthenticatedUpstreamService::GetUpstream(
    grpc::ServerContext* context, const nginx_xds::v1::GetUpstreamRequest* request,
    nginx_xds::v1::Upstream* response) {
  grpc::Status allowed = auth_->CheckGrpc(*context);
  if (!allowed.ok()) return allowed;
  return inner_->GetUpstream(context, request, response);
}

grpc::Status AuthenticatedUpstreamService::PutUpstream(
    grpc::ServerContext* context, const nginx_xds::v1::PutUpstreamRequest* request,
    nginx_xds::v1::WriteResponse* response) {
  grpc::Status allowed = auth_->CheckGrpc(*context);
  if (!allowed.ok()) return allowed;
  return inner_->PutUpstream(context, request, response);
}

grpc::Status AuthenticatedUpstreamService::DeleteUpstream(
    grpc::ServerContext* context, const nginx_xds::v1::DeleteUpstreamRequest* request,
    nginx_xds::v1::WriteResponse* response) {
  grpc::Status allowed = auth_->CheckGrpc(*context);
  if (!allowed.ok()) return allowed;
  return inner_->DeleteUpstream(context, request, response);
}

grpc::Status AuthenticatedUpstreamService::AddServer(grpc::ServerContext* context,
                                                     const nginx_xds::v1::AddServerRequest* request,
                                                     nginx_xds::v1::WriteResponse* response) {
  grpc::Status allowed = auth_->CheckGrpc(*context);
  if (!allowed.ok()) return allowed;
  return inner_->AddServer(context, request, response);
}

grpc::Status AuthenticatedUpstreamService::RemoveServer(
    grpc::ServerContext* context, const nginx_xds::v1::RemoveServerRequest* request,
    nginx_xds::v1::WriteResponse* response) {
  grpc::Status allowed = auth_->CheckGrpc(*context);
  if (!allowed.ok()) return allowed;
  return inner_->RemoveServer(context, request, response);
}

grpc::Status AuthenticatedUpstreamService::UpdateServer(
    grpc::ServerContext* context, const nginx_xds::v1::UpdateServerRequest* request,
    nginx_xds::v1::WriteResponse* response) {
  grpc::Status allowed = auth_->CheckGrpc(*context);
  if (!allowed.ok()) return allowed;
  return inner_->UpdateServer(context, request, response);
}

grpc::Status AuthenticatedFleetService::GetFleetStatus(
    grpc::ServerContext* context, const nginx_xds::v1::GetFleetStatusRequest* request,
    nginx_xds::v1::FleetStatus* response) {
  grpc::Status allowed = auth_->CheckGrpc(*context);
  if (!allowed.ok()) return allowed;
  return inner_->GetFleetStatus(context, request, response);
}

grpc::Status AuthenticatedFleetService::WatchFleetStatus(
    grpc::ServerContext* context, const nginx_xds::v1::GetFleetStatusRequest* request,
    grpc::ServerWriter<nginx_xds::v1::FleetStatus>* writer) {
  grpc::Status allowed = auth_->CheckGrpc(*context);
  if (!allowed.ok()) return allowed;
  return inner_->WatchFleetStatus(context, request, writer);
}

}  // namespace nginx_xds
