// The open-loop load generator's latency histogram (tests/tools/histogram.hpp): its percentiles
// are within the 3% its buckets promise, and never above the largest value counted.
#include "tests/tools/histogram.hpp"

#include <gtest/gtest.h>
#include <cstdint>

namespace {

TEST(Histogram, EmptyHasNoPercentiles) {
  const tools::Histogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.percentile(50), 0u);
  EXPECT_EQ(h.percentile(99.9), 0u);
}

TEST(Histogram, SmallValuesAreExact) {
  tools::Histogram h;
  for (std::uint64_t v = 0; v < 32; ++v) {
    h.record(v);
  }
  EXPECT_EQ(h.percentile(50), 15u);
  EXPECT_EQ(h.percentile(100), 31u);
}

TEST(Histogram, PercentilesOfAUniformSpreadAreWithinThreePercent) {
  tools::Histogram h;
  for (std::uint64_t v = 1; v <= 1'000'000; ++v) {
    h.record(v);
  }
  for (const double p : {50.0, 90.0, 99.0, 99.9}) {
    const double want = p / 100.0 * 1'000'000;
    const double got = static_cast<double>(h.percentile(p));
    EXPECT_GE(got, want * 0.999) << "p" << p;
    EXPECT_LE(got, want * 1.03) << "p" << p;
  }
  EXPECT_EQ(h.max(), 1'000'000u);
  EXPECT_EQ(h.percentile(100), 1'000'000u) << "never above the largest value";
}

TEST(Histogram, ATailIsSeenByTheHighPercentilesOnly) {
  tools::Histogram h;
  for (int i = 0; i < 990; ++i) {
    h.record(1000);
  }
  for (int i = 0; i < 10; ++i) {
    h.record(2'000'000);
  }
  EXPECT_LE(h.percentile(50), 1031u);
  EXPECT_LE(h.percentile(98.9), 1031u);
  EXPECT_GE(h.percentile(99.5), 1'900'000u);
  EXPECT_EQ(h.percentile(100), 2'000'000u);
}

TEST(Histogram, HugeValuesLandInTheLastBucket) {
  tools::Histogram h;
  h.record(std::uint64_t{1} << 62);
  EXPECT_EQ(h.count(), 1u);
  EXPECT_EQ(h.percentile(50), std::uint64_t{1} << 62);
}

}  // namespace
