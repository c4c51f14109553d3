#include "controlplane/replication/node_state_sync.h"

#include <algorithm>
#include <map>
#include <set>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace nginx_xds {
namespace {

using nginx_xds::v1::NodeStatus;

// etcd's default --max-txn-ops is 128.
constexpr int kOpsPerTxn = 100;

}  // namespace

NodeStateSync::NodeStateSync(std::shared_ptr<EtcdConnection> etcd, NodeRegistry* registry,
                             Options options)
    : etcd_(std::move(etcd)),
      registry_(registry),
      options_(std::move(options)),
      nodes_prefix_(etcd_->options().prefix + "~nodes/"),
      own_prefix_(absl::StrCat(nodes_prefix_, options_.replica, "/")),
      kv_(etcdserverpb::KV::NewStub(etcd_->channel())),
      lease_(etcdserverpb::Lease::NewStub(etcd_->channel())),
      watch_(etcdserverpb::Watch::NewStub(etcd_->channel())) {
  NodeRegistry::RemoteNodes remote;
  remote.replica = options_.replica;
  remote.status = [this](const std::string& fleet) { return Remote(fleet); };
  remote.wait = [this](const std::string& fleet, uint64_t version, absl::Time deadline,
                       NodeRegistry::Progress* progress) {
    WaitForRemote(fleet, version, deadline, progress);
  };
  registry_->SetRemoteNodes(std::move(remote));
  publisher_ = std::thread([this] { Publish(); });
  follower_ = std::thread([this] { Follow(); });
}

NodeStateSync::~NodeStateSync() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    if (watch_context_ != nullptr) watch_context_->TryCancel();
  }
  publisher_.join();
  follower_.join();
  registry_->SetRemoteNodes(NodeRegistry::RemoteNodes());
}

bool NodeStateSync::stopping() const {
  absl::MutexLock lock(&mu_);
  return stopping_;
}

std::vector<NodeStatus> NodeStateSync::Remote(const std::string& fleet) const {
  std::vector<NodeStatus> nodes;
  absl::MutexLock lock(&mu_);
  for (const auto& [key, node] : remote_) {
    if (fleet.empty() || node.fleet() == fleet) nodes.push_back(node);
  }
  return nodes;
}

void NodeStateSync::WaitForRemote(const std::string& fleet, uint64_t version, absl::Time deadline,
                                  NodeRegistry::Progress* progress) const {
  // As NodeRegistry counts its own: connected, not lagging; settled once
  // applied (acked_version) or rejected at `version` or newer.
  auto counted = [&](const NodeStatus& node) {
    return node.fleet() == fleet && node.connected() && node.lagging_at_version() == 0;
  };
  auto settled = [&](const NodeStatus& node) {
    return node.acked_version() >= version || node.last_nack().version() >= version;
  };
  {
    absl::MutexLock lock(&mu_);
    if (std::none_of(remote_.begin(), remote_.end(),
                     [&](const auto& entry) { return counted(entry.second); })) {
      return;
    }
  }
  // A node that moved here from a replica killed a moment ago still shows
  // there, connected, until that replica's lease expires: counted once, here.
  std::set<std::string> local;
  const nginx_xds::v1::FleetStatus here = registry_->LocalStatus(fleet);
  for (const NodeStatus& node : here.nodes()) {
    if (node.connected()) local.insert(node.id());
  }
  // One entry per node id: the one updated last (it moved between replicas).
  auto chosen = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    std::map<std::string, const NodeStatus*> nodes;
    for (const auto& [key, node] : remote_) {
      if (!counted(node) || local.count(node.id()) != 0) continue;
      const NodeStatus*& best = nodes[node.id()];
      if (best == nullptr ||
          std::make_pair(node.updated().seconds(), node.updated().nanos()) >
              std::make_pair(best->updated().seconds(), best->updated().nanos())) {
        best = &node;
      }
    }
    return nodes;
  };
  absl::MutexLock lock(&mu_);
  auto all_settled = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (stopping_) return true;
    for (const auto& [id, node] : chosen()) {
      if (!settled(*node)) return false;
    }
    return true;
  };
  mu_.AwaitWithDeadline(absl::Condition(&all_settled), deadline);
  for (const auto& [id, node] : chosen()) {
    ++progress->connected;
    if (node->acked_version() >= version) {
      ++progress->acked;
    } else if (node->last_nack().version() >= version) {
      progress->rejections.push_back(node->last_nack());
    }
  }
}

void NodeStateSync::Publish() {
  int64_t lease = 0;
  absl::Time keepalive_due = absl::InfinitePast();
  // What etcd holds of ours: node id -> serialized NodeStatus.
  std::map<std::string, std::string> written;
  uint64_t seen = 0;
  absl::Time last_write = absl::InfinitePast();
  // Whether etcd may lack some of this replica's state (a new lease, a failed write).
  bool dirty = true;
  bool warned = false;
  auto warn = [&](const absl::Status& status) {
    if (warned) return;
    warned = true;
    Log(options_.log, LogLevel::kWarning,
        absl::StrCat("replica \"", options_.replica,
                     "\": cannot share node state in etcd: ", status.message()));
  };
  const absl::Duration keepalive_every = options_.lease_ttl / 3;
  while (!stopping()) {
    if (lease == 0) {
      etcdserverpb::LeaseGrantRequest request;
      request.set_ttl(std::max<int64_t>(1, absl::ToInt64Seconds(options_.lease_ttl)));
      etcdserverpb::LeaseGrantResponse response;
      absl::Status granted = etcd_->Call("grant the node lease", [&](grpc::ClientContext* c) {
        return lease_->LeaseGrant(c, request, &response);
      });
      if (!granted.ok()) {
        warn(granted);
        registry_->WaitForChange(seen, absl::Now() + absl::Milliseconds(100));
        continue;
      }
      lease = response.id();
      written.clear();
      dirty = true;
      keepalive_due = absl::Now() + keepalive_every;
    }
    if (absl::Now() >= keepalive_due) {
      // One request, one answer per stream: simple, and every few seconds only.
      grpc::ClientContext context;
      absl::Status prepared = etcd_->Prepare(&context, etcd_->options().timeout);
      etcdserverpb::LeaseKeepAliveResponse response;
      bool alive = false;
      if (prepared.ok()) {
        auto stream = lease_->LeaseKeepAlive(&context);
        etcdserverpb::LeaseKeepAliveRequest request;
        request.set_id(lease);
        alive = stream->Write(request) && stream->Read(&response);
        stream->WritesDone();
        context.TryCancel();
        stream->Finish();
      }
      if (alive && response.ttl() <= 0) {
        // Expired (etcd was away longer than the TTL): a new lease, all again.
        Log(options_.log, LogLevel::kWarning,
            absl::StrCat("replica \"", options_.replica,
                         "\": the node lease expired; writing the node state again"));
        lease = 0;
        continue;
      }
      keepalive_due = absl::Now() + (alive ? keepalive_every : absl::Milliseconds(500));
    }
    const uint64_t before = seen;
    // In slices of 100 ms: the registry cannot be told to wake this on stop.
    seen = registry_->WaitForChange(seen,
                                    std::min(keepalive_due, absl::Now() + absl::Milliseconds(100)));
    // Nothing changed: nothing to write (Status of many nodes is not free).
    if (seen == before && !dirty) continue;
    dirty = false;
    // Coalesce: at most one write per interval, so an ACK storm of many
    // nodes becomes a few transactions; the first change after a quiet
    // interval goes out at once (a write waits for these ACKs).
    const absl::Time allowed = last_write + options_.interval;
    if (absl::Now() < allowed) absl::SleepFor(allowed - absl::Now());
    nginx_xds::v1::FleetStatus status = registry_->LocalStatus("");
    std::map<std::string, std::string> now;
    for (NodeStatus& node : *status.mutable_nodes()) {
      node.set_replica(options_.replica);
      now[node.id()] = node.SerializeAsString();
    }
    std::vector<etcdserverpb::RequestOp> ops;
    for (const auto& [id, value] : now) {
      auto it = written.find(id);
      if (it != written.end() && it->second == value) continue;
      etcdserverpb::RequestOp op;
      auto* put = op.mutable_request_put();
      put->set_key(own_prefix_ + id);
      put->set_value(value);
      put->set_lease(lease);
      ops.push_back(std::move(op));
    }
    for (const auto& [id, value] : written) {
      if (now.count(id) != 0) continue;
      etcdserverpb::RequestOp op;
      op.mutable_request_delete_range()->set_key(own_prefix_ + id);
      ops.push_back(std::move(op));
    }
    // The counter also moves for the other replicas' nodes: nothing of ours.
    if (ops.empty()) continue;
    last_write = absl::Now();
    bool ok = true;
    for (size_t first = 0; first < ops.size() && ok; first += kOpsPerTxn) {
      etcdserverpb::TxnRequest txn;
      for (size_t i = first; i < std::min(ops.size(), first + kOpsPerTxn); ++i) {
        *txn.add_success() = ops[i];
      }
      etcdserverpb::TxnResponse response;
      absl::Status done = etcd_->Call(
          "share node state", [&](grpc::ClientContext* c) { return kv_->Txn(c, txn, &response); });
      if (!done.ok()) {
        warn(done);
        ok = false;
        // A put on a lease etcd no longer has fails: grant a new one.
        if (done.code() == absl::StatusCode::kNotFound) lease = 0;
      }
    }
    if (ok) {
      written = std::move(now);
      if (warned) {
        Log(options_.log, LogLevel::kInfo,
            absl::StrCat("replica \"", options_.replica, "\": sharing node state in etcd again"));
      }
      warned = false;
    } else {
      written.clear();  // unsure what landed: write everything next time
      dirty = true;
      absl::SleepFor(absl::Milliseconds(200));
    }
  }
  if (lease != 0) {
    etcdserverpb::LeaseRevokeRequest request;
    request.set_id(lease);
    etcdserverpb::LeaseRevokeResponse response;
    etcd_
        ->Call("revoke the node lease", absl::Seconds(1),
               [&](grpc::ClientContext* c) { return lease_->LeaseRevoke(c, request, &response); })
        .IgnoreError();
  }
}

void NodeStateSync::Follow() {
  while (!stopping()) {
    FollowOnce();
    absl::MutexLock lock(&mu_);
    auto stop = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
    mu_.AwaitWithTimeout(absl::Condition(&stop), absl::Milliseconds(200));
  }
}

void NodeStateSync::FollowOnce() {
  const std::string end = EtcdPrefixEnd(nodes_prefix_);
  auto take = [this](const std::string& key, const std::string& value, bool put)
                  ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
                    if (absl::StartsWith(key, own_prefix_)) return;
                    if (!put) {
                      remote_.erase(key);
                      return;
                    }
                    NodeStatus node;
                    if (node.ParseFromString(value)) remote_[key] = std::move(node);
                  };
  etcdserverpb::RangeRequest range;
  range.set_key(nodes_prefix_);
  range.set_range_end(end);
  etcdserverpb::RangeResponse all;
  absl::Status read = etcd_->Call(
      "read node state", [&](grpc::ClientContext* c) { return kv_->Range(c, range, &all); });
  if (!read.ok()) return;
  {
    absl::MutexLock lock(&mu_);
    remote_.clear();
    for (const auto& kv : all.kvs()) take(kv.key(), kv.value(), true);
    ++remote_changes_;
  }
  registry_->RemoteChanged();
  grpc::ClientContext context;
  if (!etcd_->Prepare(&context, absl::InfiniteDuration()).ok()) return;
  context.AddMetadata("hasleader", "true");
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    watch_context_ = &context;
  }
  auto stream = watch_->Watch(&context);
  etcdserverpb::WatchRequest request;
  auto* create = request.mutable_create_request();
  create->set_key(nodes_prefix_);
  create->set_range_end(end);
  create->set_start_revision(all.header().revision() + 1);
  if (stream->Write(request)) {
    etcdserverpb::WatchResponse response;
    while (stream->Read(&response)) {
      if (response.canceled()) break;
      {
        absl::MutexLock lock(&mu_);
        for (const mvccpb::Event& event : response.events()) {
          take(event.kv().key(), event.kv().value(), event.type() == mvccpb::Event::PUT);
        }
        ++remote_changes_;
      }
      registry_->RemoteChanged();
    }
  }
  context.TryCancel();
  stream->Finish();
  absl::MutexLock lock(&mu_);
  watch_context_ = nullptr;
}

}  // namespace nginx_xds
