#ifndef CLI_COMMANDS_H_
#define CLI_COMMANDS_H_

#include <cstdint>
#include <map>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "cli/admin_client.h"

namespace nginx_xds::cli {

// Exit codes of the operator CLI (README.md, "Operator CLI").
inline constexpr int kExitOk = 0;
// The control plane refused the call (its message is printed).
inline constexpr int kExitRefused = 1;
// The command line is wrong.
inline constexpr int kExitUsage = 2;
// The control plane could not be reached in time.
inline constexpr int kExitUnreachable = 3;
// A write is stored, but nodes of the fleet rejected it.
inline constexpr int kExitRejected = 4;

// One command line, parsed: what main() read from flags and arguments.
struct Invocation {
  // The words after the program's flags: noun, verb, operands.
  std::vector<std::string> words;
  bool json = false;
  // --fleet; empty: "default" for upstreams, every fleet for `fleet status`.
  std::string fleet;
  // The command flags given on the command line (names without dashes).
  std::set<std::string> given;
  // Their values (only those in `given` mean anything).
  uint32_t weight = 0;
  uint32_t max_fails = 0;
  uint32_t fail_timeout = 0;
  uint32_t max_conns = 0;
  bool backup = false;
  bool down = false;
  bool up = false;
  std::string file;
  std::vector<std::string> nodes;
  std::map<std::string, std::string> labels;
  bool auto_promote = false;
  bool force = false;
  int count = 0;
};

// Every command flag, for main() to tell them from the global ones.
const std::set<std::string>& CommandFlags();

// Runs one command against the control plane; prints results on `out`,
// errors on `err`; returns the exit code.
int Run(AdminClient& client, const Invocation& invocation, std::ostream& out, std::ostream& err);

// The commands, for --help.
std::string CommandsHelp();

}  // namespace nginx_xds::cli

#endif  // CLI_COMMANDS_H_
