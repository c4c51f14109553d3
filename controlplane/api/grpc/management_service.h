#ifndef CONTROLPLANE_API_GRPC_MANAGEMENT_SERVICE_H_
#define CONTROLPLANE_API_GRPC_MANAGEMENT_SERVICE_H_

#include "controlplane/fleet/node_registry.h"
#include "controlplane/fleet/upstream_service.h"
#include "controlplane/metrics/write_metrics.h"
#include "controlplane/rollout/rollout_service.h"
#include "nginx_xds/v1/management.grpc.pb.h"

namespace nginx_xds {

// The gRPC face of UpstreamService: each method converts the request, calls
// the service and maps absl::Status codes one to one onto gRPC's.
class UpstreamGrpcService final : public nginx_xds::v1::UpstreamService::Service {
 public:
  // `metrics`: where each write is counted (api "grpc"); null: nowhere.
  explicit UpstreamGrpcService(UpstreamService* service, WriteMetrics* metrics = nullptr)
      : service_(service), metrics_(metrics) {}

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
  // Counts the write, then answers it.
  grpc::Status Answer(const char* operation, absl::StatusOr<nginx_xds::v1::WriteResponse> result,
                      nginx_xds::v1::WriteResponse* response);

  UpstreamService* service_;
  WriteMetrics* metrics_;
};

// The gRPC face of the fleet status.
class FleetGrpcService final : public nginx_xds::v1::FleetService::Service {
 public:
  // Each must outlive this.
  FleetGrpcService(NodeRegistry* registry, UpstreamService* service, RolloutService* rollouts)
      : registry_(registry), service_(service), rollouts_(rollouts) {}

  grpc::Status GetFleetStatus(grpc::ServerContext* context,
                              const nginx_xds::v1::GetFleetStatusRequest* request,
                              nginx_xds::v1::FleetStatus* response) override;
  // Sends the status, then again after each change, until the client leaves.
  grpc::Status WatchFleetStatus(grpc::ServerContext* context,
                                const nginx_xds::v1::GetFleetStatusRequest* request,
                                grpc::ServerWriter<nginx_xds::v1::FleetStatus>* writer) override;

 private:
  nginx_xds::v1::FleetStatus Status(const std::string& fleet) const;

  NodeRegistry* registry_;
  UpstreamService* service_;
  RolloutService* rollouts_;
};

}  // namespace nginx_xds

#endif  // CONTROLPLANE_API_GRPC_MANAGEMENT_SERVICE_H_
