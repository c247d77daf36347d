// Descriptive statistics for benchmark samples: percentiles, mean, standard
// deviation and a bootstrap confidence interval of the median. Pure code, no
// I/O (see docs/statistics.md for the definitions).
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

// Everything above; all zero for no values.
SampleSummary Summarize(std::span<const double> values, uint64_t seed = 1, int resamples = 2000);

}  // namespace tcobench
