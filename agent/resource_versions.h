#ifndef AGENT_RESOURCE_VERSIONS_H_
#define AGENT_RESOURCE_VERSIONS_H_

#include <map>
#include <string>

namespace nginx_xds {

// The Delta xDS versions of the two resources an upstream is made of, as
// the control plane named them; empty when that resource is not held. Kept
// with the cache file so a restarted agent claims them on its first stream
// (initial_resource_versions) and the control plane re-sends nothing.
struct ResourceVersions {
  std::string cluster;
  std::string assignment;

  bool operator==(const ResourceVersions& other) const {
    return cluster == other.cluster && assignment == other.assignment;
  }
  bool operator!=(const ResourceVersions& other) const { return !(*this == other); }
};

// By upstream name.
using ResourceVersionMap = std::map<std::string, ResourceVersions>;

}  // namespace nginx_xds

#endif  // AGENT_RESOURCE_VERSIONS_H_
