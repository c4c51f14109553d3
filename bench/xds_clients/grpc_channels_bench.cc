// N proxyless gRPC C++ channels to `xds:///TARGET` in one process (they share
// gRPC's one xDS client, as channels of one process do), timed while they
// follow a write. Driven over stdin, one command per line:
//   await PORT CONSECUTIVE DEADLINE_MS
//     every channel calls helloworld.Greeter/SayHello, --pace_ms apart, until it
//     has answered from backend PORT CONSECUTIVE times in a row (or the
//     deadline passes); prints one JSON line with, in ms from the command's
//     arrival: served_ms (when the last channel's run of answers from PORT
//     began, an upper bound), served_lower_ms (when that channel sent its
//     last request answered by another backend, a lower bound), complete,
//     requests and flaps (an old answer after a channel had switched).
// Bootstrap from GRPC_XDS_BOOTSTRAP. Exits at the end of its input.
//
// Usage: grpc_channels_bench --target=NAME --channels=100 [--pace_ms=20]

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/grpcpp.h"
#include "helloworld.grpc.pb.h"

ABSL_FLAG(std::string, target, "foo", "the upstream to call, as xds:///TARGET");
ABSL_FLAG(int, channels, 100, "how many channels (1-1000)");
ABSL_FLAG(int, pace_ms, 20,
          "pause between one channel's calls: 100 channels calling back to back would "
          "starve the 2-CPU machine (and the xDS client and control plane they measure)");

namespace {

using Clock = std::chrono::steady_clock;

double MsSince(Clock::time_point start, Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(t - start).count();
}

struct ChannelResult {
  bool done = false;
  Clock::time_point switched;     // reception of the first answer of the final run
  Clock::time_point last_old;     // sending of the last request answered by another
  int requests = 0;
  int flaps = 0;
};

ChannelResult Follow(helloworld::Greeter::Stub* stub, const std::string& port, int consecutive,
                     Clock::time_point start, Clock::time_point deadline,
                     std::chrono::milliseconds pace) {
  ChannelResult result;
  result.last_old = start;
  int streak = 0;
  bool seen = false;
  while (Clock::now() < deadline) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(1));
    helloworld::HelloRequest request;
    helloworld::HelloReply reply;
    const Clock::time_point sent = Clock::now();
    grpc::Status status = stub->SayHello(&context, request, &reply);
    const Clock::time_point received = Clock::now();
    ++result.requests;
    if (status.ok() && reply.message() == port) {
      if (streak++ == 0) result.switched = received;
      seen = true;
      if (streak >= consecutive) {
        result.done = true;
        return result;
      }
    } else {
      streak = 0;
      result.last_old = sent;
      if (seen) ++result.flaps;
    }
    std::this_thread::sleep_for(pace);
  }
  return result;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const int count = absl::GetFlag(FLAGS_channels);
  if (count < 1 || count > 1000) {
    std::cerr << "--channels must be 1-1000\n";
    return 2;
  }
  std::vector<std::unique_ptr<helloworld::Greeter::Stub>> stubs;
  for (int i = 0; i < count; ++i) {
    // A distinct argument keeps gRPC from sharing one subchannel pool entry
    // per channel: each channel has its own connections, as separate clients.
    grpc::ChannelArguments args;
    args.SetInt("nginx_xds.bench_channel", i);
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    stubs.push_back(helloworld::Greeter::NewStub(grpc::CreateCustomChannel(
        "xds:///" + absl::GetFlag(FLAGS_target), grpc::InsecureChannelCredentials(), args)));
  }
  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream words(line);
    std::string command, port;
    int consecutive = 0, deadline_ms = 0;
    if (!(words >> command >> port >> consecutive >> deadline_ms) || command != "await" ||
        consecutive < 1 || deadline_ms < 1) {
      std::cerr << "unknown command \"" << line
                << "\"; expected: await PORT CONSECUTIVE DEADLINE_MS\n";
      return 2;
    }
    const Clock::time_point start = Clock::now();
    const Clock::time_point deadline = start + std::chrono::milliseconds(deadline_ms);
    std::vector<ChannelResult> results(count);
    std::vector<std::thread> threads;
    for (int i = 0; i < count; ++i) {
      threads.emplace_back([&, i] {
        results[i] = Follow(stubs[i].get(), port, consecutive, start, deadline,
                            std::chrono::milliseconds(absl::GetFlag(FLAGS_pace_ms)));
      });
    }
    for (auto& thread : threads) thread.join();
    bool complete = true;
    double served = 0, served_lower = 0;
    int requests = 0, flaps = 0;
    for (const ChannelResult& r : results) {
      complete = complete && r.done;
      requests += r.requests;
      flaps += r.flaps;
      if (r.done) {
        served = std::max(served, MsSince(start, r.switched));
        served_lower = std::max(served_lower, MsSince(start, r.last_old));
      }
    }
    google::protobuf::Struct out;
    auto& fields = *out.mutable_fields();
    fields["complete"].set_bool_value(complete);
    fields["served_ms"].set_number_value(served);
    fields["served_lower_ms"].set_number_value(served_lower);
    fields["requests"].set_number_value(requests);
    fields["flaps"].set_number_value(flaps);
    std::string json;
    (void)google::protobuf::util::MessageToJsonString(out, &json);
    std::cout << json << std::endl;
  }
  std::cout.flush();
  std::_Exit(0);  // gRPC 1.51's xDS client may crash in static destructors
}
