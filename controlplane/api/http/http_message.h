#ifndef CONTROLPLANE_API_HTTP_HTTP_MESSAGE_H_
#define CONTROLPLANE_API_HTTP_HTTP_MESSAGE_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace nginx_xds {

// The request and answer every HTTP API of the gateway deals in, without
// sockets, and the error answer they share. Plain data; the functions are
// stateless.

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

// The reason phrase of `status` ("Bad Request"), nginx's where nginx's
// differs from RFC 9110's ("405 Not Allowed"); "Error" for a status it
// does not name. The gateway's status lines carry it too.
absl::string_view HttpReason(int status);

// An error answer: "<status> <reason>\n<message>\n", with the bytes of
// `message` that are not printable ASCII written as \xNN.
HttpResponse HttpError(int status, absl::string_view message);

// HttpError with several lines after the status line, each quoted so.
HttpResponse HttpErrorLines(int status, const std::vector<std::string>& lines);

}  // namespace nginx_xds

#endif  // CONTROLPLANE_API_HTTP_HTTP_MESSAGE_H_
