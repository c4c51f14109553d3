#include "controlplane/api/http/http_status.h"

namespace nginx_xds {

int HttpStatusFor(const absl::Status& status, HttpDialect dialect) {
  const bool dynamic = dialect == HttpDialect::kDynamic;
  const bool rollouts = dialect == HttpDialect::kRollouts;
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return 400;
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kFailedPrecondition:
      return rollouts ? 409 : 400;
    case absl::StatusCode::kNotFound:
      return dynamic ? 400 : 404;
    case absl::StatusCode::kUnavailable:
      return dialect == HttpDialect::kDyups ? 409 : 503;
    case absl::StatusCode::kAborted:
      return dynamic ? 503 : 409;
    default:
      return 500;
  }
}

}  // namespace nginx_xds
