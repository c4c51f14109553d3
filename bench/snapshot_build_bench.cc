// The cost of building a fleet's next snapshot for a one-upstream write, at
// 100, 1,000 and 10,000 upstreams of 10 servers: Snapshot::Next (shares
// what the write does not touch) next to what CommitLocked did before it (a
// copy of the map of every upstream). One thread, CPU time.
//
// Its last line is a machine-readable "RESULT key=value ...".

#include <time.h>

#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/upstream_rules.h"
#include "controlplane/xds/snapshot.h"
#include "nginx_xds/v1/upstream.pb.h"

namespace {

double ThreadCpuUs() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

nginx_xds::v1::Upstream MakeUpstream(int index, int weight) {
  nginx_xds::v1::Upstream upstream;
  upstream.set_name(absl::StrCat("u", index));
  for (int s = 0; s < 10; ++s) {
    auto* server = upstream.add_servers();
    server->set_address(absl::StrCat("10.", index / 250 % 250, ".", index % 250, ".", s + 1, ":80"));
    if (s == 0) server->set_weight(weight);
  }
  return upstream;
}

}  // namespace

int main() {
  std::string result = "RESULT";
  for (int n : {100, 1000, 10000}) {
    nginx_xds::Snapshot::UpstreamMap map;
    for (int i = 0; i < n; ++i) {
      map[nginx_xds::UpstreamKey(absl::StrCat("u", i))] =
          std::make_shared<const nginx_xds::UpstreamResources>(MakeUpstream(i, 1));
    }
    auto snapshot = std::make_shared<const nginx_xds::Snapshot>(1, map);
    // The packed resources of each write, made before timing: both ways
    // pack the written upstream alike.
    constexpr int kWrites = 2000;
    std::vector<std::shared_ptr<const nginx_xds::UpstreamResources>> puts;
    for (int w = 0; w < kWrites; ++w) {
      puts.push_back(std::make_shared<const nginx_xds::UpstreamResources>(
          MakeUpstream((w * 7919) % n, 2 + w % 3)));
    }
    double start = ThreadCpuUs();
    for (int w = 0; w < kWrites; ++w) {
      snapshot = snapshot->Next(2 + w, {puts[w]}, {});
    }
    const double next_us = (ThreadCpuUs() - start) / kWrites;
    // Before: every write copied the map of every upstream.
    start = ThreadCpuUs();
    for (int w = 0; w < kWrites; ++w) {
      nginx_xds::Snapshot::UpstreamMap copy = map;
      copy[nginx_xds::UpstreamKey(puts[w]->upstream.name())] = puts[w];
      map.swap(copy);
    }
    const double copy_us = (ThreadCpuUs() - start) / kWrites;
    printf("%d upstreams: Snapshot::Next %.2f us/write, map copy (before) %.2f us/write\n", n,
           next_us, copy_us);
    absl::StrAppend(&result, " next_us_", n, "=", absl::StrFormat("%.2f", next_us), " copy_us_", n,
                    "=", absl::StrFormat("%.2f", copy_us));
  }
  printf("%s\n", result.c_str());
  return 0;
}
