#include "controlplane/replication/state_follower.h"

#include <map>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/upstream_rules.h"
#include "nginx_xds/v1/management.pb.h"

namespace nginx_xds {
namespace {

using etcdserverpb::WatchRequest;
using etcdserverpb::WatchResponse;
using nginx_xds::v1::Upstream;

absl::Status Unreadable(absl::string_view key, absl::string_view why) {
  return absl::DataLossError(absl::StrCat("etcd watch: key \"", key, "\": ", why));
}

}  // namespace

absl::StatusOr<std::vector<StoredCommit>> StateFollower::Commits(const std::string& prefix,
                                                                 const WatchResponse& response) {
  auto changes = Changes(prefix, response);
  if (!changes.ok()) return changes.status();
  std::vector<StoredCommit> commits;
  for (Change& change : *changes) {
    if (change.commit) commits.push_back(*std::move(change.commit));
  }
  return commits;
}

absl::StatusOr<std::vector<StateFollower::Change>> StateFollower::Changes(
    const std::string& prefix, const WatchResponse& response) {
  // The events of one revision are one transaction (etcd never splits a
  // revision across responses without fragmenting, which is not asked for).
  std::map<int64_t, std::vector<const mvccpb::Event*>> revisions;
  for (const mvccpb::Event& event : response.events()) {
    revisions[event.kv().mod_revision()].push_back(&event);
  }
  std::vector<Change> changes;
  for (const auto& [revision, events] : revisions) {
    StoredCommit commit;
    bool versioned = false;
    // A rollout is saved as its two keys in one transaction.
    std::optional<StoredRollout> rollout;
    std::optional<nginx_xds::v1::ListUpstreamsResponse> stable;
    std::vector<std::pair<std::string, const mvccpb::Event*>> upstream_events;
    for (const mvccpb::Event* event : events) {
      absl::string_view key = event->kv().key();
      if (!absl::ConsumePrefix(&key, prefix)) continue;
      const std::string& value = event->kv().value();
      const bool put = event->type() == mvccpb::Event::PUT;
      if (key == "version" && put) {
        if (!absl::SimpleAtoi(value, &commit.version)) {
          return Unreadable(event->kv().key(), "not a number");
        }
        versioned = true;
      } else if (absl::ConsumePrefix(&key, "fleets/") && put) {
        std::vector<absl::string_view> fields = absl::StrSplit(value, ' ');
        uint64_t version = 0;
        if (fields.size() != 2 || !absl::SimpleAtoi(fields[0], &version) ||
            !absl::SimpleAtoi(fields[1], &commit.slot_count)) {
          return Unreadable(event->kv().key(), "not \"VERSION SLOTS\"");
        }
        commit.fleet = std::string(key);
      } else if (absl::ConsumePrefix(&key, "upstreams/")) {
        upstream_events.emplace_back(std::string(key), event);
      } else if (absl::ConsumePrefix(&key, "rollouts/") && put) {
        rollout.emplace();
        if (!rollout->rollout.ParseFromString(value) || rollout->rollout.fleet() != key) {
          return Unreadable(event->kv().key(), "not the nginx_xds.v1.Rollout of its fleet");
        }
      } else if (absl::ConsumePrefix(&key, "rollout-stable/") && put) {
        stable.emplace();
        if (!stable->ParseFromString(value)) {
          return Unreadable(event->kv().key(), "not an nginx_xds.v1.ListUpstreamsResponse");
        }
      }
    }
    if (rollout) {
      if (!stable) {
        return Unreadable(prefix + "rollouts/" + rollout->rollout.fleet(),
                          "saved without its rollout-stable key");
      }
      for (auto& upstream : *stable->mutable_upstreams()) {
        rollout->stable_upstreams.push_back(std::move(upstream));
      }
      changes.push_back(Change{std::nullopt, std::move(rollout)});
    }
    if (!versioned) continue;  // no version of a fleet moved
    if (commit.fleet.empty()) {
      return Unreadable(prefix + "version",
                        absl::StrCat("version ", commit.version, " was written without a fleet"));
    }
    for (const auto& [fleet_and_key, event] : upstream_events) {
      const size_t slash = fleet_and_key.find('/');
      if (slash == std::string::npos || fleet_and_key.substr(0, slash) != commit.fleet) {
        return Unreadable(event->kv().key(),
                          absl::StrCat("changed in the commit of fleet \"", commit.fleet, "\""));
      }
      const std::string key = fleet_and_key.substr(slash + 1);
      if (event->type() == mvccpb::Event::DELETE) {
        commit.delete_keys.push_back(key);
        continue;
      }
      const std::string& value = event->kv().value();
      const size_t newline = value.find('\n');
      uint64_t slot = 0;
      Upstream upstream;
      if (newline == std::string::npos ||
          !absl::SimpleAtoi(absl::string_view(value).substr(0, newline), &slot) ||
          !upstream.ParseFromArray(value.data() + newline + 1,
                                   static_cast<int>(value.size() - newline - 1)) ||
          UpstreamKey(upstream.name()) != key) {
        return Unreadable(event->kv().key(), "not \"SLOT\\n\" and its nginx_xds.v1.Upstream");
      }
      commit.slots.push_back(slot);
      commit.puts.push_back(std::move(upstream));
    }
    changes.push_back(Change{std::move(commit), std::nullopt});
  }
  return changes;
}

StateFollower::StateFollower(std::shared_ptr<EtcdConnection> etcd, Options options,
                             int64_t revision)
    : etcd_(std::move(etcd)),
      options_(std::move(options)),
      stub_(etcdserverpb::Watch::NewStub(etcd_->channel())) {
  next_revision_ = revision + 1;
  thread_ = std::thread([this] { Run(); });
}

StateFollower::~StateFollower() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    if (context_ != nullptr) context_->TryCancel();
  }
  thread_.join();
}

bool StateFollower::watching() const {
  absl::MutexLock lock(&mu_);
  return watching_;
}

int64_t StateFollower::revision() const {
  absl::MutexLock lock(&mu_);
  return next_revision_ - 1;
}

void StateFollower::Run() {
  absl::Duration backoff = absl::Milliseconds(100);
  for (;;) {
    const absl::Time started = absl::Now();
    WatchOnce();
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    // A stream that lived a while was fine: retry soon.
    if (absl::Now() - started > absl::Seconds(5)) backoff = absl::Milliseconds(100);
    auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
    if (mu_.AwaitWithTimeout(absl::Condition(&stopping), backoff)) return;
    backoff = std::min(backoff * 2, absl::Seconds(2));
  }
}

void StateFollower::WatchOnce() {
  grpc::ClientContext context;
  absl::Status prepared = etcd_->Prepare(&context, absl::InfiniteDuration());
  if (!prepared.ok()) {
    Log(options_.log, LogLevel::kWarning,
        absl::StrCat("replica: cannot follow etcd: ", prepared.message()));
    return;
  }
  // etcd's watch stream must know its leader: without, a partitioned member
  // keeps it open and silent (clientv3's WithRequireLeader).
  context.AddMetadata("hasleader", "true");
  int64_t start;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    context_ = &context;
    start = next_revision_;
  }
  auto stream = stub_->Watch(&context);
  WatchRequest request;
  auto* create = request.mutable_create_request();
  create->set_key(options_.prefix);
  create->set_range_end(options_.range_end);
  create->set_start_revision(start);
  create->set_progress_notify(true);
  bool reload = false;
  if (stream->Write(request)) {
    WatchResponse response;
    while (stream->Read(&response)) {
      if (response.created()) {
        absl::MutexLock lock(&mu_);
        watching_ = true;
      }
      if (response.canceled()) {
        Log(options_.log, LogLevel::kWarning,
            absl::StrCat("replica: etcd ended the watch at revision ", start, ": ",
                         response.compact_revision() > 0
                             ? absl::StrCat("compacted up to ", response.compact_revision())
                             : response.cancel_reason(),
                         "; reloading the state"));
        reload = true;
        break;
      }
      auto changes = Changes(options_.prefix, response);
      if (!changes.ok()) {
        Log(options_.log, LogLevel::kError,
            absl::StrCat("replica: ", changes.status().message(), "; reloading the state"));
        reload = true;
        break;
      }
      for (const Change& change : *changes) {
        if (change.commit) options_.apply(*change.commit);
        if (change.rollout && options_.rollout) options_.rollout(*change.rollout);
      }
      int64_t last = 0;
      for (const mvccpb::Event& event : response.events()) {
        last = std::max(last, event.kv().mod_revision());
      }
      if (last > 0) {
        absl::MutexLock lock(&mu_);
        next_revision_ = std::max(next_revision_, last + 1);
      }
    }
    if (reload) context.TryCancel();
  }
  grpc::Status finished = stream->Finish();
  {
    absl::MutexLock lock(&mu_);
    watching_ = false;
    context_ = nullptr;
    if (stopping_) return;
  }
  if (!reload) {
    Log(options_.log, LogLevel::kWarning,
        absl::StrCat("replica: the etcd watch at ", etcd_->target(), " ended (",
                     finished.error_message(), "); resuming at revision ", revision() + 1));
    return;
  }
  auto revision = options_.reload();
  if (!revision.ok()) {
    Log(options_.log, LogLevel::kError,
        absl::StrCat("replica: reloading the state failed: ", revision.status().message()));
    return;  // the next stream starts at the same revision, compacted or not: reload again
  }
  absl::MutexLock lock(&mu_);
  next_revision_ = *revision + 1;
}

}  // namespace nginx_xds
