#ifndef CONTROLPLANE_API_HTTP_HTTP_API_H_
#define CONTROLPLANE_API_HTTP_HTTP_API_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "controlplane/api/http/http_message.h"
#include "controlplane/api/http/http_rollouts.h"
#include "controlplane/fleet/node_registry.h"
#include "controlplane/fleet/upstream_service.h"
#include "controlplane/rollout/rollout_service.h"

namespace nginx_xds {

// The two HTTP APIs of the seed modules, served over whatever carries the
// request (HttpGateway): ngx_dynamic_upstream's `/dynamic?upstream=ZONE...`
// and dyups' `/list`, `/detail`, `/upstream/NAME`, plus `/fleet/status` and
// the staged rollouts under `/rollouts` (which name their fleet in the path).
// Every read and write goes through UpstreamService (and /rollouts through
// HttpRollouts and RolloutService), so validation and errors are the gRPC
// API's; this class only routes and parses requests, maps status codes and
// renders bodies byte for byte as the seeds show them. A request
// names its fleet with the X-Xds-Fleet header ("default" without one).
// Error bodies start with the status line's words ("400 Bad Request") and
// say what was wrong on the next line. Stateless and thread-safe.
class HttpApi {
 public:
  // Each must outlive this.
  HttpApi(UpstreamService* upstreams, RolloutService* rollouts, NodeRegistry* registry)
      : upstreams_(upstreams), rollouts_(rollouts), registry_(registry), rollouts_http_(rollouts) {}

  HttpResponse Handle(const HttpRequest& request) const;

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

  UpstreamService* const upstreams_;
  RolloutService* const rollouts_;
  NodeRegistry* const registry_;
  // /rollouts and /rollouts/FLEET[/promote|/abort].
  const HttpRollouts rollouts_http_;
};

}  // namespace nginx_xds

#endif  // CONTROLPLANE_API_HTTP_HTTP_API_H_
