#include "controlplane/store/migrate.h"

#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "controlplane/store/etcd_store.h"
#include "controlplane/store/sqlite_store.h"
#include "google/protobuf/util/message_differencer.h"

namespace nginx_xds {

absl::StatusOr<std::unique_ptr<Store>> OpenStoreUrl(const std::string& url, EtcdOptions etcd) {
  absl::string_view rest = url;
  if (absl::ConsumePrefix(&rest, "sqlite:")) {
    if (rest.empty()) return absl::InvalidArgumentError("\"sqlite:\" needs a file path");
    auto store = SqliteStore::Open(std::string(rest));
    if (!store.ok()) return store.status();
    return std::unique_ptr<Store>(*std::move(store));
  }
  if (!absl::ConsumePrefix(&rest, "etcd:")) {
    return absl::InvalidArgumentError(absl::StrCat(
        "store \"", url, "\" is not sqlite:PATH or etcd:ENDPOINT[,ENDPOINT...][/PREFIX]"));
  }
  std::vector<std::string> endpoints = absl::StrSplit(rest, ',');
  // The prefix follows the last endpoint's host:port.
  std::string& last = endpoints.back();
  const size_t scheme = last.find("://");
  const size_t slash = last.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  if (slash != std::string::npos) {
    etcd.prefix = last.substr(slash);
    last.resize(slash);
    if (etcd.prefix.size() < 2 || etcd.prefix.back() != '/') {
      return absl::InvalidArgumentError(
          absl::StrCat("etcd prefix \"", etcd.prefix, "\" must be /NAME/ (end with a slash)"));
    }
  }
  etcd.endpoints = std::move(endpoints);
  auto store = EtcdStore::Open(etcd);
  if (!store.ok()) return store.status();
  return std::unique_ptr<Store>(*std::move(store));
}

namespace {

Migrated Count(const StoredState& state) {
  Migrated counted;
  counted.version = state.version;
  counted.fleets = state.fleet_versions.size();
  for (const auto& [fleet, upstreams] : state.upstreams) counted.upstreams += upstreams.size();
  counted.rollouts = state.rollouts.size();
  return counted;
}

// Whether two loads hold the same state (the store's revision aside).
bool Same(const StoredState& a, const StoredState& b) {
  using google::protobuf::util::MessageDifferencer;
  if (a.version != b.version || a.fleet_versions != b.fleet_versions || a.slots != b.slots ||
      a.slot_counts != b.slot_counts || a.upstreams.size() != b.upstreams.size() ||
      a.rollouts.size() != b.rollouts.size()) {
    return false;
  }
  for (const auto& [fleet, upstreams] : a.upstreams) {
    auto other = b.upstreams.find(fleet);
    if (other == b.upstreams.end() || other->second.size() != upstreams.size()) return false;
    for (size_t i = 0; i < upstreams.size(); ++i) {
      if (!MessageDifferencer::Equals(upstreams[i], other->second[i])) return false;
    }
  }
  for (const auto& [fleet, rollout] : a.rollouts) {
    auto other = b.rollouts.find(fleet);
    if (other == b.rollouts.end() ||
        !MessageDifferencer::Equals(rollout.rollout, other->second.rollout) ||
        rollout.stable_upstreams.size() != other->second.stable_upstreams.size()) {
      return false;
    }
  }
  return true;
}

}  // namespace

absl::StatusOr<Migrated> Migrate(Store* from, Store* to, bool replace) {
  auto state = from->Load();
  if (!state.ok()) return state.status();
  absl::Status imported = to->Import(*state, replace);
  if (!imported.ok()) return imported;
  auto copy = to->Load();
  if (!copy.ok()) return copy.status();
  if (!Same(*state, *copy)) {
    return absl::DataLossError("the target does not read back what was copied into it");
  }
  return Count(*state);
}

}  // namespace nginx_xds
