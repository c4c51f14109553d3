// The shared HTTP answer pieces (controlplane/api/http/http_message).

#include "controlplane/api/http/http_message.h"

#include "gtest/gtest.h"

namespace nginx_xds {
namespace {

// Validate nginx's reason phrases where they differ from RFC 9110's, and
// "Error" for a status without one.
TEST(HttpReasonTest, NginxWordsAndAFallback) {
  EXPECT_EQ(HttpReason(200), "OK");
  EXPECT_EQ(HttpReason(405), "Not Allowed");
  EXPECT_EQ(HttpReason(408), "Request Time-out");
  EXPECT_EQ(HttpReason(599), "Error");
}

// Validate an error body: the status line's words, then the message with
// bytes that are not printable ASCII written as \xNN, one line each.
TEST(HttpErrorTest, StatusWordsThenQuotedMessage) {
  const HttpResponse error = HttpError(400, "bad \x01 byte");
  EXPECT_EQ(error.status, 400);
  EXPECT_EQ(error.content_type, "text/plain");
  EXPECT_EQ(error.body, "400 Bad Request\nbad \\x01 byte\n");
  EXPECT_EQ(HttpErrorLines(500, {"one", "two"}).body, "500 Internal Server Error\none\ntwo\n");
}

}  // namespace
}  // namespace nginx_xds
