#ifndef CLI_RENDER_H_
#define CLI_RENDER_H_

#include <string>
#include <vector>

#include "google/protobuf/message.h"
#include "google/protobuf/timestamp.pb.h"
#include "nginx_xds/v1/management.pb.h"
#include "nginx_xds/v1/upstream.pb.h"

namespace nginx_xds::cli {

// How the operator CLI prints what the control plane answers: tables for
// people, protobuf's JSON mapping (one object per line) for scripts. Pure
// functions; thread-safe.

// Columns left-aligned to the widest cell, two spaces apart; the header row
// in upper case as given.
class Table {
 public:
  explicit Table(std::vector<std::string> header) : rows_{std::move(header)} {}
  void Add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  std::string Render() const;

 private:
  std::vector<std::vector<std::string>> rows_;
};

// `message` in protobuf's JSON mapping (proto field names, defaults
// included) on one line, with a newline.
std::string Json(const google::protobuf::Message& message);

// The tables of each answer.
std::string UpstreamsTable(const nginx_xds::v1::ListUpstreamsResponse& list);
std::string UpstreamText(const nginx_xds::v1::Upstream& upstream);
std::string WriteText(const nginx_xds::v1::WriteResponse& write);
std::string FleetStatusText(const nginx_xds::v1::FleetStatus& status);
std::string RolloutText(const nginx_xds::v1::Rollout& rollout);

// "2026-12-03T19:30:00Z"; "-" when unset.
std::string TimeText(const google::protobuf::Timestamp& time);

}  // namespace nginx_xds::cli

#endif  // CLI_RENDER_H_
