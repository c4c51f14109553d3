// xds-agent: runs the nginx-xds agent outside nginx and prints every snapshot
// it applies, for scripts and debugging. Snapshots go to stdout, logs to
// stderr. Output, one block per snapshot, then a blank line:
//
//   version 7 (2 upstreams)[ from_cache]
//   upstream backends method=round_robin zone=zone_for_backends keepalive=0
//     server 127.0.0.1:6001 weight=1 max_fails=1 fail_timeout=10 max_conns=0[ backup][ down]
//
// `zone=-` when the upstream has no zone; `method=hash` is followed by
// ` hash_key=KEY` and, when consistent, ` consistent`.
//
// With --deltas, a version after the first is a change (xds_agent.h): its
// header line ends in ` delta`, counts and lists the upserted upstreams only,
// and a line `removed NAME` follows for each upstream it removes.

#include <signal.h>
#include <time.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "agent/xds_agent.h"
#include "google/protobuf/util/json_util.h"
#include "nginx_xds/v1/upstream.pb.h"

ABSL_FLAG(std::string, server, "127.0.0.1:18000",
          "The control plane's ADS address, or its replicas' a,b,c: the agent keeps one "
          "stream to one of them and moves to the next when it fails.");
ABSL_FLAG(std::string, protocol, "delta",
          "The ADS variant: delta (incremental, the default) or sotw (state of the world).");
ABSL_FLAG(std::string, node_id, "", "This node's id (required).");
ABSL_FLAG(std::string, fleet, "default", "The node's fleet (Node.cluster).");
ABSL_FLAG(std::string, cache_path, "", "The last-good snapshot file; empty: none.");
ABSL_FLAG(int, exit_after_versions, 0,
          "Exit 0 after this many snapshots were applied; 0: run until a signal.");
ABSL_FLAG(int, log_level, NXA_LOG_INFO, "Log lines up to this level: 0 error ... 3 debug.");
ABSL_FLAG(std::string, static_upstreams, "",
          "A JSON file holding an nginx_xds.v1.Snapshot whose upstreams are declared "
          "as if from nginx.conf (sent in the Node metadata); empty: none.");
ABSL_FLAG(std::string, tls_ca, "",
          "PEM CA bundle that must sign the control plane's certificate; turns on TLS.");
ABSL_FLAG(std::string, tls_cert, "",
          "PEM client certificate (with --tls_key) for mutual TLS; the control plane may "
          "take the node id from it.");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert.");
ABSL_FLAG(std::string, tls_server_name, "",
          "The name the control plane's certificate must carry; empty: the host of --server.");
ABSL_FLAG(std::vector<std::string>, labels, {},
          "This node's labels, KEY=VALUE,... (string fields of its Node metadata; a staged "
          "rollout's canary group may select nodes by them).");
ABSL_FLAG(bool, deltas, false,
          "Print each version after the first as a change: the upserted upstreams and the "
          "removed names (config.deltas of xds_agent.h).");
ABSL_FLAG(std::string, reject_version, "",
          "Reject (NACK) snapshots of this version instead of applying them; for tests.");
ABSL_FLAG(std::vector<std::string>, reject_upstreams, {},
          "Reject these upstreams (NAME,...) of every snapshot one by one and apply the rest: "
          "the NACK names each, as nginx does for an upstream it cannot apply; for tests.");

namespace {

// What OnSnapshot is told to reject.
struct Rejects {
  std::string version;
  std::vector<std::string> upstreams;
};

}  // namespace

namespace {

std::atomic<int> applied{0};

const char* MethodName(int method) {
  switch (method) {
    case NXA_METHOD_ROUND_ROBIN:
      return "round_robin";
    case NXA_METHOD_LEAST_CONN:
      return "least_conn";
    case NXA_METHOD_IP_HASH:
      return "ip_hash";
    case NXA_METHOD_HASH:
      return "hash";
    case NXA_METHOD_RANDOM:
      return "random";
  }
  return "unknown";
}

// The snapshot as applied: without the upstreams of `skipped` (by index).
std::string Format(const nxa_snapshot_t* snapshot, const std::vector<bool>& skipped) {
  const size_t count = nxa_snapshot_upstream_count(snapshot);
  size_t kept = 0;
  for (size_t i = 0; i < count; ++i) kept += skipped[i] ? 0 : 1;
  std::string out =
      absl::StrFormat("version %s (%d upstreams)%s%s\n", nxa_snapshot_version(snapshot), kept,
                      nxa_snapshot_from_cache(snapshot) ? " from_cache" : "",
                      nxa_snapshot_is_delta(snapshot) ? " delta" : "");
  for (size_t i = 0; i < count; ++i) {
    nxa_upstream_t u;
    if (skipped[i] || nxa_snapshot_upstream(snapshot, i, &u) != NXA_OK) continue;
    absl::StrAppendFormat(&out, "upstream %s method=%s", u.name, MethodName(u.method));
    if (u.method == NXA_METHOD_HASH) {
      absl::StrAppendFormat(&out, " hash_key=%s%s", u.hash_key,
                            u.hash_consistent ? " consistent" : "");
    }
    absl::StrAppendFormat(&out, " zone=%s keepalive=%u\n", u.zone[0] ? u.zone : "-", u.keepalive);
    for (size_t j = 0; j < u.nservers; ++j) {
      nxa_server_t s;
      if (nxa_snapshot_server(snapshot, i, j, &s) != NXA_OK) continue;
      absl::StrAppendFormat(&out,
                            "  server %s weight=%u max_fails=%u fail_timeout=%u max_conns=%u%s%s\n",
                            s.address, s.weight, s.max_fails, s.fail_timeout, s.max_conns,
                            s.backup ? " backup" : "", s.down ? " down" : "");
    }
  }
  for (size_t i = 0; i < nxa_snapshot_removed_count(snapshot); ++i) {
    absl::StrAppendFormat(&out, "removed %s\n", nxa_snapshot_removed(snapshot, i));
  }
  out += "\n";
  return out;
}

void OnSnapshot(void* ctx, nxa_snapshot_t* snapshot) {
  const Rejects* rejects = static_cast<const Rejects*>(ctx);
  if (!rejects->version.empty() && rejects->version == nxa_snapshot_version(snapshot)) {
    std::fprintf(stderr, "xds-agent: rejecting version %s as asked\n",
                 nxa_snapshot_version(snapshot));
    nxa_snapshot_done(snapshot, NXA_ERROR, "rejected by --reject_version");
    return;
  }
  const size_t count = nxa_snapshot_upstream_count(snapshot);
  std::vector<bool> skipped(count, false);
  for (size_t i = 0; i < count; ++i) {
    nxa_upstream_t u;
    if (nxa_snapshot_upstream(snapshot, i, &u) != NXA_OK) continue;
    for (const std::string& name : rejects->upstreams) {
      if (name != u.name) continue;
      std::fprintf(stderr, "xds-agent: rejecting upstream %s as asked\n", u.name);
      nxa_snapshot_reject_upstream(snapshot, i, "rejected by --reject_upstreams");
      skipped[i] = true;
    }
  }
  const std::string text = Format(snapshot, skipped);
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
  nxa_snapshot_done(snapshot, NXA_OK, nullptr);
  applied.fetch_add(1);
}

int log_level = NXA_LOG_INFO;

void OnLog(void*, int level, const char* msg) {
  if (level > log_level) return;
  static const char* const kNames[] = {"error", "warn", "info", "debug"};
  const char* name = level >= 0 && level <= 3 ? kNames[level] : "?";
  std::fprintf(stderr, "xds-agent [%s] %s\n", name, msg);
}

// Declares every upstream of the JSON Snapshot in `path` as static.
bool AddStaticUpstreams(nxa_agent_t* agent, const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    std::fprintf(stderr, "xds-agent: cannot read %s\n", path.c_str());
    return false;
  }
  std::stringstream json;
  json << in.rdbuf();
  nginx_xds::v1::Snapshot snapshot;
  auto status = google::protobuf::util::JsonStringToMessage(json.str(), &snapshot);
  if (!status.ok()) {
    std::fprintf(stderr, "xds-agent: %s: %s\n", path.c_str(), status.ToString().c_str());
    return false;
  }
  for (const nginx_xds::v1::Upstream& u : snapshot.upstreams()) {
    nxa_upstream_t upstream = {};
    upstream.name = u.name().c_str();
    upstream.zone = u.zone().c_str();
    upstream.method = static_cast<int>(u.method());
    upstream.hash_key = u.hash_key().c_str();
    upstream.hash_consistent = u.hash_consistent() ? 1 : 0;
    upstream.keepalive = u.keepalive();
    upstream.keepalive_requests = u.keepalive_requests();
    upstream.keepalive_time_ms = u.keepalive_time_ms();
    upstream.keepalive_timeout_ms = u.keepalive_timeout_ms();
    upstream.nservers = static_cast<size_t>(u.servers_size());
    std::vector<nxa_server_t> servers;
    for (const nginx_xds::v1::Server& s : u.servers()) {
      nxa_server_t server = {};
      server.address = s.address().c_str();
      server.weight = s.has_weight() ? s.weight() : 1;
      server.max_fails = s.has_max_fails() ? s.max_fails() : 1;
      server.fail_timeout = s.has_fail_timeout() ? s.fail_timeout() : 10;
      server.max_conns = s.max_conns();
      server.backup = s.backup() ? 1 : 0;
      server.down = s.down() ? 1 : 0;
      servers.push_back(server);
    }
    if (nxa_agent_add_static_upstream(agent, &upstream, servers.data()) != NXA_OK) {
      std::fprintf(stderr, "xds-agent: %s: static upstream \"%s\" refused\n", path.c_str(),
                   u.name().c_str());
      return false;
    }
  }
  return true;
}

// Reads the PEM file of --`flag` into `out`; false (and says why) when it
// cannot be read. An empty flag leaves `out` empty.
bool ReadFlagFile(const char* flag, const std::string& path, std::string* out) {
  if (path.empty()) return true;
  std::ifstream in(path, std::ios::binary);
  std::stringstream content;
  if (in) content << in.rdbuf();
  if (!in || content.str().empty()) {
    std::fprintf(stderr, "xds-agent: --%s \"%s\": cannot read the file or it is empty\n", flag,
                 path.c_str());
    return false;
  }
  *out = content.str();
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Runs the nginx-xds agent and prints every snapshot it applies.\n"
      "Usage: xds-agent --server=HOST:PORT[,HOST:PORT...] --node_id=ID [--fleet=F]\n"
      "  [--cache_path=FILE] [--protocol=delta|sotw]");
  absl::ParseCommandLine(argc, argv);
  const std::string server = absl::GetFlag(FLAGS_server);
  const std::string node_id = absl::GetFlag(FLAGS_node_id);
  const std::string fleet = absl::GetFlag(FLAGS_fleet);
  const std::string cache_path = absl::GetFlag(FLAGS_cache_path);
  const Rejects rejects{absl::GetFlag(FLAGS_reject_version), absl::GetFlag(FLAGS_reject_upstreams)};
  const int exit_after = absl::GetFlag(FLAGS_exit_after_versions);
  log_level = absl::GetFlag(FLAGS_log_level);
  if (node_id.empty()) {
    std::fprintf(stderr, "xds-agent: --node_id is required\n");
    return 2;
  }
  const std::string protocol = absl::GetFlag(FLAGS_protocol);
  if (protocol != "delta" && protocol != "sotw") {
    std::fprintf(stderr, "xds-agent: --protocol must be delta or sotw, not \"%s\"\n",
                 protocol.c_str());
    return 2;
  }

  // Signals are taken by sigtimedwait below, never by the agent's threads.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  nxa_config_t config = {};
  config.server = server.c_str();
  config.node_id = node_id.c_str();
  config.fleet = fleet.c_str();
  config.cache_path = cache_path.empty() ? nullptr : cache_path.c_str();
  config.user_agent = "nginx-xds-agent-cli";
  config.on_snapshot = &OnSnapshot;
  config.on_log = &OnLog;
  config.ctx = const_cast<Rejects*>(&rejects);
  config.deltas = absl::GetFlag(FLAGS_deltas) ? 1 : 0;
  config.sotw = protocol == "sotw" ? 1 : 0;
  std::string tls_ca, tls_cert, tls_key;
  const std::string tls_server_name = absl::GetFlag(FLAGS_tls_server_name);
  if (!ReadFlagFile("tls_ca", absl::GetFlag(FLAGS_tls_ca), &tls_ca) ||
      !ReadFlagFile("tls_cert", absl::GetFlag(FLAGS_tls_cert), &tls_cert) ||
      !ReadFlagFile("tls_key", absl::GetFlag(FLAGS_tls_key), &tls_key)) {
    return 2;
  }
  config.tls_ca = tls_ca.c_str();
  config.tls_cert = tls_cert.c_str();
  config.tls_key = tls_key.c_str();
  config.tls_server_name = tls_server_name.c_str();
  std::vector<nxa_label_t> labels;
  std::vector<std::string> label_flags = absl::GetFlag(FLAGS_labels);
  for (std::string& label : label_flags) {
    const size_t equals = label.find('=');
    if (equals == std::string::npos) {
      std::fprintf(stderr, "xds-agent: --labels: \"%s\" is not KEY=VALUE\n", label.c_str());
      return 2;
    }
    // KEY\0VALUE: both halves point into label_flags, which outlives the agent.
    label[equals] = '\0';
    labels.push_back({label.c_str(), label.c_str() + equals + 1});
  }
  config.labels = labels.data();
  config.nlabels = labels.size();

  char err[512];
  nxa_agent_t* agent = nullptr;
  if (nxa_agent_create(&config, &agent, err, sizeof(err)) != NXA_OK) {
    std::fprintf(stderr, "xds-agent: %s\n", err);
    return 2;
  }
  const std::string static_upstreams = absl::GetFlag(FLAGS_static_upstreams);
  if (!static_upstreams.empty() && !AddStaticUpstreams(agent, static_upstreams)) {
    nxa_agent_destroy(agent);
    return 2;
  }
  if (nxa_agent_start(agent) != NXA_OK) {
    std::fprintf(stderr, "xds-agent: cannot start the agent\n");
    nxa_agent_destroy(agent);
    return 1;
  }

  int signal_number = 0;
  while (exit_after <= 0 || applied.load() < exit_after) {
    struct timespec timeout = {0, 100 * 1000 * 1000};
    int got = sigtimedwait(&signals, nullptr, &timeout);
    if (got > 0) {
      signal_number = got;
      break;
    }
  }
  if (signal_number != 0) {
    std::fprintf(stderr, "xds-agent: exiting on signal %d\n", signal_number);
  }
  nxa_agent_destroy(agent);
  return 0;
}
