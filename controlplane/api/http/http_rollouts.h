#ifndef CONTROLPLANE_API_HTTP_HTTP_ROLLOUTS_H_
#define CONTROLPLANE_API_HTTP_HTTP_ROLLOUTS_H_

#include <string>
#include <vector>

#include "controlplane/api/http/http_message.h"
#include "controlplane/api/http/query.h"
#include "controlplane/rollout/rollout_service.h"

namespace nginx_xds {

// The HTTP face of RolloutService (staged rollouts):
//   GET  /rollouts                  every fleet's open or last rollout
//   GET  /rollouts/FLEET            one fleet's (404 when it has had none)
//   POST /rollouts/FLEET?nodes=ID,ID&label=KEY=VALUE&auto_promote=true
//   POST /rollouts/FLEET/promote[?force=true]
//   POST /rollouts/FLEET/abort
// Each takes format=text (the default) or format=json. Errors carry the gRPC
// API's message, with the status HttpStatusFor gives the rollouts dialect.
// HttpApi routes these paths here. Stateless and thread-safe.
class HttpRollouts {
 public:
  // `rollouts` must outlive this.
  explicit HttpRollouts(RolloutService* rollouts) : rollouts_(rollouts) {}

  // Answers `request` for `path` (decoded, "/rollouts" or under it) with the
  // query's parameters decoded, in order.
  HttpResponse Handle(const HttpRequest& request, const std::string& path,
                      const std::vector<QueryParam>& params) const;

 private:
  RolloutService* const rollouts_;
};

}  // namespace nginx_xds

#endif  // CONTROLPLANE_API_HTTP_HTTP_ROLLOUTS_H_
