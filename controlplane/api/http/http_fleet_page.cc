// The live fleet page: its files (controlplane/ui/, built into the binary)
// under /ui/, and the recent writes it shows, as JSON, at /fleet/writes.
// The page polls /fleet/status?format=json and /fleet/writes itself.

#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "controlplane/api/http/http_api.h"
#include "controlplane/ui/ui_files.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"

namespace nginx_xds {

namespace {

using google::protobuf::Value;

Value Text(const std::string& text) {
  Value value;
  value.set_string_value(text);
  return value;
}

Value Number(double number) {
  Value value;
  value.set_number_value(number);
  return value;
}

}  // namespace

HttpResponse HttpApi::FleetPage(const HttpRequest& request, const std::string& path) const {
  if (!request.body.empty()) return HttpError(400, "/ui/ takes no body");
  // The page lives under /ui/: relative links resolve there.
  if (path == "/ui") {
    HttpResponse response;
    response.status = 301;
    response.headers.emplace_back("Location", "/ui/");
    return response;
  }
  std::string name = path.substr(sizeof("/ui/") - 1);
  if (name.empty()) name = "index.html";
  const UiFile* file = FindUiFile(name);
  if (file == nullptr) return HttpError(404, absl::StrCat("the fleet page has no file \"", name, "\""));
  HttpResponse response;
  response.content_type = file->content_type;
  response.body = file->body;
  // A new control plane binary serves a new page: never a stale one.
  response.headers.emplace_back("Cache-Control", "no-cache");
  return response;
}

HttpResponse HttpApi::RecentWrites(const HttpRequest& request, const std::string& query) const {
  if (!request.body.empty()) return HttpError(400, "/fleet/writes takes no body");
  if (!query.empty()) {
    return HttpError(400, absl::StrCat("/fleet/writes takes no query parameters, got \"", query, "\""));
  }
  // {"writes":[{"time","fleet","operation","version","acked","connected",
  // "rejected_by":[...],"result","took_seconds"}, ...]}, newest first.
  google::protobuf::Struct answer;
  auto* writes = (*answer.mutable_fields())["writes"].mutable_list_value();
  for (const WriteMetrics::WriteRecord& record : write_metrics_->Recent()) {
    auto& fields = *writes->add_values()->mutable_struct_value()->mutable_fields();
    fields["time"] = Text(google::protobuf::util::TimeUtil::ToString(
        google::protobuf::util::TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(record.time))));
    fields["fleet"] = Text(record.fleet);
    fields["operation"] = Text(record.operation);
    fields["version"] = Number(static_cast<double>(record.version));
    fields["acked"] = Number(record.acked);
    fields["connected"] = Number(record.connected);
    auto* rejected_by = fields["rejected_by"].mutable_list_value();
    for (const std::string& node : record.rejected_by) *rejected_by->add_values() = Text(node);
    fields["result"] = Text(record.result);
    fields["took_seconds"] = Number(absl::ToDoubleSeconds(record.took));
  }
  std::string body;
  auto printed = google::protobuf::util::MessageToJsonString(answer, &body);
  if (!printed.ok()) return HttpError(500, std::string(printed.message()));
  HttpResponse response;
  response.content_type = "application/json";
  response.body = body + "\n";
  return response;
}

}  // namespace nginx_xds
