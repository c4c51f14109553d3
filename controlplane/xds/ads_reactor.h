#ifndef CONTROLPLANE_XDS_ADS_REACTOR_H_
#define CONTROLPLANE_XDS_ADS_REACTOR_H_

#include <cstddef>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "controlplane/fleet/node_registry.h"
#include "controlplane/xds/ads_service.h"
#include "controlplane/xds/snapshot_cache.h"
#include "controlplane/xds/stream_node.h"
#include "controlplane/xds/xds_tls.h"
#include "grpcpp/grpcpp.h"

namespace nginx_xds {

// What a SotW (AdsStream) and a Delta (DeltaStream) ADS stream do alike: a
// gRPC callback reactor that owns itself until OnDone (publishers hold it
// weakly), identifies the node on its first request (mutual TLS identity,
// static upstream adoption, the registry, the snapshot cache), hands every
// request to HandleRequest and every newer snapshot to OnNewSnapshot under
// its lock, and writes responses one at a time, holding at most one queued
// response per type: a newer one replaces it.
template <typename Request, typename Response>
class AdsReactor : public grpc::ServerBidiReactor<Request, Response>, public SnapshotWatcher {
 public:
  void OnReadDone(bool ok) final {
    bool first;
    absl::Status authorized;
    {
      absl::MutexLock lock(&mu_);
      if (!ok) {
        // The client half-closed or went away: answer what is queued, then end.
        FinishLocked(grpc::Status::OK);
        return;
      }
      first = node_.empty();
      // With mutual TLS a node speaks only for itself: checked before its
      // static upstreams are adopted.
      if (first) authorized = AuthorizeNode(peer_, request_.node());
    }
    if (first) {
      // Without this stream's lock: adoption publishes (and so calls OnSnapshot).
      absl::Status adopted = authorized.ok()
                                 ? AdoptStaticUpstreams(request_.node(), *on_static_upstreams_)
                                 : authorized;
      if (!adopted.ok()) {
        absl::MutexLock lock(&mu_);
        FinishLocked(ToGrpc(adopted));
        return;
      }
    }
    {
      absl::MutexLock lock(&mu_);
      absl::Status status = node_.empty() ? Identify(request_.node()) : absl::OkStatus();
      if (status.ok()) status = HandleRequest(request_);
      if (!status.ok()) {
        FinishLocked(ToGrpc(status));
        return;
      }
    }
    // A fresh buffer: a parsed message keeps its fields' capacity when it is
    // parsed into again, so a Delta first request's initial_resource_versions
    // (an entry per resource of the fleet) would stay allocated for the
    // stream's life.
    request_ = Request();
    this->StartRead(&request_);
  }

  void OnWriteDone(bool ok) final {
    absl::MutexLock lock(&mu_);
    pending_.pop_front();
    if (!ok) {
      // The stream is broken; OnReadDone(false) or OnDone follows.
      pending_.clear();
      writing_ = false;
      FinishLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE, "write failed"));
      return;
    }
    if (!pending_.empty()) {
      this->StartWrite(&pending_.front());
      return;
    }
    writing_ = false;
    if (finish_ && !finished_) {
      finished_ = true;
      this->Finish(*finish_);
    }
  }

  void OnDone() final {
    std::shared_ptr<AdsReactor> self;
    {
      absl::MutexLock lock(&mu_);
      if (!node_.empty()) registry_->StreamClosed(node_);
      // Publishers holding a reference see finish_ and leave the stream alone.
      if (!finish_) finish_ = grpc::Status::CANCELLED;
      self = std::move(self_);
    }
    // `self` may be the last reference: this object may be gone after this.
  }

  void OnSnapshot(std::shared_ptr<const Snapshot> snapshot) final {
    absl::MutexLock lock(&mu_);
    if (finish_ || (snapshot_ && snapshot_->version() >= snapshot->version())) return;
    snapshot_ = std::move(snapshot);
    OnNewSnapshot();
  }

 protected:
  AdsReactor(SnapshotCache* cache, NodeRegistry* registry,
             const StaticUpstreamsHandler* on_static_upstreams)
      : cache_(cache), registry_(registry), on_static_upstreams_(on_static_upstreams) {}

  // Makes `stream` own itself and starts reading. `peer`: who the client
  // certificate says the node is (mutual TLS), or the error to end the
  // stream with on its first request.
  static void Begin(std::shared_ptr<AdsReactor> stream,
                    absl::StatusOr<std::optional<NodeIdentity>> peer) {
    AdsReactor* raw = stream.get();
    {
      absl::MutexLock lock(&raw->mu_);
      raw->self_ = std::move(stream);
      raw->peer_ = std::move(peer);
    }
    raw->StartRead(&raw->request_);
  }

  // One request of the identified node (node_ is set).
  virtual absl::Status HandleRequest(const Request& request)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) = 0;
  // snapshot_ is newer: send what it changes for the node.
  virtual void OnNewSnapshot() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) = 0;

  // Queues `response`; a queued (not yet written) one of the same type is
  // replaced, so a stream that does not read holds the newest state only.
  void Write(Response response) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (size_t i = 1; i < pending_.size(); ++i) {
      if (pending_[i].type_url() == response.type_url()) {
        pending_[i] = std::move(response);
        return;
      }
    }
    pending_.push_back(std::move(response));
    if (writing_) return;
    writing_ = true;
    this->StartWrite(&pending_.front());
  }

  std::string NewNonce() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return RandomNonce(&random_); }

  SnapshotCache* const cache_;
  NodeRegistry* const registry_;

  absl::Mutex mu_;
  std::string node_ ABSL_GUARDED_BY(mu_);
  std::string fleet_ ABSL_GUARDED_BY(mu_);
  size_t max_response_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  std::shared_ptr<const Snapshot> snapshot_ ABSL_GUARDED_BY(mu_);
  // Set once the stream is ending; the status is sent once writes drain.
  std::optional<grpc::Status> finish_ ABSL_GUARDED_BY(mu_);

 private:
  static grpc::Status ToGrpc(const absl::Status& status) {
    return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                        std::string(status.message()));
  }

  absl::Status Identify(const envoy::config::core::v3::Node& node)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    absl::Status valid = ValidateStreamNode(node);
    if (!valid.ok()) return valid;
    // node_ is set only once the registry counts the stream (OnDone closes it).
    absl::Status opened =
        registry_->StreamOpened(node.id(), FleetOfNode(node), UserAgentOf(node));
    if (!opened.ok()) return opened;
    node_ = node.id();
    fleet_ = FleetOfNode(node);
    max_response_bytes_ = MaxResponseBytesOf(node);
    snapshot_ = cache_->Watch(fleet_, WatcherNodeOf(node), std::weak_ptr<SnapshotWatcher>(self_));
    return absl::OkStatus();
  }

  void FinishLocked(const grpc::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!finish_) finish_ = status;
    if (writing_ || finished_) return;
    finished_ = true;
    this->Finish(*finish_);
  }

  const StaticUpstreamsHandler* const on_static_upstreams_;
  Request request_;  // the read buffer
  std::shared_ptr<AdsReactor> self_ ABSL_GUARDED_BY(mu_);
  absl::StatusOr<std::optional<NodeIdentity>> peer_ ABSL_GUARDED_BY(mu_) = std::nullopt;
  absl::BitGen random_ ABSL_GUARDED_BY(mu_);
  // Front: being written; then at most one per type.
  std::deque<Response> pending_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace nginx_xds

#endif  // CONTROLPLANE_XDS_ADS_REACTOR_H_
