#ifndef CONTROLPLANE_API_HTTP_HTTP_GATEWAY_H_
#define CONTROLPLANE_API_HTTP_HTTP_GATEWAY_H_

#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "controlplane/api/admin_auth.h"
#include "controlplane/api/http/http_api.h"
#include "controlplane/log/log.h"

namespace nginx_xds {

class HttpServer;

// Serves HttpApi over HTTP/1.1 with Boost.Beast (Debian's libboost-dev):
// one I/O thread reads and writes every connection asynchronously, and a
// pool of `threads` runs HttpApi (a write holds its thread until its fleet
// ACKs), so a slow or idle client costs a socket, never a thread.
//
// Bounds, each logged when it bites: a request's line and headers must
// arrive within `header_timeout` of its first byte and its body within
// `io_timeout` (deadlines a trickle cannot extend: 408); idle keep-alive
// connections close after `keep_alive_timeout`; at `max_connections` a new
// connection closes the longest-idle one first, or is answered 503 when
// none is idle. Parsing is strict: a malformed request line or header
// line, a bad Content-Length or Transfer-Encoding is a 400 at once, a body
// over `max_body_bytes` a 413 before it is read. Gateway-level errors have
// HttpApi's "<status> <reason>\n<what>\n" bodies. Start and Shutdown from
// one thread; serving is thread-safe.
class HttpGateway {
 public:
  struct Options {
    // "host:port" or "[v6]:port"; port 0 picks a free one.
    std::string listen = "127.0.0.1:18080";
    // Threads running requests: the bound on requests handled at once.
    int threads = 8;
    // The most connections open at once.
    int max_connections = 512;
    // The largest request body accepted.
    size_t max_body_bytes = 64 * 1024;
    // From a request's first byte to the end of its headers.
    absl::Duration header_timeout = absl::Seconds(10);
    // Reading a request's body; writing a response.
    absl::Duration io_timeout = absl::Seconds(10);
    // How long an idle connection (fresh or kept alive) waits for a request.
    absl::Duration keep_alive_timeout = absl::Seconds(5);
    // Every request must carry its bearer token (401 otherwise); null: none.
    // Must outlive the gateway.
    const AdminAuth* auth = nullptr;
    // Where a limit that bites is logged (at warning); unset: nowhere.
    LogHandler log;
  };

  // Binds `options.listen` and starts serving `api`, which must outlive the
  // gateway. UNAVAILABLE when the address cannot be bound, INVALID_ARGUMENT
  // when it is malformed.
  static absl::StatusOr<std::unique_ptr<HttpGateway>> Start(const HttpApi* api,
                                                            const Options& options);

  ~HttpGateway();

  // The bound port.
  int port() const;

  // Stops accepting, lets the requests in progress be answered (for at most
  // io_timeout), closes every connection and joins the threads.
  void Shutdown();

 private:
  explicit HttpGateway(std::unique_ptr<HttpServer> server);

  std::unique_ptr<HttpServer> server_;
};

}  // namespace nginx_xds

#endif  // CONTROLPLANE_API_HTTP_HTTP_GATEWAY_H_
