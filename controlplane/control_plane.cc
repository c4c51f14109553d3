#include "controlplane/control_plane.h"

#include <unistd.h>

#include <map>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "controlplane/metrics/fleet_collectors.h"
#include "controlplane/metrics/process_metrics.h"
#include "controlplane/replication/etcd_probe.h"
#include "controlplane/store/etcd_store.h"
#include "controlplane/store/sqlite_store.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"

namespace nginx_xds {

absl::StatusOr<std::unique_ptr<ControlPlane>> ControlPlane::Start(const Options& options) {
  std::unique_ptr<ControlPlane> cp(new ControlPlane(options.nodes));
  // Security first: nothing is opened or bound when it is misconfigured.
  if (!options.admin_token_file.empty()) {
    auto auth = AdminAuth::FromFile(options.admin_token_file);
    if (!auth.ok()) return auth.status();
    cp->admin_auth_ = std::move(*auth);
  }
  for (absl::Status exposed :
       {CheckAdminExposure("admin_listen", options.admin_listen, cp->admin_auth_),
        CheckAdminExposure("http_listen", options.http_listen, cp->admin_auth_)}) {
    if (!exposed.ok()) return exposed;
  }
  auto xds_credentials = XdsServerCredentials(options.xds_tls);
  if (!xds_credentials.ok()) return xds_credentials.status();
  if (options.etcd_endpoints.empty()) {
    auto store = SqliteStore::Open(options.database_path);
    if (!store.ok()) return store.status();
    cp->store_ = std::move(*store);
  } else {
    EtcdOptions etcd;
    etcd.endpoints = options.etcd_endpoints;
    etcd.prefix = options.etcd_prefix;
    etcd.timeout = options.etcd_timeout;
    etcd.ca_file = options.etcd_ca_file;
    etcd.cert_file = options.etcd_cert_file;
    etcd.key_file = options.etcd_key_file;
    etcd.user = options.etcd_user;
    etcd.password_file = options.etcd_password_file;
    auto connection = EtcdConnection::Open(etcd);
    if (!connection.ok()) return connection.status();
    cp->etcd_ = *std::move(connection);
    cp->store_ = std::make_unique<EtcdStore>(cp->etcd_);
  }
  cp->readiness_timeout_ = options.readiness_timeout;

  cp->write_metrics_ = std::make_unique<WriteMetrics>(&cp->metrics_);
  // Loaded once: the upstreams go to UpstreamService, the rollouts to
  // RolloutService, which pins the fleets whose rollout is open.
  auto state = cp->store_->Load();
  if (!state.ok()) return state.status();
  std::map<std::string, StoredRollout> stored_rollouts = std::move(state->rollouts);
  const int64_t loaded_revision = state->revision;
  UpstreamService::Options service_options;
  if (cp->etcd_ != nullptr) {
    // A commit lost to another replica: wait until the watch brought in
    // everything etcd had at that moment, then the write is tried again.
    ControlPlane* plane = cp.get();
    service_options.catch_up = [plane]() -> absl::Status {
      auto newest = ReadEtcdVersion(plane->etcd_.get(), plane->etcd_->options().timeout);
      if (!newest.ok()) return newest.status();
      if (!plane->upstreams_->WaitForVersion(*newest,
                                             absl::Now() + plane->etcd_->options().timeout)) {
        return absl::UnavailableError(absl::StrCat(
            "this replica has not caught up with version ", *newest, " of etcd at ",
            plane->etcd_->target(), " in time (its watch is behind); try again"));
      }
      return absl::OkStatus();
    };
  }
  service_options.ack_timeout = options.ack_timeout;
  service_options.log = options.log;
  service_options.metrics = cp->write_metrics_.get();
  cp->upstreams_ = UpstreamService::Restore(cp->store_.get(), *std::move(state), &cp->cache_,
                                            &cp->registry_, std::move(service_options));
  RolloutService::Options rollout_options;
  rollout_options.ack_timeout = options.ack_timeout;
  rollout_options.log = options.log;
  cp->rollouts_ =
      RolloutService::Create(cp->store_.get(), cp->upstreams_.get(), &cp->cache_, &cp->registry_,
                             std::move(rollout_options), std::move(stored_rollouts));

  UpstreamService* service = cp->upstreams_.get();
  if (cp->etcd_ != nullptr) {
    auto* store = static_cast<EtcdStore*>(cp->store_.get());
    StateFollower::Options follow;
    follow.prefix = options.etcd_prefix;
    follow.range_end = store->StateRangeEnd();
    follow.apply = [service](const StoredCommit& commit) { service->ApplyCommitted(commit); };
    // Rollouts started, halted, promoted or aborted on any replica.
    RolloutService* rollouts = cp->rollouts_.get();
    follow.rollout = [rollouts](const StoredRollout& stored) { rollouts->ApplyStored(stored); };
    follow.reload = [service] { return service->Reload(); };
    follow.log = options.log;
    cp->follower_ = std::make_unique<StateFollower>(cp->etcd_, std::move(follow), loaded_revision);
    cp->replica_id_ = options.replica_id;
    if (cp->replica_id_.empty()) {
      char host[256] = {};
      gethostname(host, sizeof(host) - 1);
      cp->replica_id_ = absl::StrCat(host, "-", getpid());
    }
    NodeStateSync::Options sync;
    sync.replica = cp->replica_id_;
    sync.lease_ttl = options.node_lease_ttl;
    sync.interval = options.node_state_interval;
    sync.log = options.log;
    // Before the ADS server: it hooks into the registry the streams use.
    cp->node_sync_ = std::make_unique<NodeStateSync>(cp->etcd_, &cp->registry_, std::move(sync));
  }
  AddFleetCollectors(&cp->metrics_, &cp->registry_, service, cp->rollouts_.get());
  AddProcessCollectors(&cp->metrics_);
  cp->ads_ = std::make_unique<AdsService>(
      &cp->cache_, &cp->registry_,
      // The adoption callback: the only way from xds/ back to the write path.
      [service, log = options.log](const std::string& node, const std::string& fleet,
                                   std::vector<nginx_xds::v1::Upstream> upstreams) {
        auto adopted = service->Adopt(fleet, std::move(upstreams));
        if (!adopted.ok()) {
          Log(log, LogLevel::kError,
              absl::StrCat("node \"", node,
                           "\": static upstreams not adopted: ", adopted.status().message()));
        } else if (*adopted > 0) {
          Log(log, LogLevel::kInfo,
              absl::StrCat("node \"", node, "\": adopted ", *adopted,
                           " static upstream(s) into fleet \"", fleet, "\""));
        }
      });
  cp->upstream_grpc_ = std::make_unique<UpstreamGrpcService>(service, cp->write_metrics_.get());
  cp->fleet_grpc_ =
      std::make_unique<FleetGrpcService>(&cp->registry_, service, cp->rollouts_.get());
  cp->upstream_admin_ =
      std::make_unique<AuthenticatedUpstreamService>(&cp->admin_auth_, cp->upstream_grpc_.get());
  cp->fleet_admin_ =
      std::make_unique<AuthenticatedFleetService>(&cp->admin_auth_, cp->fleet_grpc_.get());
  cp->rollout_admin_ = std::make_unique<RolloutGrpcService>(&cp->admin_auth_, cp->rollouts_.get());

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  grpc::ServerBuilder xds_builder;
  xds_builder.AddListeningPort(options.xds_listen, *xds_credentials, &cp->xds_port_);
  xds_builder.RegisterService(cp->ads_.get());
  // Requests are small (subscriptions, ACKs; an agent's first one carries
  // its nginx.conf upstreams): gRPC's 4 MiB, set here on purpose, bounds
  // what one message of a client can cost (RESOURCE_EXHAUSTED beyond).
  xds_builder.SetMaxReceiveMessageSize(4 << 20);
  // Keepalive: an agent whose host or link died without closing its
  // connection is seen as disconnected (fleet status, write ACK counts)
  // within ~20 s, even on an idle stream: ping every 10 s, give up after
  // 10 s without an answer, and keep pinging when no data flows. Agents may
  // ping every 10 s too (they do every 20 s; gRPC's default floor is 5 min).
  xds_builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 10 * 1000);
  xds_builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10 * 1000);
  xds_builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  xds_builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10 * 1000);
  cp->xds_server_ = xds_builder.BuildAndStart();
  if (cp->xds_server_ == nullptr || cp->xds_port_ == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on \"", options.xds_listen, "\""));
  }

  cp->waker_ = std::make_unique<CallbackWaker>(
      cp->xds_server_->InProcessChannel(grpc::ChannelArguments()), absl::Milliseconds(250));

  grpc::ServerBuilder admin_builder;
  admin_builder.AddListeningPort(options.admin_listen, grpc::InsecureServerCredentials(),
                                 &cp->admin_port_);
  // Behind the bearer token (health and reflection stay open).
  admin_builder.RegisterService(cp->upstream_admin_.get());
  admin_builder.RegisterService(cp->fleet_admin_.get());
  admin_builder.RegisterService(cp->rollout_admin_.get());
  cp->admin_server_ = admin_builder.BuildAndStart();
  if (cp->admin_server_ == nullptr || cp->admin_port_ == 0) {
    cp->xds_server_->Shutdown();
    return absl::UnavailableError(absl::StrCat("cannot listen on \"", options.admin_listen, "\""));
  }

  if (!options.http_listen.empty()) {
    cp->http_api_ = std::make_unique<HttpApi>(service, cp->rollouts_.get(), &cp->registry_,
                                              &cp->metrics_, cp->write_metrics_.get());
    XdsBootstrapServer bootstrap;
    const size_t colon = options.xds_listen.rfind(':');
    bootstrap.listen_address =
        absl::StrCat(options.xds_listen.substr(0, colon), ":", cp->xds_port_);
    bootstrap.tls = !options.xds_tls.cert.empty();
    bootstrap.mutual_tls = !options.xds_tls.client_ca.empty();
    cp->http_api_->set_xds_bootstrap(std::move(bootstrap));
    ControlPlane* plane = cp.get();
    cp->http_api_->set_readiness([plane] { return plane->Ready(); });
    HttpGateway::Options http_options;
    http_options.listen = options.http_listen;
    http_options.threads = options.http_threads;
    http_options.max_connections = options.http_max_connections;
    http_options.header_timeout = options.http_header_timeout;
    http_options.keep_alive_timeout = options.http_keep_alive_timeout;
    http_options.auth = &cp->admin_auth_;
    http_options.log = options.log;
    auto gateway = HttpGateway::Start(cp->http_api_.get(), http_options);
    if (!gateway.ok()) {
      cp->Shutdown();
      return gateway.status();
    }
    cp->http_gateway_ = std::move(*gateway);
  }
  return cp;
}

ControlPlane::~ControlPlane() {
  Shutdown();
  // The follower calls into rollouts_, which is declared (so destroyed)
  // after it: its thread stops first.
  follower_.reset();
}

absl::Status ControlPlane::Ready() const {
  if (etcd_ == nullptr) return absl::OkStatus();
  auto newest = ReadEtcdVersion(etcd_.get(), readiness_timeout_);
  if (!newest.ok()) return newest.status();
  if (follower_ != nullptr && !follower_->watching()) {
    return absl::UnavailableError(
        absl::StrCat("the watch on etcd at ", etcd_->target(), " is not established"));
  }
  return absl::OkStatus();
}

void ControlPlane::Shutdown(absl::Duration grace) {
  if (shut_down_) return;
  shut_down_ = true;
  const auto deadline = absl::ToChronoTime(absl::Now() + grace);
  if (http_gateway_) http_gateway_->Shutdown();
  waker_.reset();
  if (admin_server_) admin_server_->Shutdown(deadline);
  if (xds_server_) xds_server_->Shutdown(deadline);
}

void ControlPlane::Wait() {
  if (xds_server_) xds_server_->Wait();
  if (admin_server_) admin_server_->Wait();
}

}  // namespace nginx_xds
