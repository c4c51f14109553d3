// nginx-xds: the operator CLI over the control plane's gRPC admin API
// (--admin_listen). README.md, "Operator CLI", says what each command does.

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <set>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "cli/admin_client.h"
#include "cli/commands.h"

ABSL_FLAG(std::string, server, "",
          "The control plane's --admin_listen, host:port (default: $NGINX_XDS_SERVER, else "
          "127.0.0.1:18001).");
ABSL_FLAG(std::string, token_file, "",
          "File whose first line is the admin bearer token (default: $NGINX_XDS_TOKEN_FILE; "
          "$NGINX_XDS_TOKEN holds the token itself).");
ABSL_FLAG(std::string, fleet, "",
          "The fleet (default: $NGINX_XDS_FLEET, else \"default\"; `fleet status` and `fleet "
          "watch` show every fleet without it).");
ABSL_FLAG(std::string, output, "table", "table (for people) or json (one object per line).");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(30),
          "How long a call may take (a write waits for its fleet's ACKs).");
ABSL_FLAG(uint32_t, weight, 1, "servers add/update: the server's weight.");
ABSL_FLAG(uint32_t, max_fails, 1, "servers add/update: max_fails.");
ABSL_FLAG(uint32_t, fail_timeout, 10, "servers add/update: fail_timeout, in seconds.");
ABSL_FLAG(uint32_t, max_conns, 0, "servers add/update: max_conns (0: no limit).");
ABSL_FLAG(bool, backup, false, "servers add/update: a backup server.");
ABSL_FLAG(bool, down, false, "servers add/update: marked down (no traffic).");
ABSL_FLAG(bool, up, false, "servers update: marked up again.");
ABSL_FLAG(std::string, file, "", "upstreams put: read the upstream from this file (- : stdin).");
ABSL_FLAG(std::vector<std::string>, nodes, {}, "rollout start: canary node ids, a,b,c.");
ABSL_FLAG(std::vector<std::string>, labels, {},
          "rollout start: canary node labels, key=value,... (Node.metadata strings).");
ABSL_FLAG(bool, auto_promote, false,
          "rollout start: promote once every connected canary node ACKed a newer write.");
ABSL_FLAG(bool, force, false, "rollout promote: without the canary's ACK.");
ABSL_FLAG(int, count, 0, "fleet watch: stop after this many statuses (0: until interrupted).");

namespace {

using nginx_xds::cli::Invocation;

std::string FromEnv(const char* name, const std::string& fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : fallback;
}

// "-o json" / "-o=json" as --output: the spelling kubectl users type.
std::vector<char*> ExpandShortOutput(int argc, char** argv, std::vector<std::string>* storage) {
  storage->reserve(argc + 1);
  for (int i = 0; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "-o") {
      arg = "--output";
    } else if (absl::StartsWith(arg, "-o=")) {
      arg = "--output=" + arg.substr(3);
    }
    storage->push_back(arg);
  }
  std::vector<char*> args;
  for (std::string& arg : *storage) args.push_back(arg.data());
  return args;
}

// The admin token: --token_file, $NGINX_XDS_TOKEN_FILE, or $NGINX_XDS_TOKEN.
absl::StatusOr<std::string> Token() {
  const std::string path = absl::GetFlag(FLAGS_token_file).empty()
                               ? FromEnv("NGINX_XDS_TOKEN_FILE", "")
                               : absl::GetFlag(FLAGS_token_file);
  if (path.empty()) return FromEnv("NGINX_XDS_TOKEN", "");
  std::ifstream in(path);
  std::string token;
  if (!in || !std::getline(in, token)) {
    return absl::InvalidArgumentError(absl::StrCat("cannot read the token file \"", path, "\""));
  }
  token = std::string(absl::StripAsciiWhitespace(token));
  if (token.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("the token file \"", path, "\" is empty"));
  }
  return token;
}

// The command flags on the command line, even those given their default
// value (`servers update --weight=1` sets the weight back to 1).
std::set<std::string> GivenCommandFlags(const std::vector<char*>& args) {
  std::set<std::string> given;
  for (size_t i = 1; i < args.size(); ++i) {
    absl::string_view arg = args[i];
    if (arg == "--") break;
    if (!absl::ConsumePrefix(&arg, "--")) absl::ConsumePrefix(&arg, "-");
    arg = arg.substr(0, arg.find('='));
    for (const std::string& name : nginx_xds::cli::CommandFlags()) {
      if (arg == name || arg == "no" + name) given.insert(name);
    }
  }
  return given;
}

absl::StatusOr<Invocation> ReadInvocation(const std::vector<char*>& args,
                                          const std::vector<char*>& positional) {
  Invocation invocation;
  for (size_t i = 1; i < positional.size(); ++i) invocation.words.push_back(positional[i]);
  const std::string output = absl::GetFlag(FLAGS_output);
  if (output != "table" && output != "json") {
    return absl::InvalidArgumentError(
        absl::StrCat("--output \"", output, "\" is not table or json"));
  }
  invocation.json = output == "json";
  invocation.fleet = absl::GetFlag(FLAGS_fleet).empty() ? FromEnv("NGINX_XDS_FLEET", "")
                                                        : absl::GetFlag(FLAGS_fleet);
  invocation.given = GivenCommandFlags(args);
  invocation.weight = absl::GetFlag(FLAGS_weight);
  invocation.max_fails = absl::GetFlag(FLAGS_max_fails);
  invocation.fail_timeout = absl::GetFlag(FLAGS_fail_timeout);
  invocation.max_conns = absl::GetFlag(FLAGS_max_conns);
  invocation.backup = absl::GetFlag(FLAGS_backup);
  invocation.down = absl::GetFlag(FLAGS_down);
  invocation.up = absl::GetFlag(FLAGS_up);
  invocation.file = absl::GetFlag(FLAGS_file);
  invocation.nodes = absl::GetFlag(FLAGS_nodes);
  for (const std::string& label : absl::GetFlag(FLAGS_labels)) {
    std::pair<std::string, std::string> pair = absl::StrSplit(label, absl::MaxSplits('=', 1));
    if (pair.first.empty() || label.find('=') == std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("--labels entry \"", label, "\" is not key=value"));
    }
    invocation.labels[pair.first] = pair.second;
  }
  invocation.auto_promote = absl::GetFlag(FLAGS_auto_promote);
  invocation.force = absl::GetFlag(FLAGS_force);
  invocation.count = absl::GetFlag(FLAGS_count);
  if (invocation.count < 0) return absl::InvalidArgumentError("--count must be 0 or more");
  return invocation;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(absl::StrCat(
      "the nginx-xds operator CLI.\n\nusage: nginx-xds [flags] NOUN VERB [OPERANDS]\n\n",
      nginx_xds::cli::CommandsHelp(),
      "\nexit codes: 0 done, 1 refused by the control plane, 2 bad command line, 3 control "
      "plane unreachable, 4 stored but rejected by nodes"));
  std::vector<std::string> storage;
  std::vector<char*> args = ExpandShortOutput(argc, argv, &storage);
  std::vector<char*> positional =
      absl::ParseCommandLine(static_cast<int>(args.size()), args.data());
  absl::StatusOr<Invocation> invocation = ReadInvocation(args, positional);
  if (!invocation.ok()) {
    std::cerr << "nginx-xds: " << invocation.status().message() << "\n";
    return nginx_xds::cli::kExitUsage;
  }
  absl::StatusOr<std::string> token = Token();
  if (!token.ok()) {
    std::cerr << "nginx-xds: " << token.status().message() << "\n";
    return nginx_xds::cli::kExitUsage;
  }
  nginx_xds::cli::AdminClient::Options options;
  options.server = absl::GetFlag(FLAGS_server).empty()
                       ? FromEnv("NGINX_XDS_SERVER", "127.0.0.1:18001")
                       : absl::GetFlag(FLAGS_server);
  options.token = *token;
  options.timeout = absl::GetFlag(FLAGS_timeout);
  nginx_xds::cli::AdminClient client(options);
  return nginx_xds::cli::Run(client, *invocation, std::cout, std::cerr);
}
