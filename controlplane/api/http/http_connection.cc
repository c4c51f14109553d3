#include "controlplane/api/http/http_connection.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace nginx_xds {
namespace {

namespace beast = boost::beast;
namespace http = boost::beast::http;

// The request line and headers together; the request line alone may take
// kMaxTarget of it (longer is a 414, as nginx and httplib answer).
constexpr size_t kHeaderLimit = 16 * 1024;
constexpr size_t kMaxTarget = 8 * 1024;
// Longer paths cannot name an upstream: such a request is answered with
// its body unread.
constexpr size_t kMaxRoutedPath = 512;
// After a final answer that leaves request bytes unread, they are read and
// dropped for this long (at most kLingerBytes) before the socket closes, so
// the close does not reset the connection under the answer (nginx's
// lingering close).
constexpr auto kLingerTime = std::chrono::seconds(1);
constexpr size_t kLingerBytes = 64 * 1024;

// The fleet page's own files (/ui, /ui/...) hold no data and are served
// without the token: a browser cannot send one when it opens a page. The
// page sends the token itself with every JSON request it makes. The raw
// target is checked, so a percent-encoded path cannot reach another
// endpoint this way (HttpApi decodes the same prefix).
bool IsFleetPageFile(boost::beast::string_view target) {
  const absl::string_view path(target.data(), target.substr(0, target.find('?')).size());
  // The probes too: a kubelet sends no token, and they tell nothing secret.
  return path == "/ui" || absl::StartsWith(path, "/ui/") || path == "/readyz" || path == "/livez";
}

bool TakesBody(http::verb method) {
  return method == http::verb::post || method == http::verb::put || method == http::verb::patch ||
         method == http::verb::delete_;
}

int Seconds(std::chrono::steady_clock::duration duration) {
  return static_cast<int>(std::chrono::duration_cast<std::chrono::seconds>(duration).count());
}

// What a parse error says to the client.
std::string MalformedWhat(beast::error_code error) {
  if (error == http::error::bad_content_length) return "malformed HTTP request: bad Content-Length";
  if (error == http::error::bad_transfer_encoding) {
    return "malformed HTTP request: bad Transfer-Encoding";
  }
  if (error == http::error::bad_field || error == http::error::bad_value) {
    return "malformed HTTP request: a header line is malformed";
  }
  return absl::StrCat("malformed HTTP request: ", error.message());
}

}  // namespace

HttpConnection::HttpConnection(boost::asio::ip::tcp::socket socket, HttpConnectionHost* host)
    : stream_(std::move(socket)), host_(host), deadline_(stream_.get_executor()) {}

void HttpConnection::Start() {
  beast::error_code ignored;
  // The answer's header and body go out in one write; without this a small
  // answer could still wait for the client's delayed ACK.
  stream_.socket().set_option(boost::asio::ip::tcp::no_delay(true), ignored);
  AwaitRequest();
}

void HttpConnection::SetIdle(bool idle) {
  if (idle == idle_) return;
  idle_ = idle;
  if (idle) idle_since_ = std::chrono::steady_clock::now();
  host_->SetIdle(this, idle);
}

void HttpConnection::AwaitRequest() {
  if (closed_) return;
  if (host_->stopping()) return Close();
  // A pipelined request is already here.
  if (buffer_.size() > 0) return ReadHeader();
  SetIdle(true);
  stream_.expires_after(host_->limits().keep_alive_timeout);
  stream_.async_read_some(buffer_.prepare(4096),
                          [self = shared_from_this()](beast::error_code error, size_t bytes) {
                            if (self->closed_) return;
                            // Silence, a close or a reset before a request: nothing to answer.
                            if (error) return self->Close();
                            self->buffer_.commit(bytes);
                            self->ReadHeader();
                          });
}

void HttpConnection::ReadHeader() {
  SetIdle(false);
  parser_.emplace();
  parser_->header_limit(kHeaderLimit);
  parser_->body_limit(host_->limits().max_body_bytes);
  // One deadline for the whole header: a trickle of bytes cannot extend it.
  StartDeadline(host_->limits().header_timeout);
  http::async_read_header(
      stream_, buffer_, *parser_,
      [self = shared_from_this()](beast::error_code error, size_t) { self->OnHeader(error); });
}

void HttpConnection::StartDeadline(std::chrono::steady_clock::duration timeout) {
  stream_.expires_never();
  timed_out_ = false;
  const uint64_t generation = ++deadline_generation_;
  deadline_.expires_after(timeout);
  deadline_.async_wait([self = shared_from_this(), generation](beast::error_code error) {
    if (error || self->closed_ || generation != self->deadline_generation_) return;
    // Cancel, not close (as tcp_stream's own expiry would): the 408 still
    // has to go out on this socket.
    self->timed_out_ = true;
    beast::error_code ignored;
    self->stream_.socket().cancel(ignored);
  });
}

void HttpConnection::StopDeadline() {
  ++deadline_generation_;
  deadline_.cancel();
}

void HttpConnection::OnHeader(beast::error_code error) {
  if (closed_) return;
  StopDeadline();
  const HttpConnectionHost::Limits& limits = host_->limits();
  if (timed_out_) {
    return Fail(408, absl::StrCat("the request line and headers did not arrive within ",
                                  Seconds(limits.header_timeout), " s"));
  }
  if (error == http::error::header_limit) {
    const bool line_complete = absl::StrContains(
        absl::string_view(static_cast<const char*>(buffer_.data().data()), buffer_.size()), "\r\n");
    if (!line_complete) return Fail(414, "the request line is too long");
    return Fail(431, absl::StrCat("the request headers are larger than ", kHeaderLimit, " bytes"));
  }
  if (error == http::error::body_limit) {
    return Fail(413,
                absl::StrCat("the request body is larger than ", limits.max_body_bytes, " bytes"));
  }
  if (error && error.category() == http::make_error_code(http::error::bad_method).category() &&
      error != http::error::end_of_stream && error != http::error::partial_message) {
    return Fail(400, MalformedWhat(error));
  }
  // The client went away (or the socket failed) before its request was whole.
  if (error) return Close();

  const auto& request = parser_->get();
  version_ = request.version();
  head_ = request.method() == http::verb::head;
  if (version_ != 10 && version_ != 11) {
    version_ = 11;
    return Fail(400, "malformed HTTP request: the HTTP version must be 1.0 or 1.1");
  }
  if (request.method() == http::verb::unknown) {
    return Fail(400, absl::StrCat("malformed HTTP request: unknown method \"",
                                  std::string(request.method_string()), "\""));
  }
  if (request.target().size() > kMaxTarget) return Fail(414, "the request line is too long");

  absl::Status allowed =
      IsFleetPageFile(request.target())
          ? absl::OkStatus()
          : host_->Authorize(absl::string_view(request[http::field::authorization].data(),
                                               request[http::field::authorization].size()));
  if (!allowed.ok()) {
    HttpResponse answer = HttpError(401, allowed.message());
    answer.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"nginx-xds\"");
    return Write(answer, false);
  }

  const bool has_body =
      parser_->chunked() || (parser_->content_length() && *parser_->content_length() > 0);
  if (!TakesBody(request.method())) {
    if (has_body) {
      return Fail(400, absl::StrCat(std::string(request.method_string()), " takes no body"));
    }
    return Dispatch("", false);
  }
  const absl::string_view target(request.target().data(), request.target().size());
  if (target.substr(0, target.find('?')).size() > kMaxRoutedPath) {
    return Dispatch("", has_body);
  }
  if (!has_body) return Dispatch("", false);
  const auto encoding = request[http::field::content_encoding];
  if (!encoding.empty() &&
      !absl::EqualsIgnoreCase(absl::string_view(encoding.data(), encoding.size()), "identity")) {
    return Fail(415, absl::StrCat("Content-Encoding \"", std::string(encoding),
                                  "\" is not supported: send the body as it is"));
  }
  const auto type = request[http::field::content_type];
  if (absl::StartsWithIgnoreCase(absl::string_view(type.data(), type.size()),
                                 "multipart/form-data")) {
    return Fail(415,
                "multipart/form-data is not accepted: send the body as it is (curl "
                "--data-binary)");
  }
  const auto expect = request[http::field::expect];
  if (version_ == 11 &&
      absl::EqualsIgnoreCase(absl::string_view(expect.data(), expect.size()), "100-continue")) {
    static const std::string kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    stream_.expires_after(limits.io_timeout);
    return boost::asio::async_write(stream_, boost::asio::buffer(kContinue),
                                    [self = shared_from_this()](beast::error_code error, size_t) {
                                      if (self->closed_) return;
                                      if (error) return self->Close();
                                      self->ReadBody();
                                    });
  }
  ReadBody();
}

void HttpConnection::ReadBody() {
  // One deadline for the whole body.
  StartDeadline(host_->limits().io_timeout);
  http::async_read(
      stream_, buffer_, *parser_,
      [self = shared_from_this()](beast::error_code error, size_t) { self->OnBody(error); });
}

void HttpConnection::OnBody(beast::error_code error) {
  if (closed_) return;
  StopDeadline();
  if (error == http::error::body_limit) {
    return Fail(413, absl::StrCat("the request body is larger than ",
                                  host_->limits().max_body_bytes, " bytes"));
  }
  if (timed_out_) {
    return Fail(408, absl::StrCat("the request body did not arrive within ",
                                  Seconds(host_->limits().io_timeout), " s"));
  }
  if (error == http::error::end_of_stream || error == http::error::partial_message) {
    return Close();
  }
  if (error) return Fail(400, "the request body could not be read");
  Dispatch(std::move(parser_->get().body()), false);
}

void HttpConnection::Dispatch(std::string body, bool body_unread) {
  const auto& request = parser_->get();
  HttpRequest call;
  call.method = std::string(request.method_string());
  call.target = std::string(request.target());
  for (auto [it, end] = request.equal_range("X-Xds-Fleet"); it != end; ++it) {
    call.fleet_headers.emplace_back(it->value());
  }
  call.body = std::move(body);
  call.body_unread = body_unread;
  const bool keep_alive =
      request.keep_alive() && !body_unread && served_ + 1 < host_->limits().max_requests;
  stream_.expires_never();
  host_->Serve(std::move(call), [self = shared_from_this(), keep_alive](HttpResponse answer) {
    self->Write(answer, keep_alive);
  });
}

void HttpConnection::Write(const HttpResponse& answer, bool keep_alive) {
  if (closed_) return;
  response_.emplace(static_cast<http::status>(answer.status), version_);
  const absl::string_view reason = HttpReason(answer.status);
  if (reason != "Error") response_->reason(boost::string_view(reason.data(), reason.size()));
  for (const auto& [name, value] : answer.headers) {
    if (absl::EqualsIgnoreCase(name, "Connection")) {
      keep_alive = keep_alive && !absl::EqualsIgnoreCase(value, "close");
      continue;
    }
    response_->insert(name, value);
  }
  if (answer.status != 204 && answer.status >= 200) {
    response_->set(http::field::content_type, answer.content_type);
    if (answer.no_content_length) {
      // Only a HEAD answer goes without a length; anything else would end at the close.
      keep_alive = keep_alive && head_;
    } else {
      response_->set(http::field::content_length, std::to_string(answer.body.size()));
      if (!head_) response_->body() = answer.body;
    }
  }
  keep_alive = keep_alive && !host_->stopping();
  response_->keep_alive(keep_alive);
  stream_.expires_after(host_->limits().io_timeout);
  http::async_write(stream_, *response_,
                    [self = shared_from_this(), keep_alive](beast::error_code error, size_t) {
                      self->OnWritten(error, keep_alive);
                    });
}

void HttpConnection::OnWritten(beast::error_code error, bool keep_alive) {
  if (closed_) return;
  if (error) return Close();
  ++served_;
  response_.reset();
  if (!keep_alive) return Linger();
  parser_.reset();
  AwaitRequest();
}

void HttpConnection::Fail(int status, std::string message) {
  Write(HttpError(status, message), false);
}

void HttpConnection::Refuse(HttpResponse response) { Write(response, false); }

void HttpConnection::Linger() {
  beast::error_code ignored;
  stream_.socket().shutdown(boost::asio::ip::tcp::socket::shutdown_send, ignored);
  linger_deadline_ = std::chrono::steady_clock::now() + kLingerTime;
  DrainSome();
}

void HttpConnection::DrainSome() {
  const auto now = std::chrono::steady_clock::now();
  if (drained_ >= kLingerBytes || now >= linger_deadline_) return Close();
  buffer_.consume(buffer_.size());
  stream_.expires_after(linger_deadline_ - now);
  stream_.async_read_some(buffer_.prepare(4096),
                          [self = shared_from_this()](beast::error_code error, size_t bytes) {
                            if (self->closed_) return;
                            if (error) return self->Close();
                            self->drained_ += bytes;
                            self->DrainSome();
                          });
}

void HttpConnection::Close() {
  if (closed_) return;
  SetIdle(false);
  closed_ = true;
  StopDeadline();
  beast::error_code ignored;
  stream_.socket().shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
  stream_.socket().close(ignored);
  host_->Closed(this);
}

}  // namespace nginx_xds
