#include "controlplane/fleet/node_registry.h"

#include <algorithm>
#include <limits>
#include <map>
#include <utility>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "common/upstream_rules.h"
#include "google/protobuf/util/time_util.h"

namespace nginx_xds {

namespace {

google::protobuf::Timestamp ToProto(absl::Time time) {
  return google::protobuf::util::TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(time));
}

// `rejected` as lines `upstream "NAME": reason`, joined by "; ".
std::string RejectedText(const std::vector<nginx_xds::v1::RejectedUpstream>& rejected) {
  std::string text;
  for (const auto& each : rejected) {
    absl::StrAppend(&text, text.empty() ? "" : "; ", "upstream \"", each.name(),
                    "\": ", each.message());
  }
  return text;
}

}  // namespace

absl::Status NodeRegistry::StreamOpened(const std::string& id, const std::string& fleet,
                                        const std::string& user_agent) {
  absl::MutexLock lock(&mu_);
  ForgetIdleNodes();
  auto existing = nodes_.find(id);
  if (existing != nodes_.end() && existing->second.streams > 0) {
    const Node& node = existing->second;
    if (node.fleet != fleet) {
      ++refused_streams_;
      return absl::FailedPreconditionError(absl::StrCat(
          "node \"", id, "\" is connected in fleet \"", node.fleet,
          "\"; another stream of it cannot claim fleet \"", fleet,
          "\" (node ids must be unique; a node changes fleets once its streams are closed)"));
    }
    if (node.streams >= options_.max_streams_per_node) {
      ++refused_streams_;
      return absl::ResourceExhaustedError(
          absl::StrCat("node \"", id, "\" has ", node.streams,
                       " streams open, the most one node may have (--max_streams_per_node)"));
    }
  }
  Node& node = nodes_[id];
  Mutate(&node, [&] {
    // A node that connects again starts with a clean slate as to lagging.
    if (node.streams == 0) node.lagging_at.reset();
    if (node.fleet != fleet) {
      // A node that moved to another fleet starts over: its versions were
      // another fleet's.
      node.types.clear();
      node.last_nack.Clear();
      node.rejected_upstreams.clear();
      node.rejected_at = 0;
    }
    node.fleet = fleet;
    node.user_agent = user_agent;
    ++node.streams;
  });
  return absl::OkStatus();
}

void NodeRegistry::StreamClosed(const std::string& id) {
  absl::MutexLock lock(&mu_);
  auto it = nodes_.find(id);
  if (it == nodes_.end()) return;
  Mutate(&it->second, [&] { --it->second.streams; });
  ForgetIdleNodes();
}

void NodeRegistry::Subscribed(const std::string& id, const std::string& type_url) {
  absl::MutexLock lock(&mu_);
  auto it = nodes_.find(id);
  if (it == nodes_.end() || it->second.types.count(type_url) != 0) return;
  Mutate(&it->second, [&] { it->second.types[type_url]; });
}

void NodeRegistry::Acked(const std::string& id, const std::string& type_url, uint64_t version) {
  absl::MutexLock lock(&mu_);
  auto it = nodes_.find(id);
  if (it == nodes_.end()) return;
  Node& node = it->second;
  Mutate(&node, [&] {
    TypeState& type = node.types[type_url];
    type.acked = std::max(type.acked, version);
    node.last_ack = absl::Now();
    // A newer version of the type that carried the rejections, taken whole:
    // the node runs every upstream again. Another type's ACK says nothing of
    // them (over Delta a type with nothing to send counts as ACKed).
    if (version > node.rejected_at && type_url == node.rejected_type) {
      node.rejected_upstreams.clear();
    }
    ClearLaggingIfAnswered(&node);
  });
}

void NodeRegistry::Nacked(const std::string& id, const std::string& type_url, uint64_t version,
                          const std::string& message,
                          const std::vector<nginx_xds::v1::RejectedUpstream>& rejected) {
  absl::MutexLock lock(&mu_);
  auto it = nodes_.find(id);
  if (it == nodes_.end()) return;
  Node& node = it->second;
  Mutate(&node, [&] {
    TypeState& type = node.types[type_url];
    type.rejected = version;
    ++node.nacks;
    node.last_nack.set_node(id);
    node.last_nack.set_version(version);
    node.last_nack.set_message(message);
    *node.last_nack.mutable_time() = ToProto(absl::Now());
    node.last_nack.clear_upstreams();
    ClearLaggingIfAnswered(&node);
    if (rejected.empty()) return;
    // Applied but for `rejected`: the version counts as taken.
    type.acked = std::max(type.acked, version);
    node.last_ack = absl::Now();
    std::map<std::string, nginx_xds::v1::RejectedUpstream> now;
    for (const auto& each : rejected) {
      *node.last_nack.add_upstreams() = each;
      const std::string key = UpstreamKey(each.name());
      nginx_xds::v1::RejectedUpstream& entry = now[key];
      entry = each;
      auto before = node.rejected_upstreams.find(key);
      entry.set_since_version(
          before == node.rejected_upstreams.end() ? version : before->second.since_version());
      entry.set_version(version);
      *entry.mutable_time() = node.last_nack.time();
    }
    if (version >= node.rejected_at) {
      node.rejected_upstreams = std::move(now);
      node.rejected_at = version;
      node.rejected_type = type_url;
    }
  });
}

std::vector<NodeRegistry::NodeCounters> NodeRegistry::Counters() const {
  std::vector<NodeCounters> counters;
  absl::ReaderMutexLock lock(&mu_);
  counters.reserve(nodes_.size());
  const absl::Time forget_before = absl::Now() - options_.forget_nodes_after;
  for (const auto& [id, node] : nodes_) {
    // As in Status(): a node departed long ago is gone before the sweep.
    if (node.streams <= 0 && node.updated < forget_before) continue;
    counters.push_back({id, node.fleet, node.streams, AckedVersion(node), node.nacks,
                        node.last_ack, node.lagging_at.has_value()});
  }
  return counters;
}

bool NodeRegistry::Rejected(const std::string& id, const std::string& type_url,
                            uint64_t version) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = nodes_.find(id);
  if (it == nodes_.end()) return false;
  auto type = it->second.types.find(type_url);
  return type != it->second.types.end() && type->second.rejected == version;
}

nginx_xds::v1::FleetStatus NodeRegistry::Status(const std::string& fleet) const {
  nginx_xds::v1::FleetStatus status = LocalStatus(fleet);
  if (!remote_.status) return status;
  std::map<std::pair<std::string, std::string>, nginx_xds::v1::NodeStatus> merged;
  for (auto& node : *status.mutable_nodes()) {
    node.set_replica(remote_.replica);
    merged[{node.fleet(), node.id()}] = std::move(node);
  }
  for (auto& node : remote_.status(fleet)) {
    auto [it, added] = merged.try_emplace({node.fleet(), node.id()}, node);
    if (added) continue;
    const nginx_xds::v1::NodeStatus& have = it->second;
    // A node that moved between replicas: where it is connected wins.
    const bool newer = have.connected() == node.connected()
                           ? (node.updated().seconds() > have.updated().seconds() ||
                              (node.updated().seconds() == have.updated().seconds() &&
                               node.updated().nanos() > have.updated().nanos()))
                           : node.connected();
    if (newer) it->second = std::move(node);
  }
  status.clear_nodes();
  for (auto& [key, node] : merged) *status.add_nodes() = std::move(node);
  return status;
}

nginx_xds::v1::FleetStatus NodeRegistry::LocalStatus(const std::string& fleet) const {
  nginx_xds::v1::FleetStatus status;
  absl::ReaderMutexLock lock(&mu_);
  std::vector<std::pair<const std::string*, const Node*>> ordered;
  const absl::Time forget_before = absl::Now() - options_.forget_nodes_after;
  for (const auto& [id, node] : nodes_) {
    // Departed long ago: gone from the status even before the next sweep.
    if (node.streams <= 0 && node.updated < forget_before) continue;
    if (fleet.empty() || node.fleet == fleet) ordered.emplace_back(&id, &node);
  }
  std::sort(ordered.begin(), ordered.end(), [](const auto& a, const auto& b) {
    return std::tie(a.second->fleet, *a.first) < std::tie(b.second->fleet, *b.first);
  });
  for (const auto& [id, node] : ordered) {
    auto* out = status.add_nodes();
    out->set_id(*id);
    out->set_fleet(node->fleet);
    out->set_connected(node->streams > 0);
    out->set_acked_version(AckedVersion(*node));
    if (!node->last_nack.node().empty()) *out->mutable_last_nack() = node->last_nack;
    for (const auto& [key, rejected] : node->rejected_upstreams) {
      *out->add_rejected_upstreams() = rejected;
    }
    out->set_user_agent(node->user_agent);
    *out->mutable_updated() = ToProto(node->updated);
    if (node->lagging_at) out->set_lagging_at_version(*node->lagging_at);
    out->set_streams(std::max(node->streams, 0));
  }
  return status;
}

NodeRegistry::Progress NodeRegistry::WaitForFleet(const std::string& fleet, uint64_t version,
                                                  absl::Time deadline,
                                                  const std::set<std::string>* changed) {
  Progress progress = WaitForLocalFleet(fleet, version, deadline, changed);
  // The other replicas' nodes, with the same deadline.
  if (remote_.wait) remote_.wait(fleet, version, deadline, &progress);
  return progress;
}

NodeRegistry::Progress NodeRegistry::WaitForLocalFleet(const std::string& fleet, uint64_t version,
                                                       absl::Time deadline,
                                                       const std::set<std::string>* changed) {
  absl::MutexLock lock(&mu_);
  // A wait whose deadline has passed already only looks (ack timeout 0).
  const bool waits = deadline > absl::Now();
  Waiter waiter{&fleet, version};
  for (const auto& [id, node] : nodes_) {
    if (!Counted(node, fleet)) continue;
    ++waiter.connected;
    if (SettledAt(node, fleet, version)) ++waiter.settled;
  }
  waiters_.push_back(&waiter);
  auto settled = [&waiter]() { return waiter.settled >= waiter.connected; };
  const bool all = mu_.AwaitWithDeadline(absl::Condition(&settled), deadline);
  waiters_.erase(std::find(waiters_.begin(), waiters_.end(), &waiter));
  Progress progress = ProgressOf(fleet, version, changed);
  if (!all && waits) {
    // Validate that a node that did not answer in time holds no later write:
    // mark it lagging (shown in fleet status) until it answers.
    for (auto& [id, node] : nodes_) {
      if (!Counted(node, fleet) || SettledAt(node, fleet, version)) continue;
      Node* lagging = &node;
      Mutate(lagging, [lagging, version] { lagging->lagging_at = version; });
    }
  }
  return progress;
}

uint64_t NodeRegistry::forgotten() const {
  absl::ReaderMutexLock lock(&mu_);
  return forgotten_;
}

uint64_t NodeRegistry::refused_streams() const {
  absl::ReaderMutexLock lock(&mu_);
  return refused_streams_;
}

bool NodeRegistry::Counted(const Node& node, const std::string& fleet) {
  return node.fleet == fleet && node.streams > 0 && !node.lagging_at;
}

void NodeRegistry::ClearLaggingIfAnswered(Node* node) {
  if (!node->lagging_at) return;
  const bool nacked = !node->last_nack.node().empty() &&
                      node->last_nack.version() >= *node->lagging_at;
  if (nacked || (!node->types.empty() && AckedVersion(*node) >= *node->lagging_at)) {
    node->lagging_at.reset();
  }
}

void NodeRegistry::ForgetIdleNodes() {
  const absl::Time now = absl::Now();
  const absl::Duration period =
      std::max(options_.forget_nodes_after / 10, absl::Milliseconds(10));
  if (now - last_sweep_ < period) return;
  last_sweep_ = now;
  const absl::Time cutoff = now - options_.forget_nodes_after;
  for (auto it = nodes_.begin(); it != nodes_.end();) {
    if (it->second.streams <= 0 && it->second.updated < cutoff) {
      it = nodes_.erase(it);
      ++forgotten_;
      ++changes_;
    } else {
      ++it;
    }
  }
}

size_t NodeRegistry::waiting() const {
  absl::ReaderMutexLock lock(&mu_);
  return waiters_.size();
}

void NodeRegistry::RemoteChanged() {
  absl::MutexLock lock(&mu_);
  ++changes_;
}

uint64_t NodeRegistry::WaitForChange(uint64_t seen, absl::Time deadline) const {
  auto changed = [&]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return changes_ != seen; };
  absl::ReaderMutexLock lock(&mu_);
  mu_.AwaitWithDeadline(absl::Condition(&changed), deadline);
  return changes_;
}

uint64_t NodeRegistry::AckedVersion(const Node& node) const {
  if (node.types.empty()) return 0;
  uint64_t lowest = std::numeric_limits<uint64_t>::max();
  for (const auto& [type_url, type] : node.types) lowest = std::min(lowest, type.acked);
  return lowest;
}

bool NodeRegistry::SettledAt(const Node& node, const std::string& fleet, uint64_t version) const {
  if (!Counted(node, fleet)) return false;
  // A NACK naming single upstreams settles once every type has answered
  // (it counts as acknowledged); a whole rejection settles at once.
  if (!node.last_nack.node().empty() && node.last_nack.version() >= version &&
      node.last_nack.upstreams().empty()) {
    return true;
  }
  return !node.types.empty() && AckedVersion(node) >= version;
}

void NodeRegistry::Mutate(Node* node, const std::function<void()>& change) {
  // Each waiter's view of this node before and after the change.
  std::vector<std::pair<bool, bool>> before;
  before.reserve(waiters_.size());
  for (const Waiter* waiter : waiters_) {
    before.emplace_back(Counted(*node, *waiter->fleet),
                        SettledAt(*node, *waiter->fleet, waiter->version));
  }
  change();
  for (size_t i = 0; i < waiters_.size(); ++i) {
    Waiter* waiter = waiters_[i];
    const bool connected = Counted(*node, *waiter->fleet);
    waiter->connected += int{connected} - int{before[i].first};
    waiter->settled +=
        int{SettledAt(*node, *waiter->fleet, waiter->version)} - int{before[i].second};
  }
  Changed(node);
}

NodeRegistry::Progress NodeRegistry::ProgressOf(const std::string& fleet, uint64_t version,
                                                const std::set<std::string>* changed) const {
  Progress progress;
  for (const auto& [id, node] : nodes_) {
    if (node.fleet == fleet && node.streams > 0 && node.lagging_at) ++progress.lagging;
    if (!Counted(node, fleet)) continue;
    ++progress.connected;
    const bool nacked = !node.last_nack.node().empty() && node.last_nack.version() >= version;
    if (nacked && node.last_nack.upstreams().empty()) {
      progress.rejections.push_back(node.last_nack);
      continue;
    }
    if (nacked) {
      // Applied except some upstreams: a rejection of this write only when
      // it names an upstream the write changed.
      std::vector<nginx_xds::v1::RejectedUpstream> own;
      for (const auto& [key, rejected] : node.rejected_upstreams) {
        if (changed == nullptr || changed->count(key) != 0) own.push_back(rejected);
      }
      if (!own.empty()) {
        nginx_xds::v1::NodeRejection rejection = node.last_nack;
        rejection.set_message(RejectedText(own));
        rejection.clear_upstreams();
        for (auto& each : own) {
          nginx_xds::v1::RejectedUpstream* out = rejection.add_upstreams();
          out->set_name(each.name());
          out->set_message(each.message());
        }
        progress.rejections.push_back(std::move(rejection));
        continue;
      }
    }
    if (!node.types.empty() && AckedVersion(node) >= version) ++progress.acked;
  }
  return progress;
}

void NodeRegistry::Changed(Node* node) {
  node->updated = absl::Now();
  ++changes_;
}

}  // namespace nginx_xds
