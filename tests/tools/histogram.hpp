// A latency histogram with logarithmic buckets, for the open-loop load generator: every value is
// counted (nothing is sampled), in a bucket whose width is at most 1/32 of its lower bound, so a
// percentile read from it is within about 3% of the true value. Values are microseconds, from 0 to
// about 2^40 (12 days); larger ones land in the last bucket.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>

namespace tools {

class Histogram {
 public:
  // Counts one value.
  void record(std::uint64_t micros) noexcept {
    ++buckets_[index(micros)];
    ++count_;
    max_ = std::max(max_, micros);
  }

  // The value at percentile @p p (0 to 100): the upper bound of the bucket that holds it, but
  // never above the largest value recorded. 0 when nothing was recorded.
  [[nodiscard]] std::uint64_t percentile(double p) const noexcept {
    if (count_ == 0) {
      return 0;
    }
    const auto rank = static_cast<std::uint64_t>(p / 100.0 * static_cast<double>(count_) + 0.5);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < kBuckets; ++i) {
      seen += buckets_[i];
      if (seen >= std::max<std::uint64_t>(rank, 1)) {
        return i + 1 == kBuckets ? max_ : std::min(upper_bound(i), max_);  // the last is open
      }
    }
    return max_;
  }

  [[nodiscard]] std::uint64_t count() const noexcept { return count_; }
  [[nodiscard]] std::uint64_t max() const noexcept { return max_; }

 private:
  static constexpr unsigned kSubBits = 5;  // 32 buckets per power of two
  static constexpr unsigned kPowers = 40;
  static constexpr std::size_t kBuckets = (kPowers + 1) << kSubBits;

  // Values below 32 have a bucket each; above, bucket (power, the next 5 bits).
  static std::size_t index(std::uint64_t v) noexcept {
    if (v < (1u << kSubBits)) {
      return static_cast<std::size_t>(v);
    }
    const unsigned power = static_cast<unsigned>(std::bit_width(v)) - 1;
    if (power >= kPowers + kSubBits) {
      return kBuckets - 1;  // beyond the range: the last bucket, open-ended
    }
    const unsigned shift = power - kSubBits;
    const std::uint64_t sub = (v >> shift) & ((1u << kSubBits) - 1);
    return std::min<std::size_t>(((shift + 1) << kSubBits) + sub, kBuckets - 1);
  }

  static std::uint64_t upper_bound(std::size_t i) noexcept {
    if (i < (1u << kSubBits)) {
      return i;
    }
    const unsigned shift = static_cast<unsigned>(i >> kSubBits) - 1;
    const std::uint64_t sub = i & ((1u << kSubBits) - 1);
    return (((1ull << kSubBits) | sub) << shift) + (1ull << shift) - 1;
  }

  std::array<std::uint64_t, kBuckets> buckets_{};
  std::uint64_t count_ = 0;
  std::uint64_t max_ = 0;
};

}  // namespace tools
