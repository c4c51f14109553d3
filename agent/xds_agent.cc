// The C ABI of agent/xds_agent.h over XdsClient. Every entry point catches
// everything: no C++ exception or type crosses into C.

#include "agent/xds_agent.h"

#include <cstdio>
#include <exception>
#include <map>
#include <memory>
#include <new>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "agent/xds_client.h"
#include "common/tls_pem.h"
#include "common/upstream_rules.h"
#include "common/xds_mapping.h"
#include "google/protobuf/util/message_differencer.h"
#include "nginx_xds/v1/upstream.pb.h"

struct nxa_agent_s {
  nginx_xds::XdsClientOptions options;
  nxa_snapshot_handler_pt on_snapshot = nullptr;
  nxa_log_handler_pt on_log = nullptr;
  void* ctx = nullptr;
  // Set by nxa_agent_start; used by the embedder thread only.
  std::unique_ptr<nginx_xds::XdsClient> client;

  absl::Mutex mu;
  // The snapshot handed over and not yet done (the client hands over one at
  // a time); released by nxa_agent_destroy if the embedder never answers.
  nxa_snapshot_s* outstanding ABSL_GUARDED_BY(mu) = nullptr;

  // config.deltas: hand over changes against `applied`.
  bool deltas = false;
  // What the embedder runs, by name: every upstream of each snapshot it
  // answered NXA_OK, a rejected one as it was before. Valid once the
  // embedder took a whole snapshot. Over Delta it is what a whole snapshot
  // is made of (a change applied to it), so nxa_agent_want_full() keeps it
  // and sets `want_full`.
  bool have_applied ABSL_GUARDED_BY(mu) = false;
  bool want_full ABSL_GUARDED_BY(mu) = false;
  std::map<std::string, nginx_xds::v1::Upstream> applied ABSL_GUARDED_BY(mu);

  void Log(int level, const std::string& message) {
    if (on_log == nullptr) return;
    on_log(ctx, level, message.c_str());
  }
};

struct nxa_snapshot_s {
  nxa_agent_s* agent = nullptr;
  nginx_xds::v1::Snapshot snapshot;
  bool from_cache = false;
  std::optional<nginx_xds::SnapshotVerdict> verdict;
  // Upstreams rejected one by one (nxa_snapshot_reject_upstream).
  std::vector<nginx_xds::v1::RejectedUpstream> rejected;
  // A delta: the indices in `snapshot` of the upserted upstreams, and the
  // names of the removed ones. `snapshot` stays whole: the verdict and the
  // cache file want the version as the control plane sent it.
  bool is_delta = false;
  std::vector<int> upserted;
  std::vector<std::string> removed;
  // A delta made from a Delta change: `snapshot` holds the upserted
  // upstreams only (not whole), all of them in `upserted`.
  bool partial = false;

  int count() const {
    return is_delta ? static_cast<int>(upserted.size()) : snapshot.upstreams_size();
  }
  // The index in `snapshot` of the embedder's upstream `index`, or -1.
  int At(size_t index) const {
    if (index >= static_cast<size_t>(count())) return -1;
    return is_delta ? upserted[index] : static_cast<int>(index);
  }
};

namespace {

void WriteError(char* err, size_t err_len, const std::string& message) {
  if (err == nullptr || err_len == 0) return;
  std::snprintf(err, err_len, "%s", message.c_str());
}

std::string OrEmpty(const char* s) { return s == nullptr ? std::string() : std::string(s); }

// Runs `f`; turns an escaping exception into NXA_ERROR and a log line.
template <typename F>
int Guard(nxa_agent_s* agent, const char* what, F&& f) {
  try {
    return f();
  } catch (const std::exception& e) {
    if (agent != nullptr) {
      try {
        agent->Log(NXA_LOG_ERROR, absl::StrCat(what, ": ", e.what()));
      } catch (...) {
      }
    }
  } catch (...) {
    if (agent != nullptr) {
      try {
        agent->Log(NXA_LOG_ERROR, absl::StrCat(what, ": unknown exception"));
      } catch (...) {
      }
    }
  }
  return NXA_ERROR;
}

// Makes `handed` a change against what the embedder runs: the upstreams
// that are new or differ, and the names that are gone.
void ComputeDelta(const std::map<std::string, nginx_xds::v1::Upstream>& applied,
                  nxa_snapshot_s* handed) {
  handed->is_delta = true;
  std::map<std::string, bool> present;
  const nginx_xds::v1::Snapshot& next = handed->snapshot;
  for (int i = 0; i < next.upstreams_size(); ++i) {
    const nginx_xds::v1::Upstream& u = next.upstreams(i);
    present[u.name()] = true;
    auto it = applied.find(u.name());
    if (it == applied.end() || !google::protobuf::util::MessageDifferencer::Equals(it->second, u)) {
      handed->upserted.push_back(i);
    }
  }
  for (const auto& [name, upstream] : applied) {
    if (present.count(name) == 0) handed->removed.push_back(name);
  }
}

// After the embedder's NXA_OK: it runs `done`'s version but its rejected
// upstreams, which stay as they were (or absent when new).
void RecordApplied(nxa_agent_s* agent, const nxa_snapshot_s& done)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(agent->mu) {
  std::set<std::string> rejected;
  for (const nginx_xds::v1::RejectedUpstream& each : done.rejected) rejected.insert(each.name());
  if (done.partial) {
    // O(change): the upserted and removed upstreams alone.
    for (const nginx_xds::v1::Upstream& u : done.snapshot.upstreams()) {
      if (rejected.count(u.name()) == 0) agent->applied[u.name()] = u;
    }
    for (const std::string& name : done.removed) agent->applied.erase(name);
    return;
  }
  std::map<std::string, nginx_xds::v1::Upstream> next;
  for (const nginx_xds::v1::Upstream& u : done.snapshot.upstreams()) {
    next[u.name()] = u;
  }
  for (const std::string& name : rejected) {
    auto before = agent->applied.find(name);
    if (before == agent->applied.end()) {
      next.erase(name);
    } else {
      next[name] = before->second;
    }
  }
  agent->applied = std::move(next);
  agent->have_applied = true;
  agent->want_full = false;
}

void OnSnapshot(nxa_agent_s* agent, const nginx_xds::v1::Snapshot& snapshot, bool from_cache,
                nginx_xds::SnapshotVerdict verdict) {
  auto handed = std::make_unique<nxa_snapshot_s>();
  handed->agent = agent;
  handed->snapshot = snapshot;
  handed->from_cache = from_cache;
  handed->verdict = std::move(verdict);
  nxa_snapshot_s* raw = handed.release();
  {
    absl::MutexLock lock(&agent->mu);
    // A snapshot from the cache is whole: it is what the embedder starts
    // from when the control plane cannot be reached.
    if (agent->deltas && agent->have_applied && !agent->want_full && !from_cache) {
      ComputeDelta(agent->applied, raw);
    }
    agent->outstanding = raw;
  }
  agent->on_snapshot(agent->ctx, raw);
}

// A Delta change: handed over as it is (O(change)) when the embedder takes
// deltas and has its state, else as the whole state it makes.
void OnChange(nxa_agent_s* agent, const nginx_xds::XdsClient::UpstreamChange& change,
              nginx_xds::SnapshotVerdict verdict) {
  auto handed = std::make_unique<nxa_snapshot_s>();
  handed->agent = agent;
  handed->verdict = std::move(verdict);
  nginx_xds::v1::Snapshot& snapshot = handed->snapshot;
  snapshot.set_version(change.version);
  nxa_snapshot_s* raw = handed.release();
  {
    absl::MutexLock lock(&agent->mu);
    if (change.whole) {
      for (const auto& u : change.upserted) *snapshot.add_upstreams() = u;
    } else if (agent->deltas && agent->have_applied && !agent->want_full) {
      raw->is_delta = true;
      raw->partial = true;
      for (const auto& u : change.upserted) {
        auto it = agent->applied.find(u.name());
        if (it != agent->applied.end() &&
            google::protobuf::util::MessageDifferencer::Equals(it->second, u)) {
          continue;
        }
        raw->upserted.push_back(snapshot.upstreams_size());
        *snapshot.add_upstreams() = u;
      }
      for (const std::string& name : change.removed) {
        if (agent->applied.count(name)) raw->removed.push_back(name);
      }
    } else {
      // Whole: what the embedder ran, with the change.
      std::map<std::string, const nginx_xds::v1::Upstream*> next;
      for (const auto& [name, u] : agent->applied) next[name] = &u;
      for (const auto& u : change.upserted) next[u.name()] = &u;
      for (const std::string& name : change.removed) next.erase(name);
      for (const auto& [name, u] : next) *snapshot.add_upstreams() = *u;
    }
    agent->outstanding = raw;
  }
  agent->on_snapshot(agent->ctx, raw);
}

// Copies and checks the TLS settings of `config`.
absl::Status SetTls(const nxa_config_t& config, nginx_xds::XdsClientOptions* options) {
  nginx_xds::TlsPem& tls = options->tls;
  tls.ca = OrEmpty(config.tls_ca);
  tls.cert = OrEmpty(config.tls_cert);
  tls.key = OrEmpty(config.tls_key);
  options->tls_server_name = OrEmpty(config.tls_server_name);
  if (tls.ca.empty()) {
    if (!tls.cert.empty() || !tls.key.empty() || !options->tls_server_name.empty()) {
      return absl::InvalidArgumentError(
          "a client certificate or TLS server name needs the TLS CA (tls_ca) that verifies "
          "the control plane");
    }
    return absl::OkStatus();
  }
  if (tls.cert.empty() != tls.key.empty()) {
    return absl::InvalidArgumentError("a client certificate needs both tls_cert and tls_key");
  }
  absl::Status status = nginx_xds::CheckPemCertificates(tls.ca);
  if (!status.ok()) return absl::InvalidArgumentError(absl::StrCat("tls_ca: ", status.message()));
  if (tls.cert.empty()) return absl::OkStatus();
  status = nginx_xds::CheckPemCertificates(tls.cert);
  if (!status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("tls_cert: ", status.message()));
  }
  status = nginx_xds::CheckPemPrivateKey(tls.key);
  if (!status.ok()) return absl::InvalidArgumentError(absl::StrCat("tls_key: ", status.message()));
  status = nginx_xds::CheckPemKeyMatches(tls.cert, tls.key);
  if (!status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("tls_key and tls_cert: ", status.message()));
  }
  return absl::OkStatus();
}

}  // namespace

extern "C" {

int nxa_pem_check(int kind, const char* pem, size_t len, char* err, size_t err_len) {
  try {
    if (pem == nullptr) len = 0;
    const absl::string_view text(pem == nullptr ? "" : pem, len);
    absl::Status status = kind == NXA_PEM_PRIVATE_KEY ? nginx_xds::CheckPemPrivateKey(text)
                                                      : nginx_xds::CheckPemCertificates(text);
    if (status.ok()) return NXA_OK;
    WriteError(err, err_len, std::string(status.message()));
  } catch (...) {
    WriteError(err, err_len, "cannot check the PEM text");
  }
  return NXA_ERROR;
}

int nxa_pem_key_matches(const char* cert, size_t cert_len, const char* key, size_t key_len,
                        char* err, size_t err_len) {
  try {
    absl::Status status = nginx_xds::CheckPemKeyMatches(
        absl::string_view(cert == nullptr ? "" : cert, cert == nullptr ? 0 : cert_len),
        absl::string_view(key == nullptr ? "" : key, key == nullptr ? 0 : key_len));
    if (status.ok()) return NXA_OK;
    WriteError(err, err_len, std::string(status.message()));
  } catch (...) {
    WriteError(err, err_len, "cannot check the key");
  }
  return NXA_ERROR;
}

int nxa_agent_create(const nxa_config_t* config, nxa_agent_t** agent, char* err, size_t err_len) {
  try {
    if (agent == nullptr) {
      WriteError(err, err_len, "no place for the agent handle");
      return NXA_ERROR;
    }
    *agent = nullptr;
    if (config == nullptr) {
      WriteError(err, err_len, "no configuration");
      return NXA_ERROR;
    }
    if (config->server == nullptr || config->server[0] == '\0') {
      WriteError(err, err_len, "no control plane address (server)");
      return NXA_ERROR;
    }
    if (config->node_id == nullptr || config->node_id[0] == '\0') {
      WriteError(err, err_len, "no node_id");
      return NXA_ERROR;
    }
    if (config->on_snapshot == nullptr) {
      WriteError(err, err_len, "no snapshot handler (on_snapshot)");
      return NXA_ERROR;
    }
    const std::string fleet = nginx_xds::FleetOrDefault(OrEmpty(config->fleet));
    absl::Status status = nginx_xds::ValidateName("node_id", config->node_id);
    if (status.ok()) status = nginx_xds::ValidateName("fleet", fleet);
    if (!status.ok()) {
      WriteError(err, err_len, std::string(status.message()));
      return NXA_ERROR;
    }

    auto created = std::make_unique<nxa_agent_s>();
    absl::StatusOr<std::vector<std::string>> servers = nginx_xds::SplitServers(config->server);
    if (!servers.ok()) {
      WriteError(err, err_len, std::string(servers.status().message()));
      return NXA_ERROR;
    }
    created->options.server = config->server;
    created->options.protocol =
        config->sotw != 0 ? nginx_xds::XdsProtocol::kSotw : nginx_xds::XdsProtocol::kDelta;
    created->options.node_id = config->node_id;
    created->options.fleet = fleet;
    created->options.cache_path = OrEmpty(config->cache_path);
    std::string user_agent = OrEmpty(config->user_agent);
    if (!user_agent.empty()) created->options.user_agent = user_agent;
    if (config->backoff_initial_ms != 0) {
      created->options.backoff_initial = absl::Milliseconds(config->backoff_initial_ms);
    }
    if (config->backoff_max_ms != 0) {
      created->options.backoff_max = absl::Milliseconds(config->backoff_max_ms);
    }
    for (size_t i = 0; i < config->nlabels; ++i) {
      const std::string key = OrEmpty(config->labels[i].key);
      if (key.empty() || key == nginx_xds::kNginxMetadataKey) {
        WriteError(err, err_len, "label key \"" + key + "\" is reserved or empty");
        return NXA_ERROR;
      }
      if (!created->options.labels.emplace(key, OrEmpty(config->labels[i].value)).second) {
        WriteError(err, err_len, "label \"" + key + "\" is given twice");
        return NXA_ERROR;
      }
    }
    absl::Status tls = SetTls(*config, &created->options);
    if (!tls.ok()) {
      WriteError(err, err_len, std::string(tls.message()));
      return NXA_ERROR;
    }
    created->on_snapshot = config->on_snapshot;
    created->on_log = config->on_log;
    created->ctx = config->ctx;
    created->deltas = config->deltas != 0;
    *agent = created.release();
    return NXA_OK;
  } catch (const std::exception& e) {
    WriteError(err, err_len, absl::StrCat("cannot create the agent: ", e.what()));
  } catch (...) {
    WriteError(err, err_len, "cannot create the agent");
  }
  return NXA_ERROR;
}

int nxa_agent_add_static_upstream(nxa_agent_t* agent, const nxa_upstream_t* upstream,
                                  const nxa_server_t* servers) {
  if (agent == nullptr) return NXA_ERROR;
  return Guard(agent, "nxa_agent_add_static_upstream", [&]() -> int {
    if (agent->client != nullptr) {
      agent->Log(NXA_LOG_ERROR, "static upstreams must be added before the agent starts");
      return NXA_ERROR;
    }
    if (upstream == nullptr || upstream->name == nullptr ||
        (upstream->nservers > 0 && servers == nullptr)) {
      agent->Log(NXA_LOG_ERROR, "static upstream without a name or servers");
      return NXA_ERROR;
    }
    absl::Status status = nginx_xds::ValidateName("upstream", upstream->name);
    if (!status.ok()) {
      agent->Log(NXA_LOG_ERROR, std::string(status.message()));
      return NXA_ERROR;
    }
    if (upstream->method < NXA_METHOD_ROUND_ROBIN || upstream->method > NXA_METHOD_RANDOM) {
      agent->Log(NXA_LOG_ERROR, absl::StrCat("static upstream \"", upstream->name,
                                             "\": unknown method ", upstream->method));
      return NXA_ERROR;
    }
    nginx_xds::v1::Upstream u;
    u.set_name(upstream->name);
    u.set_zone(OrEmpty(upstream->zone));
    u.set_method(static_cast<nginx_xds::v1::Method>(upstream->method));
    if (upstream->method == NXA_METHOD_HASH) {
      u.set_hash_key(OrEmpty(upstream->hash_key));
      u.set_hash_consistent(upstream->hash_consistent != 0);
    }
    u.set_keepalive(upstream->keepalive);
    // 0 means "not set" for these: nginx accepts no 0 for any of them.
    if (upstream->keepalive_requests != 0) u.set_keepalive_requests(upstream->keepalive_requests);
    if (upstream->keepalive_time_ms != 0) u.set_keepalive_time_ms(upstream->keepalive_time_ms);
    if (upstream->keepalive_timeout_ms != 0) {
      u.set_keepalive_timeout_ms(upstream->keepalive_timeout_ms);
    }
    for (size_t i = 0; i < upstream->nservers; ++i) {
      const nxa_server_t& s = servers[i];
      if (s.address == nullptr || s.address[0] == '\0') {
        agent->Log(NXA_LOG_ERROR, absl::StrCat("static upstream \"", upstream->name, "\": server ",
                                               i, " has no address"));
        return NXA_ERROR;
      }
      nginx_xds::v1::Server* server = u.add_servers();
      server->set_address(s.address);
      if (s.weight != 0) server->set_weight(s.weight);
      server->set_max_fails(s.max_fails);
      server->set_fail_timeout(s.fail_timeout);
      server->set_max_conns(s.max_conns);
      server->set_backup(s.backup != 0);
      server->set_down(s.down != 0);
    }
    agent->options.static_upstreams.push_back(std::move(u));
    return NXA_OK;
  });
}

int nxa_agent_start(nxa_agent_t* agent) {
  if (agent == nullptr) return NXA_ERROR;
  return Guard(agent, "nxa_agent_start", [&]() -> int {
    if (agent->client != nullptr) {
      agent->Log(NXA_LOG_ERROR, "the agent is already started");
      return NXA_ERROR;
    }
    auto client = std::make_unique<nginx_xds::XdsClient>(
        agent->options,
        [agent](const nginx_xds::v1::Snapshot& snapshot, bool from_cache,
                nginx_xds::SnapshotVerdict verdict) {
          OnSnapshot(agent, snapshot, from_cache, std::move(verdict));
        },
        [agent](nginx_xds::AgentLogLevel level, const std::string& message) {
          agent->Log(static_cast<int>(level), message);
        });
    if (agent->options.protocol == nginx_xds::XdsProtocol::kDelta) {
      client->SetChangeHandler([agent](const nginx_xds::XdsClient::UpstreamChange& change,
                                       nginx_xds::SnapshotVerdict verdict) {
        OnChange(agent, change, std::move(verdict));
      });
    }
    absl::Status status = client->Start();
    if (!status.ok()) {
      agent->Log(NXA_LOG_ERROR, absl::StrCat("cannot start the agent: ", status.message()));
      return NXA_ERROR;
    }
    agent->client = std::move(client);
    return NXA_OK;
  });
}

int nxa_agent_connected(const nxa_agent_t* agent) {
  if (agent == nullptr || agent->client == nullptr) return 0;
  try {
    return agent->client->connected() ? 1 : 0;
  } catch (...) {
    return 0;
  }
}

void nxa_agent_destroy(nxa_agent_t* agent) {
  if (agent == nullptr) return;
  try {
    if (agent->client != nullptr) agent->client->Shutdown();
    agent->client.reset();
    nxa_snapshot_s* outstanding;
    {
      absl::MutexLock lock(&agent->mu);
      outstanding = agent->outstanding;
      agent->outstanding = nullptr;
    }
    delete outstanding;
  } catch (...) {
    // Nothing can be reported any more; free what we can.
  }
  delete agent;
}

const char* nxa_snapshot_version(const nxa_snapshot_t* snapshot) {
  if (snapshot == nullptr) return "";
  return snapshot->snapshot.version().c_str();
}

int nxa_snapshot_from_cache(const nxa_snapshot_t* snapshot) {
  return snapshot != nullptr && snapshot->from_cache ? 1 : 0;
}

int nxa_snapshot_is_delta(const nxa_snapshot_t* snapshot) {
  return snapshot != nullptr && snapshot->is_delta ? 1 : 0;
}

size_t nxa_snapshot_upstream_count(const nxa_snapshot_t* snapshot) {
  if (snapshot == nullptr) return 0;
  return static_cast<size_t>(snapshot->count());
}

size_t nxa_snapshot_removed_count(const nxa_snapshot_t* snapshot) {
  if (snapshot == nullptr) return 0;
  return snapshot->removed.size();
}

const char* nxa_snapshot_removed(const nxa_snapshot_t* snapshot, size_t index) {
  if (snapshot == nullptr || index >= snapshot->removed.size()) return nullptr;
  return snapshot->removed[index].c_str();
}

void nxa_agent_want_full(nxa_agent_t* agent) {
  if (agent == nullptr) return;
  absl::MutexLock lock(&agent->mu);
  agent->want_full = true;
}

int nxa_snapshot_upstream(const nxa_snapshot_t* snapshot, size_t index, nxa_upstream_t* out) {
  const int at = snapshot == nullptr ? -1 : snapshot->At(index);
  if (out == nullptr || at < 0) return NXA_ERROR;
  const nginx_xds::v1::Upstream& u = snapshot->snapshot.upstreams(at);
  out->name = u.name().c_str();
  out->zone = u.zone().c_str();
  out->method = static_cast<int>(u.method());
  out->hash_key = u.hash_key().c_str();
  out->hash_consistent = u.hash_consistent() ? 1 : 0;
  out->keepalive = u.keepalive();
  out->keepalive_requests =
      u.has_keepalive_requests() ? u.keepalive_requests() : nginx_xds::kDefaultKeepaliveRequests;
  out->keepalive_time_ms =
      u.has_keepalive_time_ms() ? u.keepalive_time_ms() : nginx_xds::kDefaultKeepaliveTimeMs;
  out->keepalive_timeout_ms = u.has_keepalive_timeout_ms() ? u.keepalive_timeout_ms()
                                                           : nginx_xds::kDefaultKeepaliveTimeoutMs;
  out->nservers = static_cast<size_t>(u.servers_size());
  return NXA_OK;
}

int nxa_snapshot_server(const nxa_snapshot_t* snapshot, size_t upstream, size_t server,
                        nxa_server_t* out) {
  const int at = snapshot == nullptr ? -1 : snapshot->At(upstream);
  if (out == nullptr || at < 0) return NXA_ERROR;
  const nginx_xds::v1::Upstream& u = snapshot->snapshot.upstreams(at);
  if (server >= static_cast<size_t>(u.servers_size())) return NXA_ERROR;
  const nginx_xds::v1::Server& s = u.servers(static_cast<int>(server));
  out->address = s.address().c_str();
  out->weight = s.has_weight() ? s.weight() : nginx_xds::kDefaultWeight;
  out->max_fails = s.has_max_fails() ? s.max_fails() : nginx_xds::kDefaultMaxFails;
  out->fail_timeout =
      s.has_fail_timeout() ? s.fail_timeout() : nginx_xds::kDefaultFailTimeoutSeconds;
  out->max_conns = s.max_conns();
  out->backup = s.backup() ? 1 : 0;
  out->down = s.down() ? 1 : 0;
  return NXA_OK;
}

int nxa_snapshot_reject_upstream(nxa_snapshot_t* snapshot, size_t index, const char* error) {
  const int at = snapshot == nullptr ? -1 : snapshot->At(index);
  if (at < 0) return NXA_ERROR;
  try {
    const std::string& name = snapshot->snapshot.upstreams(at).name();
    for (const auto& each : snapshot->rejected) {
      if (each.name() == name) return NXA_OK;
    }
    std::string message = OrEmpty(error);
    if (message.empty()) message = "rejected by nginx";
    nginx_xds::v1::RejectedUpstream rejected;
    rejected.set_name(name);
    rejected.set_message(std::move(message));
    snapshot->rejected.push_back(std::move(rejected));
    return NXA_OK;
  } catch (...) {
    return NXA_ERROR;
  }
}

void nxa_snapshot_done(nxa_snapshot_t* snapshot, int status, const char* error) {
  if (snapshot == nullptr) return;
  try {
    nxa_agent_s* agent = snapshot->agent;
    if (agent != nullptr) {
      absl::MutexLock lock(&agent->mu);
      if (agent->outstanding == snapshot) agent->outstanding = nullptr;
      // NXA_OK: the embedder runs this version (but what it rejected); any
      // other verdict: it changed nothing.
      if (status == NXA_OK) RecordApplied(agent, *snapshot);
    }
    if (snapshot->verdict) {
      if (status == NXA_OK) {
        snapshot->verdict->Done(absl::OkStatus(), std::move(snapshot->rejected));
      } else {
        std::string message = OrEmpty(error);
        if (message.empty()) message = "rejected by nginx";
        snapshot->verdict->Done(absl::InvalidArgumentError(message));
      }
    }
  } catch (...) {
    try {
      if (snapshot->verdict) snapshot->verdict->Done(absl::InternalError("verdict lost"));
    } catch (...) {
    }
  }
  delete snapshot;
}

}  // extern "C"
