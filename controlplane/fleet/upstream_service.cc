#include "controlplane/fleet/upstream_service.h"

#include <algorithm>
#include <set>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/util/message_differencer.h"

namespace nginx_xds {

namespace {

using nginx_xds::v1::Server;
using nginx_xds::v1::Upstream;
using nginx_xds::v1::WriteResponse;

absl::Status UnknownUpstream(const std::string& fleet, const std::string& name) {
  return absl::NotFoundError(
      absl::StrCat("upstream \"", name, "\" not found in fleet \"", fleet, "\""));
}

// The port of a server written without one: nginx's (and NormalizeUpstream's).
constexpr uint16_t kDefaultServerPort = 80;

// The canonical text of a server address as the client wrote it, so that
// "[0::1]:80" finds "[::1]:80" and "127.0.0.1" finds the "127.0.0.1:80"
// that adding "127.0.0.1" made: one address rule for add, remove, update.
absl::StatusOr<std::string> CanonicalAddress(const std::string& address) {
  auto parsed = ParseServerAddress(address, kDefaultServerPort);
  if (!parsed.ok()) return parsed.status();
  return parsed->ToString();
}

Server* FindServer(Upstream* upstream, const std::string& canonical) {
  for (auto& server : *upstream->mutable_servers()) {
    if (server.address() == canonical) return &server;
  }
  return nullptr;
}

// A fleet as a store kept it: its snapshot, and its upstreams' slots into
// `slots` (a store that keeps no slots lists its upstreams in order).
std::shared_ptr<const Snapshot> LoadFleet(uint64_t version, std::vector<Upstream>* stored,
                                          const std::vector<uint64_t>& stored_slots,
                                          uint64_t slot_count, SlotTable* slots) {
  Snapshot::UpstreamMap upstreams;
  slots->Reserve(slot_count);
  for (size_t i = 0; i < stored->size(); ++i) {
    std::string key = UpstreamKey((*stored)[i].name());
    slots->Set(i < stored_slots.size() ? stored_slots[i] : slots->size(), key);
    upstreams[key] = std::make_shared<const UpstreamResources>(std::move((*stored)[i]));
  }
  return std::make_shared<const Snapshot>(version, std::move(upstreams));
}

}  // namespace

absl::StatusOr<std::unique_ptr<UpstreamService>> UpstreamService::Create(Store* store,
                                                                         SnapshotCache* cache,
                                                                         NodeRegistry* registry,
                                                                         Options options) {
  auto state = store->Load();
  if (!state.ok()) return state.status();
  return Restore(store, *std::move(state), cache, registry, std::move(options));
}

std::unique_ptr<UpstreamService> UpstreamService::Restore(Store* store, StoredState state,
                                                          SnapshotCache* cache,
                                                          NodeRegistry* registry, Options options) {
  std::unique_ptr<UpstreamService> service(
      new UpstreamService(store, cache, registry, std::move(options)));
  absl::MutexLock lock(&service->mu_);
  service->version_ = state.version;
  for (auto& [fleet, version] : state.fleet_versions) {
    auto snapshot = LoadFleet(version, &state.upstreams[fleet], state.slots[fleet],
                              state.slot_counts[fleet], &service->slots_[fleet]);
    service->fleets_[fleet] = snapshot;
    cache->Publish(fleet, std::move(snapshot));
  }
  return service;
}

UpstreamService::UpstreamService(Store* store, SnapshotCache* cache, NodeRegistry* registry,
                                 Options options)
    : store_(store), cache_(cache), registry_(registry), options_(std::move(options)) {}

std::vector<Upstream> UpstreamService::List(const std::string& fleet) const {
  std::vector<Upstream> upstreams;
  absl::ReaderMutexLock lock(&mu_);
  auto it = fleets_.find(FleetOrDefault(fleet));
  if (it == fleets_.end()) return upstreams;
  for (const auto& [key, resources] : it->second->upstreams()) {
    upstreams.push_back(resources->upstream);
  }
  return upstreams;
}

std::vector<Upstream> UpstreamService::ListInCreationOrder(const std::string& fleet) const {
  std::vector<Upstream> upstreams;
  absl::ReaderMutexLock lock(&mu_);
  const std::string name = FleetOrDefault(fleet);
  auto it = fleets_.find(name);
  auto slots = slots_.find(name);
  if (it == fleets_.end() || slots == slots_.end()) return upstreams;
  for (const std::string& key : slots->second.keys()) {
    if (key.empty()) continue;
    const UpstreamResources* resources = it->second->Find(key);
    if (resources != nullptr) upstreams.push_back(resources->upstream);
  }
  return upstreams;
}

std::map<std::string, uint64_t> UpstreamService::FleetVersions() const {
  std::map<std::string, uint64_t> versions;
  absl::ReaderMutexLock lock(&mu_);
  for (const auto& [fleet, snapshot] : fleets_) versions[fleet] = snapshot->version();
  return versions;
}

uint64_t UpstreamService::FleetVersion(const std::string& fleet) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = fleets_.find(FleetOrDefault(fleet));
  return it == fleets_.end() ? 0 : it->second->version();
}

absl::StatusOr<Upstream> UpstreamService::Get(const std::string& fleet_name,
                                              const std::string& name) const {
  auto fleet = ResolveFleet(fleet_name);
  if (!fleet.ok()) return fleet.status();
  absl::ReaderMutexLock lock(&mu_);
  auto it = fleets_.find(*fleet);
  const UpstreamResources* found =
      it == fleets_.end() ? nullptr : it->second->Find(UpstreamKey(name));
  if (found == nullptr) return UnknownUpstream(*fleet, name);
  return found->upstream;
}

absl::StatusOr<Upstream> UpstreamService::FindByZone(const std::string& fleet_name,
                                                     const std::string& zone) const {
  auto fleet = ResolveFleet(fleet_name);
  if (!fleet.ok()) return fleet.status();
  std::vector<const Upstream*> found;
  absl::ReaderMutexLock lock(&mu_);
  auto it = fleets_.find(*fleet);
  if (it != fleets_.end() && !zone.empty()) {
    for (const auto& [key, resources] : it->second->upstreams()) {
      if (resources->upstream.zone() == zone) found.push_back(&resources->upstream);
    }
  }
  if (found.empty()) {
    return absl::NotFoundError(
        absl::StrCat("no upstream has zone \"", zone, "\" in fleet \"", *fleet, "\""));
  }
  if (found.size() > 1) {
    std::string names;
    for (const Upstream* upstream : found) {
      absl::StrAppend(&names, names.empty() ? "" : ", ", "\"", upstream->name(), "\"");
    }
    return absl::FailedPreconditionError(absl::StrCat("zone \"", zone, "\" is shared by upstreams ",
                                                      names, " in fleet \"", *fleet, "\""));
  }
  return *found.front();
}

absl::Status UpstreamService::PrepareUpstream(Upstream* upstream) const {
  // NormalizeUpstream refuses no servers, or backups only, in nginx's words.
  absl::Status valid = ValidateName("upstream", upstream->name());
  if (valid.ok()) valid = NormalizeUpstream(upstream, options_.resolve);
  return valid;
}

absl::StatusOr<WriteResponse> UpstreamService::Replace(const std::string& fleet_name,
                                                       Upstream upstream) {
  auto fleet = ResolveFleet(fleet_name);
  if (!fleet.ok()) return fleet.status();
  absl::Status valid = PrepareUpstream(&upstream);
  if (!valid.ok()) return valid;
  const absl::Time start = absl::Now();
  const std::string asked_name = upstream.name();
  const std::string asked_zone = upstream.zone();
  auto committed = WriteWithRetry([&]() -> absl::StatusOr<uint64_t> {
    auto it = fleets_.find(*fleet);
    const UpstreamResources* current =
        it == fleets_.end() ? nullptr : it->second->Find(UpstreamKey(upstream.name()));
    upstream.set_name(current != nullptr ? current->upstream.name() : asked_name);
    upstream.set_zone(current != nullptr ? current->upstream.zone() : asked_zone);
    return CommitLocked(*fleet, {upstream}, {}, Slotting::kMove);
  });
  if (!committed.ok()) return committed.status();
  const uint64_t version = *committed;
  const std::set<std::string> changed = {UpstreamKey(upstream.name())};
  WriteResponse response = AwaitAndLog("replace", *fleet, version, &changed, start);
  *response.mutable_upstream() = std::move(upstream);
  return response;
}

absl::StatusOr<WriteResponse> UpstreamService::Put(const std::string& fleet_name,
                                                   Upstream upstream) {
  auto fleet = ResolveFleet(fleet_name);
  if (!fleet.ok()) return fleet.status();
  absl::Status valid = PrepareUpstream(&upstream);
  if (!valid.ok()) return valid;
  const absl::Time start = absl::Now();
  auto committed = WriteWithRetry([&]() -> absl::StatusOr<uint64_t> {
    return CommitLocked(*fleet, {upstream}, {}, Slotting::kMove);
  });
  if (!committed.ok()) return committed.status();
  const uint64_t version = *committed;
  const std::set<std::string> changed = {UpstreamKey(upstream.name())};
  WriteResponse response = AwaitAndLog("put", *fleet, version, &changed, start);
  *response.mutable_upstream() = std::move(upstream);
  return response;
}

absl::StatusOr<WriteResponse> UpstreamService::Delete(const std::string& fleet_name,
                                                      const std::string& name) {
  auto fleet = ResolveFleet(fleet_name);
  if (!fleet.ok()) return fleet.status();
  const std::string key = UpstreamKey(name);
  const absl::Time start = absl::Now();
  auto committed = WriteWithRetry([&]() -> absl::StatusOr<uint64_t> {
    auto it = fleets_.find(*fleet);
    if (it == fleets_.end() || it->second->Find(key) == nullptr) {
      return UnknownUpstream(*fleet, name);
    }
    return CommitLocked(*fleet, {}, {key});
  });
  if (!committed.ok()) return committed.status();
  const uint64_t version = *committed;
  const std::set<std::string> changed = {key};
  return AwaitAndLog("delete", *fleet, version, &changed, start);
}

absl::StatusOr<WriteResponse> UpstreamService::AddServer(const std::string& fleet,
                                                         const std::string& name, Server server) {
  return ChangeUpstream("add server", fleet, name, [&](Upstream* upstream) -> absl::Status {
    // Normalize the new server alone first: a host name may stand for
    // several addresses, and each must be new. It is checked as a primary
    // (backups alone are no upstream); the whole upstream is checked after.
    Upstream added;
    added.set_name(upstream->name());
    *added.add_servers() = server;
    added.mutable_servers(0)->set_backup(false);
    absl::Status valid = NormalizeUpstream(&added, options_.resolve);
    if (!valid.ok()) return valid;
    for (Server& each : *added.mutable_servers()) {
      each.set_backup(server.backup());
      if (FindServer(upstream, each.address()) != nullptr) {
        return absl::AlreadyExistsError(absl::StrCat("server \"", each.address(),
                                                     "\" already exists in upstream \"",
                                                     upstream->name(), "\""));
      }
      *upstream->add_servers() = each;
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<WriteResponse> UpstreamService::RemoveServer(const std::string& fleet,
                                                            const std::string& name,
                                                            const std::string& address) {
  auto canonical = CanonicalAddress(address);
  if (!canonical.ok()) return canonical.status();
  return ChangeUpstream("remove server", fleet, name, [&](Upstream* upstream) -> absl::Status {
    auto* servers = upstream->mutable_servers();
    auto it = std::find_if(servers->begin(), servers->end(),
                           [&](const Server& s) { return s.address() == *canonical; });
    if (it == servers->end()) {
      return absl::NotFoundError(absl::StrCat(
          "server \"", *canonical, "\" not found in upstream \"", upstream->name(), "\""));
    }
    if (servers->size() == 1) {
      return absl::FailedPreconditionError(
          absl::StrCat("server \"", *canonical, "\" is the last server of upstream \"",
                       upstream->name(), "\" and cannot be removed"));
    }
    servers->erase(it);
    return absl::OkStatus();
  });
}

absl::StatusOr<WriteResponse> UpstreamService::UpdateServer(
    const nginx_xds::v1::UpdateServerRequest& request) {
  auto canonical = CanonicalAddress(request.address());
  if (!canonical.ok()) return canonical.status();
  return ChangeUpstream(
      "update server", request.fleet(), request.upstream(),
      [&](Upstream* upstream) -> absl::Status {
        Server* server = FindServer(upstream, *canonical);
        if (server == nullptr) {
          return absl::NotFoundError(absl::StrCat(
              "server \"", *canonical, "\" not found in upstream \"", upstream->name(), "\""));
        }
        if (request.has_weight()) server->set_weight(request.weight());
        if (request.has_max_fails()) server->set_max_fails(request.max_fails());
        if (request.has_fail_timeout()) server->set_fail_timeout(request.fail_timeout());
        if (request.has_max_conns()) server->set_max_conns(request.max_conns());
        if (request.has_backup()) server->set_backup(request.backup());
        if (request.has_down()) server->set_down(request.down());
        return absl::OkStatus();
      });
}

absl::StatusOr<WriteResponse> UpstreamService::ChangeUpstream(
    const char* operation, const std::string& fleet_name, const std::string& name,
    const std::function<absl::Status(Upstream*)>& change) {
  auto fleet = ResolveFleet(fleet_name);
  if (!fleet.ok()) return fleet.status();
  Upstream upstream;
  const absl::Time start = absl::Now();
  auto committed = WriteWithRetry([&]() -> absl::StatusOr<uint64_t> {
    auto it = fleets_.find(*fleet);
    const UpstreamResources* current =
        it == fleets_.end() ? nullptr : it->second->Find(UpstreamKey(name));
    if (current == nullptr) return UnknownUpstream(*fleet, name);
    upstream = current->upstream;
    absl::Status changed = change(&upstream);
    if (changed.ok()) changed = NormalizeUpstream(&upstream, options_.resolve);
    if (!changed.ok()) return changed;
    return CommitLocked(*fleet, {upstream}, {});
  });
  if (!committed.ok()) return committed.status();
  const uint64_t version = *committed;
  const std::set<std::string> changed = {UpstreamKey(upstream.name())};
  WriteResponse response = AwaitAndLog(operation, *fleet, version, &changed, start);
  *response.mutable_upstream() = std::move(upstream);
  return response;
}

absl::StatusOr<int> UpstreamService::Adopt(const std::string& fleet_name,
                                           std::vector<Upstream> upstreams) {
  auto fleet = ResolveFleet(fleet_name);
  if (!fleet.ok()) return fleet.status();
  int count = 0;
  auto committed = WriteWithRetry([&]() -> absl::StatusOr<uint64_t> {
    auto it = fleets_.find(*fleet);
    std::vector<Upstream> adopted;
    for (const Upstream& offered : upstreams) {
      const std::string key = UpstreamKey(offered.name());
      if (it != fleets_.end() && it->second->Find(key) != nullptr) continue;
      Upstream upstream = offered;
      absl::Status valid = ValidateName("upstream", upstream.name());
      if (valid.ok()) valid = NormalizeUpstream(&upstream, options_.resolve);
      if (!valid.ok()) return valid;
      adopted.push_back(std::move(upstream));
    }
    count = static_cast<int>(adopted.size());
    if (adopted.empty()) return uint64_t{0};
    return CommitLocked(*fleet, std::move(adopted), {});
  });
  if (!committed.ok()) return committed.status();
  return count;
}

absl::StatusOr<uint64_t> UpstreamService::CommitLocked(const std::string& fleet,
                                                       std::vector<Upstream> puts,
                                                       const std::vector<std::string>& delete_keys,
                                                       Slotting slotting) {
  // The slots after the commit, undone if the store refuses it.
  SlotTable& slots = slots_[fleet];
  slots.Begin();
  for (const std::string& key : delete_keys) slots.Free(key);
  Placement placement;
  for (const Upstream& upstream : puts) {
    placement.slots.push_back(slots.Take(UpstreamKey(upstream.name()), slotting == Slotting::kMove));
  }
  placement.slot_count = slots.size();
  const absl::Time commit_start = absl::Now();
  auto version = store_->Commit(fleet, puts, delete_keys, placement);
  if (options_.metrics != nullptr) options_.metrics->StoreCommit(absl::Now() - commit_start);
  if (!version.ok()) {
    slots.Rollback();
    return version.status();
  }
  slots.Commit();
  version_ = std::max(version_, *version);
  // The next snapshot touches only what the write changes (O(change)).
  std::vector<std::shared_ptr<const UpstreamResources>> resources;
  for (Upstream& upstream : puts) {
    resources.push_back(std::make_shared<const UpstreamResources>(std::move(upstream)));
  }
  auto it = fleets_.find(fleet);
  std::shared_ptr<const Snapshot> snapshot =
      (it != fleets_.end() ? *it->second : Snapshot(0, Snapshot::UpstreamMap()))
          .Next(*version, std::move(resources), delete_keys);
  fleets_[fleet] = snapshot;
  cache_->Publish(fleet, std::move(snapshot));
  return *version;
}

WriteResponse UpstreamService::AwaitFleet(const std::string& fleet, uint64_t version,
                                          const std::set<std::string>* changed) const {
  WriteWaiter waiter;
  {
    absl::MutexLock lock(&waiter_mu_);
    waiter = waiter_;
  }
  if (waiter) {
    if (auto answer = waiter(fleet, version, changed)) return *std::move(answer);
  }
  return AwaitWholeFleet(fleet, version, changed);
}

WriteResponse UpstreamService::AwaitWholeFleet(const std::string& fleet, uint64_t version,
                                               const std::set<std::string>* changed) const {
  NodeRegistry::Progress progress =
      registry_->WaitForFleet(fleet, version, absl::Now() + options_.ack_timeout, changed);
  WriteResponse response;
  response.set_version(version);
  response.set_acked_nodes(progress.acked);
  response.set_connected_nodes(progress.connected);
  for (auto& rejection : progress.rejections) *response.add_rejections() = std::move(rejection);
  return response;
}

WriteResponse UpstreamService::AwaitAndLog(const char* operation, const std::string& fleet,
                                           uint64_t version, const std::set<std::string>* changed,
                                           absl::Time start) const {
  if (options_.metrics != nullptr) options_.metrics->Durable(operation, absl::Now() - start);
  WriteResponse response = AwaitFleet(fleet, version, changed);
  if (options_.metrics != nullptr)
    options_.metrics->Answered(fleet, operation, response, absl::Now() - start);
  Log(options_.log, LogLevel::kInfo,
      absl::StrCat("fleet \"", fleet, "\": ", operation, " at version ", version, ": ",
                   response.acked_nodes(), "/", response.connected_nodes(), " nodes acked, ",
                   response.rejections_size(), " rejection(s)"));
  return response;
}

void UpstreamService::SetWriteWaiter(WriteWaiter waiter) {
  absl::MutexLock lock(&waiter_mu_);
  waiter_ = std::move(waiter);
}

WriteResponse UpstreamService::AwaitVersion(const std::string& fleet, uint64_t version) const {
  return AwaitWholeFleet(FleetOrDefault(fleet), version, nullptr);
}

absl::Status UpstreamService::WithFleetState(
    const std::string& fleet, const std::function<absl::Status(const FleetState&)>& use) const {
  FleetState state;
  // Shared: writers wait, other readers do not.
  absl::ReaderMutexLock lock(&mu_);
  auto it = fleets_.find(fleet);
  if (it != fleets_.end()) {
    state.snapshot = it->second;
    auto slots = slots_.find(fleet);
    if (slots != slots_.end()) {
      for (const std::string& key : slots->second.keys()) {
        if (key.empty()) continue;
        const UpstreamResources* resources = it->second->Find(key);
        if (resources != nullptr) state.in_slot_order.push_back(resources->upstream);
      }
    }
  }
  return use(state);
}

std::shared_ptr<const Snapshot> UpstreamService::Current(const std::string& fleet) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = fleets_.find(fleet);
  return it == fleets_.end() ? nullptr : it->second;
}

absl::StatusOr<uint64_t> UpstreamService::RestoreFleet(const std::string& fleet, uint64_t version,
                                                       const std::vector<Upstream>& upstreams) {
  return WriteWithRetry([&]() -> absl::StatusOr<uint64_t> {
    auto it = fleets_.find(fleet);
    if (it == fleets_.end()) {
      return absl::NotFoundError(absl::StrCat("fleet \"", fleet, "\" has had no write"));
    }
    const std::shared_ptr<const Snapshot> current = it->second;
    if (current->version() == version) return version;
    std::vector<Upstream> puts;
    std::set<std::string> kept;
    for (const Upstream& upstream : upstreams) {
      const std::string key = UpstreamKey(upstream.name());
      kept.insert(key);
      const UpstreamResources* now = current->Find(key);
      if (now == nullptr ||
          !google::protobuf::util::MessageDifferencer::Equals(now->upstream, upstream)) {
        puts.push_back(upstream);
      }
    }
    std::vector<std::string> deletes;
    for (const auto& [key, resources] : current->upstreams()) {
      if (kept.count(key) == 0) deletes.push_back(key);
    }
    return CommitLocked(fleet, std::move(puts), deletes);
  });
}

absl::StatusOr<uint64_t> UpstreamService::WriteWithRetry(
    const std::function<absl::StatusOr<uint64_t>()>& attempt) {
  for (int attempts = 1;; ++attempts) {
    absl::StatusOr<uint64_t> committed;
    {
      absl::MutexLock lock(&mu_);
      committed = attempt();
    }
    if (committed.ok() || committed.status().code() != absl::StatusCode::kAborted ||
        !options_.catch_up) {
      return committed;
    }
    if (attempts >= kCommitAttempts) {
      return absl::AbortedError(absl::StrCat(committed.status().message(), " (gave up after ",
                                             attempts, " attempts: other replicas kept writing)"));
    }
    // Another replica won: pause a random while (it may write again at
    // once, being up to date), take in what it wrote, then validate again.
    absl::BitGen random;
    absl::SleepFor(absl::Microseconds(absl::Uniform(random, 0, 1000 << std::min(attempts, 5))));
    absl::Status caught_up = options_.catch_up();
    if (!caught_up.ok()) return caught_up;
  }
}

void UpstreamService::ApplyCommitted(const StoredCommit& commit) {
  absl::MutexLock lock(&mu_);
  if (commit.version <= version_) return;
  store_->Learn(commit);
  version_ = commit.version;
  SlotTable& slots = slots_[commit.fleet];
  slots.Reserve(commit.slot_count);
  std::vector<std::shared_ptr<const UpstreamResources>> resources;
  for (const std::string& key : commit.delete_keys) slots.Free(key);
  for (size_t i = 0; i < commit.puts.size(); ++i) {
    std::string key = UpstreamKey(commit.puts[i].name());
    slots.Free(key);
    if (i < commit.slots.size()) slots.Set(commit.slots[i], key);
    resources.push_back(std::make_shared<const UpstreamResources>(commit.puts[i]));
  }
  // Another replica's commit: the next snapshot, O(change) as for our own.
  auto it = fleets_.find(commit.fleet);
  std::shared_ptr<const Snapshot> snapshot =
      (it != fleets_.end() ? *it->second : Snapshot(0, Snapshot::UpstreamMap()))
          .Next(commit.version, std::move(resources), commit.delete_keys);
  fleets_[commit.fleet] = snapshot;
  cache_->Publish(commit.fleet, std::move(snapshot));
}

absl::StatusOr<int64_t> UpstreamService::Reload() {
  absl::MutexLock lock(&mu_);
  auto state = store_->Load();
  if (!state.ok()) return state.status();
  for (auto& [fleet, version] : state->fleet_versions) {
    auto it = fleets_.find(fleet);
    if (it != fleets_.end() && it->second->version() >= version) continue;
    SlotTable slots;
    auto snapshot = LoadFleet(version, &state->upstreams[fleet], state->slots[fleet],
                              state->slot_counts[fleet], &slots);
    slots_[fleet] = std::move(slots);
    fleets_[fleet] = snapshot;
    cache_->Publish(fleet, std::move(snapshot));
  }
  version_ = std::max(version_, state->version);
  return state->revision;
}

uint64_t UpstreamService::Version() const {
  absl::ReaderMutexLock lock(&mu_);
  return version_;
}

bool UpstreamService::WaitForVersion(uint64_t version, absl::Time deadline) const {
  absl::ReaderMutexLock lock(&mu_);
  auto reached = [this, version]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return version_ >= version; };
  return mu_.AwaitWithDeadline(absl::Condition(&reached), deadline);
}

}  // namespace nginx_xds
