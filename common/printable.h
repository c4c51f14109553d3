#ifndef COMMON_PRINTABLE_H_
#define COMMON_PRINTABLE_H_

#include <string>

#include "absl/strings/string_view.h"

namespace nginx_xds {

// `text` with every byte that is not printable ASCII (below 0x20, 0x7f and
// above) written as \xNN, so a message or a text page can quote anything a
// client or a node sent.
std::string Printable(absl::string_view text);

}  // namespace nginx_xds

#endif  // COMMON_PRINTABLE_H_
