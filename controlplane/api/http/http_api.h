#ifndef CONTROLPLANE_API_HTTP_HTTP_API_H_
#define CONTROLPLANE_API_HTTP_HTTP_API_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "controlplane/fleet/node_registry.h"
#include "controlplane/fleet/upstream_service.h"
#include "controlplane/rollout/rollout_service.h"

namespace nginx_xds {

// One HTTP request as the gateway hands it over.
struct HttpRequest {
  // "GET", "HEAD", "POST", ...
  std::string method;
  // The request target as sent: path and query, still percent-encoded.
  std::string target;
  // Every value of the X-Xds-Fleet header, in order.
  std::vector<std::string> fleet_headers;
  std::string body;
  // The request has a body that was not read (`body` is empty): the
  // gateway answers such requests without reading it.
  bool body_unread = false;
};

// The answer: status, body and the headers besides Content-Type/-Length.
struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  // Sent without Content-Length (and without a body): HEAD /dynamic, as
  // ngx_dynamic_upstream answered it.
  bool no_content_length = false;
};

// The two HTTP APIs of the seed modules, served over whatever carries the
// request (HttpGateway): ngx_dynamic_upstream's `/dynamic?upstream=ZONE...`
// and dyups' `/list`, `/detail`, `/upstream/NAME`, plus `/fleet/status` and
// the staged rollouts under `/rollouts` (which name their fleet in the path).
// Every read and write goes through UpstreamService (RolloutService for
// /rollouts), so validation and
// errors are the gRPC API's; this class only parses requests, maps status
// codes and renders bodies byte for byte as the seeds show them. A request
// names its fleet with the X-Xds-Fleet header ("default" without one).
// Error bodies start with the status line's words ("400 Bad Request") and
// say what was wrong on the next line. Stateless and thread-safe.
class HttpApi {
 public:
  // Each must outlive this.
  HttpApi(UpstreamService* upstreams, RolloutService* rollouts, NodeRegistry* registry)
      : upstreams_(upstreams), rollouts_(rollouts), registry_(registry) {}

  HttpResponse Handle(const HttpRequest& request) const;

  // An error answer: "<status> <reason>\n<message>\n", with the bytes of
  // `message` that are not printable ASCII written as \xNN.
  static HttpResponse Error(int status, absl::string_view message);

  // The reason phrase of `status` ("Bad Request"), nginx's where nginx's
  // differs from RFC 9110's ("405 Not Allowed"); "Error" for a status it
  // does not name. The gateway's status lines carry it too.
  static absl::string_view Reason(int status);

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
  // /rollouts and /rollouts/FLEET[/promote|/abort] (http_rollouts.cc), with
  // the query's parameters decoded, in order.
  HttpResponse Rollouts(const HttpRequest& request, const std::string& path,
                        const std::vector<std::pair<std::string, std::string>>& params) const;

  UpstreamService* const upstreams_;
  RolloutService* const rollouts_;
  NodeRegistry* const registry_;
};

}  // namespace nginx_xds

#endif  // CONTROLPLANE_API_HTTP_HTTP_API_H_
