#ifndef AGENT_SNAPSHOT_ASSEMBLER_H_
#define AGENT_SNAPSHOT_ASSEMBLER_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "envoy/config/cluster/v3/cluster.pb.h"
#include "envoy/config/endpoint/v3/endpoint.pb.h"
#include "envoy/service/discovery/v3/discovery.pb.h"
#include "nginx_xds/v1/upstream.pb.h"

namespace nginx_xds {

// Turns the two state-of-the-world response streams of ADS (Clusters and
// ClusterLoadAssignments, see common/xds_mapping.h) into nginx_xds.v1.Snapshots.
//
// Every response is validated as a whole before anything of it is accepted:
// its type, every Any's type_url and contents, unique resource names; a
// failure there NACKs it whole. SotW's rules, to the letter: a Cluster
// response is the complete list (sent when a Cluster changed); a
// ClusterLoadAssignment response may carry only the assignments that
// changed, merged by name onto those held. A snapshot is ready when every
// cluster of the list has its assignment (an assignment of a cluster not in
// the list is ignored; a cluster removed from the list drops its
// assignment), and its version is the newest response's version_info. A
// server that sends both types whole at one version (as ours did) is served
// by the same rules. Each cluster is paired with its assignment and each
// pair goes through FromXds and ValidateNormalizedUpstream on its own: a
// pair that fails rejects that one upstream only, as gRFC A46 asks of xDS
// clients, and the others still make a Candidate (see Candidate::rejected).
// The caller reports the embedder's verdict with Commit() or Reject(); only
// Commit() makes the responses the new last good state. Any failure leaves
// the last good state as it was.
//
// Each response the server sent is answered exactly once, through a Nack or
// a `superseded` entry of an Outcome or through a Candidate's `answers`,
// except a pending response that a newer one of the same type replaces (its
// nonce is stale). A pending response that an invalid response of the other
// type leaves behind is answered with the last good version and no
// error_detail (superseded: neither applied nor wrong), unless both share a
// version (then both are NACKed).
//
// Not thread-safe: one instance belongs to one ADS client thread.
class SnapshotAssembler {
 public:
  // Identifies a response to answer.
  struct Answer {
    std::string type_url;
    std::string nonce;
  };

  // A response to reject now, and why.
  struct Nack {
    std::string type_url;
    std::string nonce;
    std::string message;
  };

  // A complete snapshot awaiting the embedder's verdict.
  struct Candidate {
    // Every valid upstream of the responses; those of `rejected` are absent.
    nginx_xds::v1::Snapshot snapshot;
    // The upstreams the agent's own validation rejected (name and message):
    // each keeps its last good state (see WithoutRejected), and the
    // responses are NACKed naming them even when the rest is applied.
    std::vector<nginx_xds::v1::RejectedUpstream> rejected;
    // The responses the verdict answers (one or two).
    std::vector<Answer> answers;
  };

  struct Outcome {
    std::vector<Nack> nacks;
    // Responses to answer now with the last good version and no error.
    std::vector<Answer> superseded;
    std::optional<Candidate> candidate;
  };

  SnapshotAssembler() = default;
  SnapshotAssembler(const SnapshotAssembler&) = delete;
  SnapshotAssembler& operator=(const SnapshotAssembler&) = delete;

  // Takes one response. Must not be called while a candidate awaits its
  // verdict (such a response is NACKed).
  Outcome Offer(const envoy::service::discovery::v3::DiscoveryResponse& response);

  // Accepts the outstanding candidate: its resources become the last good
  // state and `applied` (by default the candidate's snapshot; with rejected
  // upstreams, what the embedder runs now) last_good().
  void Commit(std::optional<nginx_xds::v1::Snapshot> applied = std::nullopt);

  // Drops the outstanding candidate; the last good state is kept.
  void Reject();

  // Forgets pending responses (their nonces die with the stream); keeps the
  // last good state. Call when a stream ends.
  void ResetStream();

  // Whether a candidate awaits Commit() or Reject().
  bool has_candidate() const { return candidate_outstanding_; }

  // The last committed snapshot; nullopt before the first.
  const std::optional<nginx_xds::v1::Snapshot>& last_good() const { return last_good_; }

 private:
  // The resources of one response, decoded and keyed by name.
  struct Resources {
    std::string version;
    std::string nonce;
    std::map<std::string, envoy::config::cluster::v3::Cluster> clusters;
    std::map<std::string, envoy::config::endpoint::v3::ClusterLoadAssignment> assignments;
  };

  struct TypeState {
    std::optional<Resources> accepted;
    std::optional<Resources> pending;

    // The newest valid resources of the type: pending, else accepted.
    const Resources* latest() const {
      if (pending) return &*pending;
      if (accepted) return &*accepted;
      return nullptr;
    }
  };

  TypeState* StateFor(const std::string& type_url);
  // NACKs and drops `state`'s pending response, if any.
  static void NackPending(TypeState* state, const std::string& type_url, const std::string& message,
                          Outcome* outcome);
  // Answers and drops `state`'s pending response as superseded, if any.
  static void SupersedePending(TypeState* state, const std::string& type_url, Outcome* outcome);
  // Pairs every cluster with its assignment into a snapshot.
  static void Assemble(const Resources& clusters, const Resources& assignments,
                       nginx_xds::v1::Snapshot* snapshot,
                       std::vector<nginx_xds::v1::RejectedUpstream>* rejected);

  TypeState clusters_;
  TypeState assignments_;
  bool candidate_outstanding_ = false;
  std::optional<nginx_xds::v1::Snapshot> candidate_snapshot_;
  std::optional<nginx_xds::v1::Snapshot> last_good_;
};

// What a node runs after rejecting the upstreams of `rejected` from
// `offered`: `offered` (its version and every other upstream) with each
// rejected upstream (by UpstreamKey) as `previous` has it, or absent when
// `previous` is null or lacks it. Upstreams are ordered by UpstreamKey.
nginx_xds::v1::Snapshot WithoutRejected(
    const nginx_xds::v1::Snapshot& offered,
    const std::vector<nginx_xds::v1::RejectedUpstream>& rejected,
    const nginx_xds::v1::Snapshot* previous);

// The error_detail message of a NACK naming single upstreams: one line per
// upstream, `upstream "NAME": reason`.
std::string RejectedUpstreamsMessage(const std::vector<nginx_xds::v1::RejectedUpstream>& rejected);

// `message` without a leading `upstream "NAME": ` (or `cluster "NAME": `)
// that names `name` again: the reason alone.
std::string ReasonAbout(const std::string& name, const std::string& message);

}  // namespace nginx_xds

#endif  // AGENT_SNAPSHOT_ASSEMBLER_H_
