#include "agent/backoff.h"

#include <algorithm>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/random/random.h"
#include "absl/synchronization/mutex.h"

namespace nginx_xds {
namespace {

double DefaultRandom() {
  static absl::Mutex mu(absl::kConstInit);
  static absl::BitGen* gen ABSL_GUARDED_BY(mu) = new absl::BitGen();
  absl::MutexLock lock(&mu);
  return absl::Uniform(*gen, 0.0, 1.0);
}

}  // namespace

Backoff::Backoff(absl::Duration initial, absl::Duration max, RandomSource random)
    : initial_(initial > absl::ZeroDuration() ? initial : kDefaultInitial),
      max_(max > absl::ZeroDuration() ? max : kDefaultMax),
      random_(random ? std::move(random) : RandomSource(&DefaultRandom)),
      current_(initial_) {
  max_ = std::max(max_, initial_);
}

absl::Duration Backoff::Next() {
  double r = random_();
  // Keep a misbehaving source inside the documented bounds.
  if (!(r >= 0.0)) r = 0.0;
  if (r >= 1.0) r = 0.999999;
  const absl::Duration bound = current_;
  current_ = std::min(current_ * 2, max_);
  return bound / 2 + (bound / 2) * r;
}

void Backoff::Reset() { current_ = initial_; }

}  // namespace nginx_xds
