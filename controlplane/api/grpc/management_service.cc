#include "controlplane/api/grpc/management_service.h"

#include <string>
#include <utility>

#include "controlplane/api/fleet_status.h"

namespace nginx_xds {

namespace {

grpc::Status ToGrpc(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

}  // namespace

grpc::Status UpstreamGrpcService::Answer(const char* operation,
                                         absl::StatusOr<nginx_xds::v1::WriteResponse> result,
                                         nginx_xds::v1::WriteResponse* response) {
  if (metrics_ != nullptr) metrics_->Count("grpc", operation, result);
  if (!result.ok()) return ToGrpc(result.status());
  *response = std::move(*result);
  return grpc::Status::OK;
}

grpc::Status UpstreamGrpcService::ListUpstreams(grpc::ServerContext*,
                                                const nginx_xds::v1::ListUpstreamsRequest* request,
                                                nginx_xds::v1::ListUpstreamsResponse* response) {
  for (auto& upstream : service_->List(request->fleet())) {
    *response->add_upstreams() = std::move(upstream);
  }
  response->set_version(service_->FleetVersion(request->fleet()));
  return grpc::Status::OK;
}

grpc::Status UpstreamGrpcService::GetUpstream(grpc::ServerContext*,
                                              const nginx_xds::v1::GetUpstreamRequest* request,
                                              nginx_xds::v1::Upstream* response) {
  auto upstream = service_->Get(request->fleet(), request->name());
  if (!upstream.ok()) return ToGrpc(upstream.status());
  *response = std::move(*upstream);
  return grpc::Status::OK;
}

grpc::Status UpstreamGrpcService::PutUpstream(grpc::ServerContext*,
                                              const nginx_xds::v1::PutUpstreamRequest* request,
                                              nginx_xds::v1::WriteResponse* response) {
  return Answer("put", service_->Put(request->fleet(), request->upstream()), response);
}

grpc::Status UpstreamGrpcService::DeleteUpstream(
    grpc::ServerContext*, const nginx_xds::v1::DeleteUpstreamRequest* request,
    nginx_xds::v1::WriteResponse* response) {
  return Answer("delete", service_->Delete(request->fleet(), request->name()), response);
}

grpc::Status UpstreamGrpcService::AddServer(grpc::ServerContext*,
                                            const nginx_xds::v1::AddServerRequest* request,
                                            nginx_xds::v1::WriteResponse* response) {
  return Answer("add server",
                service_->AddServer(request->fleet(), request->upstream(), request->server()),
                response);
}

grpc::Status UpstreamGrpcService::RemoveServer(grpc::ServerContext*,
                                               const nginx_xds::v1::RemoveServerRequest* request,
                                               nginx_xds::v1::WriteResponse* response) {
  return Answer("remove server",
                service_->RemoveServer(request->fleet(), request->upstream(), request->address()),
                response);
}

grpc::Status UpstreamGrpcService::UpdateServer(grpc::ServerContext*,
                                               const nginx_xds::v1::UpdateServerRequest* request,
                                               nginx_xds::v1::WriteResponse* response) {
  return Answer("update server", service_->UpdateServer(*request), response);
}

nginx_xds::v1::FleetStatus FleetGrpcService::Status(const std::string& fleet) const {
  return BuildFleetStatus(*registry_, *service_, *rollouts_, fleet);
}

grpc::Status FleetGrpcService::GetFleetStatus(grpc::ServerContext*,
                                              const nginx_xds::v1::GetFleetStatusRequest* request,
                                              nginx_xds::v1::FleetStatus* response) {
  *response = Status(request->fleet());
  return grpc::Status::OK;
}

grpc::Status FleetGrpcService::WatchFleetStatus(
    grpc::ServerContext* context, const nginx_xds::v1::GetFleetStatusRequest* request,
    grpc::ServerWriter<nginx_xds::v1::FleetStatus>* writer) {
  uint64_t seen = registry_->WaitForChange(~uint64_t{0}, absl::InfinitePast());
  if (!writer->Write(Status(request->fleet()))) return grpc::Status::OK;
  while (!context->IsCancelled()) {
    // Wake up now and then to notice a client that left.
    uint64_t now = registry_->WaitForChange(seen, absl::Now() + absl::Milliseconds(500));
    if (now == seen) continue;
    seen = now;
    if (!writer->Write(Status(request->fleet()))) break;
  }
  return grpc::Status::OK;
}

}  // namespace nginx_xds
