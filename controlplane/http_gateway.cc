#include "controlplane/http_gateway.h"

#include <httplib.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace nginx_xds {

namespace {

// Marks an answer that goes without Content-Length (HttpResponse::
// no_content_length); removed before the answer is written.
constexpr char kNoContentLength[] = "X-Xds-Internal-No-Content-Length";

// Waits up to `timeout_ms` for `events` on `sock`: >0 ready, 0 timed out.
int PollSocket(int sock, short events, int timeout_ms) {
  pollfd fd{sock, events, 0};
  int ready;
  do {
    ready = poll(&fd, 1, timeout_ms);
  } while (ready < 0 && errno == EINTR);
  return ready;
}

int TimeoutMs(time_t sec, time_t usec) { return static_cast<int>(sec * 1000 + usec / 1000); }

// One connection's socket as httplib reads and writes it, with one change:
// the status line of every response carries HttpApi::Reason's phrase, which
// is nginx's ("405 Not Allowed"), where httplib 0.11 writes its own ("405
// Method Not Allowed") and offers no way to set another. httplib writes a
// response's status line and headers in one write(); that write is the one
// rewritten.
class GatewayStream : public httplib::Stream {
 public:
  GatewayStream(int sock, int read_timeout_ms, int write_timeout_ms)
      : sock_(sock), read_timeout_ms_(read_timeout_ms), write_timeout_ms_(write_timeout_ms) {}

  // The next write that starts with a final status line is a response's head.
  void ExpectResponse() { head_pending_ = true; }

  // Whether bytes of a next request were read already.
  bool HasBuffered() const { return pos_ < buffer_.size(); }

  bool is_readable() const override {
    return pos_ < buffer_.size() || PollSocket(sock_, POLLIN, read_timeout_ms_) > 0;
  }
  bool is_writable() const override { return PollSocket(sock_, POLLOUT, write_timeout_ms_) > 0; }

  ssize_t read(char* ptr, size_t size) override {
    if (pos_ == buffer_.size()) {
      if (PollSocket(sock_, POLLIN, read_timeout_ms_) <= 0) return -1;
      buffer_.resize(4096);
      ssize_t n;
      do {
        n = recv(sock_, &buffer_[0], buffer_.size(), 0);
      } while (n < 0 && errno == EINTR);
      buffer_.resize(n > 0 ? static_cast<size_t>(n) : 0);
      pos_ = 0;
      if (n <= 0) return n;
    }
    const size_t n = std::min(size, buffer_.size() - pos_);
    memcpy(ptr, buffer_.data() + pos_, n);
    pos_ += n;
    return static_cast<ssize_t>(n);
  }

  ssize_t write(const char* ptr, size_t size) override {
    absl::string_view data(ptr, size);
    if (head_pending_ && absl::StartsWith(data, "HTTP/1.1 ") &&
        !absl::StartsWith(data, "HTTP/1.1 1")) {
      head_pending_ = false;
      const std::string head = WithOurReason(data);
      return SendAll(head) ? static_cast<ssize_t>(size) : -1;
    }
    if (!is_writable()) return -1;
    ssize_t n;
    do {
      n = send(sock_, ptr, size, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    return n;
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    Name(getpeername, ip, port);
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    Name(getsockname, ip, port);
  }
  socket_t socket() const override { return sock_; }

 private:
  // `head` ("HTTP/1.1 405 Method Not Allowed\r\n...") with its reason
  // phrase replaced by HttpApi::Reason's, for the statuses that names.
  static std::string WithOurReason(absl::string_view head) {
    int status = 0;
    const size_t end = head.find("\r\n");
    if (end == absl::string_view::npos || end < 12 ||
        !absl::SimpleAtoi(head.substr(9, 3), &status)) {
      return std::string(head);
    }
    const absl::string_view reason = HttpApi::Reason(status);
    if (reason == "Error") return std::string(head);
    return absl::StrCat(head.substr(0, 12), " ", reason, head.substr(end));
  }

  bool SendAll(absl::string_view data) {
    while (!data.empty()) {
      if (!is_writable()) return false;
      ssize_t n = send(sock_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  void Name(int (*name)(int, sockaddr*, socklen_t*), std::string& ip, int& port) const {
    sockaddr_storage address;
    socklen_t length = sizeof(address);
    if (name(sock_, reinterpret_cast<sockaddr*>(&address), &length) != 0) return;
    char host[NI_MAXHOST];
    char service[NI_MAXSERV];
    if (getnameinfo(reinterpret_cast<sockaddr*>(&address), length, host, sizeof(host), service,
                    sizeof(service), NI_NUMERICHOST | NI_NUMERICSERV) == 0) {
      ip = host;
      port = atoi(service);
    }
  }

  const int sock_;
  const int read_timeout_ms_;
  const int write_timeout_ms_;
  std::string buffer_;
  size_t pos_ = 0;
  bool head_pending_ = false;
};

// httplib's server, serving each connection through a GatewayStream with
// the keep-alive rules httplib itself applies (at most keep_alive_max_count
// requests, each awaited for keep_alive_timeout).
class GatewayServer : public httplib::Server {
 private:
  bool process_and_close_socket(socket_t sock) override {
    GatewayStream stream(sock, TimeoutMs(read_timeout_sec_, read_timeout_usec_),
                         TimeoutMs(write_timeout_sec_, write_timeout_usec_));
    bool ok = false;
    for (size_t left = keep_alive_max_count_; left > 0 && svr_sock_ != INVALID_SOCKET; --left) {
      if (!NextRequest(stream, sock)) break;
      bool closed = false;
      stream.ExpectResponse();
      ok = process_request(stream, left == 1, closed, nullptr);
      if (!ok || closed) break;
    }
    shutdown(sock, SHUT_RDWR);
    close(sock);
    return ok;
  }

  // Whether a request (or the end of the connection) comes within the
  // keep-alive timeout; wakes every 100 ms to notice the server stopping.
  bool NextRequest(const GatewayStream& stream, socket_t sock) const {
    if (stream.HasBuffered()) return true;
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(keep_alive_timeout_sec_);
    while (svr_sock_ != INVALID_SOCKET) {
      const int ready = PollSocket(sock, POLLIN, 100);
      if (ready != 0) return ready > 0;
      if (std::chrono::steady_clock::now() > deadline) return false;
    }
    return false;
  }
};

// Requests whose body httplib reads before a handler runs; every other
// method is answered before its body would be read.
bool TakesBody(const std::string& method) {
  return method == "POST" || method == "PUT" || method == "PATCH" || method == "DELETE";
}

// Whether a request announces a body.
bool HasBody(const httplib::Request& request) {
  if (request.has_header("Transfer-Encoding")) return true;
  const std::string length = request.get_header_value("Content-Length");
  return !length.empty() && length != "0";
}

// Splits "host:port" or "[v6]:port".
absl::StatusOr<std::pair<std::string, int>> SplitListen(const std::string& listen) {
  const size_t colon = listen.rfind(':');
  int port = -1;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(absl::string_view(listen).substr(colon + 1), &port) || port < 0 ||
      port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("HTTP listen address \"", listen, "\" is not host:port"));
  }
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return std::make_pair(host, port);
}

void Fill(const HttpResponse& answer, httplib::Response& response) {
  response.status = answer.status;
  for (const auto& [name, value] : answer.headers) response.set_header(name, value);
  if (answer.no_content_length) {
    response.set_header(kNoContentLength, "1");
    response.set_header("Content-Type", answer.content_type);
  }
  if (!answer.body.empty()) {
    response.set_content(answer.body, answer.content_type);
  } else {
    response.body.clear();
  }
}

// An answer that cannot read the rest of the request: the client should
// not reuse the connection.
void FillAndClose(const HttpResponse& answer, httplib::Response& response) {
  Fill(answer, response);
  response.set_header("Connection", "close");
}

}  // namespace

absl::StatusOr<std::unique_ptr<HttpGateway>> HttpGateway::Start(const HttpApi* api,
                                                                const Options& options) {
  auto listen = SplitListen(options.listen);
  if (!listen.ok()) return listen.status();
  std::unique_ptr<HttpGateway> gateway(new HttpGateway());
  gateway->server_ = std::make_unique<GatewayServer>();
  httplib::Server& server = *gateway->server_;

  const size_t threads = options.threads > 0 ? static_cast<size_t>(options.threads) : 1;
  server.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  const auto io_timeout = absl::ToChronoMicroseconds(options.io_timeout);
  server.set_read_timeout(io_timeout);
  server.set_write_timeout(io_timeout);
  server.set_keep_alive_timeout(
      std::max<time_t>(1, static_cast<time_t>(absl::ToInt64Seconds(options.keep_alive_timeout))));
  server.set_keep_alive_max_count(100);
  server.set_payload_max_length(options.max_body_bytes);
  // httplib writes a response's headers and body separately: with Nagle the
  // body waits for the client's delayed ACK of the headers (40 ms on Linux).
  server.set_tcp_nodelay(true);
  const size_t max_body = options.max_body_bytes;
  const std::string too_large =
      absl::StrCat("the request body is larger than ", max_body, " bytes");

  auto serve = [api](const httplib::Request& request, httplib::Response& response, std::string body,
                     bool body_unread = false) {
    HttpRequest call;
    call.method = request.method;
    call.target = request.target;
    const size_t fleets = request.get_header_value_count("X-Xds-Fleet");
    for (size_t i = 0; i < fleets; ++i) {
      call.fleet_headers.push_back(request.get_header_value("X-Xds-Fleet", i));
    }
    call.body = std::move(body);
    call.body_unread = body_unread;
    Fill(api->Handle(call), response);
  };

  // Requests without a body to read (and requests httplib would not route)
  // are answered here, before routing: any path, any method.
  const AdminAuth* auth = options.auth;
  server.set_pre_routing_handler([serve, auth](const httplib::Request& request,
                                               httplib::Response& response) {
    // Before anything else, with the body unread.
    if (auth != nullptr) {
      absl::Status allowed = auth->Check(request.get_header_value("Authorization"));
      if (!allowed.ok()) {
        FillAndClose(HttpApi::Error(401, std::string(allowed.message())), response);
        response.set_header("WWW-Authenticate", "Bearer realm=\"nginx-xds\"");
        return httplib::Server::HandlerResponse::Handled;
      }
    }
    // Longer paths cannot name an upstream; answered here, with their body unread.
    constexpr size_t kMaxRoutedPath = 512;
    if (TakesBody(request.method) && request.path.size() <= kMaxRoutedPath) {
      return httplib::Server::HandlerResponse::Unhandled;
    }
    if (HasBody(request) && !TakesBody(request.method)) {
      FillAndClose(HttpApi::Error(400, absl::StrCat(request.method, " takes no body")), response);
      return httplib::Server::HandlerResponse::Handled;
    }
    serve(request, response, "", HasBody(request));
    if (HasBody(request)) response.set_header("Connection", "close");
    return httplib::Server::HandlerResponse::Handled;
  });

  // POST, PUT, PATCH and DELETE: read the body (at most max_body bytes,
  // whatever its Content-Type) and hand it over.
  auto with_body = [serve, max_body, too_large](const httplib::Request& request,
                                                httplib::Response& response,
                                                const httplib::ContentReader& reader) {
    const std::string encoding = request.get_header_value("Content-Encoding");
    if (!encoding.empty() && encoding != "identity" && encoding != "gzip" &&
        encoding != "deflate" && encoding != "br") {
      FillAndClose(HttpApi::Error(415, absl::StrCat("Content-Encoding \"", encoding,
                                                    "\" is not supported (gzip, deflate, br)")),
                   response);
      return;
    }
    if (request.is_multipart_form_data()) {
      reader([](const httplib::MultipartFormData&) { return false; },
             [](const char*, size_t) { return false; });
      FillAndClose(HttpApi::Error(415,
                                  "multipart/form-data is not accepted: send the body as "
                                  "it is (curl --data-binary)"),
                   response);
      return;
    }
    std::string body;
    // Without Content-Length or Transfer-Encoding a request has no body
    // (RFC 9112 6.3); httplib would wait for the connection to close.
    if (!HasBody(request)) {
      serve(request, response, std::move(body));
      return;
    }
    bool over = false;
    const bool read = reader([&](const char* data, size_t size) {
      if (size > max_body - body.size()) {
        over = true;
        return false;
      }
      body.append(data, size);
      return true;
    });
    if (over || response.status == 413) {
      FillAndClose(HttpApi::Error(413, too_large), response);
      return;
    }
    if (!read) {
      const int status = response.status >= 400 ? response.status : 400;
      FillAndClose(HttpApi::Error(status, "the request body could not be read"), response);
      return;
    }
    serve(request, response, std::move(body));
  };
  const std::string any = R"([\s\S]*)";
  server.Post(any, with_body);
  server.Put(any, with_body);
  server.Patch(any, with_body);
  server.Delete(any, with_body);

  // httplib gives every answer a Content-Length; a 204 must not have one
  // (RFC 9110 8.6), nor what asks for none (HEAD /dynamic, as the original).
  server.set_post_routing_handler([](const httplib::Request&, httplib::Response& response) {
    if (response.status == 204 || response.has_header(kNoContentLength)) {
      response.headers.erase("Content-Length");
      response.headers.erase(kNoContentLength);
      if (response.status == 204) response.headers.erase("Content-Type");
    }
    // Not served here: httplib announces it on every HEAD answer.
    response.headers.erase("Accept-Ranges");
  });

  // A client that waits for "100 Continue" learns of an oversized body first.
  // (The error handler below writes its body.)
  server.set_expect_100_continue_handler(
      [max_body](const httplib::Request& request, httplib::Response& response) {
        uint64_t length = 0;
        if (absl::SimpleAtoi(request.get_header_value("Content-Length"), &length) &&
            length > max_body) {
          response.status = 413;
          response.set_header("Connection", "close");
          return 413;
        }
        return 100;
      });

  // What httplib answers itself (a malformed request, a body over the limit,
  // a URI too long) gets a body in the same form as every other error.
  server.set_error_handler(httplib::Server::HandlerWithResponse(
      [too_large](const httplib::Request& request, httplib::Response& response) {
        if (!response.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
        std::string what;
        switch (response.status) {
          case 400:
            what = "malformed HTTP request";
            break;
          case 413:
            what = too_large;
            break;
          case 414:
            what = "the request line is too long";
            break;
          case 416:
            what = "malformed Range header";
            break;
          default:
            what = request.method.empty() ? "the request could not be served"
                                          : absl::StrCat(request.method, " could not be served");
        }
        Fill(HttpApi::Error(response.status, what), response);
        return httplib::Server::HandlerResponse::Handled;
      }));
  server.set_exception_handler(
      [](const httplib::Request&, httplib::Response& response, std::exception_ptr error) {
        std::string what = "internal error";
        try {
          if (error) std::rethrow_exception(error);
        } catch (const std::exception& e) {
          what = absl::StrCat("internal error: ", e.what());
        } catch (...) {
        }
        Fill(HttpApi::Error(500, what), response);
      });

  const auto& [host, port] = *listen;
  if (port == 0) {
    gateway->port_ = server.bind_to_any_port(host);
    if (gateway->port_ <= 0) gateway->port_ = 0;
  } else if (server.bind_to_port(host, port)) {
    gateway->port_ = port;
  }
  if (gateway->port_ == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on \"", options.listen, "\""));
  }
  httplib::Server* raw = gateway->server_.get();
  gateway->listener_ = std::thread([raw] { raw->listen_after_bind(); });
  // httplib's stop() does nothing until the accept loop runs: wait for it,
  // so that a Shutdown() right after Start() is not lost.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (!raw->is_running()) {
    if (absl::Now() > deadline) {
      return absl::UnavailableError(
          absl::StrCat("HTTP gateway on \"", options.listen, "\" did not start"));
    }
    absl::SleepFor(absl::Milliseconds(1));
  }
  return gateway;
}

HttpGateway::~HttpGateway() { Shutdown(); }

void HttpGateway::Shutdown() {
  if (server_ != nullptr) server_->stop();
  if (listener_.joinable()) listener_.join();
}

}  // namespace nginx_xds
