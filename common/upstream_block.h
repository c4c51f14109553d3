#ifndef COMMON_UPSTREAM_BLOCK_H_
#define COMMON_UPSTREAM_BLOCK_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nginx_xds/v1/upstream.pb.h"

namespace nginx_xds {

// The text of an nginx `upstream {}` block's body, as dyups' POST takes it:
// a small tokenizer for nginx's directive syntax and a parser for the
// directives an upstream block takes. Pure functions; thread-safe.

// One directive of a block body: its words, with quotes removed and escapes
// applied as nginx does, its number (1-based) and its text as written.
struct BlockCommand {
  std::vector<std::string> words;
  int number = 0;
  std::string text;
};

// Splits `body` into directives the way nginx reads a configuration:
// words separated by white space, `;` ending a directive, `"..."` and
// `'...'` quoting, `\` escapes, `#` comments to the end of the line. The
// body must be printable ASCII and white space. INVALID_ARGUMENT names the
// offending command (or byte offset) and what is wrong: an unterminated
// quote or directive, an empty directive, a block (`{`).
absl::StatusOr<std::vector<BlockCommand>> TokenizeBlock(absl::string_view body);

// nginx's time syntax, as ngx_parse_time reads it: a number of seconds
// ("10"), or numbers with units in decreasing order, each once ("10s",
// "1m30s", "500ms"; units y M w d h m s ms), where a unit may lack its number
// once another has one ("1hm"), a trailing bare number counts as seconds
// ("1m30"), and spaces may follow a unit. Returns seconds when `in_seconds`
// (then "ms" is refused), otherwise milliseconds (then y and M are refused,
// as in nginx). INVALID_ARGUMENT says why `text` is no such time.
absl::StatusOr<uint64_t> ParseNginxTime(absl::string_view text, bool in_seconds);

// Parses the body of an upstream block into an Upstream without a name, as
// nginx 1.22.1's own handlers read it, in order: `server ADDR [weight=N]
// [max_fails=N] [fail_timeout=TIME] [max_conns=N] [backup] [down];` (the
// parameters before the address, a repeated one wins), `ip_hash;`,
// `least_conn;`, `random;`, `hash KEY [consistent];` (the last method wins;
// after hash, ip_hash or random, `backup` is refused), `keepalive N;`,
// `keepalive_requests N;`, `keepalive_time TIME;`, `keepalive_timeout TIME;`.
// INVALID_ARGUMENT names the first bad command and carries nginx's message,
// then our detail ("command 2 (server 10.0.0.1:80 weight=x): invalid
// parameter "weight=x": weight "x" is not a non-negative integer"), or says
// where nginx-xds refuses what nginx takes (`random two`, `zone`, a server
// listed twice, numbers past 32 bits, weight past 1000000). What needs the
// upstream's name or a resolver (no servers, host names) is left to
// NormalizeUpstream.
absl::StatusOr<nginx_xds::v1::Upstream> ParseUpstreamBlock(absl::string_view body);

}  // namespace nginx_xds

#endif  // COMMON_UPSTREAM_BLOCK_H_
