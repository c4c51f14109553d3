#ifndef CONTROLPLANE_API_HTTP_HTTP_API_H_
#define CONTROLPLANE_API_HTTP_HTTP_API_H_

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "controlplane/api/http/http_message.h"
#include "controlplane/api/http/http_rollouts.h"
#include "controlplane/fleet/node_registry.h"
#include "controlplane/api/http/xds_bootstrap.h"
#include "common/metrics.h"
#include "controlplane/fleet/upstream_service.h"
#include "controlplane/metrics/write_metrics.h"
#include "controlplane/rollout/rollout_service.h"

namespace nginx_xds {

// The two HTTP APIs of the seed modules, served over whatever carries the
// request (HttpGateway): ngx_dynamic_upstream's `/dynamic?upstream=ZONE...`
// and dyups' `/list`, `/detail`, `/upstream/NAME`, plus `/fleet/status`,
// the staged rollouts under `/rollouts` (which name their fleet in the path),
// the Prometheus metrics at `/metrics`, the live fleet page at `/ui/` (with
// the recent writes it shows at `/fleet/writes`) and the bootstrap of
// proxyless gRPC clients at `/xds/bootstrap`.
// Every read and write goes through UpstreamService (and /rollouts through
// HttpRollouts and RolloutService), so validation and errors are the gRPC
// API's; this class only routes and parses requests, maps status codes and
// renders bodies byte for byte as the seeds show them. A request
// names its fleet with the X-Xds-Fleet header ("default" without one).
// Error bodies start with the status line's words ("400 Bad Request") and
// say what was wrong on the next line. Stateless and thread-safe.
class HttpApi {
 public:
  // `metrics`: served at GET /metrics (404 without); `write_metrics`:
  // where each write is counted (api "dynamic" or "dyups"). Either may be
  // null. Each must outlive this.
  HttpApi(UpstreamService* upstreams, RolloutService* rollouts, NodeRegistry* registry,
          const MetricsRegistry* metrics = nullptr, WriteMetrics* write_metrics = nullptr)
      : upstreams_(upstreams),
        rollouts_(rollouts),
        registry_(registry),
        metrics_(metrics),
        write_metrics_(write_metrics),
        rollouts_http_(rollouts) {}

  HttpResponse Handle(const HttpRequest& request) const;

  // Where proxyless gRPC clients reach the ADS server: enables
  // `GET /xds/bootstrap` (see XdsBootstrapJson). Call before serving.
  void set_xds_bootstrap(XdsBootstrapServer server) { bootstrap_ = std::move(server); }

  // What `GET /readyz` asks (e.g. whether etcd answers a linearizable read
  // in time): 200 "ready" when OK, else 503 with its message. Unset: always
  // ready. `GET /livez` is 200 while the gateway serves at all, whatever
  // etcd does (restarting a replica does not bring etcd back). Neither
  // needs the admin token. Call before serving.
  void set_readiness(std::function<absl::Status()> readiness) { readiness_ = std::move(readiness); }

 private:
  struct Target;

  HttpResponse Dynamic(const HttpRequest& request, const std::string& fleet,
                       const Target& target) const;
  HttpResponse List(const std::string& fleet, bool detail) const;
  HttpResponse GetUpstream(const std::string& fleet, const std::string& name) const;
  HttpResponse PostUpstream(const std::string& fleet, const std::string& name,
                            const std::string& body) const;
  HttpResponse DeleteUpstream(const std::string& fleet, const std::string& name) const;
  HttpResponse FleetStatus(const HttpRequest& request, const Target& target) const;

  // GET /metrics: every metric in Prometheus' text format.
  HttpResponse Metrics(const HttpRequest& request, const Target& target) const;
  // The live fleet page (http_fleet_page.cc): its files under /ui/, and
  // GET /fleet/writes, the recent writes as JSON.
  // `path` is decoded, `query` still encoded.
  HttpResponse FleetPage(const HttpRequest& request, const std::string& path) const;
  HttpResponse RecentWrites(const HttpRequest& request, const std::string& query) const;

  HttpResponse Bootstrap(const HttpRequest& request, const Target& target) const;
  HttpResponse Probe(const HttpRequest& request, const Target& target) const;

  UpstreamService* const upstreams_;
  RolloutService* const rollouts_;
  NodeRegistry* const registry_;
  const MetricsRegistry* const metrics_;
  WriteMetrics* const write_metrics_;
  std::optional<XdsBootstrapServer> bootstrap_;
  std::function<absl::Status()> readiness_;
  // /rollouts and /rollouts/FLEET[/promote|/abort].
  const HttpRollouts rollouts_http_;
};

}  // namespace nginx_xds

#endif  // CONTROLPLANE_API_HTTP_HTTP_API_H_
