#include "controlplane/api/http/http_rollouts.h"

#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "controlplane/api/http/http_status.h"
#include "controlplane/api/http/status_json.h"
#include "controlplane/rollout/rollout.h"

namespace nginx_xds {

namespace {

constexpr absl::string_view kRolloutsPrefix = "/rollouts/";

HttpResponse Failed(const absl::Status& status) {
  return HttpError(HttpStatusFor(status, HttpDialect::kRollouts), status.message());
}

absl::StatusOr<bool> ParseBool(const std::string& name, const std::string& value) {
  if (value == "true" || value == "1" || value.empty()) return true;
  if (value == "false" || value == "0") return false;
  return absl::InvalidArgumentError(absl::StrCat(name, " \"", value, "\" is not true or false"));
}

HttpResponse Render(const std::vector<nginx_xds::v1::Rollout>& rollouts, bool json, bool list) {
  HttpResponse response;
  if (json) {
    response.content_type = "application/json";
    std::vector<std::string> objects;
    for (const auto& rollout : rollouts) objects.push_back(RolloutJson(rollout));
    response.body = list ? absl::StrCat("{\"rollouts\":[", absl::StrJoin(objects, ","), "]}\n")
                         : absl::StrCat(objects.front(), "\n");
  } else {
    for (const auto& rollout : rollouts) response.body += RolloutText(rollout, "");
  }
  return response;
}

// Promote's and abort's answer: the rollout, and how far the fleet took the
// version it now runs, in the body and in the write headers.
HttpResponse RenderClosed(const nginx_xds::v1::RolloutResponse& closed, bool json) {
  const auto& write = closed.write();
  HttpResponse response;
  if (json) {
    response.content_type = "application/json";
    response.body =
        absl::StrCat("{\"rollout\":", RolloutJson(closed.rollout()),
                     ",\"version\":", write.version(), ",\"acked_nodes\":", write.acked_nodes(),
                     ",\"connected_nodes\":", write.connected_nodes(), "}\n");
  } else {
    response.body = absl::StrCat(RolloutText(closed.rollout(), ""), "fleet version ",
                                 write.version(), ": ", write.acked_nodes(), " of ",
                                 write.connected_nodes(), " connected nodes acked\n");
  }
  response.headers.emplace_back("X-Xds-Version", absl::StrCat(write.version()));
  response.headers.emplace_back("X-Xds-Acked-Nodes", absl::StrCat(write.acked_nodes()));
  response.headers.emplace_back("X-Xds-Connected-Nodes", absl::StrCat(write.connected_nodes()));
  return response;
}

}  // namespace

HttpResponse HttpRollouts::Handle(const HttpRequest& request, const std::string& path,
                                  const std::vector<QueryParam>& params) const {
  if (!request.body.empty())
    return HttpError(400, "/rollouts takes no body; give query parameters");
  const bool read = request.method == "GET" || request.method == "HEAD";
  std::string fleet;
  std::string action;
  if (path != "/rollouts") {
    std::vector<std::string> parts = absl::StrSplit(path.substr(kRolloutsPrefix.size()), '/');
    if (parts.size() > 2 || parts[0].empty() ||
        (parts.size() == 2 && parts[1] != "promote" && parts[1] != "abort")) {
      return HttpError(404,
                       absl::StrCat("no endpoint \"", path,
                                    "\"; the rollout endpoints are /rollouts, /rollouts/FLEET, "
                                    "/rollouts/FLEET/promote and /rollouts/FLEET/abort"));
    }
    fleet = parts[0];
    if (parts.size() == 2) action = parts[1];
  }
  if (fleet.empty() && !read) {
    return HttpError(405, "method POST is not allowed on /rollouts; use GET, HEAD");
  }
  if (!action.empty() && read) {
    HttpResponse response = HttpError(
        405, absl::StrCat("method ", request.method, " is not allowed on ", path, "; use POST"));
    response.headers.emplace_back("Allow", "POST");
    return response;
  }

  // Which parameters each endpoint takes.
  std::set<std::string> allowed = {"format"};
  if (!read && action.empty()) allowed.insert({"nodes", "label", "auto_promote"});
  if (action == "promote") allowed.insert("force");
  const bool repeatable_ok = !read && action.empty();
  bool json = false;
  bool force = false;
  nginx_xds::v1::StartRolloutRequest start;
  start.set_fleet(fleet);
  std::set<std::string> seen;
  for (const QueryParam& param : params) {
    const std::string& name = param.name;
    const std::string& value = param.value;
    if (allowed.count(name) == 0) {
      std::vector<std::string> names(allowed.begin(), allowed.end());
      return HttpError(400, absl::StrCat("unknown parameter \"", name, "\"; ", path, " takes ",
                                         absl::StrJoin(names, ", ")));
    }
    const bool repeatable = repeatable_ok && (name == "nodes" || name == "label");
    if (!seen.insert(name).second && !repeatable) {
      return HttpError(400, absl::StrCat("parameter \"", name, "\" is given more than once"));
    }
    if (name == "format") {
      if (value != "json" && value != "text") {
        return HttpError(400, absl::StrCat("format \"", value, "\" is not json or text"));
      }
      json = value == "json";
    } else if (name == "nodes") {
      for (absl::string_view id : absl::StrSplit(value, ',')) {
        if (id.empty())
          return HttpError(400, absl::StrCat("nodes \"", value, "\" has an empty node id"));
        start.add_canary_node_ids(std::string(id));
      }
    } else if (name == "label") {
      const size_t equals = value.find('=');
      if (equals == std::string::npos) {
        return HttpError(400, absl::StrCat("label \"", value, "\" is not KEY=VALUE"));
      }
      const std::string key = value.substr(0, equals);
      if (start.canary_labels().count(key) != 0) {
        return HttpError(400, absl::StrCat("label \"", key, "\" is given more than once"));
      }
      (*start.mutable_canary_labels())[key] = value.substr(equals + 1);
    } else {
      absl::StatusOr<bool> flag = ParseBool(name, value);
      if (!flag.ok()) return HttpError(400, flag.status().message());
      if (name == "force") force = *flag;
      if (name == "auto_promote") start.set_auto_promote(*flag);
    }
  }

  if (fleet.empty()) return Render(rollouts_->Rollouts(""), json, true);
  if (read) {
    absl::StatusOr<nginx_xds::v1::Rollout> rollout = rollouts_->GetRollout(fleet);
    if (!rollout.ok()) return Failed(rollout.status());
    return Render({*rollout}, json, false);
  }
  if (action.empty()) {
    absl::StatusOr<nginx_xds::v1::Rollout> rollout = rollouts_->StartRollout(start);
    if (!rollout.ok()) return Failed(rollout.status());
    return Render({*rollout}, json, false);
  }
  absl::StatusOr<nginx_xds::v1::RolloutResponse> closed =
      action == "promote" ? rollouts_->PromoteRollout(fleet, force)
                          : rollouts_->AbortRollout(fleet);
  if (!closed.ok()) return Failed(closed.status());
  return RenderClosed(*closed, json);
}

}  // namespace nginx_xds
