#ifndef CONTROLPLANE_XDS_ADS_TRAFFIC_H_
#define CONTROLPLANE_XDS_ADS_TRAFFIC_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace nginx_xds {

// What the ADS streams of this process sent: responses and bytes per
// resource type. One process-wide instance, like the process metrics, so
// that a stream counts with one line and no pointer handed down to it; the
// control plane reads it when scraped. Lock-free and thread-safe.
class AdsTraffic {
 public:
  // The types counted apart; every other type URL a client asks for is "other",
  // so the label set stays bounded whatever clients send.
  enum Type { kCluster, kEndpoints, kListener, kRoute, kOther, kTypes };

  static AdsTraffic& Global();

  // One response of `type_url` of `bytes` bytes was handed to gRPC.
  void Sent(absl::string_view type_url, size_t bytes);

  uint64_t responses(Type type) const { return responses_[type].load(std::memory_order_relaxed); }
  uint64_t bytes(Type type) const { return bytes_[type].load(std::memory_order_relaxed); }
  // The label value of `type`: its type URL, or "other".
  static std::string Label(Type type);

 private:
  std::atomic<uint64_t> responses_[kTypes] = {};
  std::atomic<uint64_t> bytes_[kTypes] = {};
};

}  // namespace nginx_xds

#endif  // CONTROLPLANE_XDS_ADS_TRAFFIC_H_
