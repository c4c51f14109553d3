#ifndef CONTROLPLANE_HTTP_GATEWAY_H_
#define CONTROLPLANE_HTTP_GATEWAY_H_

#include <cstddef>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "controlplane/admin_auth.h"
#include "controlplane/http_api.h"

namespace httplib {
class Server;
}  // namespace httplib

namespace nginx_xds {

// Serves HttpApi over HTTP/1.1 with cpp-httplib (Debian's
// libcpp-httplib): a fixed pool of threads (the most requests handled at
// once; more connections wait for a thread), bounded request bodies (413
// beyond `max_body_bytes`) and read/write timeouts. Each request is handed
// to HttpApi whole; the gateway itself only answers what cannot reach it
// (malformed HTTP, oversized bodies) in the same "<status> <reason>\n..."
// form. Start and Shutdown from one thread; serving is thread-safe.
class HttpGateway {
 public:
  struct Options {
    // "host:port" or "[v6]:port"; port 0 picks a free one.
    std::string listen = "127.0.0.1:18080";
    // Threads serving requests: the bound on concurrent requests. A write
    // holds its thread until the fleet ACKs it or the ACK timeout passes.
    int threads = 8;
    // The largest request body accepted.
    size_t max_body_bytes = 64 * 1024;
    // How long a read or write on a connection may block.
    absl::Duration io_timeout = absl::Seconds(10);
    // How long an idle keep-alive connection is kept.
    absl::Duration keep_alive_timeout = absl::Seconds(5);
    // Every request must carry its bearer token (401 otherwise); null: none.
    // Must outlive the gateway.
    const AdminAuth* auth = nullptr;
  };

  // Binds `options.listen` and starts serving `api`, which must outlive the
  // gateway. UNAVAILABLE when the address cannot be bound, INVALID_ARGUMENT
  // when it is malformed.
  static absl::StatusOr<std::unique_ptr<HttpGateway>> Start(const HttpApi* api,
                                                            const Options& options);

  ~HttpGateway();

  // The bound port.
  int port() const { return port_; }

  // Stops accepting, lets requests in progress finish, joins the threads.
  void Shutdown();

 private:
  HttpGateway() = default;

  std::unique_ptr<httplib::Server> server_;
  std::thread listener_;
  int port_ = 0;
};

}  // namespace nginx_xds

#endif  // CONTROLPLANE_HTTP_GATEWAY_H_
