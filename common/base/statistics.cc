#include "common/base/statistics.h"

#include <algorithm>
#include <cmath>
#include <limits>
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

// P(U = u), u = 0..m n, for U of the Mann–Whitney test with m and n samples
// from one continuous distribution, by the recurrence
// P(m, n, u) = m/(m+n) P(m-1, n, u) + n/(m+n) P(m, n-1, u-m).
std::vector<double> MannWhitneyNullPmf(int m_max, int n_max) {
  const int u_max = m_max * n_max;
  std::vector<std::vector<double>> prev(n_max + 1), cur(n_max + 1);
  // f(0, n, u) = [u == 0].
  for (int n = 0; n <= n_max; ++n) prev[n].assign(u_max + 1, 0), prev[n][0] = 1;
  for (int m = 1; m <= m_max; ++m) {
    cur[0].assign(u_max + 1, 0);
    cur[0][0] = 1;
    for (int n = 1; n <= n_max; ++n) {
      cur[n].assign(u_max + 1, 0);
      const double pm = static_cast<double>(m) / (m + n), pn = static_cast<double>(n) / (m + n);
      for (int u = 0; u <= m * n; ++u) {
        // The largest value is an x (probability m/(m+n)) and adds
        // nothing to U, or a y, which is larger than all m x's.
        double v = pm * prev[n][u];
        if (u >= m) v += pn * cur[n - 1][u - m];
        cur[n][u] = v;
      }
    }
    std::swap(prev, cur);
  }
  return prev[n_max];
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

namespace {

// The 2.5% and 97.5% quantiles of `stat` over `resamples` resamples (index
// lists drawn with replacement) of n items.
template <typename Stat>
void BootstrapIndices(size_t n, int resamples, uint64_t seed, Stat stat, double* low, double* high) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<size_t> pick(0, n - 1);
  std::vector<size_t> idx(n);
  std::vector<double> stats(static_cast<size_t>(resamples));
  for (double& v : stats) {
    for (size_t& i : idx) i = pick(rng);
    v = stat(idx);
  }
  std::sort(stats.begin(), stats.end());
  *low = SortedQuantile(stats, 0.025);
  *high = SortedQuantile(stats, 0.975);
}

}  // namespace

void BootstrapMeanCi(std::span<const double> values, int resamples, uint64_t seed, double* low, double* high) {
  *low = *high = 0;
  if (values.empty()) return;
  double mean = 0;
  for (double v : values) mean += v / static_cast<double>(values.size());
  *low = *high = mean;
  if (values.size() < 2 || resamples <= 0) return;
  BootstrapIndices(values.size(), resamples, seed, [&](const std::vector<size_t>& idx) {
    double sum = 0;
    for (size_t i : idx) sum += values[i];
    return sum / static_cast<double>(idx.size());
  }, low, high);
}

void BootstrapRatioCi(std::span<const double> num, std::span<const double> den, int resamples, uint64_t seed,
                      double* low, double* high) {
  *low = *high = 0;
  const size_t n = std::min(num.size(), den.size());
  if (n == 0) return;
  auto ratio = [&](auto indices) {
    double a = 0, b = 0;
    for (size_t i : indices) {
      a += num[i];
      b += den[i];
    }
    return b > 0 ? a / b : 0.0;
  };
  std::vector<size_t> all(n);
  for (size_t i = 0; i < n; ++i) all[i] = i;
  *low = *high = ratio(all);
  if (n < 2 || resamples <= 0) return;
  BootstrapIndices(n, resamples, seed, [&](const std::vector<size_t>& idx) { return ratio(idx); }, low, high);
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


double NormalCdf(double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); }

double NormalQuantile(double p) {
  // Acklam's rational approximation, then one Newton step on the CDF.
  static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                             1.383577518672690e+02,  -3.066479806614716e+01, 2.506628277459239e+00};
  static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                             6.680131188771972e+01,  -1.328068155288572e+01};
  static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                             -2.549732539343734e+00, 4.374664141464968e+00,  2.938163982698783e+00};
  static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                             3.754408661907416e+00};
  p = std::clamp(p, 1e-300, 1 - 1e-16);
  double x;
  if (p < 0.02425) {
    const double q = std::sqrt(-2 * std::log(p));
    x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  } else if (p <= 1 - 0.02425) {
    const double q = p - 0.5, r = q * q;
    x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
        (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
  } else {
    const double q = std::sqrt(-2 * std::log(1 - p));
    x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  const double e = NormalCdf(x) - p;
  const double u = e * std::sqrt(2 * M_PI) * std::exp(x * x / 2);
  return x - u / (1 + x * u / 2);
}

MannWhitney MannWhitneyGreater(std::span<const double> x, std::span<const double> y) {
  MannWhitney out;
  const size_t n1 = x.size(), n2 = y.size();
  if (n1 == 0 || n2 == 0) return out;
  // Ranks of the pooled samples (ties share the mean rank).
  std::vector<std::pair<double, int>> pooled;
  pooled.reserve(n1 + n2);
  for (double v : x) pooled.push_back({v, 0});
  for (double v : y) pooled.push_back({v, 1});
  std::sort(pooled.begin(), pooled.end());
  double rank_sum_y = 0, tie_term = 0;
  bool ties = false;
  for (size_t i = 0; i < pooled.size();) {
    size_t j = i;
    while (j < pooled.size() && pooled[j].first == pooled[i].first) ++j;
    const double t = static_cast<double>(j - i);
    if (t > 1) {
      ties = true;
      tie_term += t * t * t - t;
    }
    const double rank = (static_cast<double>(i + j) + 1) / 2;  // mean of ranks i+1..j
    for (size_t k = i; k < j; ++k) {
      if (pooled[k].second == 1) rank_sum_y += rank;
    }
    i = j;
  }
  const double dn1 = static_cast<double>(n1), dn2 = static_cast<double>(n2);
  out.u = rank_sum_y - dn2 * (dn2 + 1) / 2;
  if (!ties && n1 <= 50 && n2 <= 50) {
    const std::vector<double> pmf = MannWhitneyNullPmf(static_cast<int>(n1), static_cast<int>(n2));
    const int u_obs = static_cast<int>(std::lround(out.u));
    double tail = 0;
    for (size_t u = static_cast<size_t>(u_obs); u < pmf.size(); ++u) tail += pmf[u];
    out.p_value = std::clamp(tail, 0.0, 1.0);
    out.exact = true;
    return out;
  }
  const double mean = dn1 * dn2 / 2;
  const double n = dn1 + dn2;
  const double var = dn1 * dn2 / 12 * ((n + 1) - tie_term / (n * (n - 1)));
  if (var <= 0) {
    out.p_value = out.u > mean ? 0 : 1;
    return out;
  }
  const double z = (out.u - mean - 0.5) / std::sqrt(var);
  out.p_value = 1 - NormalCdf(z);
  return out;
}

double HodgesLehmannShift(std::span<const double> x, std::span<const double> y) {
  if (x.empty() || y.empty()) return 0;
  std::vector<double> d;
  d.reserve(x.size() * y.size());
  for (double a : x) {
    for (double b : y) d.push_back(b - a);
  }
  const size_t mid = d.size() / 2;
  std::nth_element(d.begin(), d.begin() + static_cast<ptrdiff_t>(mid), d.end());
  if (d.size() % 2 == 1) return d[mid];
  const double hi = d[mid];
  const double lo = *std::max_element(d.begin(), d.begin() + static_cast<ptrdiff_t>(mid));
  return (lo + hi) / 2;
}

ShiftInterval HodgesLehmannInterval(std::span<const double> x, std::span<const double> y, double alpha) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  ShiftInterval out{-kInf, kInf};
  const size_t m = x.size(), n = y.size();
  if (m == 0 || n == 0) return out;
  // k: the largest count with P(U < k) <= alpha; the bounds are the k-th
  // smallest and k-th largest of the m n differences.
  int64_t k = 0;
  if (m <= 50 && n <= 50) {
    const std::vector<double> pmf = MannWhitneyNullPmf(static_cast<int>(m), static_cast<int>(n));
    double below = 0;  // P(U < k)
    while (k < static_cast<int64_t>(pmf.size()) && below + pmf[static_cast<size_t>(k)] <= alpha) {
      below += pmf[static_cast<size_t>(k)];
      ++k;
    }
  } else {
    const double dm = static_cast<double>(m), dn = static_cast<double>(n);
    k = static_cast<int64_t>(
        std::floor(dm * dn / 2 - NormalQuantile(1 - alpha) * std::sqrt(dm * dn * (dm + dn + 1) / 12)));
  }
  if (k < 1) return out;
  std::vector<double> d;
  d.reserve(m * n);
  for (double a : x) {
    for (double b : y) d.push_back(b - a);
  }
  std::sort(d.begin(), d.end());
  out.low = d[static_cast<size_t>(k - 1)];
  out.high = d[d.size() - static_cast<size_t>(k)];
  return out;
}

}  // namespace tcobench
