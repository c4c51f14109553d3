// nginx-xds control plane: serves upstream state to nginx agents over xDS
// (ADS) and takes changes through the management API.

#include <signal.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "controlplane/control_plane.h"
#include "controlplane/log/log.h"
#include "controlplane/store/migrate.h"
#include "spdlog/sinks/stdout_sinks.h"
#include "spdlog/spdlog.h"

ABSL_FLAG(std::string, xds_listen, "127.0.0.1:18000",
          "Address (host:port) to serve ADS to nginx agents on; port 0 picks one.");
ABSL_FLAG(std::string, admin_listen, "127.0.0.1:18001",
          "Address (host:port) of the gRPC management API; port 0 picks one.");
ABSL_FLAG(std::string, http_listen, "127.0.0.1:18080",
          "Address (host:port) of the HTTP APIs (/dynamic, dyups, /fleet/status); port 0 "
          "picks one; empty: no HTTP.");
ABSL_FLAG(int, http_threads, 8,
          "Threads of the HTTP gateway: how many HTTP requests are served at once.");
ABSL_FLAG(int, http_max_connections, 512,
          "The most HTTP connections open at once; beyond it the longest idle one is closed "
          "(or, with none idle, the newcomer is answered 503).");
ABSL_FLAG(absl::Duration, http_header_timeout, absl::Seconds(10),
          "How long an HTTP request's line and headers may take from its first byte (408 after).");
ABSL_FLAG(absl::Duration, http_keep_alive_timeout, absl::Seconds(5),
          "How long an idle HTTP connection waits for its next request.");
ABSL_FLAG(std::string, store, "sqlite",
          "Where the state lives: sqlite (embedded, in --data_dir) or etcd (--etcd_endpoints).");
ABSL_FLAG(std::vector<std::string>, etcd_endpoints, {},
          "etcd v3 client URLs for --store=etcd, e.g. http://10.0.0.1:2379,http://10.0.0.2:2379; "
          "tried in order.");
ABSL_FLAG(std::string, etcd_prefix, "/nginx-xds/",
          "The etcd key prefix of this control plane's state.");
ABSL_FLAG(std::string, etcd_ca_file, "",
          "PEM CA bundle etcd's server certificate must chain to (https:// endpoints); empty: "
          "the system's roots.");
ABSL_FLAG(std::string, etcd_cert_file, "",
          "PEM client certificate for etcd's --client-cert-auth (with --etcd_key_file).");
ABSL_FLAG(std::string, etcd_key_file, "", "PEM private key of --etcd_cert_file.");
ABSL_FLAG(std::string, etcd_user, "",
          "etcd user (etcd's auth enabled); its password is read from --etcd_password_file.");
ABSL_FLAG(std::string, etcd_password_file, "", "File holding the password of --etcd_user.");
ABSL_FLAG(absl::Duration, etcd_timeout, absl::Seconds(5),
          "How long one etcd call may take; a write on a replica cut off from etcd's quorum "
          "fails with UNAVAILABLE (HTTP 503) after it.");
ABSL_FLAG(std::string, replica_id, "",
          "With --store=etcd: this replica's id among the replicas, unique (e.g. the pod name); "
          "shown as each node's replica in fleet status. Default: host name and process id.");
ABSL_FLAG(absl::Duration, node_lease_ttl, absl::Seconds(10),
          "With --store=etcd: the lease of this replica's node state in etcd; a replica killed "
          "without stopping leaves fleet status this long after.");
ABSL_FLAG(absl::Duration, node_state_interval, absl::Milliseconds(20),
          "With --store=etcd: at most one write of this replica's node state to etcd per this "
          "interval (ACKs in between are coalesced).");
ABSL_FLAG(absl::Duration, readiness_timeout, absl::Seconds(1),
          "How long GET /readyz waits for etcd's linearizable read before it answers 503.");
ABSL_FLAG(std::string, data_dir, ".",
          "Directory of the embedded store (nginx-xds.db); created if missing.");
ABSL_FLAG(absl::Duration, ack_timeout, absl::Seconds(5),
          "How long a write waits for the fleet's ACKs before it is answered.");
ABSL_FLAG(int, max_streams_per_node, 8,
          "The most ADS streams one node id may have open at once (an nginx reload has two for "
          "a moment); more are refused with RESOURCE_EXHAUSTED.");
ABSL_FLAG(absl::Duration, forget_nodes_after, absl::Hours(1),
          "A node without a stream for this long leaves fleet status (in Kubernetes node ids "
          "are pod names: replaced pods go).");
ABSL_FLAG(std::string, admin_token_file, "",
          "File holding the bearer token every admin call (gRPC --admin_listen, HTTP "
          "--http_listen) must send as \"Authorization: Bearer <token>\"; required when either "
          "listens beyond loopback. Health checks need none.");
ABSL_FLAG(std::string, xds_tls_cert, "",
          "PEM certificate chain of the ADS server (--xds_listen); with --xds_tls_key turns on "
          "TLS.");
ABSL_FLAG(std::string, xds_tls_key, "", "PEM private key of --xds_tls_cert.");
ABSL_FLAG(std::string, xds_tls_client_ca, "",
          "PEM CA bundle that agents' client certificates must chain to: mutual TLS, and a "
          "node may only use the node id (and fleet) its certificate names.");

ABSL_FLAG(std::string, from, "",
          "migrate: the store to copy, sqlite:PATH or etcd:ENDPOINT[,ENDPOINT...][/PREFIX].");
ABSL_FLAG(std::string, to, "", "migrate: the store to copy into (same forms as --from).");
ABSL_FLAG(bool, force, false,
          "migrate: replace what the target store holds (refused without it).");

ABSL_FLAG(std::string, log_level, "info",
          "The least level logged to stderr: debug, info (one line per write and rollout "
          "step), warning or error.");

namespace {

// The control plane's LogHandler on spdlog: plain lines on stderr (no colour
// codes in a journal), with the time and the level. spdlog rather than glog:
// no gflags of its own next to Abseil's flags and no process-wide init.
absl::StatusOr<nginx_xds::LogHandler> StderrLog(const std::string& level_name) {
  spdlog::level::level_enum least;
  if (level_name == "debug") {
    least = spdlog::level::debug;
  } else if (level_name == "info") {
    least = spdlog::level::info;
  } else if (level_name == "warning") {
    least = spdlog::level::warn;
  } else if (level_name == "error") {
    least = spdlog::level::err;
  } else {
    return absl::InvalidArgumentError("--log_level \"" + level_name +
                                      "\" is not debug, info, warning or error");
  }
  auto logger = spdlog::stderr_logger_mt("nginx-xds");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %l %v");
  logger->set_level(least);
  logger->flush_on(spdlog::level::trace);
  return [logger](nginx_xds::LogLevel level, const std::string& message) {
    switch (level) {
      case nginx_xds::LogLevel::kDebug:
        logger->debug("{}", message);
        break;
      case nginx_xds::LogLevel::kInfo:
        logger->info("{}", message);
        break;
      case nginx_xds::LogLevel::kWarning:
        logger->warn("{}", message);
        break;
      case nginx_xds::LogLevel::kError:
        logger->error("{}", message);
        break;
    }
  };
}

// `nginx-xds-controlplane migrate --from=URL --to=URL [--force]`: copies one
// store into another, versions preserved (SQLite to etcd and back). Run it
// with no control plane on the target.
int Migrate() {
  nginx_xds::EtcdOptions etcd;
  etcd.ca_file = absl::GetFlag(FLAGS_etcd_ca_file);
  etcd.cert_file = absl::GetFlag(FLAGS_etcd_cert_file);
  etcd.key_file = absl::GetFlag(FLAGS_etcd_key_file);
  etcd.user = absl::GetFlag(FLAGS_etcd_user);
  etcd.password_file = absl::GetFlag(FLAGS_etcd_password_file);
  etcd.timeout = absl::GetFlag(FLAGS_etcd_timeout);
  const std::string from_url = absl::GetFlag(FLAGS_from);
  const std::string to_url = absl::GetFlag(FLAGS_to);
  if (from_url.empty() || to_url.empty()) {
    fprintf(stderr, "nginx-xds control plane migrate: --from and --to are needed\n");
    return 2;
  }
  auto from = nginx_xds::OpenStoreUrl(from_url, etcd);
  if (!from.ok()) {
    fprintf(stderr, "migrate: --from: %s\n", std::string(from.status().message()).c_str());
    return 1;
  }
  auto to = nginx_xds::OpenStoreUrl(to_url, etcd);
  if (!to.ok()) {
    fprintf(stderr, "migrate: --to: %s\n", std::string(to.status().message()).c_str());
    return 1;
  }
  auto migrated = nginx_xds::Migrate(from->get(), to->get(), absl::GetFlag(FLAGS_force));
  if (!migrated.ok()) {
    fprintf(stderr, "migrate: %s\n", std::string(migrated.status().message()).c_str());
    return 1;
  }
  printf("migrated version %llu: %zu fleet(s), %zu upstream(s), %zu rollout(s)\n",
         static_cast<unsigned long long>(migrated->version), migrated->fleets,
         migrated->upstreams, migrated->rollouts);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "nginx-xds control plane: --xds_listen, --admin_listen, --http_listen, --data_dir\n"
      "  or: nginx-xds-controlplane migrate --from=sqlite:PATH --to=etcd:ENDPOINTS[/PREFIX] "
      "[--force] (and back)");
  const std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  if (positional.size() > 1) {
    if (std::string(positional[1]) == "migrate" && positional.size() == 2) return Migrate();
    fprintf(stderr, "nginx-xds control plane: unknown command \"%s\"; the one command is migrate\n",
            positional[1]);
    return 2;
  }
  // Debian's Abseil checks every lock for deadlock cycles; that bookkeeping
  // cost 5-9% of the CPU at 1000 streams (BENCHMARKS.md).
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);

  // Block the stop signals before gRPC starts threads, so only sigwait sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  const std::string data_dir = absl::GetFlag(FLAGS_data_dir);
  if (mkdir(data_dir.c_str(), 0700) != 0 && errno != EEXIST) {
    fprintf(stderr, "cannot create --data_dir \"%s\": %s\n", data_dir.c_str(), strerror(errno));
    return 1;
  }
  auto log = StderrLog(absl::GetFlag(FLAGS_log_level));
  if (!log.ok()) {
    fprintf(stderr, "nginx-xds control plane: %s\n", std::string(log.status().message()).c_str());
    return 1;
  }
  nginx_xds::ControlPlane::Options options;
  options.log = *log;
  options.xds_listen = absl::GetFlag(FLAGS_xds_listen);
  options.admin_listen = absl::GetFlag(FLAGS_admin_listen);
  options.database_path = data_dir + "/nginx-xds.db";
  const std::string store = absl::GetFlag(FLAGS_store);
  if (store == "etcd") {
    options.etcd_endpoints = absl::GetFlag(FLAGS_etcd_endpoints);
    options.etcd_prefix = absl::GetFlag(FLAGS_etcd_prefix);
    options.etcd_ca_file = absl::GetFlag(FLAGS_etcd_ca_file);
    options.etcd_cert_file = absl::GetFlag(FLAGS_etcd_cert_file);
    options.etcd_key_file = absl::GetFlag(FLAGS_etcd_key_file);
    options.etcd_user = absl::GetFlag(FLAGS_etcd_user);
    options.etcd_password_file = absl::GetFlag(FLAGS_etcd_password_file);
    options.etcd_timeout = absl::GetFlag(FLAGS_etcd_timeout);
    options.replica_id = absl::GetFlag(FLAGS_replica_id);
    options.node_lease_ttl = absl::GetFlag(FLAGS_node_lease_ttl);
    options.node_state_interval = absl::GetFlag(FLAGS_node_state_interval);
    if (options.etcd_endpoints.empty()) {
      fprintf(stderr, "nginx-xds control plane: --store=etcd needs --etcd_endpoints\n");
      return 1;
    }
  } else if (store != "sqlite") {
    fprintf(stderr, "nginx-xds control plane: --store \"%s\" is not sqlite or etcd\n",
            store.c_str());
    return 1;
  }
  options.readiness_timeout = absl::GetFlag(FLAGS_readiness_timeout);
  options.ack_timeout = absl::GetFlag(FLAGS_ack_timeout);
  options.nodes.max_streams_per_node = absl::GetFlag(FLAGS_max_streams_per_node);
  options.nodes.forget_nodes_after = absl::GetFlag(FLAGS_forget_nodes_after);
  if (options.nodes.max_streams_per_node < 1) {
    fprintf(stderr, "nginx-xds control plane: --max_streams_per_node must be at least 1\n");
    return 1;
  }
  options.http_listen = absl::GetFlag(FLAGS_http_listen);
  options.http_threads = absl::GetFlag(FLAGS_http_threads);
  options.http_max_connections = absl::GetFlag(FLAGS_http_max_connections);
  options.http_header_timeout = absl::GetFlag(FLAGS_http_header_timeout);
  options.http_keep_alive_timeout = absl::GetFlag(FLAGS_http_keep_alive_timeout);
  options.admin_token_file = absl::GetFlag(FLAGS_admin_token_file);
  options.xds_tls.cert = absl::GetFlag(FLAGS_xds_tls_cert);
  options.xds_tls.key = absl::GetFlag(FLAGS_xds_tls_key);
  options.xds_tls.client_ca = absl::GetFlag(FLAGS_xds_tls_client_ca);
  auto control_plane = nginx_xds::ControlPlane::Start(options);
  if (!control_plane.ok()) {
    fprintf(stderr, "nginx-xds control plane: %s\n",
            std::string(control_plane.status().message()).c_str());
    return 1;
  }
  // Scripts and tests read the chosen ports from these lines.
  printf("xds_port=%d\nadmin_port=%d\n", (*control_plane)->xds_port(),
         (*control_plane)->admin_port());
  if ((*control_plane)->http_port() != 0) printf("http_port=%d\n", (*control_plane)->http_port());
  fflush(stdout);

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  fprintf(stderr, "nginx-xds control plane: signal %d, stopping\n", signal_number);
  (*control_plane)->Shutdown();
  (*control_plane)->Wait();
  return 0;
}
