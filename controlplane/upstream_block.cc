#include "controlplane/upstream_block.h"

#include <algorithm>
#include <limits>
#include <set>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/address.h"

namespace nginx_xds {
namespace {

using nginx_xds::v1::Server;
using nginx_xds::v1::Upstream;

// Commands are quoted in messages up to this many characters.
constexpr size_t kMaxQuotedCommand = 80;
// nginx's port for `server` lines without one.
constexpr uint16_t kDefaultPort = 80;

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// The text of a command for a message: white space folded, long ones cut.
std::string QuoteCommand(absl::string_view text) {
  std::string folded;
  for (char c : text) {
    if (IsSpace(c)) {
      if (!folded.empty() && folded.back() != ' ') folded += ' ';
    } else {
      folded += c;
    }
  }
  while (!folded.empty() && folded.back() == ' ') folded.pop_back();
  if (folded.size() > kMaxQuotedCommand) {
    folded = absl::StrCat(folded.substr(0, kMaxQuotedCommand), "...");
  }
  return folded;
}

absl::Status CommandError(int number, absl::string_view text, absl::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat("command ", number, " (", QuoteCommand(text), "): ", what));
}

absl::Status CommandError(const BlockCommand& command, absl::string_view what) {
  return CommandError(command.number, command.text, what);
}

// Appends the character that the escape `\c` stands for, as nginx's
// configuration reader does; other escapes keep their backslash.
void AppendEscaped(char c, std::string* word) {
  switch (c) {
    case '"':
    case '\'':
    case '\\':
      *word += c;
      break;
    case 't':
      *word += '\t';
      break;
    case 'r':
      *word += '\r';
      break;
    case 'n':
      *word += '\n';
      break;
    default:
      *word += '\\';
      *word += c;
  }
}

// A non-negative decimal integer that fits in 32 bits, as nginx's ngx_atoi
// reads one; `what` names it in messages.
absl::StatusOr<uint32_t> ParseCount(absl::string_view what, absl::string_view text) {
  if (text.empty() || !std::all_of(text.begin(), text.end(), absl::ascii_isdigit)) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " \"", text, "\" is not a non-negative integer"));
  }
  uint64_t value = 0;
  for (char c : text) {
    value = value * 10 + static_cast<uint64_t>(c - '0');
    if (value > std::numeric_limits<uint32_t>::max()) {
      return absl::InvalidArgumentError(absl::StrCat(what, " \"", text, "\" is too large (at most ",
                                                     std::numeric_limits<uint32_t>::max(), ")"));
    }
  }
  return static_cast<uint32_t>(value);
}

// A time that must fit in 32 bits of its unit.
absl::StatusOr<uint32_t> ParseTime32(absl::string_view what, absl::string_view text,
                                     bool in_seconds) {
  absl::StatusOr<uint64_t> time = ParseNginxTime(text, in_seconds);
  if (!time.ok())
    return absl::InvalidArgumentError(absl::StrCat(what, " ", time.status().message()));
  if (*time > std::numeric_limits<uint32_t>::max()) {
    return absl::InvalidArgumentError(absl::StrCat(what, " \"", text, "\" is too long"));
  }
  return static_cast<uint32_t>(*time);
}

absl::Status ParseServer(const BlockCommand& command, Server* server) {
  if (command.words.size() < 2) return CommandError(command, "\"server\" needs an address");
  const std::string& address = command.words[1];
  absl::StatusOr<ServerAddress> parsed = ParseServerAddress(address, kDefaultPort);
  if (!parsed.ok()) return CommandError(command, parsed.status().message());
  server->set_address(address);
  std::set<std::string> seen;
  for (size_t i = 2; i < command.words.size(); ++i) {
    const std::string& word = command.words[i];
    const size_t equals = word.find('=');
    const std::string name = word.substr(0, equals == std::string::npos ? word.size() : equals + 1);
    const absl::string_view value = equals == std::string::npos
                                        ? absl::string_view()
                                        : absl::string_view(word).substr(equals + 1);
    if (!seen.insert(name).second) {
      return CommandError(command, absl::StrCat("server parameter \"", name, "\" is given twice"));
    }
    absl::StatusOr<uint32_t> number = 0u;  // Flags have none.
    if (name == "weight=") {
      number = ParseCount("weight", value);
      if (number.ok()) server->set_weight(*number);
    } else if (name == "max_fails=") {
      number = ParseCount("max_fails", value);
      if (number.ok()) server->set_max_fails(*number);
    } else if (name == "fail_timeout=") {
      number = ParseTime32("fail_timeout", value, /*in_seconds=*/true);
      if (number.ok()) server->set_fail_timeout(*number);
    } else if (name == "max_conns=") {
      number = ParseCount("max_conns", value);
      if (number.ok()) server->set_max_conns(*number);
    } else if (name == "backup") {
      server->set_backup(true);
    } else if (name == "down") {
      server->set_down(true);
    } else {
      return CommandError(command, absl::StrCat("unknown server parameter \"", word,
                                                "\" (known: weight=, max_fails=, fail_timeout=, "
                                                "max_conns=, backup, down)"));
    }
    if (!number.ok()) return CommandError(command, number.status().message());
  }
  return absl::OkStatus();
}

// The name of the balancing method a command sets, for "redefined" errors.
absl::Status SetMethod(const BlockCommand& command, nginx_xds::v1::Method method,
                       std::string* method_command, Upstream* upstream) {
  if (!method_command->empty()) {
    return CommandError(command, absl::StrCat("balancing method redefined: \"", command.words[0],
                                              "\" after \"", *method_command, "\""));
  }
  *method_command = command.words[0];
  upstream->set_method(method);
  return absl::OkStatus();
}

absl::Status NoArguments(const BlockCommand& command) {
  if (command.words.size() == 1) return absl::OkStatus();
  return CommandError(command, absl::StrCat("\"", command.words[0], "\" takes no arguments"));
}

absl::Status OneArgument(const BlockCommand& command) {
  if (command.words.size() == 2) return absl::OkStatus();
  return CommandError(command,
                      absl::StrCat("\"", command.words[0], "\" takes exactly one argument"));
}

}  // namespace

absl::StatusOr<std::vector<BlockCommand>> TokenizeBlock(absl::string_view body) {
  for (size_t i = 0; i < body.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(body[i]);
    if ((c < 0x20 && !IsSpace(body[i])) || c >= 0x7f) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "byte 0x%02x at offset %d: the body must be printable ASCII and white space", c, i));
    }
  }
  std::vector<BlockCommand> commands;
  BlockCommand current;
  size_t start = 0;  // Where the current command's text begins.
  size_t i = 0;
  auto number = [&]() { return static_cast<int>(commands.size()) + 1; };
  auto unexpected = [&](char c) {
    return CommandError(
        number(), body.substr(start, i + 1 - start),
        absl::StrCat("unexpected \"", std::string(1, c), "\"",
                     c == '{' || c == '}' ? ": an upstream body has no blocks" : ""));
  };
  while (true) {
    while (i < body.size() && IsSpace(body[i])) ++i;
    if (i == body.size()) break;
    if (current.words.empty()) start = i;
    const char c = body[i];
    if (c == '#') {
      while (i < body.size() && body[i] != '\n') ++i;
      continue;
    }
    if (c == ';') {
      if (current.words.empty()) return unexpected(c);
      current.number = number();
      current.text = std::string(body.substr(start, i - start));
      commands.push_back(std::move(current));
      current = BlockCommand();
      ++i;
      continue;
    }
    if (c == '{' || c == '}') return unexpected(c);
    std::string word;
    if (c == '"' || c == '\'') {
      ++i;
      bool closed = false;
      while (i < body.size()) {
        if (body[i] == '\\' && i + 1 < body.size()) {
          AppendEscaped(body[i + 1], &word);
          i += 2;
        } else if (body[i] == c) {
          closed = true;
          ++i;
          break;
        } else {
          word += body[i++];
        }
      }
      if (!closed) {
        return CommandError(number(), body.substr(start),
                            absl::StrCat("unterminated quote: no closing ", std::string(1, c)));
      }
      if (i < body.size() && !IsSpace(body[i]) && body[i] != ';') {
        return CommandError(
            number(), body.substr(start, i + 1 - start),
            absl::StrCat("unexpected \"", std::string(1, body[i]), "\" after a quoted word"));
      }
    } else {
      // `{` right after `$` and its `}` belong to a variable: ${name}.
      int variable_braces = 0;
      while (i < body.size()) {
        const char d = body[i];
        if (d == '\\' && i + 1 < body.size()) {
          AppendEscaped(body[i + 1], &word);
          i += 2;
          continue;
        }
        if (d == '{' && !word.empty() && word.back() == '$') {
          ++variable_braces;
        } else if (d == '}' && variable_braces > 0) {
          --variable_braces;
        } else if (IsSpace(d) || d == ';' || d == '{' || d == '}') {
          break;
        }
        word += d;
        ++i;
      }
    }
    current.words.push_back(std::move(word));
  }
  if (!current.words.empty()) {
    return CommandError(number(), body.substr(start),
                        "unexpected end of body: the command has no \";\"");
  }
  return commands;
}

absl::StatusOr<uint64_t> ParseNginxTime(absl::string_view text, bool in_seconds) {
  // Units in the only order nginx accepts them, each at most once.
  struct Unit {
    absl::string_view name;
    uint64_t seconds;
  };
  static constexpr Unit kUnits[] = {{"y", 365 * 24 * 3600},
                                    {"M", 30 * 24 * 3600},
                                    {"w", 7 * 24 * 3600},
                                    {"d", 24 * 3600},
                                    {"h", 3600},
                                    {"m", 60},
                                    {"s", 1},
                                    {"ms", 0}};
  constexpr size_t kMs = 7;
  auto invalid = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("\"", text, "\" is not a time: ", why));
  };
  // Totals are kept in milliseconds; this bounds them well below overflow.
  constexpr uint64_t kMaxMs = uint64_t{1} << 62;
  if (text.empty()) return invalid("empty");
  uint64_t total_ms = 0;
  size_t next_unit = in_seconds ? 0 : 2;
  size_t i = 0;
  while (i < text.size()) {
    size_t digits = i;
    uint64_t value = 0;
    while (digits < text.size() && absl::ascii_isdigit(text[digits])) {
      value = value * 10 + static_cast<uint64_t>(text[digits] - '0');
      if (value > kMaxMs) return invalid("too large");
      ++digits;
    }
    if (digits == i) return invalid("expected a number");
    if (digits == text.size()) {
      // A bare number counts as seconds, and only alone.
      if (i != 0) return invalid("a number after units needs a unit");
      total_ms = value * 1000;
      i = digits;
      break;
    }
    size_t unit = 0;
    size_t unit_length = 1;
    if (text.substr(digits, 2) == "ms") {
      unit = kMs;
      unit_length = 2;
    } else {
      while (unit < kMs && kUnits[unit].name != text.substr(digits, 1)) ++unit;
      if (unit == kMs) {
        return invalid(absl::StrCat("unknown unit \"", text.substr(digits, 1),
                                    "\" (units: ", in_seconds ? "y M " : "", "w d h m s",
                                    in_seconds ? "" : " ms", ")"));
      }
    }
    if (in_seconds && unit == kMs) return invalid("milliseconds are not allowed here");
    if (!in_seconds && unit < 2) return invalid("y and M are not allowed here");
    if (unit < next_unit) return invalid("units must come in decreasing order, each once");
    next_unit = unit + 1;
    const uint64_t unit_ms = unit == kMs ? 1 : kUnits[unit].seconds * 1000;
    if (value > kMaxMs / unit_ms || total_ms > kMaxMs - value * unit_ms) {
      return invalid("too large");
    }
    total_ms += value * unit_ms;
    i = digits + unit_length;
  }
  if (in_seconds) return total_ms / 1000;
  return total_ms;
}

absl::StatusOr<Upstream> ParseUpstreamBlock(absl::string_view body) {
  absl::StatusOr<std::vector<BlockCommand>> commands = TokenizeBlock(body);
  if (!commands.ok()) return commands.status();
  Upstream upstream;
  std::string method_command;
  std::set<std::string> seen;
  std::set<std::string> addresses;
  for (const BlockCommand& command : *commands) {
    const std::string& name = command.words[0];
    absl::Status status;
    if (name == "server") {
      status = ParseServer(command, upstream.add_servers());
      const std::string& added = upstream.servers(upstream.servers_size() - 1).address();
      if (status.ok() && !addresses.insert(added).second) {
        status = CommandError(command, absl::StrCat("server \"", added, "\" is listed twice"));
      }
    } else if (name == "ip_hash" || name == "least_conn" || name == "random") {
      status = NoArguments(command);
      if (status.ok()) {
        status = SetMethod(command,
                           name == "ip_hash"      ? v1::IP_HASH
                           : name == "least_conn" ? v1::LEAST_CONN
                                                  : v1::RANDOM,
                           &method_command, &upstream);
      }
    } else if (name == "hash") {
      if (command.words.size() < 2 || command.words.size() > 3) {
        status = CommandError(command, "\"hash\" takes a key and optionally \"consistent\"");
      } else if (command.words[1].empty()) {
        status = CommandError(command, "\"hash\" needs a non-empty key");
      } else if (command.words.size() == 3 && command.words[2] != "consistent") {
        status = CommandError(command, absl::StrCat("invalid parameter \"", command.words[2],
                                                    "\": only \"consistent\" may follow the key"));
      } else {
        status = SetMethod(command, v1::HASH, &method_command, &upstream);
        upstream.set_hash_key(command.words[1]);
        upstream.set_hash_consistent(command.words.size() == 3);
      }
    } else if (name == "keepalive" || name == "keepalive_requests" || name == "keepalive_time" ||
               name == "keepalive_timeout") {
      status = OneArgument(command);
      if (status.ok() && !seen.insert(name).second) {
        status = CommandError(command, absl::StrCat("\"", name, "\" is duplicate"));
      }
      if (status.ok()) {
        absl::StatusOr<uint32_t> value =
            name == "keepalive" || name == "keepalive_requests"
                ? ParseCount(name, command.words[1])
                : ParseTime32(name, command.words[1], /*in_seconds=*/false);
        if (!value.ok()) {
          status = CommandError(command, value.status().message());
        } else if (name == "keepalive") {
          if (*value == 0) status = CommandError(command, "keepalive must be at least 1");
          upstream.set_keepalive(*value);
        } else if (name == "keepalive_requests") {
          upstream.set_keepalive_requests(*value);
        } else if (name == "keepalive_time") {
          upstream.set_keepalive_time_ms(*value);
        } else {
          upstream.set_keepalive_timeout_ms(*value);
        }
      }
    } else if (name == "zone") {
      status = CommandError(command,
                            "\"zone\" cannot be set here: a zone is shared memory that "
                            "nginx.conf declares");
    } else {
      status = CommandError(command, absl::StrCat("unknown directive \"", name,
                                                  "\" (known: server, ip_hash, least_conn, "
                                                  "random, hash, keepalive, keepalive_requests, "
                                                  "keepalive_time, keepalive_timeout)"));
    }
    if (!status.ok()) return status;
  }
  if (upstream.servers().empty()) {
    return absl::InvalidArgumentError(
        "the body has no \"server\" command: an upstream needs at least one server, e.g. "
        "\"server 127.0.0.1:8080;\"");
  }
  return upstream;
}

}  // namespace nginx_xds
