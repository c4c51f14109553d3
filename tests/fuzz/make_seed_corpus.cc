// Writes the seed corpora of the proto-fed fuzz targets under DIR (normally
// tests/fuzz/corpus) from a set of upstreams like the unit tests' ones,
// through the project's own encoders, so that the seeds are what a real
// peer sends. The text-fed targets' seeds are plain files kept by hand.
//
//   bazel run //tests/fuzz:make_seed_corpus -- $PWD/tests/fuzz/corpus

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/snapshot_file.h"
#include "common/xds_mapping.h"
#include "envoy/config/core/v3/base.pb.h"
#include "envoy/service/discovery/v3/discovery.pb.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/json_util.h"
#include "nginx_xds/v1/upstream.pb.h"
#include "tests/testing/upstreams.h"

namespace {

using nginx_xds::v1::Upstream;

using nginx_xds::testing::NormalizedUpstream;

// Normalized upstreams covering each method, flag and address kind.
std::vector<Upstream> Upstreams() {
  std::vector<Upstream> upstreams;
  upstreams.push_back(NormalizedUpstream("backends", {"127.0.0.1:6001", "127.0.0.1:6002"}));
  Upstream weighted =
      NormalizedUpstream("weighted", {"10.0.0.1:80", "[::1]:8080", "unix:/tmp/app.sock"});
  weighted.mutable_servers(0)->set_weight(5);
  weighted.mutable_servers(1)->set_down(true);
  weighted.mutable_servers(2)->set_backup(true);
  weighted.mutable_servers(2)->set_max_conns(100);
  weighted.set_method(nginx_xds::v1::LEAST_CONN);
  weighted.set_zone("zone_for_weighted");
  weighted.set_keepalive(16);
  upstreams.push_back(weighted);
  Upstream hashed = NormalizedUpstream("hashed", {"192.168.1.10:443", "192.168.1.11:443"});
  hashed.set_method(nginx_xds::v1::HASH);
  hashed.set_hash_key("$request_uri");
  hashed.set_hash_consistent(true);
  hashed.mutable_servers(1)->set_host("app.internal");
  upstreams.push_back(hashed);
  Upstream ip_hash = NormalizedUpstream("sticky", {"127.0.0.1:8088"});
  ip_hash.set_method(nginx_xds::v1::IP_HASH);
  upstreams.push_back(ip_hash);
  Upstream random = NormalizedUpstream("random", {"127.0.0.1:8089", "127.0.0.1:8090"});
  random.set_method(nginx_xds::v1::RANDOM);
  upstreams.push_back(random);
  return upstreams;
}

std::string Text(const google::protobuf::Message& message) {
  std::string text;
  google::protobuf::TextFormat::Printer printer;
  printer.SetExpandAny(true);
  printer.PrintToString(message, &text);
  return text;
}

bool Write(const std::string& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << contents;
  if (!out) std::fprintf(stderr, "cannot write %s\n", path.c_str());
  return static_cast<bool>(out);
}

envoy::service::discovery::v3::DiscoveryResponse Response(const std::vector<Upstream>& upstreams,
                                                          bool clusters, const std::string& version,
                                                          const std::string& nonce) {
  envoy::service::discovery::v3::DiscoveryResponse response;
  response.set_version_info(version);
  response.set_nonce(nonce);
  response.set_type_url(clusters ? nginx_xds::kClusterTypeUrl : nginx_xds::kEndpointTypeUrl);
  for (const Upstream& upstream : upstreams) {
    if (clusters) {
      response.add_resources()->PackFrom(nginx_xds::ToCluster(upstream));
    } else {
      response.add_resources()->PackFrom(nginx_xds::ToLoadAssignment(upstream));
    }
  }
  return response;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  const std::vector<Upstream> upstreams = Upstreams();
  bool ok = true;
  int i = 0;
  for (const Upstream& upstream : upstreams) {
    ++i;
    // xds_mapping_fuzzer: a response whose first two resources are a
    // Cluster and its assignment.
    envoy::service::discovery::v3::DiscoveryResponse pair;
    pair.add_resources()->PackFrom(nginx_xds::ToCluster(upstream));
    pair.add_resources()->PackFrom(nginx_xds::ToLoadAssignment(upstream));
    ok &=
        Write(absl::StrCat(dir, "/xds_mapping_fuzzer/", upstream.name(), ".textproto"), Text(pair));
    ok &= Write(absl::StrCat(dir, "/xds_mapping_fuzzer/", upstream.name(), ".pb"),
                pair.SerializeAsString());

    // static_upstreams_fuzzer: a Node declaring the upstreams seen so far,
    // as the agent writes them (JSON of Upstream in a Struct).
    envoy::config::core::v3::Node node;
    node.set_id(absl::StrCat("node-", i));
    node.set_cluster("default");
    auto* list = (*(*node.mutable_metadata()->mutable_fields())["nginx"]
                       .mutable_struct_value()
                       ->mutable_fields())["static_upstreams"]
                     .mutable_list_value();
    for (int j = 0; j < i; ++j) {
      std::string json;
      ok &= google::protobuf::util::MessageToJsonString(upstreams[j], &json).ok();
      ok &= google::protobuf::util::JsonStringToMessage(json, list->add_values()).ok();
    }
    ok &= Write(absl::StrCat(dir, "/static_upstreams_fuzzer/node-", i, ".textproto"), Text(node));
  }

  // snapshot_file_fuzzer: files as the agent writes them.
  nginx_xds::v1::Snapshot snapshot;
  snapshot.set_version("7");
  for (const Upstream& upstream : upstreams) *snapshot.add_upstreams() = upstream;
  const std::string temp = absl::StrCat(dir, "/snapshot_file_fuzzer/.tmp");
  for (int count : {0, 1, static_cast<int>(upstreams.size())}) {
    nginx_xds::v1::Snapshot part = snapshot;
    part.mutable_upstreams()->DeleteSubrange(count, part.upstreams_size() - count);
    if (!nginx_xds::SaveSnapshotFile(temp, part).ok()) return 1;
    std::ifstream in(temp, std::ios::binary);
    std::stringstream contents;
    contents << in.rdbuf();
    std::remove(temp.c_str());
    ok &= Write(absl::StrCat(dir, "/snapshot_file_fuzzer/upstreams-", count), contents.str());
  }
  // ... and change logs as the agent appends them, from the empty state.
  nginx_xds::v1::Snapshot log_first = snapshot;
  log_first.mutable_upstreams()->DeleteSubrange(1, log_first.upstreams_size() - 1);
  nginx_xds::v1::Snapshot log_second = snapshot;
  log_second.set_version("8");
  ok &= Write(absl::StrCat(dir, "/snapshot_file_fuzzer/changelog-2"),
              nginx_xds::ChangeLogRecord(nginx_xds::v1::Snapshot(), log_first) +
                  nginx_xds::ChangeLogRecord(log_first, log_second));

  // snapshot_assembler_fuzzer: a stream's responses, CDS then EDS, version
  // after version, and a reconnect.
  const std::string separator = "\n----\n";
  std::vector<Upstream> first(upstreams.begin(), upstreams.begin() + 2);
  std::string stream = Text(Response(first, true, "1", "1")) + separator +
                       Text(Response(first, false, "1", "2")) + separator +
                       Text(Response(upstreams, true, "2", "3")) + separator +
                       Text(Response(upstreams, false, "2", "4"));
  ok &= Write(dir + "/snapshot_assembler_fuzzer/two-versions.textproto", stream);
  std::string reconnect = Text(Response(first, false, "1", "1")) + separator + "nonce: \"reset\"" +
                          separator + Text(Response(first, true, "1", "1")) + separator +
                          Text(Response(first, false, "1", "2"));
  ok &= Write(dir + "/snapshot_assembler_fuzzer/reconnect.textproto", reconnect);
  return ok ? 0 : 1;
}
