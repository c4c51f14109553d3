#include "controlplane/xds/snapshot.h"

#include <utility>

#include <openssl/sha.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/upstream_rules.h"
#include "common/xds_mapping.h"
#include "controlplane/xds/client_resources.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"

namespace nginx_xds {

bool IsServedType(const std::string& type_url) {
  return type_url == kClusterTypeUrl || type_url == kEndpointTypeUrl ||
         type_url == kListenerTypeUrl || type_url == kRouteConfigurationTypeUrl;
}

uint64_t VersionBits(const std::string& version) {
  if (version.size() != 16) return 0;
  uint64_t bits = 0;
  for (char c : version) {
    int digit;
    if (c >= '0' && c <= '9') {
      digit = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      digit = c - 'a' + 10;
    } else {
      return 0;
    }
    bits = bits << 4 | static_cast<uint64_t>(digit);
  }
  return bits;
}

PackedResource::PackedResource(const std::string& type_name, std::string bytes) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), digest);
  // 64 bits of SHA-256: versions only tell one resource's states apart.
  version = absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), 8));
  version_bits = VersionBits(version);
  any.set_type_url(absl::StrCat("type.googleapis.com/", type_name));
  any.set_value(std::move(bytes));
}

std::string PackedResource::Serialize(const google::protobuf::Message& message) {
  // Deterministic: map fields (metadata Structs) in key order, so equal
  // messages give equal bytes and equal versions.
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    message.SerializeToCodedStream(&coded);
  }
  return bytes;
}

UpstreamResources::UpstreamResources(nginx_xds::v1::Upstream u)
    : upstream(std::move(u)),
      cluster(ToCluster(upstream)),
      assignment(ToLoadAssignment(upstream)),
      listener(ToListener(upstream.name())),
      route(ToRouteConfiguration(upstream.name())) {}

const PackedResource* UpstreamResources::OfType(const std::string& type_url) const {
  if (type_url == kClusterTypeUrl) return &cluster;
  if (type_url == kEndpointTypeUrl) return &assignment;
  if (type_url == kListenerTypeUrl) return &listener;
  if (type_url == kRouteConfigurationTypeUrl) return &route;
  return nullptr;
}

Snapshot::Snapshot(uint64_t version, const UpstreamMap& upstreams)
    : Snapshot(version, UpstreamTable(upstreams), std::make_shared<ChangeLog>(version)) {}

Snapshot::Snapshot(uint64_t version, UpstreamTable upstreams, std::shared_ptr<ChangeLog> changes)
    : version_(version),
      version_info_(std::to_string(version)),
      upstreams_(std::move(upstreams)),
      changes_(std::move(changes)) {}

std::shared_ptr<const Snapshot> Snapshot::Next(
    uint64_t version, std::vector<std::shared_ptr<const UpstreamResources>> puts,
    const std::vector<std::string>& delete_keys) const {
  std::vector<UpstreamTable::Entry> entries;
  std::vector<std::string> names;
  entries.reserve(puts.size());
  for (auto& resources : puts) {
    std::string key = UpstreamKey(resources->upstream.name());
    // A rename in case only (same key) changes the old name's resources too.
    if (const UpstreamResources* old = upstreams_.Find(key)) names.push_back(old->upstream.name());
    names.push_back(resources->upstream.name());
    entries.emplace_back(std::move(key), std::move(resources));
  }
  for (const std::string& key : delete_keys) {
    if (const UpstreamResources* old = upstreams_.Find(key)) names.push_back(old->upstream.name());
  }
  std::shared_ptr<ChangeLog> changes = changes_;
  // Only the newest snapshot of a line continues it; another Next of an
  // older one starts a line of its own.
  if (!changes->Append(version_, version, std::move(names))) {
    changes = std::make_shared<ChangeLog>(version);
  }
  return std::shared_ptr<const Snapshot>(
      new Snapshot(version, upstreams_.With(entries, delete_keys), std::move(changes)));
}

bool Snapshot::ChangedSince(const Snapshot& older, std::set<std::string>* names) const {
  if (older.changes_ != changes_) return false;
  return changes_->Collect(older.version_, version_, names);
}

const UpstreamResources* Snapshot::Find(const std::string& key) const {
  return upstreams_.Find(key);
}

const PackedResource* Snapshot::FindResource(const std::string& type_url,
                                             const std::string& name) const {
  const UpstreamResources* resources = Find(UpstreamKey(name));
  if (resources == nullptr || resources->upstream.name() != name) return nullptr;
  return resources->OfType(type_url);
}

void Snapshot::FillResponse(const std::string& type_url, bool wildcard,
                            const std::set<std::string>& names,
                            envoy::service::discovery::v3::DiscoveryResponse* response) const {
  response->set_version_info(version_info_);
  response->set_type_url(type_url);
  if (wildcard) {
    for (const auto& [key, resources] : upstreams_) {
      if (const PackedResource* resource = resources->OfType(type_url)) {
        *response->add_resources() = resource->any;
      }
    }
    return;
  }
  for (const std::string& name : names) {
    if (const PackedResource* resource = FindResource(type_url, name)) {
      *response->add_resources() = resource->any;
    }
  }
}

}  // namespace nginx_xds
