#ifndef TESTS_TESTING_RAW_HTTP_CLIENT_H_
#define TESTS_TESTING_RAW_HTTP_CLIENT_H_

// A raw HTTP/1.1 client over a loopback socket, for tests that must send
// what no well-behaved client sends (trickles, malformed headers, idle
// connections). Header-only.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace nginx_xds {
namespace testing {

// A client connection on loopback, byte by byte.
class RawClient {
 public:
  explicit RawClient(int port) : fd_(socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
  }
  ~RawClient() { close(fd_); }

  bool connected() const { return connected_; }

  // False once the server closed the connection.
  bool Send(absl::string_view bytes) {
    return send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
           static_cast<ssize_t>(bytes.size());
  }

  // Everything the server sends until it closes the connection or `timeout`
  // passes (what came so far, then).
  std::string ReadUntilClosed(absl::Duration timeout) {
    std::string out;
    const absl::Time deadline = absl::Now() + timeout;
    for (;;) {
      const int left = static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now()));
      if (left <= 0) break;
      pollfd fd{fd_, POLLIN, 0};
      if (poll(&fd, 1, left) <= 0) break;
      char buffer[4096];
      const ssize_t n = recv(fd_, buffer, sizeof(buffer), 0);
      if (n <= 0) {
        closed_ = true;
        break;
      }
      out.append(buffer, static_cast<size_t>(n));
    }
    return out;
  }

  // Whether the server closed the connection (reads end or reset) within `timeout`.
  bool ClosedWithin(absl::Duration timeout) {
    ReadUntilClosed(timeout);
    return closed_;
  }

 private:
  int fd_;
  bool connected_ = false;
  bool closed_ = false;
};

// One whole request, answered: the status line and what follows.
inline std::string Exchange(int port, const std::string& request) {
  RawClient client(port);
  if (!client.connected() || !client.Send(request)) return "";
  return client.ReadUntilClosed(absl::Seconds(10));
}

inline std::string Get(int port, const std::string& path) {
  return Exchange(port,
                  absl::StrCat("GET ", path, " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
}

}  // namespace testing
}  // namespace nginx_xds

#endif  // TESTS_TESTING_RAW_HTTP_CLIENT_H_
