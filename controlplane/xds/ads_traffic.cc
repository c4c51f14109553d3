#include "controlplane/xds/ads_traffic.h"

#include "common/xds_mapping.h"
#include "controlplane/xds/client_resources.h"

namespace nginx_xds {

AdsTraffic& AdsTraffic::Global() {
  static AdsTraffic* traffic = new AdsTraffic();  // never destroyed: streams may outlive main
  return *traffic;
}

void AdsTraffic::Sent(absl::string_view type_url, size_t bytes) {
  Type type = kOther;
  if (type_url == kClusterTypeUrl) {
    type = kCluster;
  } else if (type_url == kEndpointTypeUrl) {
    type = kEndpoints;
  } else if (type_url == kListenerTypeUrl) {
    type = kListener;
  } else if (type_url == kRouteConfigurationTypeUrl) {
    type = kRoute;
  }
  responses_[type].fetch_add(1, std::memory_order_relaxed);
  bytes_[type].fetch_add(bytes, std::memory_order_relaxed);
}

std::string AdsTraffic::Label(Type type) {
  switch (type) {
    case kCluster:
      return kClusterTypeUrl;
    case kEndpoints:
      return kEndpointTypeUrl;
    case kListener:
      return kListenerTypeUrl;
    case kRoute:
      return kRouteConfigurationTypeUrl;
    default:
      return "other";
  }
}

}  // namespace nginx_xds
