// A bounded soak (issue 12): for NGINX_XDS_SOAK_SECONDS (20 by default; set
// it through --test_env for a longer run) the control plane takes writes and
// reads over HTTP while well-behaved ADS streams follow every version,
// streams that never read ACK guessed nonces, nodes come and go, and HTTP
// clients trickle. At the end: every well-behaved stream holds the last
// version, every write was answered 200 within a bound, and the process's
// memory grew within a bound.

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/strings/ascii.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/xds_mapping.h"
#include "controlplane/control_plane.h"
#include "envoy/service/discovery/v3/ads.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/controlplane/test_control_plane.h"
#include "tests/testing/raw_http_client.h"

namespace nginx_xds {
namespace {

using envoy::service::discovery::v3::AggregatedDiscoveryService;
using envoy::service::discovery::v3::DiscoveryRequest;
using envoy::service::discovery::v3::DiscoveryResponse;
using nginx_xds::testing::Exchange;
using nginx_xds::testing::RawClient;

constexpr char kFleet[] = "soak";
constexpr int kGoodStreams = 20;
constexpr int kSilentStreams = 5;

// Generous bounds: they catch a stall or a leak, not a slow machine. A write
// held by a node that never answers takes the whole ack timeout (3 s here),
// over this bound.
constexpr absl::Duration kMaxWriteAnswer = absl::Seconds(2);
constexpr double kMaxRssGrowthMib = 64;

double RssMib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    double kib = 0;
    if (line.rfind("VmRSS:", 0) == 0 &&
        absl::SimpleAtod(absl::StripAsciiWhitespace(line.substr(6, line.size() - 9)), &kib)) {
      return kib / 1024;
    }
  }
  return 0;
}

DiscoveryRequest Subscribe(const std::string& node, const char* type_url) {
  DiscoveryRequest request;
  request.mutable_node()->set_id(node);
  request.mutable_node()->set_cluster(kFleet);
  request.set_type_url(type_url);
  return request;
}

class SoakTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ControlPlane::Options options = TestControlPlaneOptions(absl::Seconds(3));
    options.http_header_timeout = absl::Seconds(2);
    auto cp = ControlPlane::Start(options);
    ASSERT_TRUE(cp.ok()) << cp.status();
    cp_ = std::move(*cp);
    channel_target_ = absl::StrCat("127.0.0.1:", cp_->xds_port());
    const char* seconds = getenv("NGINX_XDS_SOAK_SECONDS");
    int parsed = 0;
    if (seconds != nullptr && absl::SimpleAtoi(seconds, &parsed) && parsed > 0) {
      duration_ = absl::Seconds(parsed);
    }
  }

  std::unique_ptr<AggregatedDiscoveryService::Stub> NewStub(int index) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt("nginx_xds.soak", index);
    return AggregatedDiscoveryService::NewStub(
        grpc::CreateCustomChannel(channel_target_, grpc::InsecureChannelCredentials(), args));
  }

  bool Running() const { return absl::Now() < end_; }

  std::unique_ptr<ControlPlane> cp_;
  std::string channel_target_;
  absl::Duration duration_ = absl::Seconds(20);
  absl::Time end_;
};

// Validates, under every kind of client at once, that well-behaved streams
// follow every write, writes are answered in bounded time, and memory stays
// bounded.
TEST_F(SoakTest, WellBehavedClientsAreServedWhileOthersMisbehave) {
  end_ = absl::Now() + duration_;
  std::vector<std::thread> threads;
  std::atomic<bool> stop{false};

  // Well-behaved streams: ACK everything, remember the newest version.
  std::vector<std::atomic<uint64_t>> acked(kGoodStreams);
  // Why a good stream last ended before the end, if it did (for the log).
  std::vector<std::string> ended(kGoodStreams);
  std::atomic<int> reconnects{0};
  // Each reconnects when its stream fails, as an agent does (wait_for_ready
  // rides out a refused connect on a loaded machine); `current` lets the end
  // of the test cancel the stream in flight.
  absl::Mutex streams_mu;
  std::vector<grpc::ClientContext*> current(kGoodStreams, nullptr);
  for (int i = 0; i < kGoodStreams; ++i) {
    threads.emplace_back([&, i] {
      auto stub = NewStub(i);
      uint64_t versions[2] = {0, 0};
      while (!stop) {
        grpc::ClientContext context;
        context.set_wait_for_ready(true);
        {
          absl::MutexLock lock(&streams_mu);
          if (stop) break;
          current[i] = &context;
        }
        auto stream = stub->StreamAggregatedResources(&context);
        stream->Write(Subscribe(absl::StrCat("good-", i), kClusterTypeUrl));
        stream->Write(Subscribe(absl::StrCat("good-", i), kEndpointTypeUrl));
        DiscoveryResponse response;
        while (stream->Read(&response)) {
          DiscoveryRequest ack;
          ack.set_type_url(response.type_url());
          ack.set_version_info(response.version_info());
          ack.set_response_nonce(response.nonce());
          if (!stream->Write(ack)) break;
          uint64_t version = 0;
          if (absl::SimpleAtoi(response.version_info(), &version)) {
            versions[response.type_url() == kClusterTypeUrl ? 0 : 1] = version;
          }
          // SotW to the letter: a type is sent only when it changed (a
          // server change sends no Clusters), so a client that ACKs every
          // response at once runs the newest version it got of either.
          acked[i] = std::max(versions[0], versions[1]);
        }
        {
          absl::MutexLock lock(&streams_mu);
          current[i] = nullptr;
        }
        grpc::Status status = stream->Finish();
        if (!stop) {
          ++reconnects;
          absl::MutexLock lock(&streams_mu);
          ended[i] = absl::StrCat(status.error_code(), " ", status.error_message());
        }
      }
    });
  }

  // Streams that never read and ACK nonces they guess.
  std::vector<std::unique_ptr<grpc::ClientContext>> silent_contexts;
  std::vector<std::unique_ptr<AggregatedDiscoveryService::Stub>> silent_stubs;
  std::vector<std::unique_ptr<grpc::ClientReaderWriter<DiscoveryRequest, DiscoveryResponse>>>
      silent;
  for (int i = 0; i < kSilentStreams; ++i) {
    silent_contexts.push_back(std::make_unique<grpc::ClientContext>());
    silent_stubs.push_back(NewStub(1000 + i));
    silent.push_back(silent_stubs.back()->StreamAggregatedResources(silent_contexts.back().get()));
    silent.back()->Write(Subscribe(absl::StrCat("silent-", i), kClusterTypeUrl));
    for (int guess = 1; guess <= 50; ++guess) {
      DiscoveryRequest ack;
      ack.set_type_url(kClusterTypeUrl);
      ack.set_response_nonce(std::to_string(guess));
      silent.back()->Write(ack);
    }
  }

  // Nodes that come and go: one response, its ACK, gone.
  std::atomic<int> churned{0};
  // Fifty channels, kept: the nodes come and go as streams, not as TCP
  // connections, which would leave thousands of ports in TIME_WAIT.
  std::vector<std::unique_ptr<AggregatedDiscoveryService::Stub>> churn_stubs;
  for (int i = 0; i < 50; ++i) churn_stubs.push_back(NewStub(2000 + i));
  threads.emplace_back([&] {
    for (int i = 0; Running() && !stop; ++i) {
      auto& stub = churn_stubs[i % churn_stubs.size()];
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
      auto stream = stub->StreamAggregatedResources(&context);
      stream->Write(Subscribe(absl::StrCat("churn-", i), kClusterTypeUrl));
      DiscoveryResponse response;
      if (stream->Read(&response)) ++churned;
      context.TryCancel();
      stream->Finish();
    }
  });

  // HTTP clients that trickle a header, one byte every 100 ms.
  threads.emplace_back([&] {
    while (Running() && !stop) {
      RawClient slow(cp_->http_port());
      bool open = slow.Send("GET /list HTTP/1.1\r\nX-Pad: ");
      while (open && Running() && !stop) {
        absl::SleepFor(absl::Milliseconds(100));
        open = slow.Send("a");
      }
    }
  });

  // Readers.
  absl::Mutex mu;
  std::string first_error;  // under mu
  std::atomic<int> reads{0};
  std::atomic<int> read_errors{0};
  threads.emplace_back([&] {
    while (Running() && !stop) {
      const std::string answer = Exchange(
          cp_->http_port(),
          absl::StrCat("GET /list HTTP/1.1\r\nHost: x\r\nX-Xds-Fleet: ", kFleet,
                       "\r\nConnection: close\r\n\r\n"));
      // A connection per request (as curl scripts do), 5 ms apart: the
      // ports in TIME_WAIT stay well inside the ephemeral range.
      absl::SleepFor(absl::Milliseconds(5));
      // 204: dyups' answer before the fleet has an upstream.
      if (answer.rfind("HTTP/1.1 200", 0) == 0 || answer.rfind("HTTP/1.1 204", 0) == 0) {
        ++reads;
      } else if (read_errors++ == 0) {
        absl::MutexLock lock(&mu);
        first_error = answer.empty() ? "(no answer)" : answer.substr(0, 200);
      }
    }
  });

  // Writers: dyups POSTs, each timed from request to answer.
  std::vector<absl::Duration> answers;
  std::atomic<int> write_errors{0};
  uint64_t newest = 0;  // the highest X-Xds-Version answered, under mu
  const double rss_start = RssMib();
  for (int w = 0; w < 2; ++w) {
    threads.emplace_back([&, w] {
      for (int i = 0; Running() && !stop; ++i) {
        const std::string body = absl::StrCat("server 127.0.0.1:", 10000 + (i % 1000), ";");
        const absl::Time start = absl::Now();
        const std::string answer = Exchange(
            cp_->http_port(),
            absl::StrCat("POST /upstream/u", w, "-", i % 20, " HTTP/1.1\r\nHost: x\r\nX-Xds-Fleet: ",
                         kFleet, "\r\nContent-Length: ", body.size(),
                         "\r\nConnection: close\r\n\r\n", body));
        const absl::Duration took = absl::Now() - start;
        if (answer.rfind("HTTP/1.1 200", 0) != 0) {
          if (write_errors++ == 0) {
            absl::MutexLock lock(&mu);
            first_error = answer.empty() ? "(no answer)" : answer.substr(0, 200);
          }
          continue;
        }
        absl::MutexLock lock(&mu);
        answers.push_back(took);
        const size_t at = answer.find("X-Xds-Version: ");
        uint64_t version = 0;
        if (at != std::string::npos &&
            absl::SimpleAtoi(answer.substr(at + 15, answer.find("\r\n", at) - at - 15),
                             &version)) {
          newest = std::max(newest, version);
        }
      }
    });
  }

  while (Running()) absl::SleepFor(absl::Milliseconds(100));
  // The writers and readers stop by themselves; the streams once converged.
  for (size_t i = kGoodStreams; i < threads.size(); ++i) threads[i].join();
  const uint64_t last = newest;
  const absl::Time converge_deadline = absl::Now() + absl::Seconds(20);
  auto converged = [&] {
    return std::all_of(acked.begin(), acked.end(), [&](const auto& a) { return a >= last; });
  };
  while (!converged() && absl::Now() < converge_deadline) absl::SleepFor(absl::Milliseconds(20));
  const double rss_end = RssMib();
  {
    absl::MutexLock lock(&streams_mu);
    stop = true;
    for (grpc::ClientContext* context : current) {
      if (context != nullptr) context->TryCancel();
    }
  }
  for (int i = 0; i < kGoodStreams; ++i) threads[i].join();
  for (auto& context : silent_contexts) context->TryCancel();
  for (auto& stream : silent) stream->Finish();

  std::string behind;
  for (int i = 0; i < kGoodStreams; ++i) {
    if (acked[i] < last) {
      absl::StrAppend(&behind, " good-", i, " at ", acked[i].load(), " (last end: ", ended[i], ")");
    }
  }
  EXPECT_TRUE(converged()) << "well-behaved streams did not reach version " << last << ":"
                           << behind;
  EXPECT_EQ(write_errors.load(), 0) << first_error;
  EXPECT_EQ(read_errors.load(), 0) << first_error;
  ASSERT_FALSE(answers.empty());
  std::sort(answers.begin(), answers.end());
  const absl::Duration p99 = answers[answers.size() * 99 / 100];
  EXPECT_LE(p99, kMaxWriteAnswer) << answers.size() << " writes";
  EXPECT_LE(rss_end - rss_start, kMaxRssGrowthMib);
  EXPECT_GT(churned.load(), 0);
  EXPECT_GT(reads.load(), 0);
  // What the run did, for the log.
  std::cout << "soak: " << absl::FormatDuration(duration_) << ", " << answers.size()
            << " writes (p99 answer " << absl::FormatDuration(p99) << "), " << reads.load()
            << " reads, " << churned.load() << " nodes came and went, " << reconnects.load()
            << " good streams reconnected, RSS " << rss_start
            << " -> " << rss_end << " MiB" << std::endl;
}

}  // namespace
}  // namespace nginx_xds
