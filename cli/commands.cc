#include "cli/commands.h"

#include <fstream>
#include <functional>
#include <iostream>
#include <sstream>

#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/render.h"
#include "common/upstream_block.h"
#include "common/upstream_rules.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"

namespace nginx_xds::cli {
namespace {

using nginx_xds::v1::Upstream;
using nginx_xds::v1::WriteResponse;

// Marks a handler's error as the command line's mistake (exit kExitUsage),
// found before anything was sent.
constexpr char kUsagePayload[] = "nginx-xds/usage";

absl::Status UsageError(absl::string_view message) {
  absl::Status status = absl::InvalidArgumentError(message);
  status.SetPayload(kUsagePayload, absl::Cord());
  return status;
}

// What a command handler returns: the exit code, or a refusal to print.
using Handler = std::function<absl::StatusOr<int>(AdminClient&, const Invocation&, std::ostream&)>;

struct Command {
  std::string noun;
  std::string verb;
  // The operands after noun and verb, for usage and their count.
  std::vector<std::string> operands;
  // The command flags it takes.
  std::set<std::string> flags;
  std::string help;
  Handler run;
};

// The fleet a write or read names: "default" unless --fleet.
std::string FleetOrDefault(const Invocation& invocation) {
  return nginx_xds::FleetOrDefault(invocation.fleet);
}

absl::StatusOr<int> Print(const grpc::Status& status, const google::protobuf::Message& response,
                          const Invocation& invocation, std::ostream& out,
                          const std::function<std::string()>& table) {
  if (!status.ok()) return FromGrpc(status);
  out << (invocation.json ? Json(response) : table());
  return kExitOk;
}

absl::StatusOr<int> PrintWrite(const grpc::Status& status, const WriteResponse& write,
                               const Invocation& invocation, std::ostream& out) {
  absl::StatusOr<int> printed =
      Print(status, write, invocation, out, [&] { return WriteText(write); });
  if (!printed.ok()) return printed;
  return write.rejections().empty() ? kExitOk : kExitRejected;
}

// An upstream from nginx `upstream {}` body text, or from protobuf JSON when
// it starts with '{'.
absl::StatusOr<Upstream> ParseUpstream(const std::string& text) {
  const absl::string_view stripped = absl::StripAsciiWhitespace(text);
  if (!stripped.empty() && stripped.front() == '{') {
    Upstream upstream;
    auto status = google::protobuf::util::JsonStringToMessage(std::string(stripped), &upstream);
    if (!status.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("the upstream is not nginx_xds.v1.Upstream JSON: ", status.ToString()));
    }
    return upstream;
  }
  return ParseUpstreamBlock(text);
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::stringstream contents;
  if (path == "-") {
    contents << std::cin.rdbuf();
    return contents.str();
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read --file \"", path, "\""));
  contents << in.rdbuf();
  return contents.str();
}

absl::StatusOr<int> UpstreamsList(AdminClient& client, const Invocation& invocation,
                                  std::ostream& out) {
  nginx_xds::v1::ListUpstreamsRequest request;
  request.set_fleet(FleetOrDefault(invocation));
  nginx_xds::v1::ListUpstreamsResponse response;
  auto context = client.Context();
  grpc::Status status = client.upstreams().ListUpstreams(context.get(), request, &response);
  return Print(status, response, invocation, out, [&] { return UpstreamsTable(response); });
}

absl::StatusOr<int> UpstreamsGet(AdminClient& client, const Invocation& invocation,
                                 std::ostream& out) {
  nginx_xds::v1::GetUpstreamRequest request;
  request.set_fleet(FleetOrDefault(invocation));
  request.set_name(invocation.words[2]);
  Upstream response;
  auto context = client.Context();
  grpc::Status status = client.upstreams().GetUpstream(context.get(), request, &response);
  return Print(status, response, invocation, out, [&] { return UpstreamText(response); });
}

absl::StatusOr<int> UpstreamsPut(AdminClient& client, const Invocation& invocation,
                                 std::ostream& out) {
  const bool from_file = invocation.given.count("file") > 0;
  if (from_file == (invocation.words.size() > 3)) {
    return UsageError(
        "give the upstream either as BODY (\"server 10.0.0.1:80; least_conn;\") or with --file");
  }
  absl::StatusOr<std::string> text =
      from_file ? ReadFile(invocation.file) : absl::StatusOr<std::string>(invocation.words[3]);
  if (!text.ok()) return UsageError(text.status().message());
  absl::StatusOr<Upstream> upstream = ParseUpstream(*text);
  if (!upstream.ok()) return UsageError(upstream.status().message());
  upstream->set_name(invocation.words[2]);
  nginx_xds::v1::PutUpstreamRequest request;
  request.set_fleet(FleetOrDefault(invocation));
  *request.mutable_upstream() = *std::move(upstream);
  WriteResponse response;
  auto context = client.Context();
  return PrintWrite(client.upstreams().PutUpstream(context.get(), request, &response), response,
                    invocation, out);
}

absl::StatusOr<int> UpstreamsDelete(AdminClient& client, const Invocation& invocation,
                                    std::ostream& out) {
  nginx_xds::v1::DeleteUpstreamRequest request;
  request.set_fleet(FleetOrDefault(invocation));
  request.set_name(invocation.words[2]);
  WriteResponse response;
  auto context = client.Context();
  return PrintWrite(client.upstreams().DeleteUpstream(context.get(), request, &response), response,
                    invocation, out);
}

absl::StatusOr<int> ServersAdd(AdminClient& client, const Invocation& invocation,
                               std::ostream& out) {
  nginx_xds::v1::AddServerRequest request;
  request.set_fleet(FleetOrDefault(invocation));
  request.set_upstream(invocation.words[2]);
  nginx_xds::v1::Server* server = request.mutable_server();
  server->set_address(invocation.words[3]);
  const auto& given = invocation.given;
  if (given.count("weight")) server->set_weight(invocation.weight);
  if (given.count("max_fails")) server->set_max_fails(invocation.max_fails);
  if (given.count("fail_timeout")) server->set_fail_timeout(invocation.fail_timeout);
  if (given.count("max_conns")) server->set_max_conns(invocation.max_conns);
  server->set_backup(invocation.backup);
  server->set_down(invocation.down);
  WriteResponse response;
  auto context = client.Context();
  return PrintWrite(client.upstreams().AddServer(context.get(), request, &response), response,
                    invocation, out);
}

absl::StatusOr<int> ServersRemove(AdminClient& client, const Invocation& invocation,
                                  std::ostream& out) {
  nginx_xds::v1::RemoveServerRequest request;
  request.set_fleet(FleetOrDefault(invocation));
  request.set_upstream(invocation.words[2]);
  request.set_address(invocation.words[3]);
  WriteResponse response;
  auto context = client.Context();
  return PrintWrite(client.upstreams().RemoveServer(context.get(), request, &response), response,
                    invocation, out);
}

absl::StatusOr<int> ServersUpdate(AdminClient& client, const Invocation& invocation,
                                  std::ostream& out) {
  const auto& given = invocation.given;
  if (given.count("up") && given.count("down")) {
    return UsageError("--up and --down cannot be given together");
  }
  nginx_xds::v1::UpdateServerRequest request;
  request.set_fleet(FleetOrDefault(invocation));
  request.set_upstream(invocation.words[2]);
  request.set_address(invocation.words[3]);
  if (given.count("weight")) request.set_weight(invocation.weight);
  if (given.count("max_fails")) request.set_max_fails(invocation.max_fails);
  if (given.count("fail_timeout")) request.set_fail_timeout(invocation.fail_timeout);
  if (given.count("max_conns")) request.set_max_conns(invocation.max_conns);
  if (given.count("backup")) request.set_backup(invocation.backup);
  if (given.count("down")) request.set_down(invocation.down);
  if (given.count("up")) request.set_down(!invocation.up);
  if (given.empty()) {
    return UsageError(
        "nothing to update: give --weight, --max_fails, --fail_timeout, --max_conns, --backup, "
        "--down or --up");
  }
  WriteResponse response;
  auto context = client.Context();
  return PrintWrite(client.upstreams().UpdateServer(context.get(), request, &response), response,
                    invocation, out);
}

absl::StatusOr<int> FleetStatus(AdminClient& client, const Invocation& invocation,
                                std::ostream& out) {
  nginx_xds::v1::GetFleetStatusRequest request;
  request.set_fleet(invocation.fleet);
  nginx_xds::v1::FleetStatus response;
  auto context = client.Context();
  grpc::Status status = client.fleet().GetFleetStatus(context.get(), request, &response);
  return Print(status, response, invocation, out, [&] { return FleetStatusText(response); });
}

// Prints every status the control plane streams: the current one, then one
// per change; stops after --count of them (0: until interrupted).
absl::StatusOr<int> FleetWatch(AdminClient& client, const Invocation& invocation,
                               std::ostream& out) {
  nginx_xds::v1::GetFleetStatusRequest request;
  request.set_fleet(invocation.fleet);
  auto context = client.Context(/*streaming=*/true);
  auto reader = client.fleet().WatchFleetStatus(context.get(), request);
  nginx_xds::v1::FleetStatus status;
  int seen = 0;
  while (reader->Read(&status)) {
    if (invocation.json) {
      out << Json(status);
    } else {
      out << "--- " << TimeText(google::protobuf::util::TimeUtil::GetCurrentTime()) << "\n"
          << FleetStatusText(status);
    }
    out.flush();
    if (invocation.count > 0 && ++seen >= invocation.count) {
      context->TryCancel();
      reader->Finish().IgnoreError();
      return kExitOk;
    }
  }
  grpc::Status finished = reader->Finish();
  if (!finished.ok()) return FromGrpc(finished);
  return kExitOk;
}

absl::StatusOr<int> RolloutStart(AdminClient& client, const Invocation& invocation,
                                 std::ostream& out) {
  nginx_xds::v1::StartRolloutRequest request;
  request.set_fleet(FleetOrDefault(invocation));
  for (const std::string& node : invocation.nodes) request.add_canary_node_ids(node);
  for (const auto& [key, value] : invocation.labels)
    (*request.mutable_canary_labels())[key] = value;
  request.set_auto_promote(invocation.auto_promote);
  nginx_xds::v1::Rollout response;
  auto context = client.Context();
  grpc::Status status = client.rollouts().StartRollout(context.get(), request, &response);
  return Print(status, response, invocation, out, [&] { return RolloutText(response); });
}

absl::StatusOr<int> RolloutStatus(AdminClient& client, const Invocation& invocation,
                                  std::ostream& out) {
  nginx_xds::v1::GetRolloutRequest request;
  request.set_fleet(FleetOrDefault(invocation));
  nginx_xds::v1::Rollout response;
  auto context = client.Context();
  grpc::Status status = client.rollouts().GetRollout(context.get(), request, &response);
  return Print(status, response, invocation, out, [&] { return RolloutText(response); });
}

absl::StatusOr<int> PrintRolloutResponse(const grpc::Status& status,
                                         const nginx_xds::v1::RolloutResponse& response,
                                         const Invocation& invocation, std::ostream& out) {
  absl::StatusOr<int> printed = Print(status, response, invocation, out, [&] {
    std::string text = RolloutText(response.rollout());
    if (response.has_write()) text += WriteText(response.write());
    return text;
  });
  if (!printed.ok()) return printed;
  return response.write().rejections().empty() ? kExitOk : kExitRejected;
}

absl::StatusOr<int> RolloutPromote(AdminClient& client, const Invocation& invocation,
                                   std::ostream& out) {
  nginx_xds::v1::PromoteRolloutRequest request;
  request.set_fleet(FleetOrDefault(invocation));
  request.set_force(invocation.force);
  nginx_xds::v1::RolloutResponse response;
  auto context = client.Context();
  return PrintRolloutResponse(client.rollouts().PromoteRollout(context.get(), request, &response),
                              response, invocation, out);
}

absl::StatusOr<int> RolloutAbort(AdminClient& client, const Invocation& invocation,
                                 std::ostream& out) {
  nginx_xds::v1::AbortRolloutRequest request;
  request.set_fleet(FleetOrDefault(invocation));
  nginx_xds::v1::RolloutResponse response;
  auto context = client.Context();
  return PrintRolloutResponse(client.rollouts().AbortRollout(context.get(), request, &response),
                              response, invocation, out);
}

const std::vector<Command>& Commands() {
  static const auto* commands = new std::vector<Command>{
      {"upstreams", "list", {}, {}, "the fleet's upstreams", UpstreamsList},
      {"upstreams", "get", {"NAME"}, {}, "one upstream and its servers", UpstreamsGet},
      {"upstreams",
       "put",
       {"NAME", "[BODY]"},
       {"file"},
       "create or replace an upstream: BODY or --file (nginx upstream{} syntax, or "
       "nginx_xds.v1.Upstream JSON; --file=- reads stdin)",
       UpstreamsPut},
      {"upstreams", "delete", {"NAME"}, {}, "delete an upstream", UpstreamsDelete},
      {"servers",
       "add",
       {"UPSTREAM", "ADDRESS"},
       {"weight", "max_fails", "fail_timeout", "max_conns", "backup", "down"},
       "add a server",
       ServersAdd},
      {"servers", "remove", {"UPSTREAM", "ADDRESS"}, {}, "remove a server", ServersRemove},
      {"servers",
       "update",
       {"UPSTREAM", "ADDRESS"},
       {"weight", "max_fails", "fail_timeout", "max_conns", "backup", "down", "up"},
       "change a server's settings",
       ServersUpdate},
      {"fleet",
       "status",
       {},
       {},
       "every node, its ACKed version and last NACK (all fleets unless --fleet)",
       FleetStatus},
      {"fleet",
       "watch",
       {},
       {"count"},
       "stream fleet status changes (--count N stops after N)",
       FleetWatch},
      {"rollout",
       "start",
       {},
       {"nodes", "labels", "auto_promote"},
       "start a staged rollout of --fleet with canary --nodes and/or --labels",
       RolloutStart},
      {"rollout", "status", {}, {}, "the fleet's open or last rollout", RolloutStatus},
      {"rollout",
       "promote",
       {},
       {"force"},
       "send the canary version to the whole fleet",
       RolloutPromote},
      {"rollout", "abort", {}, {}, "write the stable version back to the canary", RolloutAbort},
  };
  return *commands;
}

std::string Usage(const Command& command) {
  std::string usage = absl::StrCat("nginx-xds ", command.noun, " ", command.verb);
  for (const std::string& operand : command.operands) absl::StrAppend(&usage, " ", operand);
  for (const std::string& flag : command.flags) absl::StrAppend(&usage, " [--", flag, "]");
  return usage;
}

}  // namespace

const std::set<std::string>& CommandFlags() {
  static const auto* flags = [] {
    auto* all = new std::set<std::string>;
    for (const Command& command : Commands())
      all->insert(command.flags.begin(), command.flags.end());
    return all;
  }();
  return *flags;
}

std::string CommandsHelp() {
  std::string help;
  for (const Command& command : Commands()) {
    absl::StrAppend(&help, "  ", Usage(command), "\n      ", command.help, "\n");
  }
  return help;
}

int Run(AdminClient& client, const Invocation& invocation, std::ostream& out, std::ostream& err) {
  const std::vector<std::string>& words = invocation.words;
  const Command* found = nullptr;
  for (const Command& command : Commands()) {
    if (words.size() >= 2 && words[0] == command.noun && words[1] == command.verb) {
      found = &command;
    }
  }
  if (found == nullptr) {
    err << "nginx-xds: unknown command \"" << absl::StrJoin(words, " ") << "\"; the commands are:\n"
        << CommandsHelp();
    return kExitUsage;
  }
  size_t required = 0;
  for (const std::string& operand : found->operands) required += operand.front() != '[';
  const size_t given = words.size() - 2;
  if (given < required || given > found->operands.size()) {
    err << "nginx-xds: usage: " << Usage(*found) << "\n";
    return kExitUsage;
  }
  for (const std::string& flag : invocation.given) {
    if (found->flags.count(flag) == 0) {
      err << "nginx-xds: --" << flag << " does not apply to \"" << found->noun << " " << found->verb
          << "\"; usage: " << Usage(*found) << "\n";
      return kExitUsage;
    }
  }
  absl::StatusOr<int> result = found->run(client, invocation, out);
  if (result.ok()) return *result;
  const absl::Status& status = result.status();
  if (status.code() == absl::StatusCode::kUnavailable ||
      status.code() == absl::StatusCode::kDeadlineExceeded) {
    err << "nginx-xds: the control plane did not answer: " << status.message() << "\n";
    return kExitUnreachable;
  }
  if (status.GetPayload(kUsagePayload).has_value()) {
    err << "nginx-xds: " << status.message() << "\n";
    return kExitUsage;
  }
  err << "nginx-xds: " << absl::StatusCodeToString(status.code()) << ": " << status.message()
      << "\n";
  return kExitRefused;
}

}  // namespace nginx_xds::cli
