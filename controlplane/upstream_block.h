#ifndef CONTROLPLANE_UPSTREAM_BLOCK_H_
#define CONTROLPLANE_UPSTREAM_BLOCK_H_

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

// nginx's time syntax (ngx_parse_time): a number of seconds ("10"), or
// numbers with units in decreasing order ("10s", "1m30s", "500ms"; units
// y M w d h m s ms). Returns seconds when `in_seconds` (then "ms" is
// refused), otherwise milliseconds (then y and M are refused, as in
// nginx). INVALID_ARGUMENT when `text` is no such time or overflows.
absl::StatusOr<uint64_t> ParseNginxTime(absl::string_view text, bool in_seconds);

// Parses the body of an upstream block into an Upstream without a name:
// `server ADDR [weight=N] [max_fails=N] [fail_timeout=TIME] [max_conns=N]
// [backup] [down];`, `ip_hash;`, `least_conn;`, `random;`,
// `hash KEY [consistent];`, `keepalive N;`, `keepalive_requests N;`,
// `keepalive_time TIME;`, `keepalive_timeout TIME;`. Every command is
// checked; INVALID_ARGUMENT names the first bad one ("command 2 (server
// 10.0.0.1:80 weight=x): ...") and says what is wrong. Ranges that
// UpstreamService checks anyway (weight 1-1000000, host names) are left to
// it; everything else is checked here.
absl::StatusOr<nginx_xds::v1::Upstream> ParseUpstreamBlock(absl::string_view body);

}  // namespace nginx_xds

#endif  // CONTROLPLANE_UPSTREAM_BLOCK_H_
