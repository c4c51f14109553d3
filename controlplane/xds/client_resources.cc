#include "controlplane/xds/client_resources.h"

#include "envoy/extensions/filters/http/router/v3/router.pb.h"
#include "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.pb.h"

namespace nginx_xds {

using envoy::extensions::filters::network::http_connection_manager::v3::HttpConnectionManager;

envoy::config::listener::v3::Listener ToListener(const std::string& upstream_name) {
  HttpConnectionManager manager;
  manager.set_stat_prefix(upstream_name);
  auto* rds = manager.mutable_rds();
  rds->mutable_config_source()->mutable_ads();
  rds->mutable_config_source()->set_resource_api_version(envoy::config::core::v3::V3);
  rds->set_route_config_name(upstream_name);
  auto* router = manager.add_http_filters();
  router->set_name("envoy.filters.http.router");
  router->mutable_typed_config()->PackFrom(envoy::extensions::filters::http::router::v3::Router());

  envoy::config::listener::v3::Listener listener;
  listener.set_name(upstream_name);
  listener.mutable_api_listener()->mutable_api_listener()->PackFrom(manager);
  return listener;
}

envoy::config::route::v3::RouteConfiguration ToRouteConfiguration(
    const std::string& upstream_name) {
  envoy::config::route::v3::RouteConfiguration config;
  config.set_name(upstream_name);
  auto* host = config.add_virtual_hosts();
  host->set_name(upstream_name);
  host->add_domains("*");
  auto* route = host->add_routes();
  route->mutable_match()->set_prefix("");
  route->mutable_route()->set_cluster(upstream_name);
  return config;
}

}  // namespace nginx_xds
