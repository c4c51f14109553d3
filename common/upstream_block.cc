#include "common/upstream_block.h"

#include <algorithm>
#include <limits>
#include <optional>
#include <set>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/address.h"
#include "common/decimal.h"
#include "common/upstream_rules.h"

namespace nginx_xds {
namespace {

using nginx_xds::v1::Server;
using nginx_xds::v1::Upstream;

// Commands are quoted in messages up to this many characters.
constexpr size_t kMaxQuotedCommand = 80;
// nginx's port for `server` lines without one.
constexpr uint16_t kDefaultPort = 80;
// The model keeps counts and times in 32 bits; nginx in 64.
constexpr uint64_t kMax32 = std::numeric_limits<uint32_t>::max();

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

// nginx's ngx_atoi: decimal digits only, at least one, no larger than
// nginx's ngx_int_t. nullopt where nginx answers NGX_ERROR.
std::optional<uint64_t> NginxAtoi(absl::string_view text) {
  return ParseDecimal(text, static_cast<uint64_t>(std::numeric_limits<int64_t>::max()));
}

// Why ngx_atoi refused `text`, for the detail after nginx's own message.
std::string AtoiProblem(absl::string_view what, absl::string_view text) {
  if (IsDecimal(text)) {
    return absl::StrCat(what, " \"", text, "\" is too large");
  }
  return absl::StrCat(what, " \"", text, "\" is not a non-negative integer");
}

// A value nginx accepts but the model keeps in 32 bits (or, for weight, in
// nginx-xds's 1-1000000, which keeps a cluster's total weight within what
// xDS clients accept).
absl::StatusOr<uint32_t> Fit32(absl::string_view what, absl::string_view text, uint64_t value,
                               uint64_t max) {
  if (value > max) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " \"", text, "\" is too large for nginx-xds (at most ", max, ")"));
  }
  return static_cast<uint32_t>(value);
}

// nginx's message for a server parameter it refuses, with our detail.
absl::Status InvalidParameter(const BlockCommand& command, absl::string_view word,
                              absl::string_view detail) {
  return CommandError(command, absl::StrCat("invalid parameter \"", word, "\"",
                                            detail.empty() ? "" : ": ", detail));
}

// The error ngx_parse_url sets for an upstream server address (its syntax
// only, not name resolution), or "" when nginx reads the address.
std::string NginxAddressProblem(absl::string_view url) {
  if (url.size() >= 5 && absl::EqualsIgnoreCase(url.substr(0, 5), "unix:")) {
    return url.size() == 5 ? "no path in the unix domain socket" : "";
  }
  auto port_ok = [](absl::string_view port) {
    std::optional<uint64_t> n = NginxAtoi(port);
    return n && *n >= 1 && *n <= 65535;
  };
  if (!url.empty() && url[0] == '[') {
    const size_t close = url.find(']');
    if (close == absl::string_view::npos) return "invalid host";
    absl::string_view rest = url.substr(close + 1);
    if (rest.find('/') != absl::string_view::npos) return "invalid host";
    if (!rest.empty()) {
      if (rest[0] != ':') return "invalid host";
      if (!port_ok(rest.substr(1))) return "invalid port";
    }
    if (close == 1) return "no host";
    return "";
  }
  const size_t uri = url.find_first_of("/?");
  if (uri != absl::string_view::npos) return "invalid host";
  const size_t colon = url.find(':');
  absl::string_view host = url;
  if (colon != absl::string_view::npos) {
    if (!port_ok(url.substr(colon + 1))) return "invalid port";
    host = url.substr(0, colon);
  }
  if (host.empty()) return "no host";
  return "";
}

// nginx's `NAME in upstream "ADDR"` for a server address nginx or nginx-xds
// refuses; `detail` is our reason.
absl::Status AddressError(const BlockCommand& command, absl::string_view address,
                          absl::string_view nginx_problem, absl::string_view detail) {
  return CommandError(command, absl::StrCat(nginx_problem, " in upstream \"", address, "\"",
                                            detail.empty() ? "" : ": ", detail));
}

absl::Status CheckAddress(const BlockCommand& command, const std::string& address) {
  absl::StatusOr<ServerAddress> parsed = ParseServerAddress(address, kDefaultPort);
  const std::string nginx = NginxAddressProblem(address);
  if (!nginx.empty()) {
    return AddressError(command, address, nginx, parsed.ok() ? "" : parsed.status().message());
  }
  if (parsed.ok()) return absl::OkStatus();
  // nginx reads it as a host name, which then resolves to nothing (or, in
  // brackets, as an IPv6 literal), except a relative unix path, which nginx-xds refuses (it depends
  // on nginx's working directory).
  if (absl::StartsWithIgnoreCase(address, "unix:")) {
    return CommandError(command, parsed.status().message());
  }
  // A bracketed literal nginx cannot read is no IPv6 address to nginx.
  return AddressError(command, address,
                      absl::StartsWith(address, "[") ? "invalid IPv6 address" : "host not found",
                      parsed.status().message());
}

// One server parameter, as ngx_http_upstream_server reads it.
absl::Status ParseServerParameter(const BlockCommand& command, const std::string& word,
                                  bool backup_allowed, Server* server) {
  auto number = [&](absl::string_view what, size_t prefix, uint64_t max,
                    bool zero_ok) -> absl::StatusOr<uint32_t> {
    absl::string_view text = absl::string_view(word).substr(prefix);
    std::optional<uint64_t> value = NginxAtoi(text);
    if (!value) return InvalidParameter(command, word, AtoiProblem(what, text));
    if (*value == 0 && !zero_ok) {
      return InvalidParameter(command, word, absl::StrCat(what, " must be at least 1"));
    }
    absl::StatusOr<uint32_t> fit = Fit32(what, text, *value, max);
    if (!fit.ok()) return CommandError(command, fit.status().message());
    return fit;
  };
  if (absl::StartsWith(word, "weight=")) {
    absl::StatusOr<uint32_t> weight = number("weight", 7, kMaxWeight, /*zero_ok=*/false);
    if (!weight.ok()) return weight.status();
    server->set_weight(*weight);
  } else if (absl::StartsWith(word, "max_conns=")) {
    absl::StatusOr<uint32_t> max_conns = number("max_conns", 10, kMax32, /*zero_ok=*/true);
    if (!max_conns.ok()) return max_conns.status();
    server->set_max_conns(*max_conns);
  } else if (absl::StartsWith(word, "max_fails=")) {
    absl::StatusOr<uint32_t> max_fails = number("max_fails", 10, kMax32, /*zero_ok=*/true);
    if (!max_fails.ok()) return max_fails.status();
    server->set_max_fails(*max_fails);
  } else if (absl::StartsWith(word, "fail_timeout=")) {
    absl::string_view text = absl::string_view(word).substr(13);
    absl::StatusOr<uint64_t> time = ParseNginxTime(text, /*in_seconds=*/true);
    if (!time.ok()) {
      return InvalidParameter(command, word,
                              absl::StrCat("fail_timeout ", time.status().message()));
    }
    absl::StatusOr<uint32_t> fit = Fit32("fail_timeout", text, *time, kMax32);
    if (!fit.ok()) return CommandError(command, fit.status().message());
    server->set_fail_timeout(*fit);
  } else if (word == "backup") {
    if (!backup_allowed) {
      return CommandError(command,
                          "balancing method does not support parameter \"backup\" (hash, "
                          "ip_hash and random refuse backup servers listed after them)");
    }
    server->set_backup(true);
  } else if (word == "down") {
    server->set_down(true);
  } else {
    return InvalidParameter(command, word,
                            "known: weight=, max_fails=, fail_timeout=, max_conns=, backup, down");
  }
  return absl::OkStatus();
}

// ngx_http_upstream_server: the parameters first, in order (a repeated one
// wins), then the address.
absl::Status ParseServer(const BlockCommand& command, bool backup_allowed, Server* server) {
  if (command.words.size() < 2) {
    return CommandError(command, "invalid number of arguments in \"server\" directive");
  }
  for (size_t i = 2; i < command.words.size(); ++i) {
    absl::Status status = ParseServerParameter(command, command.words[i], backup_allowed, server);
    if (!status.ok()) return status;
  }
  // nginx reads the "unix:" prefix in any case.
  std::string address = command.words[1];
  if (absl::StartsWithIgnoreCase(address, "unix:")) address.replace(0, 5, "unix:");
  absl::Status status = CheckAddress(command, address);
  if (!status.ok()) return status;
  server->set_address(address);
  return absl::OkStatus();
}

absl::Status ArgumentCount(const BlockCommand& command, size_t min, size_t max) {
  const size_t arguments = command.words.size() - 1;
  if (arguments >= min && arguments <= max) return absl::OkStatus();
  return CommandError(
      command, absl::StrCat("invalid number of arguments in \"", command.words[0], "\" directive"));
}

// nginx's balancing method directives: the last one wins (nginx only
// warns "load balancing method redefined"), and hash, ip_hash and random
// refuse `backup` on the servers that follow them.
absl::Status ParseMethod(const BlockCommand& command, bool* backup_allowed, Upstream* upstream) {
  const std::string& name = command.words[0];
  absl::Status status;
  if (name == "least_conn" || name == "ip_hash") {
    status = ArgumentCount(command, 0, 0);
    if (!status.ok()) return status;
    upstream->set_method(name == "least_conn" ? v1::LEAST_CONN : v1::IP_HASH);
  } else if (name == "random") {
    status = ArgumentCount(command, 0, 2);
    if (!status.ok()) return status;
    if (command.words.size() > 1) {
      if (command.words[1] != "two") {
        return CommandError(command, absl::StrCat("invalid parameter \"", command.words[1], "\""));
      }
      if (command.words.size() > 2 && command.words[2] != "least_conn") {
        return CommandError(command, absl::StrCat("invalid parameter \"", command.words[2], "\""));
      }
      return CommandError(command,
                          "\"random two\" is not supported by nginx-xds (only \"random\")");
    }
    upstream->set_method(v1::RANDOM);
  } else {  // hash
    status = ArgumentCount(command, 1, 2);
    if (!status.ok()) return status;
    if (command.words.size() == 3 && command.words[2] != "consistent") {
      return CommandError(command, absl::StrCat("invalid parameter \"", command.words[2], "\""));
    }
    upstream->set_method(v1::HASH);
    upstream->set_hash_key(command.words[1]);
    upstream->set_hash_consistent(command.words.size() == 3);
  }
  if (upstream->method() != v1::HASH) {
    upstream->clear_hash_key();
    upstream->clear_hash_consistent();
  }
  *backup_allowed = upstream->method() == v1::LEAST_CONN;
  return absl::OkStatus();
}

// keepalive (ngx_http_upstream_keepalive) and its siblings (nginx's
// ngx_conf_set_num_slot / ngx_conf_set_msec_slot).
absl::Status ParseKeepalive(const BlockCommand& command, std::set<std::string>* seen,
                            Upstream* upstream) {
  const std::string& name = command.words[0];
  absl::Status status = ArgumentCount(command, 1, 1);
  if (!status.ok()) return status;
  if (!seen->insert(name).second) {
    return CommandError(command, absl::StrCat("\"", name, "\" directive is duplicate"));
  }
  const std::string& text = command.words[1];
  if (name == "keepalive" || name == "keepalive_requests") {
    std::optional<uint64_t> value = NginxAtoi(text);
    if (name == "keepalive" && (!value || *value == 0)) {
      return CommandError(
          command,
          absl::StrCat("invalid value \"", text, "\" in \"keepalive\" directive: ",
                       value ? "keepalive must be at least 1" : AtoiProblem("keepalive", text)));
    }
    if (!value) {
      return CommandError(
          command,
          absl::StrCat("\"", name, "\" directive invalid number: ", AtoiProblem(name, text)));
    }
    absl::StatusOr<uint32_t> fit = Fit32(name, text, *value, kMax32);
    if (!fit.ok()) return CommandError(command, fit.status().message());
    if (name == "keepalive") {
      upstream->set_keepalive(*fit);
    } else {
      upstream->set_keepalive_requests(*fit);
    }
    return absl::OkStatus();
  }
  absl::StatusOr<uint64_t> time = ParseNginxTime(text, /*in_seconds=*/false);
  if (!time.ok()) {
    return CommandError(command, absl::StrCat("\"", name, "\" directive invalid value: ", name, " ",
                                              time.status().message()));
  }
  absl::StatusOr<uint32_t> fit = Fit32(name, text, *time, kMax32);
  if (!fit.ok()) {
    return CommandError(command, absl::StrCat(name, " \"", text, "\" is too long for nginx-xds ",
                                              "(at most ", kMax32, " ms)"));
  }
  if (name == "keepalive_time") {
    upstream->set_keepalive_time_ms(*fit);
  } else {
    upstream->set_keepalive_timeout_ms(*fit);
  }
  return absl::OkStatus();
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
  // ngx_parse_time's steps: each unit once, in this order; a space ends the
  // units (only a bare number may follow it), a bare number at the end counts
  // as seconds.
  enum Step { kStart, kYear, kMonth, kWeek, kDay, kHour, kMin, kSec, kMsec, kLast };
  auto invalid = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("\"", text, "\" is not a time: ", why));
  };
  constexpr int64_t kMaxInt = std::numeric_limits<int64_t>::max();
  bool valid = false;
  int64_t value = 0;
  int64_t total = 0;
  Step step = in_seconds ? kStart : kMonth;
  size_t i = 0;
  while (i < text.size()) {
    const char c = text[i++];
    if (absl::ascii_isdigit(c)) {
      if (value > (kMaxInt - (c - '0')) / 10) return invalid("too large");
      value = value * 10 + (c - '0');
      valid = true;
      continue;
    }
    Step unit;
    int64_t scale;
    switch (c) {
      case 'y':
        if (!in_seconds) return invalid("y and M are not allowed here");
        unit = kYear, scale = 365 * 24 * 3600;
        break;
      case 'M':
        if (!in_seconds) return invalid("y and M are not allowed here");
        unit = kMonth, scale = 30 * 24 * 3600;
        break;
      case 'w':
        unit = kWeek, scale = 7 * 24 * 3600;
        break;
      case 'd':
        unit = kDay, scale = 24 * 3600;
        break;
      case 'h':
        unit = kHour, scale = 3600;
        break;
      case 'm':
        if (i < text.size() && text[i] == 's') {
          if (in_seconds) return invalid("milliseconds are not allowed here");
          ++i;
          unit = kMsec, scale = 1;
        } else {
          unit = kMin, scale = 60;
        }
        break;
      case 's':
        unit = kSec, scale = 1;
        break;
      case ' ':
        unit = kLast, scale = 1;
        if (step >= kSec) return invalid("units must come in decreasing order, each once");
        break;
      default:
        return invalid(absl::StrCat("unknown unit \"", std::string(1, c),
                                    "\" (units: ", in_seconds ? "y M " : "", "w d h m s",
                                    in_seconds ? "" : " ms", ")"));
    }
    if (unit != kLast && unit <= step) {
      return invalid("units must come in decreasing order, each once");
    }
    step = unit;
    int64_t max = kMaxInt / scale;
    if (unit != kMsec && !in_seconds) {
      scale *= 1000;
      max /= 1000;
    }
    if (value > max) return invalid("too large");
    value *= scale;
    if (total > kMaxInt - value) return invalid("too large");
    total += value;
    value = 0;
    while (i < text.size() && text[i] == ' ') ++i;
  }
  if (!valid) return invalid("expected a number");
  if (!in_seconds) {
    if (value > kMaxInt / 1000) return invalid("too large");
    value *= 1000;
  }
  if (total > kMaxInt - value) return invalid("too large");
  return static_cast<uint64_t>(total + value);
}

absl::StatusOr<Upstream> ParseUpstreamBlock(absl::string_view body) {
  absl::StatusOr<std::vector<BlockCommand>> commands = TokenizeBlock(body);
  if (!commands.ok()) return commands.status();
  Upstream upstream;
  bool backup_allowed = true;  // nginx's NGX_HTTP_UPSTREAM_BACKUP flag
  std::set<std::string> seen;
  std::set<std::string> addresses;
  for (const BlockCommand& command : *commands) {
    const std::string& name = command.words[0];
    absl::Status status;
    if (name == "server") {
      Server* server = upstream.add_servers();
      status = ParseServer(command, backup_allowed, server);
      // nginx takes the same server twice; nginx-xds names servers by address.
      if (status.ok() && !addresses.insert(server->address()).second) {
        status = CommandError(command, absl::StrCat("server \"", server->address(),
                                                    "\" is listed twice (nginx-xds names "
                                                    "servers by address)"));
      }
    } else if (name == "ip_hash" || name == "least_conn" || name == "random" || name == "hash") {
      status = ParseMethod(command, &backup_allowed, &upstream);
    } else if (name == "keepalive" || name == "keepalive_requests" || name == "keepalive_time" ||
               name == "keepalive_timeout") {
      status = ParseKeepalive(command, &seen, &upstream);
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
  return upstream;
}

}  // namespace nginx_xds
