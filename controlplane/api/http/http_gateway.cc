#include "controlplane/api/http/http_gateway.h"

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <condition_variable>
#include <cstdio>
#include <list>
#include <map>
#include <mutex>
#include <thread>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "controlplane/api/http/http_connection.h"

namespace nginx_xds {

namespace net = boost::asio;
using tcp = boost::asio::ip::tcp;

namespace {

// Requests served on one connection before it is closed (as httplib did).
constexpr int kMaxRequestsPerConnection = 100;

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

std::chrono::steady_clock::duration Chrono(absl::Duration duration) {
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      absl::ToChronoNanoseconds(duration));
}

}  // namespace

// The gateway's machinery: the listening socket, the I/O thread, the worker
// pool and the open connections (which only the I/O thread touches).
class HttpServer : public HttpConnectionHost {
 public:
  HttpServer(const HttpApi* api, const HttpGateway::Options& options)
      : api_(api),
        options_(options),
        limits_{options.max_body_bytes, Chrono(options.header_timeout), Chrono(options.io_timeout),
                Chrono(options.keep_alive_timeout), kMaxRequestsPerConnection},
        workers_(options.threads > 0 ? options.threads : 1) {}

  ~HttpServer() override { Stop(); }

  absl::Status Listen() {
    auto listen = SplitListen(options_.listen);
    if (!listen.ok()) return listen.status();
    const auto& [host, port] = *listen;
    boost::system::error_code error;
    tcp::resolver resolver(io_);
    auto endpoints = resolver.resolve(host, std::to_string(port), tcp::resolver::passive, error);
    if (!error && endpoints.empty()) error = net::error::host_not_found;
    if (!error) {
      const tcp::endpoint endpoint = *endpoints.begin();
      acceptor_.open(endpoint.protocol(), error);
      if (!error) acceptor_.set_option(tcp::acceptor::reuse_address(true), error);
      if (!error) acceptor_.bind(endpoint, error);
      if (!error) acceptor_.listen(net::socket_base::max_listen_connections, error);
    }
    if (error) {
      return absl::UnavailableError(
          absl::StrCat("cannot listen on \"", options_.listen, "\": ", error.message()));
    }
    port_ = acceptor_.local_endpoint().port();
    Accept();
    io_thread_ = std::thread([this] { io_.run(); });
    return absl::OkStatus();
  }

  int port() const { return port_; }

  void Stop() {
    if (!io_thread_.joinable()) return;
    net::post(io_, [this] {
      stopping_ = true;
      boost::system::error_code ignored;
      acceptor_.close(ignored);
      // Idle connections have nothing in progress; busy ones close once answered.
      std::vector<std::shared_ptr<HttpConnection>> idle;
      for (HttpConnection* connection : idle_) {
        if (auto live = connections_[connection].lock()) idle.push_back(std::move(live));
      }
      for (const auto& connection : idle) connection->Close();
    });
    {
      std::unique_lock<std::mutex> lock(open_mu_);
      open_cv_.wait_for(lock, limits_.io_timeout + std::chrono::seconds(1),
                        [this] { return open_ == 0; });
    }
    net::post(io_, [this] {
      std::vector<std::shared_ptr<HttpConnection>> left;
      for (auto& [connection, weak] : connections_) {
        if (auto live = weak.lock()) left.push_back(std::move(live));
      }
      for (const auto& connection : left) connection->Close();
    });
    workers_.join();
    work_.reset();
    io_.stop();
    io_thread_.join();
  }

  // HttpConnectionHost, on the I/O thread.
  const Limits& limits() const override { return limits_; }
  absl::Status Authorize(absl::string_view authorization) const override {
    return options_.auth == nullptr ? absl::OkStatus() : options_.auth->Check(authorization);
  }
  void Serve(HttpRequest request, std::function<void(HttpResponse)> done) override {
    net::post(workers_, [this, request = std::move(request), done = std::move(done)]() mutable {
      HttpResponse answer;
      try {
        answer = api_->Handle(request);
      } catch (const std::exception& e) {
        answer = HttpError(500, absl::StrCat("internal error: ", e.what()));
      }
      net::post(io_, [done = std::move(done), answer = std::move(answer)] { done(answer); });
    });
  }
  void SetIdle(HttpConnection* connection, bool idle) override {
    if (idle) {
      connection->idle_position = idle_.insert(idle_.end(), connection);
    } else {
      idle_.erase(connection->idle_position);
    }
  }
  void Closed(HttpConnection* connection) override {
    connections_.erase(connection);
    std::lock_guard<std::mutex> lock(open_mu_);
    open_ = connections_.size();
    open_cv_.notify_all();
  }
  bool stopping() const override { return stopping_; }

 private:
  void Accept() {
    acceptor_.async_accept(io_, [this](boost::system::error_code error, tcp::socket socket) {
      if (error) {
        if (error != net::error::operation_aborted && !stopping_) Accept();
        return;
      }
      OnAccept(std::move(socket));
      Accept();
    });
  }

  void OnAccept(tcp::socket socket) {
    auto connection = std::make_shared<HttpConnection>(std::move(socket), this);
    const bool full = connections_.size() >= static_cast<size_t>(options_.max_connections);
    connections_[connection.get()] = connection;
    {
      std::lock_guard<std::mutex> lock(open_mu_);
      open_ = connections_.size();
    }
    if (!full) return connection->Start();
    // Over the limit: the longest idle connection makes room; with none
    // idle, the newcomer is told to come back.
    if (!idle_.empty()) {
      auto oldest = connections_[idle_.front()].lock();
      LogLimit("closed the longest idle connection");
      if (oldest) oldest->Close();
      return connection->Start();
    }
    LogLimit("refused a connection (503), none is idle");
    connection->Refuse(
        HttpError(503, absl::StrCat("the gateway has ", options_.max_connections,
                                    " connections open, all busy: try again later")));
  }

  // One line per 100 times a limit bites, so a flood cannot flood the log.
  void LogLimit(const char* what) {
    if (limit_hits_++ % 100 == 0) {
      Log(options_.log, LogLevel::kWarning,
          absl::StrCat("http gateway: ", options_.max_connections,
                       " connections open (the most): ", what, " (", limit_hits_, " times)"));
    }
  }

  const HttpApi* const api_;
  const HttpGateway::Options options_;
  const Limits limits_;
  net::io_context io_{1};
  net::executor_work_guard<net::io_context::executor_type> work_ = net::make_work_guard(io_);
  tcp::acceptor acceptor_{io_};
  net::thread_pool workers_;
  std::thread io_thread_;
  int port_ = 0;
  bool stopping_ = false;
  uint64_t limit_hits_ = 0;
  // Every open connection, and the idle ones oldest first (I/O thread only).
  std::map<HttpConnection*, std::weak_ptr<HttpConnection>> connections_;
  std::list<HttpConnection*> idle_;
  // How many are open, for Stop() to wait on.
  std::mutex open_mu_;
  std::condition_variable open_cv_;
  size_t open_ = 0;
};

HttpGateway::HttpGateway(std::unique_ptr<HttpServer> server) : server_(std::move(server)) {}

absl::StatusOr<std::unique_ptr<HttpGateway>> HttpGateway::Start(const HttpApi* api,
                                                                const Options& options) {
  auto server = std::make_unique<HttpServer>(api, options);
  absl::Status listening = server->Listen();
  if (!listening.ok()) return listening;
  return std::unique_ptr<HttpGateway>(new HttpGateway(std::move(server)));
}

HttpGateway::~HttpGateway() { Shutdown(); }

int HttpGateway::port() const { return server_->port(); }

void HttpGateway::Shutdown() {
  if (server_ != nullptr) server_->Stop();
}

}  // namespace nginx_xds
