#ifndef CONTROLPLANE_XDS_CLIENT_RESOURCES_H_
#define CONTROLPLANE_XDS_CLIENT_RESOURCES_H_

#include <string>

#include "envoy/config/listener/v3/listener.pb.h"
#include "envoy/config/route/v3/route.pb.h"

namespace nginx_xds {

inline constexpr char kListenerTypeUrl[] = "type.googleapis.com/envoy.config.listener.v3.Listener";
inline constexpr char kRouteConfigurationTypeUrl[] =
    "type.googleapis.com/envoy.config.route.v3.RouteConfiguration";

// What a proxyless gRPC client resolves `xds:///NAME` through (gRFC A27),
// for the upstream NAME: an API listener named NAME whose
// HttpConnectionManager takes its routes over RDS on the ADS stream, with
// the router filter as its only (and so last) filter.
envoy::config::listener::v3::Listener ToListener(const std::string& upstream_name);

// The RouteConfiguration that listener names (also NAME): one virtual host
// for every authority, one route that sends every request to the Cluster
// NAME.
envoy::config::route::v3::RouteConfiguration ToRouteConfiguration(const std::string& upstream_name);

}  // namespace nginx_xds

#endif  // CONTROLPLANE_XDS_CLIENT_RESOURCES_H_
