#ifndef AGENT_BACKOFF_H_
#define AGENT_BACKOFF_H_

#include <functional>

#include "absl/time/time.h"

namespace nginx_xds {

// Jittered exponential backoff for reconnecting to the control plane: the
// n-th delay (n = 0, 1, ...) is drawn uniformly from [b/2, b) with
// b = min(initial * 2^n, max), so retries of many nodes spread out and never
// exceed `max`. Reset() starts over after a good response. Not thread-safe:
// one instance belongs to one thread.
class Backoff {
 public:
  // Returns a number in [0, 1); a seam so tests can pin the jitter.
  using RandomSource = std::function<double()>;

  inline static constexpr absl::Duration kDefaultInitial = absl::Milliseconds(500);
  inline static constexpr absl::Duration kDefaultMax = absl::Seconds(30);

  // `initial` and `max` <= 0 take the defaults; `max` below `initial` is
  // raised to it. A null `random` uses a process-wide uniform generator.
  Backoff(absl::Duration initial, absl::Duration max, RandomSource random = nullptr);

  // The delay before the next attempt; grows the base for the one after.
  absl::Duration Next();

  // Starts the sequence over at `initial`.
  void Reset();

  absl::Duration initial() const { return initial_; }
  absl::Duration max() const { return max_; }

 private:
  absl::Duration initial_;
  absl::Duration max_;
  RandomSource random_;
  // The upper bound of the next delay.
  absl::Duration current_;
};

}  // namespace nginx_xds

#endif  // AGENT_BACKOFF_H_
