#include "controlplane/api/http/http_message.h"

#include "absl/strings/str_cat.h"
#include "common/printable.h"

namespace nginx_xds {

absl::string_view HttpReason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 204:
      return "No Content";
    case 301:
      return "Moved Permanently";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 404:
      return "Not Found";
    case 405:
      return "Not Allowed";
    case 408:
      return "Request Time-out";
    case 409:
      return "Conflict";
    case 413:
      return "Payload Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    default:
      return "Error";
  }
}

HttpResponse HttpErrorLines(int status, const std::vector<std::string>& lines) {
  HttpResponse response;
  response.status = status;
  response.body = absl::StrCat(status, " ", HttpReason(status), "\n");
  for (const std::string& line : lines) absl::StrAppend(&response.body, Printable(line), "\n");
  return response;
}

HttpResponse HttpError(int status, absl::string_view message) {
  return HttpErrorLines(status, {std::string(message)});
}

}  // namespace nginx_xds
