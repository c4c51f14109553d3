#include "controlplane/store/etcd_store.h"

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/upstream_rules.h"
#include "grpcpp/grpcpp.h"

namespace nginx_xds {
namespace {

using etcdserverpb::Compare;
using etcdserverpb::RequestOp;
using etcdserverpb::TxnRequest;
using etcdserverpb::TxnResponse;
using nginx_xds::v1::Upstream;

void Put(TxnRequest* txn, std::string key, std::string value) {
  auto* put = txn->add_success()->mutable_request_put();
  put->set_key(std::move(key));
  put->set_value(std::move(value));
}

void Delete(TxnRequest* txn, std::string key) {
  txn->add_success()->mutable_request_delete_range()->set_key(std::move(key));
}

absl::Status Corrupt(absl::string_view key, absl::string_view why) {
  return absl::DataLossError(absl::StrCat("etcd store: key \"", key, "\": ", why));
}

}  // namespace

absl::StatusOr<std::unique_ptr<EtcdStore>> EtcdStore::Open(const Options& options) {
  auto connection = EtcdConnection::Open(options);
  if (!connection.ok()) return connection.status();
  return std::make_unique<EtcdStore>(*std::move(connection));
}

EtcdStore::EtcdStore(std::shared_ptr<EtcdConnection> connection)
    : connection_(std::move(connection)),
      options_(connection_->options()),
      kv_(etcdserverpb::KV::NewStub(connection_->channel())) {}

// "~" sorts after every letter: the state's keys all come before it, and
// the replicas' node keys (~nodes/) after.
std::string EtcdStore::StateRangeEnd() const { return options_.prefix + "~"; }

absl::StatusOr<StoredState> EtcdStore::Load() {
  etcdserverpb::RangeRequest request;
  request.set_key(options_.prefix);
  request.set_range_end(StateRangeEnd());
  etcdserverpb::RangeResponse response;
  absl::Status status = connection_->Call("read", [&](grpc::ClientContext* context) {
    return kv_->Range(context, request, &response);
  });
  if (!status.ok()) return status;

  StoredState state;
  state.revision = response.header().revision();
  std::map<std::string, std::vector<std::pair<uint64_t, Upstream>>> placed;
  std::map<std::string, nginx_xds::v1::ListUpstreamsResponse> stables;
  slots_.clear();
  slot_counts_.clear();
  for (const auto& kv : response.kvs()) {
    absl::string_view key = kv.key();
    absl::ConsumePrefix(&key, options_.prefix);
    const std::string& value = kv.value();
    if (key == "version") {
      if (!absl::SimpleAtoi(value, &state.version)) return Corrupt(kv.key(), "not a number");
    } else if (absl::ConsumePrefix(&key, "fleets/")) {
      std::vector<absl::string_view> fields = absl::StrSplit(value, ' ');
      uint64_t version = 0, slots = 0;
      if (fields.size() != 2 || !absl::SimpleAtoi(fields[0], &version) ||
          !absl::SimpleAtoi(fields[1], &slots)) {
        return Corrupt(kv.key(), "not \"VERSION SLOTS\"");
      }
      const std::string fleet(key);
      state.fleet_versions[fleet] = version;
      state.slot_counts[fleet] = slots;
      state.upstreams[fleet];
    } else if (absl::ConsumePrefix(&key, "upstreams/")) {
      const size_t slash = key.find('/');
      const size_t newline = value.find('\n');
      uint64_t slot = 0;
      Upstream upstream;
      if (slash == absl::string_view::npos || newline == std::string::npos ||
          !absl::SimpleAtoi(absl::string_view(value).substr(0, newline), &slot) ||
          !upstream.ParseFromArray(value.data() + newline + 1,
                                   static_cast<int>(value.size() - newline - 1))) {
        return Corrupt(kv.key(), "not \"SLOT\\n\" and an nginx_xds.v1.Upstream");
      }
      if (UpstreamKey(upstream.name()) != key.substr(slash + 1)) {
        return Corrupt(kv.key(), absl::StrCat("holds upstream \"", upstream.name(), "\""));
      }
      placed[std::string(key.substr(0, slash))].emplace_back(slot, std::move(upstream));
    } else if (absl::ConsumePrefix(&key, "rollouts/")) {
      if (!state.rollouts[std::string(key)].rollout.ParseFromString(value)) {
        return Corrupt(kv.key(), "not an nginx_xds.v1.Rollout");
      }
    } else if (absl::ConsumePrefix(&key, "rollout-stable/")) {
      if (!stables[std::string(key)].ParseFromString(value)) {
        return Corrupt(kv.key(), "not an nginx_xds.v1.ListUpstreamsResponse");
      }
    }
  }
  for (auto& [fleet, upstreams] : placed) {
    if (state.fleet_versions.count(fleet) == 0) {
      return Corrupt(absl::StrCat(options_.prefix, "upstreams/", fleet, "/"),
                     "a fleet without a version");
    }
    std::sort(upstreams.begin(), upstreams.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    for (auto& [slot, upstream] : upstreams) {
      slots_[fleet][UpstreamKey(upstream.name())] = slot;
      state.slots[fleet].push_back(slot);
      state.upstreams[fleet].push_back(std::move(upstream));
    }
  }
  for (auto& [fleet, stable] : stables) {
    auto rollout = state.rollouts.find(fleet);
    if (rollout == state.rollouts.end()) continue;
    for (auto& upstream : *stable.mutable_upstreams()) {
      rollout->second.stable_upstreams.push_back(std::move(upstream));
    }
  }
  slot_counts_ = state.slot_counts;
  version_ = state.version;
  return state;
}

absl::StatusOr<uint64_t> EtcdStore::Commit(absl::string_view fleet_view,
                                           const std::vector<Upstream>& puts,
                                           const std::vector<std::string>& delete_keys,
                                           const Placement& placement) {
  const std::string fleet(fleet_view);
  absl::Status valid = ValidateName("fleet", fleet);
  if (!valid.ok()) return valid;
  if (!placement.slots.empty() && placement.slots.size() != puts.size()) {
    return absl::InvalidArgumentError("etcd store: a slot for every put is needed");
  }
  const uint64_t version = version_ + 1;
  std::map<std::string, uint64_t> slots = slots_[fleet];
  uint64_t slot_count = slot_counts_[fleet];

  TxnRequest txn;
  Compare* compare = txn.add_compare();
  compare->set_key(options_.prefix + "version");
  if (version_ == 0) {
    // No version yet: the key must not exist.
    compare->set_target(Compare::VERSION);
    compare->set_version(0);
  } else {
    compare->set_target(Compare::VALUE);
    compare->set_value(absl::StrCat(version_));
  }
  compare->set_result(Compare::EQUAL);
  Put(&txn, options_.prefix + "version", absl::StrCat(version));
  for (const std::string& key : delete_keys) {
    slots.erase(key);
    Delete(&txn, absl::StrCat(options_.prefix, "upstreams/", fleet, "/", key));
  }
  for (size_t i = 0; i < puts.size(); ++i) {
    const std::string key = UpstreamKey(puts[i].name());
    uint64_t slot;
    if (!placement.slots.empty()) {
      slot = placement.slots[i];
    } else if (auto it = slots.find(key); it != slots.end()) {
      slot = it->second;
    } else {
      slot = slot_count++;
    }
    slots[key] = slot;
    Put(&txn, absl::StrCat(options_.prefix, "upstreams/", fleet, "/", key),
        absl::StrCat(slot, "\n", puts[i].SerializeAsString()));
  }
  if (!placement.slots.empty()) slot_count = placement.slot_count;
  Put(&txn, absl::StrCat(options_.prefix, "fleets/", fleet),
      absl::StrCat(version, " ", slot_count));

  TxnResponse response;
  absl::Status status = connection_->Call(
      "commit", [&](grpc::ClientContext* context) { return kv_->Txn(context, txn, &response); });
  if (!status.ok()) return status;
  if (!response.succeeded()) {
    return absl::AbortedError(absl::StrCat(
        "etcd store: version ", version_,
        " is no longer the newest in etcd (another control plane wrote since); nothing of this "
        "commit was stored"));
  }
  version_ = version;
  slots_[fleet] = std::move(slots);
  slot_counts_[fleet] = slot_count;
  return version;
}

absl::Status EtcdStore::SaveRollout(const StoredRollout& stored) {
  absl::Status valid = ValidateName("fleet", stored.rollout.fleet());
  if (!valid.ok()) return valid;
  nginx_xds::v1::ListUpstreamsResponse stable;
  stable.set_version(stored.rollout.stable_version());
  for (const Upstream& upstream : stored.stable_upstreams) *stable.add_upstreams() = upstream;
  TxnRequest txn;
  Put(&txn, absl::StrCat(options_.prefix, "rollouts/", stored.rollout.fleet()),
      stored.rollout.SerializeAsString());
  Put(&txn, absl::StrCat(options_.prefix, "rollout-stable/", stored.rollout.fleet()),
      stable.SerializeAsString());
  TxnResponse response;
  return connection_->Call("save the rollout", [&](grpc::ClientContext* context) {
    return kv_->Txn(context, txn, &response);
  });
}

}  // namespace nginx_xds

namespace nginx_xds {

void EtcdStore::Learn(const StoredCommit& commit) {
  if (commit.version <= version_) return;
  version_ = commit.version;
  std::map<std::string, uint64_t>& slots = slots_[commit.fleet];
  for (const std::string& key : commit.delete_keys) slots.erase(key);
  for (size_t i = 0; i < commit.puts.size() && i < commit.slots.size(); ++i) {
    slots[UpstreamKey(commit.puts[i].name())] = commit.slots[i];
  }
  slot_counts_[commit.fleet] = commit.slot_count;
}

absl::Status EtcdStore::Import(const StoredState& state, bool replace) {
  auto current = Load();
  if (!current.ok()) return current.status();
  if (!replace && (current->version != 0 || !current->fleet_versions.empty())) {
    return absl::FailedPreconditionError(absl::StrCat(
        "etcd store: ", connection_->target(), " holds version ", current->version, " under \"",
        options_.prefix, "\" already; importing would replace it (--force)"));
  }
  const std::string version_key = VersionKey();
  std::vector<TxnRequest> txns(1);
  auto next = [&]() -> TxnRequest* {
    if (txns.back().success_size() >= 100) txns.emplace_back();
    return &txns.back();
  };
  if (replace) {
    auto* wipe = txns.back().add_success()->mutable_request_delete_range();
    wipe->set_key(options_.prefix);
    wipe->set_range_end(StateRangeEnd());
    txns.emplace_back();  // etcd refuses a put under a range deleted in the same transaction
  }
  for (const auto& [fleet, version] : state.fleet_versions) {
    absl::Status valid = ValidateName("fleet", fleet);
    if (!valid.ok()) return valid;
    auto slot_count = state.slot_counts.find(fleet);
    Put(next(), absl::StrCat(options_.prefix, "fleets/", fleet),
        absl::StrCat(version, " ", slot_count == state.slot_counts.end() ? 0 : slot_count->second));
  }
  for (const auto& [fleet, upstreams] : state.upstreams) {
    auto slots = state.slots.find(fleet);
    for (size_t i = 0; i < upstreams.size(); ++i) {
      const uint64_t slot =
          slots != state.slots.end() && i < slots->second.size() ? slots->second[i] : i;
      Put(next(),
          absl::StrCat(options_.prefix, "upstreams/", fleet, "/", UpstreamKey(upstreams[i].name())),
          absl::StrCat(slot, "\n", upstreams[i].SerializeAsString()));
    }
  }
  for (const auto& [fleet, stored] : state.rollouts) {
    nginx_xds::v1::ListUpstreamsResponse stable;
    stable.set_version(stored.rollout.stable_version());
    for (const Upstream& upstream : stored.stable_upstreams) *stable.add_upstreams() = upstream;
    Put(next(), absl::StrCat(options_.prefix, "rollouts/", fleet),
        stored.rollout.SerializeAsString());
    Put(next(), absl::StrCat(options_.prefix, "rollout-stable/", fleet),
        stable.SerializeAsString());
  }
  txns.emplace_back();
  Put(&txns.back(), version_key, absl::StrCat(state.version));
  for (size_t i = 0; i < txns.size(); ++i) {
    TxnRequest& txn = txns[i];
    if (txn.success_size() == 0) continue;
    // The version key is absent until the last transaction (the first one
    // deletes it when replacing): nobody else may write meanwhile.
    if (!(replace && i == 0)) {
      Compare* compare = txn.add_compare();
      compare->set_key(version_key);
      compare->set_target(Compare::VERSION);
      compare->set_version(0);
      compare->set_result(Compare::EQUAL);
    }
    TxnResponse response;
    absl::Status status = connection_->Call(
        "import", [&](grpc::ClientContext* context) { return kv_->Txn(context, txn, &response); });
    if (!status.ok()) return status;
    if (!response.succeeded()) {
      return absl::AbortedError(absl::StrCat("etcd store: another writer wrote under \"",
                                             options_.prefix, "\" during the import"));
    }
  }
  return Load().status();
}

}  // namespace nginx_xds
