#define BOOST_TEST_MODULE statistics
#include "common/base/statistics.h"

#include <boost/test/unit_test.hpp>
#include <cmath>
#include <random>
#include <vector>

using namespace tcobench;

BOOST_AUTO_TEST_CASE(quantiles_interpolate_between_order_statistics) {
  const std::vector<double> v = {5, 1, 4, 2, 3};  // unsorted on purpose
  BOOST_TEST(Quantile(v, 0.0) == 1.0);
  BOOST_TEST(Quantile(v, 0.5) == 3.0);
  BOOST_TEST(Quantile(v, 1.0) == 5.0);
  BOOST_TEST(Quantile(v, 0.9) == 4.6, boost::test_tools::tolerance(1e-12));  // 1 + 0.9 * 4 -> 4.6
  BOOST_TEST(Quantile(std::vector<double>{1, 2, 3, 4}, 0.5) == 2.5);
}

BOOST_AUTO_TEST_CASE(summary_of_known_values) {
  const std::vector<double> v = {2, 4, 4, 4, 5, 5, 7, 9};
  const SampleSummary s = Summarize(v);
  BOOST_TEST(s.n == 8);
  BOOST_TEST(s.mean == 5.0);
  BOOST_TEST(s.p50 == 4.5);
  BOOST_TEST(s.stddev == std::sqrt(32.0 / 7.0), boost::test_tools::tolerance(1e-12));
  BOOST_TEST(s.ci95_low <= s.p50);
  BOOST_TEST(s.ci95_high >= s.p50);
  BOOST_TEST(s.ci95_low >= 2.0);
  BOOST_TEST(s.ci95_high <= 9.0);
}

BOOST_AUTO_TEST_CASE(empty_and_single_samples) {
  const SampleSummary empty = Summarize(std::vector<double>{});
  BOOST_TEST(empty.n == 0);
  BOOST_TEST(empty.mean == 0.0);
  const SampleSummary one = Summarize(std::vector<double>{3.5});
  BOOST_TEST(one.p50 == 3.5);
  BOOST_TEST(one.p99 == 3.5);
  BOOST_TEST(one.stddev == 0.0);
  BOOST_TEST(one.ci95_low == 3.5);
  BOOST_TEST(one.ci95_high == 3.5);
}

BOOST_AUTO_TEST_CASE(bootstrap_interval_is_reproducible_and_covers_the_median) {
  std::mt19937 rng(3);
  std::normal_distribution<double> normal(10.0, 2.0);
  int covered = 0;
  const int trials = 200;
  for (int trial = 0; trial < trials; ++trial) {
    std::vector<double> v(60);
    for (double& x : v) x = normal(rng);
    double lo, hi, lo2, hi2;
    BootstrapMedianCi(v, 1000, 42, &lo, &hi);
    BootstrapMedianCi(v, 1000, 42, &lo2, &hi2);
    BOOST_REQUIRE(lo == lo2);  // same seed, same interval
    BOOST_REQUIRE(hi == hi2);
    BOOST_REQUIRE(lo <= hi);
    if (lo <= 10.0 && 10.0 <= hi) ++covered;
  }
  // A 95% interval of the true median (10) covers it in most trials.
  BOOST_TEST(covered >= trials * 85 / 100, covered << "/" << trials);
}
