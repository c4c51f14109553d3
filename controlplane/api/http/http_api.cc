#include "controlplane/api/http/http_api.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "common/printable.h"
#include "common/upstream_block.h"
#include "common/upstream_rules.h"
#include "controlplane/api/fleet_status.h"
#include "controlplane/api/http/dynamic_request.h"
#include "controlplane/api/http/http_status.h"
#include "controlplane/api/http/query.h"
#include "controlplane/api/http/status_json.h"
#include "controlplane/rollout/rollout.h"

namespace nginx_xds {

namespace {

using nginx_xds::v1::Server;
using nginx_xds::v1::Upstream;
using nginx_xds::v1::WriteResponse;

constexpr absl::string_view kUpstreamPrefix = "/upstream/";

HttpResponse Ok(std::string body) {
  HttpResponse response;
  response.body = std::move(body);
  return response;
}

HttpResponse NoContent() {
  HttpResponse response;
  response.status = 204;
  return response;
}

HttpResponse MethodNotAllowed(absl::string_view method, absl::string_view path,
                              absl::string_view allowed) {
  HttpResponse response = HttpError(
      405, absl::StrCat("method ", method, " is not allowed on ", path, "; use ", allowed));
  response.headers.emplace_back("Allow", std::string(allowed));
  return response;
}

// The answer to a write the service took: `success_body` with the version
// headers, or 500 naming every node that rejected it (the change is stored
// and stays; the seeds' "500: the fleet could not apply it").
HttpResponse WriteAnswer(const WriteResponse& write, std::string success_body) {
  HttpResponse response;
  if (write.rejections().empty()) {
    response = Ok(std::move(success_body));
  } else {
    std::vector<std::string> lines;
    lines.push_back(absl::StrCat("version ", write.version(), " is stored, but ",
                                 write.rejections_size(), " of ", write.connected_nodes(),
                                 " connected nodes rejected it:"));
    for (const auto& rejection : write.rejections()) {
      lines.push_back(absl::StrCat("node \"", rejection.node(), "\" rejected version ",
                                   rejection.version(), ": ", rejection.message()));
    }
    response = HttpErrorLines(500, lines);
  }
  response.headers.emplace_back("X-Xds-Version", absl::StrCat(write.version()));
  response.headers.emplace_back("X-Xds-Acked-Nodes", absl::StrCat(write.acked_nodes()));
  response.headers.emplace_back("X-Xds-Connected-Nodes", absl::StrCat(write.connected_nodes()));
  // A fleet with an open rollout: the counts are its canary nodes'.
  if (write.canary()) response.headers.emplace_back("X-Xds-Rollout", "canary");
  return response;
}

// The fleet a request names with X-Xds-Fleet: "default" without the header.
absl::StatusOr<std::string> FleetOf(const HttpRequest& request) {
  if (request.fleet_headers.empty()) return std::string(kDefaultFleet);
  if (request.fleet_headers.size() > 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "header X-Xds-Fleet is given ", request.fleet_headers.size(), " times; give it once"));
  }
  const std::string& fleet = request.fleet_headers.front();
  absl::Status valid = ValidateName("fleet", fleet);
  if (!valid.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("header X-Xds-Fleet: ", valid.message()));
  }
  return fleet;
}

// ngx_dynamic_upstream's list: "server ADDR;" or, verbose, "server ADDR
// weight=W max_fails=F fail_timeout=T;", with " backup" for backup servers
// and " down" for down ones, one line per server in the upstream's order.
std::string DynamicListing(const Upstream& upstream, bool verbose) {
  std::string body;
  for (const Server& server : upstream.servers()) {
    absl::StrAppend(&body, "server ", server.address());
    if (verbose) {
      absl::StrAppend(&body, " weight=", server.weight(), " max_fails=", server.max_fails(),
                      " fail_timeout=", server.fail_timeout());
    }
    if (server.backup()) absl::StrAppend(&body, " backup");
    if (server.down()) absl::StrAppend(&body, " down");
    absl::StrAppend(&body, ";\n");
  }
  return body;
}

// dyups' list of one upstream's servers: "server ADDR\n" each.
std::string DyupsServers(const Upstream& upstream) {
  std::string body;
  for (const Server& server : upstream.servers()) {
    absl::StrAppend(&body, "server ", server.address(), "\n");
  }
  return body;
}

// The service's name of the change a /dynamic request asks for.
const char* OperationOf(const DynamicRequest& op) {
  return op.add ? "add server" : op.remove ? "remove server" : "update server";
}

// Answers a parsed /dynamic request: the zone's list, or the change it asks
// for, made through `upstreams` (and counted in `metrics`).
HttpResponse DynamicOperation(UpstreamService* upstreams, WriteMetrics* metrics,
                              const std::string& fleet, const DynamicRequest& op) {
  if (!op.has_zone) {
    return HttpError(404, "upstream is missing: give upstream=ZONE, the zone of an upstream");
  }
  if (op.zone.empty()) return HttpError(404, "upstream is empty: give upstream=ZONE");
  absl::StatusOr<Upstream> upstream = upstreams->FindByZone(fleet, op.zone);
  if (!upstream.ok()) {
    return HttpError(upstream.status().code() == absl::StatusCode::kNotFound ? 404 : 409,
                     upstream.status().message());
  }
  if (!op.Changes()) return Ok(DynamicListing(*upstream, op.Verbose()));
  if (op.server.empty()) {
    return HttpError(400,
                     absl::StrCat("server is ", op.has_server ? "empty" : "missing",
                                  ": add, remove, up, down, weight, max_fails and fail_timeout "
                                  "need server=HOST:PORT"));
  }

  absl::StatusOr<WriteResponse> write;
  if (op.add) {
    Server server;
    server.set_address(op.server);
    // weight=0 is passed on as the original stored it.
    if (op.weight) server.set_weight(*op.weight);
    if (op.max_fails) server.set_max_fails(*op.max_fails);
    if (op.fail_timeout) server.set_fail_timeout(*op.fail_timeout);
    server.set_backup(op.backup);
    server.set_down(op.down);
    write = upstreams->AddServer(fleet, upstream->name(), std::move(server));
  } else if (op.remove) {
    write = upstreams->RemoveServer(fleet, upstream->name(), op.server);
  } else {
    nginx_xds::v1::UpdateServerRequest update;
    update.set_fleet(fleet);
    update.set_upstream(upstream->name());
    update.set_address(op.server);
    if (op.weight) update.set_weight(*op.weight);
    if (op.max_fails) update.set_max_fails(*op.max_fails);
    if (op.fail_timeout) update.set_fail_timeout(*op.fail_timeout);
    if (op.up || op.down) update.set_down(op.down);
    write = upstreams->UpdateServer(update);
  }
  if (metrics != nullptr) metrics->Count("dynamic", OperationOf(op), write);
  if (!write.ok()) {
    int status = HttpStatusFor(write.status(), HttpDialect::kDynamic);
    // NOT_FOUND is a missing server (400) unless the zone went away meanwhile.
    if (write.status().code() == absl::StatusCode::kNotFound &&
        !upstreams->FindByZone(fleet, op.zone).ok()) {
      status = 404;
    }
    return HttpError(status, write.status().message());
  }
  return WriteAnswer(*write, DynamicListing(write->upstream(), op.Verbose()));
}

// What dyups' interface (b29a7c5, ngx_http_dyups_interface_handler) answers
// before it looks at an upstream: GET reads; any other method but DELETE
// reads the body first, and POST without a body is 204 "no content" whatever
// the path (nothing is stored); POST to a path that is not /upstream/NAME is
// 404 "not support this interface"; DELETE of /list or /detail and every
// other method (HEAD included) is 405. Nothing when the request goes on.
std::optional<HttpResponse> DyupsMethod(const HttpRequest& request, const std::string& path,
                                        bool list) {
  const std::string& method = request.method;
  const std::string allowed = list ? "GET" : "GET, POST, DELETE";
  if (method == "GET") return std::nullopt;
  if (method == "POST") {
    if (request.body.empty() && !request.body_unread) {
      HttpResponse response;
      response.status = 204;
      return response;
    }
    if (!list) return std::nullopt;
    return HttpError(404, absl::StrCat("not support this interface: POST ", path,
                                       "; POST takes /upstream/NAME"));
  }
  if (method == "DELETE") {
    if (!list) return std::nullopt;
    HttpResponse response = MethodNotAllowed(method, path, allowed);
    response.body = absl::StrCat("405 Not Allowed\nnot support this interface: DELETE ", path,
                                 "; DELETE takes /upstream/NAME\n");
    return response;
  }
  return MethodNotAllowed(method, path, allowed);
}

}  // namespace

struct HttpApi::Target {
  // The path, percent-decoded.
  std::string path;
  // The query after '?', still encoded; empty when there is none.
  std::string query;
};

HttpResponse HttpApi::Handle(const HttpRequest& request) const {
  Target target;
  const size_t question = request.target.find('?');
  const absl::string_view raw_path = absl::string_view(request.target).substr(0, question);
  if (question != std::string::npos) target.query = request.target.substr(question + 1);
  absl::StatusOr<std::string> path = PercentDecode(raw_path, false, "the path");
  if (!path.ok()) return HttpError(400, path.status().message());
  target.path = *std::move(path);
  const std::string& method = request.method;
  const bool read = method == "GET" || method == "HEAD";

  if (target.path == "/fleet/status") {
    if (!read) return MethodNotAllowed(method, target.path, "GET, HEAD");
    return FleetStatus(request, target);
  }
  if (target.path == "/readyz" || target.path == "/livez") {
    if (!read) return MethodNotAllowed(method, target.path, "GET, HEAD");
    return Probe(request, target);
  }
  if (target.path == "/xds/bootstrap") {
    if (!read) return MethodNotAllowed(method, target.path, "GET, HEAD");
    return Bootstrap(request, target);
  }
  if (target.path == "/ui" || absl::StartsWith(target.path, "/ui/")) {
    if (!read) return MethodNotAllowed(method, target.path, "GET, HEAD");
    return FleetPage(request, target.path);
  }
  if (target.path == "/fleet/writes" && write_metrics_ != nullptr) {
    if (!read) return MethodNotAllowed(method, target.path, "GET, HEAD");
    return RecentWrites(request, target.query);
  }
  if (target.path == "/metrics" && metrics_ != nullptr) {
    if (!read) return MethodNotAllowed(method, target.path, "GET, HEAD");
    return Metrics(request, target);
  }
  if (target.path == "/rollouts" || absl::StartsWith(target.path, "/rollouts/")) {
    if (!read && method != "POST") return MethodNotAllowed(method, target.path, "GET, HEAD, POST");
    absl::StatusOr<std::vector<QueryParam>> params = ParseQuery(target.query);
    if (!params.ok()) return HttpError(400, params.status().message());
    return rollouts_http_.Handle(request, target.path, *params);
  }
  const bool dynamic = target.path == "/dynamic";
  const bool list = target.path == "/list" || target.path == "/detail";
  const bool upstream = absl::StartsWith(target.path, kUpstreamPrefix);
  if (!dynamic && !list && !upstream) {
    return HttpError(404, absl::StrCat("no endpoint \"", target.path,
                                       "\"; the endpoints are /dynamic, /list, /detail, "
                                       "/upstream/NAME, /fleet/status, /rollouts, /metrics, "
                                       "/ui/ and /xds/bootstrap"));
  }
  if (dynamic && !read) return MethodNotAllowed(method, target.path, "GET, HEAD");
  if (!dynamic) {
    std::optional<HttpResponse> refused = DyupsMethod(request, target.path, list);
    if (refused) return *std::move(refused);
  }
  absl::StatusOr<std::string> fleet = FleetOf(request);
  if (!fleet.ok()) return HttpError(400, fleet.status().message());
  if (dynamic) return Dynamic(request, *fleet, target);

  if (!target.query.empty()) {
    return HttpError(400, absl::StrCat(upstream ? "/upstream/NAME" : target.path,
                                       " takes no query parameters, got \"", target.query, "\""));
  }
  if (method != "POST" && !request.body.empty()) {
    return HttpError(400, absl::StrCat(method, " ", upstream ? "/upstream/NAME" : target.path,
                                       " takes no body"));
  }
  if (list) return List(*fleet, target.path == "/detail");
  const std::string name = target.path.substr(kUpstreamPrefix.size());
  absl::Status valid = ValidateName("upstream", name);
  if (!valid.ok()) return HttpError(400, valid.message());
  if (read) return GetUpstream(*fleet, name);
  if (method == "POST") return PostUpstream(*fleet, name, request.body);
  return DeleteUpstream(*fleet, name);
}

HttpResponse HttpApi::Dynamic(const HttpRequest& request, const std::string& fleet,
                              const Target& target) const {
  // HEAD: the original sent its headers (200, text/plain, no length) before
  // it read the query, and nothing else.
  if (request.method == "HEAD") {
    HttpResponse head = Ok("");
    head.no_content_length = true;
    return head;
  }
  if (!request.body.empty()) return HttpError(400, "/dynamic takes no body");
  absl::StatusOr<std::vector<QueryParam>> params = ParseQuery(target.query);
  if (!params.ok()) return HttpError(400, params.status().message());
  absl::StatusOr<DynamicRequest> parsed = ParseDynamic(*params);
  if (!parsed.ok()) return HttpError(400, parsed.status().message());
  DynamicRequest& op = *parsed;
  DropUnused(&op);
  HttpResponse response = DynamicOperation(upstreams_, write_metrics_, fleet, op);
  if (!op.ignored.empty()) {
    response.headers.emplace_back("X-Xds-Ignored", Printable(absl::StrJoin(op.ignored, ", ")));
  }
  return response;
}

HttpResponse HttpApi::List(const std::string& fleet, bool detail) const {
  std::vector<Upstream> upstreams = upstreams_->ListInCreationOrder(fleet);
  if (upstreams.empty()) return NoContent();
  std::string body;
  for (const Upstream& upstream : upstreams) {
    absl::StrAppend(&body, upstream.name(), "\n");
    if (detail) absl::StrAppend(&body, DyupsServers(upstream), "\n");
  }
  return Ok(std::move(body));
}

HttpResponse HttpApi::GetUpstream(const std::string& fleet, const std::string& name) const {
  absl::StatusOr<Upstream> upstream = upstreams_->Get(fleet, name);
  if (!upstream.ok())
    return HttpError(HttpStatusFor(upstream.status(), HttpDialect::kDyups),
                     upstream.status().message());
  if (upstream->servers().empty()) return NoContent();
  return Ok(DyupsServers(*upstream));
}

HttpResponse HttpApi::PostUpstream(const std::string& fleet, const std::string& name,
                                   const std::string& body) const {
  absl::StatusOr<Upstream> upstream = ParseUpstreamBlock(body);
  if (!upstream.ok()) return HttpError(400, upstream.status().message());
  upstream->set_name(name);
  absl::StatusOr<WriteResponse> write = upstreams_->Replace(fleet, *std::move(upstream));
  if (write_metrics_ != nullptr) write_metrics_->Count("dyups", "replace", write);
  if (!write.ok())
    return HttpError(HttpStatusFor(write.status(), HttpDialect::kDyups), write.status().message());
  return WriteAnswer(*write, "success");
}

HttpResponse HttpApi::DeleteUpstream(const std::string& fleet, const std::string& name) const {
  absl::StatusOr<WriteResponse> write = upstreams_->Delete(fleet, name);
  if (write_metrics_ != nullptr) write_metrics_->Count("dyups", "delete", write);
  if (!write.ok())
    return HttpError(HttpStatusFor(write.status(), HttpDialect::kDyups), write.status().message());
  return WriteAnswer(*write, "success");
}

HttpResponse HttpApi::Bootstrap(const HttpRequest& request, const Target& target) const {
  if (!bootstrap_) return HttpError(404, "/xds/bootstrap: this control plane serves no ADS");
  if (!request.body.empty()) return HttpError(400, "/xds/bootstrap takes no body");
  absl::StatusOr<std::vector<QueryParam>> params = ParseQuery(target.query);
  if (!params.ok()) return HttpError(400, params.status().message());
  absl::StatusOr<std::string> json = XdsBootstrapJson(*bootstrap_, *params);
  if (!json.ok()) return HttpError(400, json.status().message());
  HttpResponse response;
  response.content_type = "application/json";
  response.body = *std::move(json);
  return response;
}

HttpResponse HttpApi::Metrics(const HttpRequest& request, const Target& target) const {
  if (!request.body.empty()) return HttpError(400, "/metrics takes no body");
  if (!target.query.empty()) {
    return HttpError(400,
                 absl::StrCat("/metrics takes no query parameters, got \"", target.query, "\""));
  }
  HttpResponse response = Ok(metrics_->Render());
  // The text exposition format's media type, as Prometheus asks for it.
  response.content_type = "text/plain; version=0.0.4; charset=utf-8";
  return response;
}

HttpResponse HttpApi::FleetStatus(const HttpRequest& request, const Target& target) const {
  if (!request.body.empty()) return HttpError(400, "/fleet/status takes no body");
  absl::StatusOr<std::vector<QueryParam>> params = ParseQuery(target.query);
  if (!params.ok()) return HttpError(400, params.status().message());
  bool json = false;
  std::set<std::string> seen;
  for (const QueryParam& param : *params) {
    if (param.name != "format") {
      return HttpError(400, absl::StrCat("unknown parameter \"", param.name,
                                         "\"; /fleet/status takes format=json or format=text"));
    }
    if (!seen.insert(param.name).second) {
      return HttpError(400, "parameter \"format\" is given more than once");
    }
    if (param.value != "json" && param.value != "text") {
      return HttpError(400, absl::StrCat("format \"", param.value, "\" is not json or text"));
    }
    json = param.value == "json";
  }
  // One fleet when the request names one, every fleet otherwise.
  std::string only;
  if (!request.fleet_headers.empty()) {
    absl::StatusOr<std::string> fleet = FleetOf(request);
    if (!fleet.ok()) return HttpError(400, fleet.status().message());
    only = *fleet;
  }
  const nginx_xds::v1::FleetStatus status =
      BuildFleetStatus(*registry_, *upstreams_, *rollouts_, only);
  // Fleets by name, as the text and the JSON list them.
  const std::map<std::string, uint64_t> versions(status.fleet_versions().begin(),
                                                 status.fleet_versions().end());
  const auto& rollouts = status.rollouts();

  std::string body;
  if (json) {
    body = FleetStatusJson(status) + "\n";
  } else {
    for (const auto& [fleet, version] : versions) {
      int nodes = 0;
      int connected = 0;
      for (const auto& node : status.nodes()) {
        if (node.fleet() != fleet) continue;
        ++nodes;
        connected += node.connected();
      }
      absl::StrAppend(&body, "fleet ", Printable(fleet), ": version ", version, ", ", nodes,
                      nodes == 1 ? " node, " : " nodes, ", connected, " connected\n");
      for (const auto& node : status.nodes()) {
        if (node.fleet() != fleet) continue;
        absl::StrAppend(&body, "  node ", Printable(node.id()), ": ",
                        node.connected() ? "connected" : "not connected", ", acked version ",
                        node.acked_version());
        if (node.lagging_at_version() != 0) {
          absl::StrAppend(&body, ", lagging since version ", node.lagging_at_version(),
                          " (writes do not wait for it)");
        }
        if (node.has_last_nack()) {
          // A NACK naming single upstreams has a line for each.
          absl::StrAppend(
              &body, ", last NACK of version ", node.last_nack().version(), ": ",
              Printable(absl::StrReplaceAll(node.last_nack().message(), {{"\n", "; "}})));
        }
        body += "\n";
        for (const auto& rejected : node.rejected_upstreams()) {
          absl::StrAppend(&body, "    rejects upstream \"", Printable(rejected.name()),
                          "\" since version ", rejected.since_version(), " (still in version ",
                          rejected.version(), "): ", Printable(rejected.message()), "\n");
        }
      }
      for (const auto& rollout : rollouts) {
        if (rollout.fleet() == fleet) body += RolloutText(rollout, "  ");
      }
    }
  }
  HttpResponse response = Ok(std::move(body));
  if (json) response.content_type = "application/json";
  return response;
}

HttpResponse HttpApi::Probe(const HttpRequest& request, const Target& target) const {
  HttpResponse response;
  response.headers.emplace_back("Cache-Control", "no-store");
  absl::Status ready = absl::OkStatus();
  if (target.path == "/readyz" && readiness_) ready = readiness_();
  if (!ready.ok()) {
    response.status = 503;
    response.body = absl::StrCat("not ready: ", ready.message(), "\n");
  } else {
    response.status = 200;
    response.body = target.path == "/readyz" ? "ready\n" : "alive\n";
  }
  if (request.method == "HEAD") response.body.clear();
  return response;
}

}  // namespace nginx_xds
