#ifndef CONTROLPLANE_API_HTTP_HTTP_CONNECTION_H_
#define CONTROLPLANE_API_HTTP_HTTP_CONNECTION_H_

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <string>

#include "controlplane/api/http/http_api.h"

namespace nginx_xds {

class HttpConnection;

// What a connection needs from the server that accepted it. Called on the
// server's I/O thread only.
class HttpConnectionHost {
 public:
  struct Limits {
    size_t max_body_bytes;
    std::chrono::steady_clock::duration header_timeout;
    std::chrono::steady_clock::duration io_timeout;
    std::chrono::steady_clock::duration keep_alive_timeout;
    // Requests served on one connection before it is closed.
    int max_requests;
  };

  virtual ~HttpConnectionHost() = default;
  virtual const Limits& limits() const = 0;
  // Checks a request's Authorization header (empty: none sent).
  virtual absl::Status Authorize(absl::string_view authorization) const = 0;
  // Runs `request` on a worker thread, then `done` with the answer on the
  // I/O thread.
  virtual void Serve(HttpRequest request, std::function<void(HttpResponse)> done) = 0;
  // The connection waits for a request (true) or is busy with one (false).
  virtual void SetIdle(HttpConnection* connection, bool idle) = 0;
  // The connection is closed and about to go away.
  virtual void Closed(HttpConnection* connection) = 0;
  // Whether the server is shutting down: answer what is in progress, then close.
  virtual bool stopping() const = 0;
};

// One HTTP/1.1 connection of HttpGateway: reads each request with the
// host's deadlines and limits, hands it over whole, writes the answer,
// and keeps the connection alive or closes it. Lives on the host's I/O
// thread (every method but the constructor is called there); owns itself
// through the shared_ptrs its pending operations hold.
class HttpConnection : public std::enable_shared_from_this<HttpConnection> {
 public:
  HttpConnection(boost::asio::ip::tcp::socket socket, HttpConnectionHost* host);

  // Starts waiting for the first request.
  void Start();
  // Closes the socket now (eviction, shutdown); pending operations end.
  void Close();
  // Writes a final answer to a connection the host will not serve (503) and closes it.
  void Refuse(HttpResponse response);

  // When it last became idle, for eviction of the longest idle.
  std::chrono::steady_clock::time_point idle_since() const { return idle_since_; }
  // Its place in the host's idle list, kept by the host.
  std::list<HttpConnection*>::iterator idle_position;

 private:
  using Parser = boost::beast::http::request_parser<boost::beast::http::string_body>;
  using Response = boost::beast::http::response<boost::beast::http::string_body>;

  void AwaitRequest();
  void ReadHeader();
  // A deadline for a whole read (header or body), which a trickle of bytes
  // cannot extend; when it passes, the read ends and timed_out_ is set.
  void StartDeadline(std::chrono::steady_clock::duration timeout);
  void StopDeadline();
  void OnHeader(boost::beast::error_code error);
  void ReadBody();
  void OnBody(boost::beast::error_code error);
  void Dispatch(std::string body, bool body_unread);
  // Writes `answer`; `keep_alive` false closes the connection afterwards.
  void Write(const HttpResponse& answer, bool keep_alive);
  void OnWritten(boost::beast::error_code error, bool keep_alive);
  // Stops sending, reads and drops what the client still sends (bounded),
  // then closes: the client sees the answer, not a reset.
  void Linger();
  void DrainSome();
  // An answer of the gateway itself to a request it could not read or take.
  void Fail(int status, std::string message);
  void SetIdle(bool idle);

  boost::beast::tcp_stream stream_;
  HttpConnectionHost* const host_;
  boost::asio::steady_timer deadline_;
  uint64_t deadline_generation_ = 0;
  bool timed_out_ = false;
  boost::beast::flat_buffer buffer_;
  std::optional<Parser> parser_;
  std::optional<Response> response_;
  // The request's method and version, kept for its answer.
  bool head_ = false;
  unsigned version_ = 11;
  int served_ = 0;
  bool idle_ = false;
  bool closed_ = false;
  std::chrono::steady_clock::time_point linger_deadline_;
  size_t drained_ = 0;
  std::chrono::steady_clock::time_point idle_since_;
};

}  // namespace nginx_xds

#endif  // CONTROLPLANE_API_HTTP_HTTP_CONNECTION_H_
