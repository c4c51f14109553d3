#include "controlplane/api/http/query.h"

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace nginx_xds {
namespace {

bool IsHexDigit(char c) { return absl::ascii_isxdigit(static_cast<unsigned char>(c)); }

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  return absl::ascii_tolower(static_cast<unsigned char>(c)) - 'a' + 10;
}

}  // namespace

absl::StatusOr<std::string> PercentDecode(absl::string_view text, bool plus_is_space,
                                          absl::string_view what) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%') {
      if (i + 2 >= text.size() || !IsHexDigit(text[i + 1]) || !IsHexDigit(text[i + 2])) {
        return absl::InvalidArgumentError(
            absl::StrCat("malformed percent-encoding \"", text.substr(i, 3), "\" in ", what));
      }
      out += static_cast<char>(HexValue(text[i + 1]) * 16 + HexValue(text[i + 2]));
      i += 2;
    } else if (plus_is_space && text[i] == '+') {
      out += ' ';
    } else {
      out += text[i];
    }
  }
  return out;
}

absl::StatusOr<std::vector<QueryParam>> ParseQuery(absl::string_view query) {
  std::vector<QueryParam> params;
  for (absl::string_view piece : absl::StrSplit(query, '&')) {
    if (piece.empty()) continue;
    const size_t equals = piece.find('=');
    absl::StatusOr<std::string> name = PercentDecode(piece.substr(0, equals), true, "the query");
    if (!name.ok()) return name.status();
    absl::StatusOr<std::string> value =
        equals == absl::string_view::npos
            ? std::string()
            : PercentDecode(piece.substr(equals + 1), true, "the query");
    if (!value.ok()) return value.status();
    if (name->empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("query parameter \"", piece, "\" has no name"));
    }
    params.push_back({*std::move(name), *std::move(value), equals != absl::string_view::npos});
  }
  return params;
}

}  // namespace nginx_xds
