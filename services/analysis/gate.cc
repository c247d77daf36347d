#include "services/analysis/gate.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/spec/spec.h"
#include "common/base/statistics.h"
#include "services/analysis/report_cells.h"

namespace tcobench {
namespace {

using Verdict = v1::MetricVerdict::Verdict;

enum class Kind { kSamples, kEnergy, kPplRatio, kMeanKld, kErrorRate, kGoodput, kCapacity };

struct MetricDef {
  const char* name;
  Kind kind;
  const char* direction;
  double quantile;  // the statistic shown for sample metrics
};

const MetricDef kMetrics[] = {
    {"ttft_p50", Kind::kSamples, "lower", 0.5},   {"ttft_p90", Kind::kSamples, "lower", 0.9},
    {"ttft_p99", Kind::kSamples, "lower", 0.99},  {"tpot_p50", Kind::kSamples, "lower", 0.5},
    {"tpot_p90", Kind::kSamples, "lower", 0.9},   {"tpot_p99", Kind::kSamples, "lower", 0.99},
    {"e2e_p50", Kind::kSamples, "lower", 0.5},    {"e2e_p90", Kind::kSamples, "lower", 0.9},
    {"e2e_p99", Kind::kSamples, "lower", 0.99},   {"decode_tokens_per_second", Kind::kSamples, "higher", 0.5},
    {"joules_per_token", Kind::kEnergy, "lower", 0}, {"ppl_ratio", Kind::kPplRatio, "lower", 0},
    {"mean_kld", Kind::kMeanKld, "lower", 0},
    // Endpoint rows (docs/endpoints.md): per load point, and per sweep.
    {"error_rate", Kind::kErrorRate, "lower", 0}, {"goodput", Kind::kGoodput, "higher", 0},
    {"capacity", Kind::kCapacity, "higher", 0},
};

const MetricDef* FindMetric(const std::string& name) {
  for (const MetricDef& m : kMetrics) {
    if (name == m.name) return &m;
  }
  return nullptr;
}

v1::GatePolicy::Metric DefaultMetric(const MetricDef& m) {
  v1::GatePolicy::Metric p;
  p.set_direction(m.direction);
  switch (m.kind) {
    case Kind::kSamples:
      p.set_max_relative_change(0.05);
      p.set_min_effect(0.02);
      break;
    case Kind::kEnergy:
      p.set_max_relative_change(0.10);
      break;
    case Kind::kPplRatio:
      p.set_max_absolute(1.02);
      break;
    case Kind::kMeanKld:
      p.set_max_absolute(0.01);
      break;
    case Kind::kErrorRate:
      p.set_max_absolute(0.01);  // the failed fraction may rise by at most 1 point
      break;
    case Kind::kGoodput:
      p.set_max_relative_change(0.05);
      break;
    case Kind::kCapacity:
      p.set_max_relative_change(0.10);
      break;
  }
  return p;
}

// The per-request values a sample metric tests.
std::vector<double> Samples(const v1::VariantResult& r, const std::string& metric) {
  std::vector<double> out;
  for (const v1::RequestSample& s : r.samples()) {
    double v = 0;
    if (metric.rfind("ttft_", 0) == 0) v = s.ttft_seconds();
    if (metric.rfind("e2e_", 0) == 0) v = s.e2e_seconds();
    if (metric.rfind("tpot_", 0) == 0 && s.output_tokens() >= 2) v = s.tpot_seconds();
    if (metric == "decode_tokens_per_second" && s.output_tokens() >= 2 && s.tpot_seconds() > 0) {
      v = 1 / s.tpot_seconds();
    }
    if (v > 0 && std::isfinite(v)) out.push_back(v);
  }
  return out;
}

std::vector<double> RunFiguresAt(const v1::VariantResult& r, const std::string& metric, double quantile) {
  int runs = 1;
  for (const v1::RequestSample& s : r.samples()) runs = std::max(runs, s.repetition() + 1);
  if (runs < 2) return {};
  std::vector<std::vector<double>> by_run(static_cast<size_t>(runs));
  v1::VariantResult one;
  for (int k = 0; k < runs; ++k) {
    one.clear_samples();
    for (const v1::RequestSample& s : r.samples()) {
      if (s.repetition() == k) *one.add_samples() = s;
    }
    by_run[static_cast<size_t>(k)] = Samples(one, metric);
  }
  std::vector<double> out;
  for (const auto& v : by_run) {
    if (!v.empty()) out.push_back(Quantile(v, quantile));
  }
  return out;
}

// The standard deviation of the values within 4 robust standard deviations
// (1.4826 x the median absolute deviation) of their median: for normal noise
// that is all of them.
double NoiseStddev(const std::vector<double>& v) {
  const double med = Quantile(v, 0.5);
  std::vector<double> dev;
  for (double x : v) dev.push_back(std::abs(x - med));
  const double mad = 1.4826 * Quantile(dev, 0.5);
  if (mad <= 0) return Summarize(v, 1, 0).stddev;
  std::vector<double> kept;
  for (double x : v) {
    if (std::abs(x - med) <= 4 * mad) kept.push_back(x);
  }
  return Summarize(kept, 1, 0).stddev;
}

std::string Pct(double f) { return absl::StrFormat("%+.1f%%", 100 * f); }

// An endpoint row's load point ("" for engine rows, which do not sweep).
std::string LoadOf(const v1::VariantResult& r) {
  return render::RowLoad(r.runtime(), r.target_qps(), r.concurrency());
}

// A row: variant, hardware, prompt and output lengths, load point.
using RowKey = std::tuple<std::string, std::string, int32_t, int32_t, std::string>;
RowKey KeyOf(const v1::VariantResult& r) {
  return {r.variant(), r.hardware(), r.prompt_tokens(), r.output_tokens(), LoadOf(r)};
}

void Label(v1::MetricVerdict* v, const std::string& metric, const v1::VariantResult& r) {
  v->set_metric(metric);
  v->set_variant(r.variant());
  v->set_hardware(r.hardware());
  v->set_prompt_tokens(r.prompt_tokens());
  v->set_output_tokens(r.output_tokens());
  v->set_load(LoadOf(r));
  v->set_runtime(r.runtime().empty() ? "engine" : r.runtime());
  v->set_endpoint(r.endpoint());
}

v1::MetricVerdict Skipped(const std::string& metric, const std::string& why) {
  v1::MetricVerdict v;
  v.set_metric(metric);
  v.set_verdict(v1::MetricVerdict::SKIPPED);
  v.set_detail(why);
  return v;
}

}  // namespace

absl::StatusOr<v1::GatePolicy> ParseGatePolicyJson(absl::string_view json) {
  v1::GatePolicy policy;
  if (absl::Status s = ParseJsonInto(json, &policy, "gate policy"); !s.ok()) return s;
  return policy;
}

std::string KnownGateMetrics() {
  std::vector<std::string> names;
  for (const MetricDef& m : kMetrics) names.push_back(m.name);
  return absl::StrJoin(names, ", ");
}

absl::StatusOr<v1::GatePolicy> GatePolicyWithDefaults(v1::GatePolicy policy) {
  if (policy.alpha() == 0) policy.set_alpha(0.01);
  if (policy.power() == 0) policy.set_power(0.8);
  if (!(policy.alpha() > 0 && policy.alpha() < 0.5)) {
    return absl::InvalidArgumentError("alpha: must be between 0 and 0.5 (0.01 by default)");
  }
  if (!(policy.power() > 0.5 && policy.power() < 1)) {
    return absl::InvalidArgumentError("power: must be between 0.5 and 1 (0.8 by default)");
  }
  if (policy.metrics().empty()) {
    for (const char* name : {"ttft_p99", "tpot_p50", "decode_tokens_per_second", "joules_per_token", "ppl_ratio",
                             "mean_kld", "error_rate", "goodput", "capacity"}) {
      (*policy.mutable_metrics())[name] = DefaultMetric(*FindMetric(name));
    }
    return policy;
  }
  for (auto& [name, m] : *policy.mutable_metrics()) {
    const MetricDef* def = FindMetric(name);
    if (def == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("metrics.", name, ": unknown metric (known: ", KnownGateMetrics(), ")"));
    }
    const v1::GatePolicy::Metric d = DefaultMetric(*def);
    const std::string at = absl::StrCat("metrics.", name);
    if (m.direction().empty()) m.set_direction(d.direction());
    if (m.direction() != "lower" && m.direction() != "higher") {
      return absl::InvalidArgumentError(absl::StrCat(at, ".direction: '", m.direction(), "': lower or higher"));
    }
    for (auto [v, field] : {std::pair{m.max_relative_change(), "max_relative_change"},
                            {m.min_effect(), "min_effect"}, {m.max_absolute(), "max_absolute"}}) {
      if (!std::isfinite(v) || v < 0) return absl::InvalidArgumentError(absl::StrCat(at, ".", field, ": must not be negative"));
    }
    if (def->kind == Kind::kErrorRate) {
      if (m.max_relative_change() != 0 || m.min_effect() != 0) {
        return absl::InvalidArgumentError(
            absl::StrCat(at, ": error_rate takes max_absolute (the rise in the failed fraction it allows)"));
      }
      if (m.max_absolute() == 0) m.set_max_absolute(d.max_absolute());
    } else if (def->kind == Kind::kSamples || def->kind == Kind::kEnergy || def->kind == Kind::kGoodput ||
               def->kind == Kind::kCapacity) {
      if (m.max_absolute() != 0) {
        return absl::InvalidArgumentError(
            absl::StrCat(at, ".max_absolute: applies to ppl_ratio, mean_kld and error_rate only"));
      }
      if (m.max_relative_change() == 0) m.set_max_relative_change(d.max_relative_change());
      if (def->kind == Kind::kSamples && m.min_effect() == 0) m.set_min_effect(d.min_effect());
    } else if (m.max_absolute() == 0) {
      m.set_max_absolute(def->kind == Kind::kPplRatio && m.max_relative_change() > 0 ? 1 + m.max_relative_change()
                                                                                     : d.max_absolute());
    }
  }
  return policy;
}

namespace {

// The regression threshold of a sample metric, as a relative change in the
// worse direction.
double Threshold(const v1::GatePolicy::Metric& policy) {
  return std::max({policy.max_relative_change(), policy.min_effect(), 1e-6});
}

// Logs, signed so that "worse" is larger: a multiplicative change is a shift.
std::vector<double> WorseLogs(std::span<const double> s, bool lower) {
  std::vector<double> out;
  out.reserve(s.size());
  for (double x : s) out.push_back(lower ? std::log(x) : -std::log(x));
  return out;
}

// Runs a side below which no bound at `alpha` exists (a side of n runs
// gives one when 1 / C(2n, n) <= alpha).
int RunsForAlpha(double alpha) {
  for (int n = 2; n < 50; ++n) {
    const std::vector<double> one(static_cast<size_t>(n), 0.0), two(static_cast<size_t>(n), 1.0);
    if (std::isfinite(HodgesLehmannInterval(one, two, alpha).low)) return n;
  }
  return 50;
}

std::string Ci(double lo, double hi) {
  auto end = [](double x) { return std::isfinite(x) ? Pct(x) : std::string(x < 0 ? "-inf" : "+inf"); };
  return absl::StrCat("[", end(lo), ", ", end(hi), "]");
}

// The interval rule (docs/gate.md): the one-sided bounds of the shift of
// the worse-signed logs against the threshold. Fills the verdict, the
// change's interval in the metric's own direction and the detail.
void DecideByInterval(std::span<const double> b, std::span<const double> c, const v1::GatePolicy::Metric& policy,
                      double alpha, double power, const char* level, v1::MetricVerdict* v) {
  const bool lower = policy.direction() != "higher";
  const double t = Threshold(policy), log_t = std::log1p(t);
  const ShiftInterval ci = HodgesLehmannInterval(b, c, alpha);
  const double shift = HodgesLehmannShift(b, c);
  v->set_p_value(MannWhitneyGreater(b, c).p_value);
  v->set_level(level);
  // The change in the metric's own direction: exp(shift) - 1 for
  // lower-is-better metrics, exp(-shift) - 1 for higher-is-better ones.
  auto own = [lower](double s) { return lower ? std::expm1(s) : std::expm1(-s); };
  const double lo = own(lower ? ci.low : ci.high), hi = own(lower ? ci.high : ci.low);
  v->set_change_ci_low(std::isfinite(lo) ? lo : (lo < 0 ? -1 : 1e9));
  v->set_change_ci_high(std::isfinite(hi) ? hi : 1e9);
  const std::string what =
      absl::StrFormat("%s interval of the change %s (%.0f%%, %d vs %d %s), regression threshold %s",
                      level == std::string("runs") ? "run-level" : "per-request", Ci(lo, hi), 100 * (1 - 2 * alpha),
                      b.size(), c.size(), level, Pct(lower ? t : 1 / (1 + t) - 1));
  if (ci.high < log_t) {
    v->set_verdict(v1::MetricVerdict::PASS);
    v->set_detail(absl::StrCat(what, ": wholly on the good side"));
  } else if (ci.low > log_t) {
    v->set_verdict(v1::MetricVerdict::REGRESSION);
    v->set_detail(absl::StrCat(what, ": wholly past it"));
  } else {
    v->set_verdict(v1::MetricVerdict::INCONCLUSIVE);
    if (std::string(level) == "runs" && !std::isfinite(ci.low)) {
      const int need = RunsForAlpha(alpha);
      v->set_repetitions_needed(need);
      v->set_detail(absl::StrCat(what, absl::StrFormat(": %d runs a side give no bound at alpha %.3g; %d would",
                                                       std::min(b.size(), c.size()), alpha, need)));
      return;
    }
    // How many a side would narrow the interval enough to decide: the
    // t-test's count over the Mann–Whitney test's efficiency 3/pi, for the
    // distance between the estimate and the threshold (at least a tenth of
    // the threshold).
    const double n1 = static_cast<double>(b.size()), n2 = static_cast<double>(c.size());
    const double s1 = NoiseStddev({b.begin(), b.end()}), s2 = NoiseStddev({c.begin(), c.end()});
    const double sigma = std::sqrt(((n1 - 1) * s1 * s1 + (n2 - 1) * s2 * s2) / std::max(1.0, n1 + n2 - 2));
    const double gap = std::max(std::abs(log_t - shift), 0.1 * log_t);
    const double z = NormalQuantile(1 - alpha) + NormalQuantile(power);
    const double needed = std::max(2.0, std::ceil(2 * std::pow(z * sigma / gap, 2) * M_PI / 3));
    v->set_repetitions_needed(static_cast<int64_t>(needed));
    v->set_detail(absl::StrCat(what, absl::StrFormat(": straddles it (%.1f%% spread); about %.0f %s a side would decide",
                                                     100 * sigma, needed, level)));
  }
}

// The change of the shown statistic in the metric's own direction, and
// whether it is an improvement.
void SetChange(v1::MetricVerdict* v, const std::string& direction) {
  if (v->baseline_value() > 0) v->set_relative_change(v->candidate_value() / v->baseline_value() - 1);
  v->set_better(direction == "higher" ? v->relative_change() > 0 : v->relative_change() < 0);
}

}  // namespace

v1::MetricVerdict CompareSamples(const std::string& metric, const v1::GatePolicy::Metric& policy, double alpha,
                                 double power, std::span<const double> baseline, std::span<const double> candidate) {
  v1::MetricVerdict v;
  v.set_metric(metric);
  const MetricDef* def = FindMetric(metric);
  const double q = def != nullptr ? def->quantile : 0.5;
  v.set_baseline_n(static_cast<int64_t>(baseline.size()));
  v.set_candidate_n(static_cast<int64_t>(candidate.size()));
  v.set_baseline_value(Quantile(baseline, q));
  v.set_candidate_value(Quantile(candidate, q));
  v.set_threshold(Threshold(policy));
  SetChange(&v, policy.direction());
  if (baseline.size() < 2 || candidate.size() < 2) {
    v.set_verdict(v1::MetricVerdict::INCONCLUSIVE);
    v.set_detail(absl::StrFormat("%d baseline and %d candidate samples: at least 2 a side are needed",
                                 baseline.size(), candidate.size()));
    return v;
  }
  const bool lower = policy.direction() != "higher";
  DecideByInterval(WorseLogs(baseline, lower), WorseLogs(candidate, lower), policy, alpha, power, "requests", &v);
  return v;
}

v1::MetricVerdict CompareRuns(const std::string& metric, const v1::GatePolicy::Metric& policy, double alpha,
                              double power, std::span<const double> baseline_runs,
                              std::span<const double> candidate_runs) {
  v1::MetricVerdict v;
  v.set_metric(metric);
  v.set_baseline_runs(static_cast<int64_t>(baseline_runs.size()));
  v.set_candidate_runs(static_cast<int64_t>(candidate_runs.size()));
  v.set_baseline_value(Quantile(baseline_runs, 0.5));
  v.set_candidate_value(Quantile(candidate_runs, 0.5));
  v.set_threshold(Threshold(policy));
  SetChange(&v, policy.direction());
  const bool lower = policy.direction() != "higher";
  DecideByInterval(WorseLogs(baseline_runs, lower), WorseLogs(candidate_runs, lower), policy, alpha, power, "runs",
                   &v);
  return v;
}

v1::MetricVerdict CompareBounded(const std::string& metric, const v1::GatePolicy::Metric& policy, double alpha,
                                 double value, double stderr_value, double baseline_value) {
  v1::MetricVerdict v;
  v.set_metric(metric);
  v.set_baseline_value(baseline_value);
  v.set_candidate_value(value);
  v.set_threshold(policy.max_absolute());
  if (baseline_value > 0) v.set_relative_change(value / baseline_value - 1);
  const double bound = policy.max_absolute();
  const bool lower = policy.direction() != "higher";
  const double zse = NormalQuantile(1 - alpha) * stderr_value;
  const bool within = lower ? value <= bound : value >= bound;
  const bool clearly_out = lower ? value - zse > bound : value + zse < bound;
  const std::string what = absl::StrFormat("%.6g (standard error %.2g) against the bound %s %.6g", value, stderr_value,
                                           lower ? "<=" : ">=", bound);
  if (within) {
    v.set_verdict(v1::MetricVerdict::PASS);
    v.set_detail(what);
  } else if (clearly_out) {
    v.set_verdict(v1::MetricVerdict::REGRESSION);
    v.set_detail(absl::StrCat(what, ": beyond the bound by more than its standard error allows"));
  } else {
    v.set_verdict(v1::MetricVerdict::INCONCLUSIVE);
    v.set_detail(absl::StrCat(what, ": beyond the bound but within its standard error; evaluate more text to decide"));
  }
  return v;
}

namespace {

// The smallest worse-signed relative change the two readings allow within
// their uncertainties.
double WorstCaseRise(const v1::Energy& eb, const v1::Energy& ec, const std::string& direction) {
  const double lo_c = ec.joules_per_token() * (1 - ec.uncertainty_fraction());
  const double hi_b = eb.joules_per_token() * (1 + eb.uncertainty_fraction());
  const double hi_c = ec.joules_per_token() * (1 + ec.uncertainty_fraction());
  const double lo_b = eb.joules_per_token() * (1 - eb.uncertainty_fraction());
  if (direction == "higher") return hi_c > 0 ? lo_b / hi_c - 1 : 1e9;
  return hi_b > 0 ? lo_c / hi_b - 1 : 1e9;
}

// Energy per token: one value a side, so a bound on the relative change.
v1::MetricVerdict CompareEnergy(const std::string& name, const v1::GatePolicy::Metric& mp, const v1::Energy& eb,
                                const v1::Energy& ec) {
  if (eb.source() == "none" || ec.source() == "none" || eb.joules_per_token() <= 0 || ec.joules_per_token() <= 0) {
    return Skipped(name, "energy not measured on both sides");
  }
  v1::MetricVerdict v;
  v.set_metric(name);
  v.set_baseline_value(eb.joules_per_token());
  v.set_candidate_value(ec.joules_per_token());
  v.set_threshold(mp.max_relative_change());
  SetChange(&v, mp.direction());
  // Worse-signed, for the bound.
  const double rel = mp.direction() == "higher" ? eb.joules_per_token() / ec.joules_per_token() - 1
                                                : ec.joules_per_token() / eb.joules_per_token() - 1;
  const std::string what = absl::StrCat(Pct(v.relative_change()), " (", ec.source(), ", one value a side) ");
  if (eb.source() != ec.source()) {
    v.set_verdict(v1::MetricVerdict::INCONCLUSIVE);
    v.set_detail(absl::StrCat("measured by ", eb.source(), " and by ", ec.source(), ": not comparable"));
  } else if (rel > mp.max_relative_change() && ec.source() == "prometheus" &&
             WorstCaseRise(eb, ec, mp.direction()) <= mp.max_relative_change()) {
    // A Prometheus reading's uncertainty is where its samples fall against
    // the window's ends: it differs between the sides, unlike a model
    // estimate's bias, which both share.
    v.set_verdict(v1::MetricVerdict::INCONCLUSIVE);
    v.set_detail(absl::StrCat(what, "beyond ", Pct(mp.max_relative_change()), " but within the readings' uncertainty (",
                              absl::StrFormat("±%.0f%%, ±%.0f%%", 100 * eb.uncertainty_fraction(),
                                              100 * ec.uncertainty_fraction()),
                              "): measure longer windows"));
  } else if (rel > mp.max_relative_change()) {
    v.set_verdict(v1::MetricVerdict::REGRESSION);
    v.set_detail(absl::StrCat(what, "beyond ", Pct(mp.max_relative_change())));
  } else {
    v.set_verdict(v1::MetricVerdict::PASS);
    v.set_detail(absl::StrCat(what, "within ", Pct(mp.max_relative_change())));
  }
  return v;
}

// The failed fraction of an endpoint row: its rise against the bound, in
// points, like the accuracy bounds (within it passes; past it by more than
// its standard error allows fails). The standard error of the difference of
// two proportions with one success and one failure added a side
// (Agresti–Caffo), so zero failures still have one.
v1::MetricVerdict CompareErrorRate(const std::string& name, const v1::GatePolicy::Metric& mp, double alpha,
                                   const v1::EndpointLoadResult& b, const v1::EndpointLoadResult& c) {
  if (b.requests() <= 0 || c.requests() <= 0) return Skipped(name, "not an endpoint run on both sides");
  const double nb = static_cast<double>(b.requests()), nc = static_cast<double>(c.requests());
  const double rb = static_cast<double>(b.failed()) / nb, rc = static_cast<double>(c.failed()) / nc;
  const double pb = (static_cast<double>(b.failed()) + 1) / (nb + 2), pc = (static_cast<double>(c.failed()) + 1) / (nc + 2);
  const double se = std::sqrt(pb * (1 - pb) / (nb + 2) + pc * (1 - pc) / (nc + 2));
  v1::MetricVerdict v = CompareBounded(name, mp, alpha, rc - rb, se, 0);
  v.set_baseline_value(rb);
  v.set_candidate_value(rc);
  v.set_baseline_n(b.requests());
  v.set_candidate_n(c.requests());
  v.set_relative_change(rc - rb);  // in points: the rise
  v.set_better(rc < rb);
  v.set_detail(absl::StrFormat("failed %d/%d against %d/%d: the rise %s", c.failed(), c.requests(), b.failed(),
                               b.requests(), v.detail()));
  return v;
}

// The variance of the log of a row's measured window, from its requests'
// end-to-end times: a window is as long as its requests take, so it varies
// as their sum, sd(e2e) / mean(e2e) / sqrt(n) relatively. (Under an open
// load whose arrivals keep the window this overstates it: the gate errs
// towards inconclusive, never towards a false regression.)
double WindowLogVariance(const v1::VariantResult& r) {
  std::vector<double> e2e;
  for (const v1::RequestSample& s : r.samples()) {
    if (s.e2e_seconds() > 0) e2e.push_back(s.e2e_seconds());
  }
  if (e2e.size() < 2) return 0;
  double mean = 0;
  for (double x : e2e) mean += x;
  mean /= static_cast<double>(e2e.size());
  double ss = 0;
  for (double x : e2e) ss += (x - mean) * (x - mean);
  const double var = ss / static_cast<double>(e2e.size() - 1);
  return var / (mean * mean) / static_cast<double>(e2e.size());
}

// Goodput at one load point: the ratio of the rates of requests that met
// every SLO bound, with the interval of its log from the good counts
// (binomial given the requests sent; half a request added a side) and
// each side's window (WindowLogVariance).
v1::MetricVerdict CompareGoodput(const std::string& name, const v1::GatePolicy::Metric& mp, double alpha,
                                 const v1::VariantResult& base, const v1::VariantResult& cand) {
  const v1::EndpointLoadResult &b = base.load(), &c = cand.load();
  if (b.requests() <= 0 || c.requests() <= 0) return Skipped(name, "not an endpoint run on both sides");
  v1::MetricVerdict v;
  v.set_metric(name);
  v.set_baseline_value(b.goodput_requests_per_second());
  v.set_candidate_value(c.goodput_requests_per_second());
  v.set_baseline_n(b.requests());
  v.set_candidate_n(c.requests());
  v.set_threshold(mp.max_relative_change());
  SetChange(&v, "higher");
  const double gb = std::round(b.good_fraction() * static_cast<double>(b.requests()));
  const double gc = std::round(c.good_fraction() * static_cast<double>(c.requests()));
  if (gb == 0 && gc == 0) {
    v.set_verdict(v1::MetricVerdict::PASS);
    v.set_detail("no request met the SLO on either side: nothing to lose");
    return v;
  }
  // Each side's window, from its rate and count (a side with no good
  // request: the other's).
  const double wb = gb > 0 ? gb / b.goodput_requests_per_second() : 0, wc = gc > 0 ? gc / c.goodput_requests_per_second() : 0;
  const double window_b = wb > 0 ? wb : wc, window_c = wc > 0 ? wc : wb;
  // Worse-signed: a drop is positive.
  const double shift = std::log((gb + 0.5) / window_b) - std::log((gc + 0.5) / window_c);
  const double se = std::sqrt((1 - b.good_fraction()) / (gb + 0.5) + (1 - c.good_fraction()) / (gc + 0.5) +
                              WindowLogVariance(base) + WindowLogVariance(cand));
  const double z = NormalQuantile(1 - alpha), log_t = std::log1p(std::max(mp.max_relative_change(), 1e-6));
  v.set_change_ci_low(std::expm1(-(shift + z * se)));
  v.set_change_ci_high(std::expm1(-(shift - z * se)));
  const std::string what = absl::StrFormat(
      "%.4g against %.4g good requests/s (%.0f%% vs %.0f%% good): interval of the change %s, regression "
      "threshold %s",
      c.goodput_requests_per_second(), b.goodput_requests_per_second(), 100 * c.good_fraction(),
      100 * b.good_fraction(), Ci(v.change_ci_low(), v.change_ci_high()), Pct(1 / (1 + mp.max_relative_change()) - 1));
  if (shift + z * se < log_t) {
    v.set_verdict(v1::MetricVerdict::PASS);
    v.set_detail(absl::StrCat(what, ": wholly on the good side"));
  } else if (shift - z * se > log_t) {
    v.set_verdict(v1::MetricVerdict::REGRESSION);
    v.set_detail(absl::StrCat(what, ": wholly past it"));
  } else {
    v.set_verdict(v1::MetricVerdict::INCONCLUSIVE);
    v.set_detail(absl::StrCat(what, ": straddles it; more requests a point would decide"));
  }
  return v;
}

// A sweep's capacity (the highest load that met the SLO; 0 when none did)
// and its unit, over one side's rows of a variant, hardware and lengths.
struct Capacity {
  double value = 0;
  bool rate = true;  // requests per second, else users
  int points = 0;
};
Capacity CapacityOf(const std::vector<const v1::VariantResult*>& rows) {
  Capacity c;
  for (const v1::VariantResult* r : rows) {
    ++c.points;
    c.rate = r->target_qps() > 0;
    if (r->load().capacity()) c.value = render::LoadValue(r->target_qps(), r->concurrency());
  }
  return c;
}

// Capacity: one value a side (the sweep's steps are the resolution), so a
// bound on its relative drop.
v1::MetricVerdict CompareCapacity(const std::string& name, const v1::GatePolicy::Metric& mp, const Capacity& b,
                                  const Capacity& c) {
  v1::MetricVerdict v;
  v.set_metric(name);
  v.set_baseline_value(b.value);
  v.set_candidate_value(c.value);
  v.set_baseline_n(b.points);
  v.set_candidate_n(c.points);
  v.set_threshold(mp.max_relative_change());
  SetChange(&v, "higher");
  const char* unit = c.rate ? "req/s" : "users";
  if (b.rate != c.rate) {
    v.set_verdict(v1::MetricVerdict::INCONCLUSIVE);
    v.set_detail("one side swept the request rate, the other the users: not comparable");
  } else if (b.value == 0 && c.value == 0) {
    v.set_verdict(v1::MetricVerdict::INCONCLUSIVE);
    v.set_detail("no load point met the SLO on either side: no capacity to compare");
  } else if (c.value == 0) {
    v.set_verdict(v1::MetricVerdict::REGRESSION);
    v.set_detail(absl::StrFormat("no load point met the SLO (the baseline's capacity: %g %s)", b.value, unit));
  } else if (b.value > 0 && b.value / c.value - 1 > mp.max_relative_change()) {
    v.set_verdict(v1::MetricVerdict::REGRESSION);
    v.set_detail(absl::StrFormat("%g against %g %s (%s; one value a side, the sweep's steps its resolution): beyond %s",
                                 c.value, b.value, unit, Pct(v.relative_change()),
                                 Pct(1 / (1 + mp.max_relative_change()) - 1)));
  } else {
    v.set_verdict(v1::MetricVerdict::PASS);
    v.set_detail(absl::StrFormat("%g against %g %s (one value a side, the sweep's steps its resolution)", c.value,
                                 b.value, unit));
  }
  return v;
}

// One metric of one result row both sides have.
v1::MetricVerdict CompareMetric(const MetricDef& def, const v1::GatePolicy::Metric& mp, const v1::GatePolicy& policy,
                                const v1::VariantResult& base, const v1::VariantResult& cand,
                                const std::string& candidate_baseline) {
  const std::string name = def.name;
  switch (def.kind) {
    case Kind::kSamples: {
      const std::vector<double> b = Samples(base, name), c = Samples(cand, name);
      if (b.empty() && c.empty()) return Skipped(name, "no samples on either side");
      v1::MetricVerdict requests = CompareSamples(name, mp, policy.alpha(), policy.power(), b, c);
      const std::vector<double> br = RunFiguresAt(base, name, def.quantile), cr = RunFiguresAt(cand, name, def.quantile);
      if (br.size() < 2 || cr.size() < 2) return requests;
      // Several runs a side: the runs decide (they carry the noise between
      // runs that the requests of one run cannot show).
      v1::MetricVerdict runs = CompareRuns(name, mp, policy.alpha(), policy.power(), br, cr);
      runs.set_baseline_n(requests.baseline_n());
      runs.set_candidate_n(requests.candidate_n());
      runs.set_detail(absl::StrCat(runs.detail(), "; per-request: ", VerdictName(requests.verdict()), ", ",
                                   Ci(requests.change_ci_low(), requests.change_ci_high())));
      return runs;
    }
    case Kind::kEnergy:
      return CompareEnergy(name, mp, base.energy(), cand.energy());
    case Kind::kPplRatio: {
      const auto &pb = base.accuracy().perplexity(), &pc = cand.accuracy().perplexity();
      if (pb.ppl() <= 0 || pc.ppl() <= 0) return Skipped(name, "perplexity not measured on both sides");
      const double ratio = pc.ppl() / pb.ppl();
      const double se = ratio * std::hypot(pc.ppl_stderr() / pc.ppl(), pb.ppl_stderr() / pb.ppl());
      v1::MetricVerdict v = CompareBounded(name, mp, policy.alpha(), ratio, se, 1);
      v.set_baseline_value(pb.ppl());
      v.set_candidate_value(pc.ppl());
      return v;
    }
    case Kind::kMeanKld: {
      const v1::KldResult& k = cand.accuracy().kld();
      if (cand.variant() == candidate_baseline) {
        return Skipped(name, "the baseline variant (KL divergence is measured against it)");
      }
      if (!k.applicable() || k.scored_tokens() <= 0) {
        return Skipped(name, k.note().empty() ? "KL divergence not measured" : k.note());
      }
      return CompareBounded(name, mp, policy.alpha(), k.mean_kld(), k.mean_kld_stderr(),
                            base.accuracy().kld().mean_kld());
    }
    case Kind::kErrorRate:
      return CompareErrorRate(name, mp, policy.alpha(), base.load(), cand.load());
    case Kind::kGoodput:
      return CompareGoodput(name, mp, policy.alpha(), base, cand);
    case Kind::kCapacity:
      break;  // per sweep, in EvaluateGate
  }
  return Skipped(name, "unknown metric");
}

// Why a row pair's speed and energy cannot be trusted ("" when both
// measurements were clean).
std::string Contamination(const v1::VariantResult& base, const v1::VariantResult& cand) {
  std::vector<std::string> why;
  if (base.interference().contaminated()) why.push_back(absl::StrCat("baseline contaminated (", base.interference().reason(), ")"));
  if (cand.interference().contaminated()) why.push_back(absl::StrCat("candidate contaminated (", cand.interference().reason(), ")"));
  return absl::StrJoin(why, "; ");
}

// A row only one side has.
void Unmatched(const v1::VariantResult& r, const char* why, v1::GateVerdict* out) {
  v1::MetricVerdict* v = out->add_metrics();
  Label(v, "results", r);
  v->set_verdict(v1::MetricVerdict::INCONCLUSIVE);
  v->set_detail(why);
}

// Capacity, per sweep: the endpoint rows of one variant, hardware and
// lengths, on both sides, where either side swept (several load points).
void GateCapacities(const v1::ComparisonResult& baseline, const v1::ComparisonResult& candidate,
                    const v1::GatePolicy::Metric& mp, v1::GateVerdict* out) {
  using SweepKey = std::tuple<std::string, std::string, int32_t, int32_t>;
  std::map<SweepKey, std::pair<std::vector<const v1::VariantResult*>, std::vector<const v1::VariantResult*>>> sweeps;
  auto key = [](const v1::VariantResult& r) {
    return SweepKey{r.variant(), r.hardware(), r.prompt_tokens(), r.output_tokens()};
  };
  for (const v1::VariantResult& r : baseline.results()) {
    if (r.runtime() == "openai") sweeps[key(r)].first.push_back(&r);
  }
  for (const v1::VariantResult& r : candidate.results()) {
    if (r.runtime() == "openai") sweeps[key(r)].second.push_back(&r);
  }
  for (const auto& [k, sides] : sweeps) {
    const auto& [b, c] = sides;
    if (b.empty() || c.empty() || (b.size() < 2 && c.size() < 2)) continue;  // unmatched, or no sweep
    v1::MetricVerdict v = CompareCapacity("capacity", mp, CapacityOf(b), CapacityOf(c));
    Label(&v, "capacity", *c.front());
    v.set_load("");  // the whole sweep
    *out->add_metrics() = std::move(v);
  }
}

}  // namespace

v1::GateVerdict EvaluateGate(const v1::ComparisonResult& baseline, const v1::ComparisonResult& candidate,
                             const v1::GatePolicy& policy) {
  v1::GateVerdict out;
  *out.mutable_policy() = policy;
  std::map<RowKey, const v1::VariantResult*> base_rows;
  for (const v1::VariantResult& r : baseline.results()) base_rows.emplace(KeyOf(r), &r);
  std::set<RowKey> matched;
  // Metrics in name order, so every row's verdicts read the same way.
  const std::map<std::string, v1::GatePolicy::Metric> metrics(policy.metrics().begin(), policy.metrics().end());
  for (const v1::VariantResult& cand : candidate.results()) {
    auto it = base_rows.find(KeyOf(cand));
    if (it == base_rows.end()) {
      Unmatched(cand, "the baseline has no result for this variant, hardware and workload", &out);
      continue;
    }
    matched.insert(it->first);
    for (const auto& [name, mp] : metrics) {
      const MetricDef* def = FindMetric(name);
      if (def == nullptr || def->kind == Kind::kCapacity) continue;  // unknown ones: GatePolicyWithDefaults rejects them
      const bool endpoint_metric = def->kind == Kind::kErrorRate || def->kind == Kind::kGoodput;
      if (endpoint_metric && it->second->runtime() != "openai" && cand.runtime() != "openai") continue;  // engine rows
      v1::MetricVerdict v = CompareMetric(*def, mp, policy, *it->second, cand, candidate.spec().baseline());
      Label(&v, name, cand);
      const bool speed = def->kind == Kind::kSamples || def->kind == Kind::kEnergy || def->kind == Kind::kGoodput;
      if (const std::string why = Contamination(*it->second, cand);
          speed && !why.empty() && !policy.ignore_contamination() && v.verdict() != v1::MetricVerdict::SKIPPED) {
        v.set_detail(absl::StrCat(why, "; on the numbers alone: ", VerdictName(v.verdict()), ", ", v.detail()));
        v.set_verdict(v1::MetricVerdict::INCONCLUSIVE);
      }
      *out.add_metrics() = std::move(v);
    }
  }
  for (const v1::VariantResult& r : baseline.results()) {
    if (matched.count(KeyOf(r)) == 0) {
      Unmatched(r, "the candidate has no result for this variant, hardware and workload", &out);
    }
  }
  if (auto it = metrics.find("capacity"); it != metrics.end()) GateCapacities(baseline, candidate, it->second, &out);
  Verdict overall = v1::MetricVerdict::PASS;
  bool any = false;
  for (const v1::MetricVerdict& v : out.metrics()) {
    if (v.verdict() == v1::MetricVerdict::SKIPPED) continue;
    any = true;
    if (v.verdict() == v1::MetricVerdict::REGRESSION) overall = v1::MetricVerdict::REGRESSION;
    if (v.verdict() == v1::MetricVerdict::INCONCLUSIVE && overall == v1::MetricVerdict::PASS) {
      overall = v1::MetricVerdict::INCONCLUSIVE;
    }
  }
  out.set_overall(any ? overall : v1::MetricVerdict::INCONCLUSIVE);
  return out;
}

std::vector<double> RunFigures(const v1::VariantResult& r, const std::string& metric) {
  const MetricDef* def = FindMetric(metric);
  if (def == nullptr || def->kind != Kind::kSamples) return {};
  return RunFiguresAt(r, metric, def->quantile);
}

bool IsSampleMetric(const std::string& metric) {
  const MetricDef* def = FindMetric(metric);
  return def != nullptr && def->kind == Kind::kSamples;
}

v1::ComparisonResult RunsWithParity(const v1::ComparisonResult& result, int parity) {
  v1::ComparisonResult out = result;
  for (int i = 0; i < out.results_size(); ++i) {
    const v1::VariantResult& in = result.results(i);
    v1::VariantResult* r = out.mutable_results(i);
    r->clear_samples();
    r->clear_run_output_tokens_per_second();
    int runs = 0;
    for (const v1::RequestSample& s : in.samples()) {
      if (s.repetition() % 2 != parity) continue;
      v1::RequestSample* kept = r->add_samples();
      *kept = s;
      kept->set_repetition(s.repetition() / 2);
      runs = std::max(runs, kept->repetition() + 1);
    }
    for (int k = parity; k < in.run_output_tokens_per_second_size(); k += 2) {
      r->add_run_output_tokens_per_second(in.run_output_tokens_per_second(k));
    }
    r->set_repetitions(runs);
  }
  return out;
}

int GateExitCode(v1::MetricVerdict::Verdict overall) {
  switch (overall) {
    case v1::MetricVerdict::PASS:
      return 0;
    case v1::MetricVerdict::REGRESSION:
      return 1;
    default:
      return 3;
  }
}

std::string VerdictName(v1::MetricVerdict::Verdict v) {
  switch (v) {
    case v1::MetricVerdict::PASS:
      return "pass";
    case v1::MetricVerdict::REGRESSION:
      return "regression";
    case v1::MetricVerdict::INCONCLUSIVE:
      return "inconclusive";
    case v1::MetricVerdict::SKIPPED:
      return "skipped";
    default:
      return "unspecified";
  }
}

}  // namespace tcobench
