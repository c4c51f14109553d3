// See docs/architecture.md, "Staged rollouts".

#include "controlplane/rollout/rollout_service.h"

#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/upstream_rules.h"
#include "controlplane/rollout/rollout.h"
#include "google/protobuf/util/message_differencer.h"
#include "google/protobuf/util/time_util.h"

namespace nginx_xds {

namespace {

using nginx_xds::v1::Rollout;
using nginx_xds::v1::RolloutResponse;
using nginx_xds::v1::Upstream;
using nginx_xds::v1::WriteResponse;

// How often the rollout thread looks at open rollouts without a change of
// any node's status (a safety net; changes wake it at once).
constexpr absl::Duration kRolloutTick = absl::Milliseconds(200);

google::protobuf::Timestamp Now() {
  return google::protobuf::util::TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(absl::Now()));
}

absl::Status NoOpenRollout(const std::string& fleet) {
  return absl::FailedPreconditionError(absl::StrCat("fleet \"", fleet, "\" has no open rollout"));
}

// Whether the upstream `name` differs between `stable` and `now` (either
// may lack it, or be null).
bool ChangedSinceStable(const Snapshot* stable, const Snapshot* now, const std::string& name) {
  const std::string key = UpstreamKey(name);
  const UpstreamResources* before = stable == nullptr ? nullptr : stable->Find(key);
  const UpstreamResources* after = now == nullptr ? nullptr : now->Find(key);
  if (before == nullptr || after == nullptr) return before != after;
  return !google::protobuf::util::MessageDifferencer::Equals(before->upstream, after->upstream);
}

// Whether canary `node`'s last NACK (of the write's version or newer)
// rejects the write whose changed UpstreamKeys are `changed` (null: any
// change): a whole rejection does; one naming single upstreams only when it
// names one of them, and then as a rejection naming just those.
std::optional<nginx_xds::v1::NodeRejection> WriteRejection(const nginx_xds::v1::FleetStatus& status,
                                                           const nginx_xds::v1::CanaryNode& node,
                                                           const std::set<std::string>* changed) {
  const nginx_xds::v1::NodeRejection& nack = node.last_nack();
  if (nack.upstreams().empty()) return nack;
  nginx_xds::v1::NodeRejection own = nack;
  own.clear_upstreams();
  std::string message;
  for (const auto& each : status.nodes()) {
    if (each.id() != node.id()) continue;
    for (const auto& rejected : each.rejected_upstreams()) {
      if (changed != nullptr && changed->count(UpstreamKey(rejected.name())) == 0) continue;
      nginx_xds::v1::RejectedUpstream* out = own.add_upstreams();
      out->set_name(rejected.name());
      out->set_message(rejected.message());
      absl::StrAppend(&message, message.empty() ? "" : "; ", "upstream \"", rejected.name(),
                      "\": ", rejected.message());
    }
  }
  if (own.upstreams().empty()) return std::nullopt;
  own.set_message(message);
  return own;
}

// What a replica does with a rollout saved in the store (by any replica,
// itself included) given the one it `held`.
enum class Followed { kApply, kIgnore, kReopens };

Followed CompareFollowed(const Rollout& held, const Rollout& saved) {
  using google::protobuf::util::TimeUtil;
  if (google::protobuf::util::MessageDifferencer::Equals(held, saved)) return Followed::kIgnore;
  const int64_t held_started = TimeUtil::TimestampToNanoseconds(held.started());
  const int64_t saved_started = TimeUtil::TimestampToNanoseconds(saved.started());
  // Another rollout: the one started later is the fleet's.
  if (saved_started != held_started) {
    return saved_started > held_started ? Followed::kApply : Followed::kIgnore;
  }
  // The same rollout: closed is final (replicas advance it concurrently, and
  // one may halt or resume it in the instant another closes it) ...
  const bool held_open = RolloutOpen(held);
  const bool saved_open = RolloutOpen(saved);
  if (held_open != saved_open) return held_open ? Followed::kApply : Followed::kReopens;
  // ... else the newer save wins; a late echo of an older own save does not.
  return TimeUtil::TimestampToNanoseconds(saved.updated()) >
                 TimeUtil::TimestampToNanoseconds(held.updated())
             ? Followed::kApply
             : Followed::kIgnore;
}

}  // namespace

std::unique_ptr<RolloutService> RolloutService::Create(
    Store* store, UpstreamService* upstreams, SnapshotCache* cache, NodeRegistry* registry,
    Options options, std::map<std::string, StoredRollout> rollouts) {
  std::unique_ptr<RolloutService> service(
      new RolloutService(store, upstreams, cache, registry, std::move(options)));
  {
    absl::MutexLock lock(&service->mu_);
    for (auto& [fleet, stored] : rollouts) {
      RolloutEntry& entry = service->rollouts_[fleet];
      entry.stored = std::move(stored);
      if (!RolloutOpen(entry.stored.rollout)) continue;
      entry.stable = service->StableSnapshot(fleet, entry.stored);
      cache->Pin(fleet, entry.stable, CanaryGroupOf(entry.stored.rollout));
      ++service->open_rollouts_;
    }
  }
  RolloutService* self = service.get();
  upstreams->SetWriteWaiter(
      [self](const std::string& fleet, uint64_t version, const std::set<std::string>* changed) {
        return self->AwaitCanary(fleet, version, changed);
      });
  service->rollout_thread_ = std::thread([self] { self->AdvanceRollouts(); });
  return service;
}

std::shared_ptr<const Snapshot> RolloutService::StableSnapshot(const std::string& fleet,
                                                               const StoredRollout& stored) const {
  std::shared_ptr<const Snapshot> current = upstreams_->Current(fleet);
  if (current != nullptr && current->version() == stored.rollout.stable_version()) return current;
  Snapshot::UpstreamMap stable;
  for (const Upstream& upstream : stored.stable_upstreams) {
    stable[UpstreamKey(upstream.name())] = std::make_shared<const UpstreamResources>(upstream);
  }
  return std::make_shared<const Snapshot>(stored.rollout.stable_version(), std::move(stable));
}

void RolloutService::ApplyStored(const StoredRollout& stored) {
  const std::string& fleet = stored.rollout.fleet();
  absl::MutexLock lock(&mu_);
  auto it = rollouts_.find(fleet);
  const bool was_open = it != rollouts_.end() && RolloutOpen(it->second.stored.rollout);
  if (it != rollouts_.end()) {
    switch (CompareFollowed(it->second.stored.rollout, stored.rollout)) {
      case Followed::kApply:
        break;
      case Followed::kIgnore:
        return;
      case Followed::kReopens: {
        // Another replica halted or resumed this rollout before it saw it
        // closed: the close stands, and is saved again so that etcd (what
        // a restart loads) ends closed too. Every replica that holds the
        // close does so; the copies are equal and change nothing.
        absl::Status saved = store_->SaveRollout(it->second.stored);
        Log(options_.log, saved.ok() ? LogLevel::kInfo : LogLevel::kError,
            absl::StrCat("fleet \"", fleet, "\": a save reopening its closed rollout ignored",
                         saved.ok() ? "" : "; the close not saved again: ", saved.message()));
        return;
      }
    }
  }
  RolloutEntry& entry = rollouts_[fleet];
  const bool same_rollout =
      was_open && entry.stored.rollout.started() == stored.rollout.started() &&
      entry.stored.rollout.stable_version() == stored.rollout.stable_version();
  entry.stored = stored;
  if (!RolloutOpen(stored.rollout)) {
    if (was_open) {
      entry.stable.reset();
      --open_rollouts_;
      cache_->Unpin(fleet);
    }
  } else if (!same_rollout) {
    // Started elsewhere (or replaced): pinned here at the same stable version.
    entry.stable = StableSnapshot(fleet, entry.stored);
    cache_->Pin(fleet, entry.stable, CanaryGroupOf(stored.rollout));
    if (!was_open) ++open_rollouts_;
  }
  Log(options_.log, LogLevel::kInfo,
      absl::StrCat("fleet \"", fleet, "\": followed rollout ",
                   RolloutStateName(stored.rollout.state()), " (stable version ",
                   stored.rollout.stable_version(), ") from the store"));
}

RolloutService::RolloutService(Store* store, UpstreamService* upstreams, SnapshotCache* cache,
                               NodeRegistry* registry, Options options)
    : store_(store),
      upstreams_(upstreams),
      cache_(cache),
      registry_(registry),
      options_(std::move(options)) {}

RolloutService::~RolloutService() {
  upstreams_->SetWriteWaiter(nullptr);
  stopping_ = true;
  if (rollout_thread_.joinable()) rollout_thread_.join();
}

void RolloutService::AdvanceRollouts() {
  uint64_t seen = 0;
  while (!stopping_) {
    seen = registry_->WaitForChange(seen, absl::Now() + kRolloutTick);
    if (stopping_ || open_rollouts_ == 0) continue;
    absl::MutexLock lock(&mu_);
    for (auto& [fleet, entry] : rollouts_) {
      if (RolloutOpen(entry.stored.rollout)) AdvanceRolloutLocked(fleet, &entry);
    }
  }
}

Rollout RolloutService::DescribeLocked(const std::string& fleet, const RolloutEntry& entry) const {
  Rollout rollout = entry.stored.rollout;
  if (!RolloutOpen(rollout)) return rollout;
  const std::shared_ptr<const Snapshot> current = upstreams_->Current(fleet);
  rollout.set_canary_version(current == nullptr ? rollout.stable_version() : current->version());
  FillCanaryProgress(registry_->Status(fleet), cache_->Watchers(fleet), &rollout);
  // Of the upstreams a canary rejects alone, only those the rollout changed
  // are the rollout's concern.
  const Snapshot* now = current.get();
  for (auto& node : *rollout.mutable_canary_nodes()) {
    google::protobuf::RepeatedPtrField<nginx_xds::v1::RejectedUpstream> kept;
    for (auto& rejected : *node.mutable_rejected_upstreams()) {
      if (ChangedSinceStable(entry.stable.get(), now, rejected.name())) {
        *kept.Add() = std::move(rejected);
      }
    }
    node.mutable_rejected_upstreams()->Swap(&kept);
  }
  return rollout;
}

Rollout RolloutService::AdvanceRolloutLocked(const std::string& fleet, RolloutEntry* entry) {
  Rollout now = DescribeLocked(fleet, *entry);
  if (!RolloutOpen(now)) return now;
  const auto rejection = CanaryRejection(now);
  const bool all_acked = now.canary_connected() > 0 && now.canary_acked() == now.canary_connected();
  Rollout& stored = entry->stored.rollout;
  const Rollout before = stored;
  if (stored.state() == nginx_xds::v1::ROLLOUT_STATE_CANARY && rejection) {
    // Validate that a canary NACK halts the rollout.
    stored.set_state(nginx_xds::v1::ROLLOUT_STATE_HALTED);
    *stored.mutable_halt() = *rejection;
  } else if (stored.state() == nginx_xds::v1::ROLLOUT_STATE_HALTED && !rejection && all_acked &&
             now.canary_version() > stored.halt().version()) {
    // A newer write the canary took resumes it.
    stored.set_state(nginx_xds::v1::ROLLOUT_STATE_CANARY);
    stored.clear_halt();
  }
  if (!google::protobuf::util::MessageDifferencer::Equals(before, stored)) {
    *stored.mutable_updated() = Now();
    absl::Status saved = store_->SaveRollout(entry->stored);
    if (!saved.ok()) {
      Log(options_.log, LogLevel::kError,
          absl::StrCat("fleet \"", fleet, "\": rollout state not saved: ", saved.message()));
      stored = before;
      return now;
    }
    Log(options_.log, LogLevel::kInfo,
        absl::StrCat("fleet \"", fleet, "\": rollout ", RolloutStateName(stored.state()),
                     " at version ", now.canary_version()));
  }
  if (stored.state() == nginx_xds::v1::ROLLOUT_STATE_CANARY && stored.auto_promote() &&
      !rejection && all_acked && now.canary_version() > stored.stable_version()) {
    absl::Status closed = CloseRolloutLocked(fleet, entry, nginx_xds::v1::ROLLOUT_STATE_PROMOTED,
                                             now.canary_version());
    if (!closed.ok()) {
      Log(options_.log, LogLevel::kError,
          absl::StrCat("fleet \"", fleet, "\": rollout not promoted: ", closed.message()));
    }
  }
  return DescribeLocked(fleet, *entry);
}

absl::Status RolloutService::CloseRolloutLocked(const std::string& fleet, RolloutEntry* entry,
                                                nginx_xds::v1::RolloutState state,
                                                uint64_t version) {
  StoredRollout closed = entry->stored;
  closed.rollout.set_state(state);
  closed.rollout.set_canary_version(version);
  *closed.rollout.mutable_updated() = Now();
  absl::Status saved = store_->SaveRollout(closed);
  if (!saved.ok()) return saved;
  entry->stored = std::move(closed);
  entry->stable.reset();
  --open_rollouts_;
  cache_->Unpin(fleet);
  Log(options_.log, LogLevel::kInfo,
      absl::StrCat("fleet \"", fleet, "\": rollout ", RolloutStateName(state), " at version ",
                   version));
  return absl::OkStatus();
}

absl::StatusOr<Rollout> RolloutService::StartRollout(
    const nginx_xds::v1::StartRolloutRequest& request) {
  auto fleet = ResolveFleet(request.fleet());
  if (!fleet.ok()) return fleet.status();
  absl::Status valid = ValidateCanaryGroup(request);
  if (!valid.ok()) return valid;
  absl::MutexLock lock(&mu_);
  // Read, saved and pinned at one version: no write lands in between.
  absl::Status started = upstreams_->WithFleetState(
      *fleet, [&](const UpstreamService::FleetState& current) -> absl::Status {
        if (current.snapshot == nullptr) {
          return absl::NotFoundError(
              absl::StrCat("fleet \"", *fleet, "\" not found: it has no version to roll out from"));
        }
        auto existing = rollouts_.find(*fleet);
        if (existing != rollouts_.end() && RolloutOpen(existing->second.stored.rollout)) {
          const Rollout& open = existing->second.stored.rollout;
          return absl::AlreadyExistsError(
              absl::StrCat("fleet \"", *fleet, "\" already has an open rollout (",
                           RolloutStateName(open.state()), ", stable version ",
                           open.stable_version(), "); promote or abort it first"));
        }
        std::set<std::string> known;
        const nginx_xds::v1::FleetStatus status = registry_->Status(*fleet);
        for (const auto& node : status.nodes()) known.insert(node.id());
        std::set<std::string> ids;
        for (const std::string& id : request.canary_node_ids()) {
          if (known.count(id) == 0) {
            return absl::NotFoundError(
                absl::StrCat("node \"", id, "\" is not a node of fleet \"", *fleet,
                             "\" (known nodes connected since the control plane started)"));
          }
          ids.insert(id);
        }

        RolloutEntry entry;
        Rollout& rollout = entry.stored.rollout;
        rollout.set_fleet(*fleet);
        rollout.set_state(nginx_xds::v1::ROLLOUT_STATE_CANARY);
        rollout.set_stable_version(current.snapshot->version());
        rollout.set_canary_version(current.snapshot->version());
        for (const std::string& id : ids) rollout.add_canary_node_ids(id);
        *rollout.mutable_canary_labels() = request.canary_labels();
        rollout.set_auto_promote(request.auto_promote());
        *rollout.mutable_started() = Now();
        *rollout.mutable_updated() = rollout.started();
        entry.stored.stable_upstreams = current.in_slot_order;
        absl::Status saved = store_->SaveRollout(entry.stored);
        if (!saved.ok()) return saved;
        entry.stable = current.snapshot;
        cache_->Pin(*fleet, entry.stable, CanaryGroupOf(rollout));
        ++open_rollouts_;
        Log(options_.log, LogLevel::kInfo,
            absl::StrCat("fleet \"", *fleet, "\": rollout started at stable version ",
                         rollout.stable_version()));
        rollouts_[*fleet] = std::move(entry);
        return absl::OkStatus();
      });
  if (!started.ok()) return started;
  return DescribeLocked(*fleet, rollouts_.at(*fleet));
}

absl::StatusOr<Rollout> RolloutService::GetRollout(const std::string& fleet_name) const {
  auto fleet = ResolveFleet(fleet_name);
  if (!fleet.ok()) return fleet.status();
  absl::ReaderMutexLock lock(&mu_);
  auto it = rollouts_.find(*fleet);
  if (it == rollouts_.end()) {
    return absl::NotFoundError(absl::StrCat("fleet \"", *fleet, "\" has had no rollout"));
  }
  return DescribeLocked(*fleet, it->second);
}

std::vector<Rollout> RolloutService::Rollouts(const std::string& fleet) const {
  std::vector<Rollout> rollouts;
  absl::ReaderMutexLock lock(&mu_);
  for (const auto& [name, entry] : rollouts_) {
    if (fleet.empty() || name == fleet) rollouts.push_back(DescribeLocked(name, entry));
  }
  return rollouts;
}

absl::StatusOr<RolloutResponse> RolloutService::PromoteRollout(const std::string& fleet_name,
                                                               bool force) {
  auto fleet = ResolveFleet(fleet_name);
  if (!fleet.ok()) return fleet.status();
  RolloutResponse response;
  {
    absl::MutexLock lock(&mu_);
    auto it = rollouts_.find(*fleet);
    if (it == rollouts_.end() || !RolloutOpen(it->second.stored.rollout)) {
      return NoOpenRollout(*fleet);
    }
    // Decided on the nodes' status as it is now, not as the rollout thread
    // last saw it.
    Rollout now = AdvanceRolloutLocked(*fleet, &it->second);
    if (now.state() == nginx_xds::v1::ROLLOUT_STATE_HALTED) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the rollout of fleet \"", *fleet, "\" is halted: node \"", now.halt().node(),
          "\" rejected version ", now.halt().version(), ": ", now.halt().message(),
          "; write a change the canary accepts, or abort the rollout"));
    }
    if (now.state() == nginx_xds::v1::ROLLOUT_STATE_CANARY) {
      if (now.canary_version() == now.stable_version()) {
        return absl::FailedPreconditionError(absl::StrCat(
            "nothing to promote: fleet \"", *fleet,
            "\" has had no write since its rollout started at version ", now.stable_version()));
      }
      if (!force && now.canary_connected() == 0) {
        return absl::FailedPreconditionError(absl::StrCat(
            "no canary node of fleet \"", *fleet, "\" is connected to acknowledge version ",
            now.canary_version(), "; promote with force to send it anyway"));
      }
      if (!force && now.canary_acked() < now.canary_connected()) {
        return absl::FailedPreconditionError(
            absl::StrCat(now.canary_acked(), " of ", now.canary_connected(),
                         " connected canary nodes of fleet \"", *fleet, "\" acknowledged version ",
                         now.canary_version(), "; wait for the others, or promote with force"));
      }
      absl::Status closed = CloseRolloutLocked(
          *fleet, &it->second, nginx_xds::v1::ROLLOUT_STATE_PROMOTED, now.canary_version());
      if (!closed.ok()) return closed;
    }
    // Otherwise the rollout thread's rules promoted it just now.
    *response.mutable_rollout() = DescribeLocked(*fleet, it->second);
  }
  *response.mutable_write() = upstreams_->AwaitVersion(*fleet, response.rollout().canary_version());
  return response;
}

absl::StatusOr<RolloutResponse> RolloutService::AbortRollout(const std::string& fleet_name) {
  auto fleet = ResolveFleet(fleet_name);
  if (!fleet.ok()) return fleet.status();
  RolloutResponse response;
  {
    absl::MutexLock lock(&mu_);
    auto it = rollouts_.find(*fleet);
    if (it == rollouts_.end() || !RolloutOpen(it->second.stored.rollout)) {
      return NoOpenRollout(*fleet);
    }
    RolloutEntry& entry = it->second;
    // The stable upstreams written back as one new version, unless the
    // fleet has had no write since the rollout started.
    auto version = upstreams_->RestoreFleet(*fleet, entry.stored.rollout.stable_version(),
                                            entry.stored.stable_upstreams);
    if (!version.ok()) return version.status();
    absl::Status closed =
        CloseRolloutLocked(*fleet, &entry, nginx_xds::v1::ROLLOUT_STATE_ABORTED, *version);
    if (!closed.ok()) return closed;
    *response.mutable_rollout() = DescribeLocked(*fleet, entry);
  }
  *response.mutable_write() = upstreams_->AwaitVersion(*fleet, response.rollout().canary_version());
  return response;
}

std::optional<WriteResponse> RolloutService::AwaitCanary(
    const std::string& fleet, uint64_t version, const std::set<std::string>* changed) const {
  Rollout group;
  {
    absl::ReaderMutexLock lock(&mu_);
    auto it = rollouts_.find(fleet);
    if (it == rollouts_.end()) return std::nullopt;
    const Rollout& rollout = it->second.stored.rollout;
    // Committed during the rollout: while it is open, or before it closed
    // (a close records the fleet's version then). Decided by the version,
    // not by when this runs, so a rollout that auto-promotes before the
    // write is answered still answers it for the canary.
    const bool during = RolloutOpen(rollout) ||
                        (version > rollout.stable_version() && version <= rollout.canary_version());
    if (!during) return std::nullopt;
    group = rollout;
  }
  group.set_canary_version(version);
  const absl::Time deadline = absl::Now() + options_.ack_timeout;
  uint64_t seen = registry_->WaitForChange(~uint64_t{0}, absl::InfinitePast());
  WriteResponse response;
  response.set_version(version);
  response.set_canary(true);
  uint32_t acked = 0;
  while (true) {
    const nginx_xds::v1::FleetStatus status = registry_->Status(fleet);
    FillCanaryProgress(status, cache_->Watchers(fleet), &group);
    response.clear_rejections();
    acked = group.canary_acked();
    for (const auto& node : group.canary_nodes()) {
      if (!node.connected() || !node.has_last_nack() || node.last_nack().version() < version) {
        continue;
      }
      std::optional<nginx_xds::v1::NodeRejection> rejection = WriteRejection(status, node, changed);
      if (!rejection) continue;
      // Applied but for the write's own upstream: not acknowledged.
      if (node.acked_version() >= version) --acked;
      *response.add_rejections() = *std::move(rejection);
    }
    const uint32_t settled = acked + response.rejections_size();
    if (settled >= group.canary_connected() || absl::Now() >= deadline) break;
    seen = registry_->WaitForChange(seen, deadline);
  }
  response.set_acked_nodes(acked);
  response.set_connected_nodes(group.canary_connected());
  return response;
}

}  // namespace nginx_xds
