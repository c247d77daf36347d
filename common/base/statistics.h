// Statistics for benchmark samples: percentiles, mean, standard deviation, a
// bootstrap confidence interval of the median (docs/harness.md), and what the
// release gate tests with: the Mann–Whitney U test, the Hodges–Lehmann shift
// and normal quantiles (docs/gate.md). Pure code, no I/O.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace tcobench {

struct SampleSummary {
  double p50 = 0, p90 = 0, p99 = 0;
  double mean = 0;
  double stddev = 0;                   // sample standard deviation (n - 1); 0 for n < 2
  double ci95_low = 0, ci95_high = 0;  // bootstrap 95% CI of the median
  int64_t n = 0;
};

// The q-quantile (0..1) by linear interpolation between order statistics
// (the "type 7" definition of R and NumPy). values need not be sorted.
double Quantile(std::span<const double> values, double q);

// Percentile bootstrap of the median: `resamples` resamples with replacement
// drawn from a generator seeded with `seed`, so the interval is reproducible.
void BootstrapMedianCi(std::span<const double> values, int resamples, uint64_t seed, double* low,
                       double* high);

// Percentile bootstraps (95%) of a mean, and of a ratio of sums
// sum(numerators) / sum(denominators) over paired values (e.g. tokens over
// seconds per request), reproducible from `seed`. A single value gives
// itself at both ends.
void BootstrapMeanCi(std::span<const double> values, int resamples, uint64_t seed, double* low, double* high);
void BootstrapRatioCi(std::span<const double> numerators, std::span<const double> denominators, int resamples,
                      uint64_t seed, double* low, double* high);

// Everything above; all zero for no values.
SampleSummary Summarize(std::span<const double> values, uint64_t seed = 1, int resamples = 2000);

// The standard normal distribution: its CDF and its quantile function
// (inverse CDF; p in (0, 1), to about 1e-9).
double NormalCdf(double x);
double NormalQuantile(double p);

// The one-sided Mann–Whitney U test that `y` tends to be larger than `x`:
// U counts pairs (x_i, y_j) with y_j > x_i (ties count a half) and p is
// P(U >= observed) under the hypothesis that both come from one
// distribution: exact for small samples without ties, else the normal
// approximation with tie and continuity corrections.
struct MannWhitney {
  double u = 0;
  double p_value = 1;
  bool exact = false;
};
MannWhitney MannWhitneyGreater(std::span<const double> x, std::span<const double> y);

// The Hodges–Lehmann estimate of the shift from x to y: the median of all
// pairwise differences y_j - x_i.
double HodgesLehmannShift(std::span<const double> x, std::span<const double> y);

// The distribution-free confidence bounds of that shift (Moses): the k-th
// smallest and k-th largest pairwise difference, k from the Mann–Whitney
// null distribution (exact up to 50 a side, else normal) so that each bound
// alone holds with probability at least 1 - alpha. A bound the samples are
// too few to give is -inf or +inf (e.g. 3 a side at alpha 0.01).
struct ShiftInterval {
  double low = 0, high = 0;
};
ShiftInterval HodgesLehmannInterval(std::span<const double> x, std::span<const double> y, double alpha);

}  // namespace tcobench
