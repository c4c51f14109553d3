#ifndef CONTROLPLANE_API_HTTP_HTTP_STATUS_H_
#define CONTROLPLANE_API_HTTP_HTTP_STATUS_H_

#include "absl/status/status.h"

namespace nginx_xds {

// The HTTP APIs the control plane serves. They map some gRPC codes
// differently because the legacy APIs they imitate did (API-COMPAT A, B);
// every mapping is in HttpStatusFor, nowhere else.
enum class HttpDialect {
  kDynamic,   // ngx_dynamic_upstream's /dynamic
  kDyups,     // dyups' REST API (/upstream/NAME, /list, /detail)
  kRollouts,  // our own /rollouts and /fleet/status
};

// The one gRPC-code -> HTTP-status map:
//
//   code                      /dynamic  dyups  rollouts
//   INVALID_ARGUMENT, OUT_OF_RANGE  400   400    400
//   ALREADY_EXISTS, FAILED_PRECONDITION 400 400  409
//   NOT_FOUND                   400      404    404
//   UNAVAILABLE                 503      409    503
//   ABORTED                     503      409    409
//   anything else               500      500    500
//
// /dynamic answers every mistake of the request with 400 (an unknown zone is
// the caller's 404); dyups' 409 means "send the same command again later".
int HttpStatusFor(const absl::Status& status, HttpDialect dialect);

}  // namespace nginx_xds

#endif  // CONTROLPLANE_API_HTTP_HTTP_STATUS_H_
