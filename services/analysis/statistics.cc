#include "services/analysis/statistics.h"

#include <algorithm>
#include <cmath>
#include <random>

namespace tcobench {
namespace {

double SortedQuantile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0.0;
  const double pos = std::clamp(q, 0.0, 1.0) * static_cast<double>(sorted.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, sorted.size() - 1);
  const double frac = pos - static_cast<double>(lo);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * frac;
}

}  // namespace

double Quantile(std::span<const double> values, double q) {
  std::vector<double> sorted(values.begin(), values.end());
  std::sort(sorted.begin(), sorted.end());
  return SortedQuantile(sorted, q);
}

void BootstrapMedianCi(std::span<const double> values, int resamples, uint64_t seed, double* low,
                       double* high) {
  *low = *high = 0.0;
  if (values.empty()) return;
  if (values.size() == 1 || resamples <= 0) {
    *low = *high = values[0];
    return;
  }
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<size_t> pick(0, values.size() - 1);
  std::vector<double> medians(static_cast<size_t>(resamples));
  std::vector<double> sample(values.size());
  for (double& m : medians) {
    for (double& v : sample) v = values[pick(rng)];
    std::sort(sample.begin(), sample.end());
    m = SortedQuantile(sample, 0.5);
  }
  std::sort(medians.begin(), medians.end());
  *low = SortedQuantile(medians, 0.025);
  *high = SortedQuantile(medians, 0.975);
}

SampleSummary Summarize(std::span<const double> values, uint64_t seed, int resamples) {
  SampleSummary s;
  s.n = static_cast<int64_t>(values.size());
  if (values.empty()) return s;
  std::vector<double> sorted(values.begin(), values.end());
  std::sort(sorted.begin(), sorted.end());
  s.p50 = SortedQuantile(sorted, 0.5);
  s.p90 = SortedQuantile(sorted, 0.9);
  s.p99 = SortedQuantile(sorted, 0.99);
  double sum = 0;
  for (double v : values) sum += v;
  s.mean = sum / static_cast<double>(values.size());
  if (values.size() > 1) {
    double ss = 0;
    for (double v : values) ss += (v - s.mean) * (v - s.mean);
    s.stddev = std::sqrt(ss / static_cast<double>(values.size() - 1));
  }
  BootstrapMedianCi(values, resamples, seed, &s.ci95_low, &s.ci95_high);
  return s;
}

}  // namespace tcobench
