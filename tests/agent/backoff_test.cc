#include "agent/backoff.h"

#include <algorithm>

#include "gtest/gtest.h"

namespace nginx_xds {
namespace {

// A source that always returns `value`.
Backoff::RandomSource Fixed(double value) {
  return [value] { return value; };
}

// Validate the delays double from the initial value (no jitter at r = 0: b/2).
TEST(BackoffTest, GrowsExponentially) {
  Backoff backoff(absl::Milliseconds(500), absl::Seconds(30), Fixed(0.0));
  EXPECT_EQ(backoff.Next(), absl::Milliseconds(250));
  EXPECT_EQ(backoff.Next(), absl::Milliseconds(500));
  EXPECT_EQ(backoff.Next(), absl::Seconds(1));
  EXPECT_EQ(backoff.Next(), absl::Seconds(2));
  EXPECT_EQ(backoff.Next(), absl::Seconds(4));
}

// Validate the upper bound of each delay is min(initial * 2^n, max).
TEST(BackoffTest, CapsAtMax) {
  Backoff backoff(absl::Milliseconds(500), absl::Seconds(30), Fixed(0.999999));
  absl::Duration last = absl::ZeroDuration();
  for (int i = 0; i < 20; ++i) last = backoff.Next();
  EXPECT_LE(last, absl::Seconds(30));
  EXPECT_GE(last, absl::Seconds(29));

  Backoff low(absl::Milliseconds(500), absl::Seconds(30), Fixed(0.0));
  for (int i = 0; i < 20; ++i) last = low.Next();
  EXPECT_EQ(last, absl::Seconds(15));
}

// Validate every jittered delay lies in [b/2, b) for its bound b.
TEST(BackoffTest, JitterStaysWithinBounds) {
  Backoff backoff(absl::Milliseconds(100), absl::Seconds(3));
  absl::Duration bound = absl::Milliseconds(100);
  for (int i = 0; i < 1000; ++i) {
    absl::Duration delay = backoff.Next();
    EXPECT_GE(delay, bound / 2) << "attempt " << i;
    EXPECT_LT(delay, bound) << "attempt " << i;
    bound = std::min(bound * 2, absl::Seconds(3));
    if (i % 10 == 9) {
      backoff.Reset();
      bound = absl::Milliseconds(100);
    }
  }
}

// Validate the jitter actually varies the delays.
TEST(BackoffTest, JitterVaries) {
  Backoff a(absl::Seconds(1), absl::Seconds(1));
  absl::Duration first = a.Next();
  bool varied = false;
  for (int i = 0; i < 100 && !varied; ++i) varied = a.Next() != first;
  EXPECT_TRUE(varied);
}

// Validate a misbehaving random source cannot leave the bounds.
TEST(BackoffTest, ClampsRandomSource) {
  Backoff high(absl::Seconds(1), absl::Seconds(10), Fixed(7.0));
  EXPECT_LT(high.Next(), absl::Seconds(1));
  Backoff negative(absl::Seconds(1), absl::Seconds(10), Fixed(-3.0));
  EXPECT_EQ(negative.Next(), absl::Milliseconds(500));
}

// Validate Reset() starts the sequence over.
TEST(BackoffTest, ResetStartsOver) {
  Backoff backoff(absl::Milliseconds(500), absl::Seconds(30), Fixed(0.0));
  for (int i = 0; i < 6; ++i) backoff.Next();
  backoff.Reset();
  EXPECT_EQ(backoff.Next(), absl::Milliseconds(250));
  EXPECT_EQ(backoff.Next(), absl::Milliseconds(500));
}

// Validate non-positive settings take the defaults and max >= initial.
TEST(BackoffTest, Defaults) {
  Backoff backoff(absl::ZeroDuration(), absl::ZeroDuration(), Fixed(0.0));
  EXPECT_EQ(backoff.initial(), absl::Milliseconds(500));
  EXPECT_EQ(backoff.max(), absl::Seconds(30));
  Backoff inverted(absl::Seconds(5), absl::Seconds(1), Fixed(0.0));
  EXPECT_EQ(inverted.max(), absl::Seconds(5));
}

}  // namespace
}  // namespace nginx_xds
