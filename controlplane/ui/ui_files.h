#ifndef CONTROLPLANE_UI_UI_FILES_H_
#define CONTROLPLANE_UI_UI_FILES_H_

#include "absl/strings/string_view.h"

namespace nginx_xds {

// One file of the live fleet page (controlplane/ui/), built into the binary.
struct UiFile {
  // Its name under /ui/: "index.html", "fleet.js", ...
  const char* name;
  const char* content_type;
  const char* body;
};

// The file called `name`; null when the page has none. Thread-safe.
const UiFile* FindUiFile(absl::string_view name);

}  // namespace nginx_xds

#endif  // CONTROLPLANE_UI_UI_FILES_H_
