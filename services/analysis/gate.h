// The release gate: a candidate's results against a baseline's, metric by
// metric, under a policy (docs/gate.md). Latency and throughput: the
// distribution-free confidence interval of the shift (Hodges–Lehmann /
// Moses, from the Mann–Whitney null distribution) against the regression
// threshold: wholly on the good side passes, wholly past it fails, only a
// straddling interval is inconclusive. With several runs a side the runs
// decide. Accuracy: a bound with its standard error. A contaminated
// measurement makes its speed metrics inconclusive. Pure code, no I/O.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "tcobench/v1/types.pb.h"

namespace tcobench {

// The policy JSON (camelCase or snake_case); unknown fields are errors.
absl::StatusOr<v1::GatePolicy> ParseGatePolicyJson(absl::string_view json);

// Defaults filled in: alpha 0.01, power 0.8, and, when `metrics` is empty,
// the default metric set; each metric's unset fields take its defaults.
// Unknown metric names and bad values are errors naming the field.
absl::StatusOr<v1::GatePolicy> GatePolicyWithDefaults(v1::GatePolicy policy);

// The metrics the gate knows, for --help and errors.
std::string KnownGateMetrics();

// One sample metric: `baseline` and `candidate` are per-request values of
// the metric (seconds, or tokens per second), positive; the interval rule.
v1::MetricVerdict CompareSamples(const std::string& metric, const v1::GatePolicy::Metric& policy, double alpha,
                                 double power, std::span<const double> baseline, std::span<const double> candidate);

// The same rule on one value per run a side (the metric's statistic over
// each run's requests): used when both sides have several runs.
v1::MetricVerdict CompareRuns(const std::string& metric, const v1::GatePolicy::Metric& policy, double alpha,
                              double power, std::span<const double> baseline_runs,
                              std::span<const double> candidate_runs);

// One value with its standard error against an absolute bound.
v1::MetricVerdict CompareBounded(const std::string& metric, const v1::GatePolicy::Metric& policy, double alpha,
                                 double value, double stderr_value, double baseline_value);

// Every metric of the policy over every result row the two share (variant,
// hardware, prompt and output lengths). `policy` must have its defaults.
v1::GateVerdict EvaluateGate(const v1::ComparisonResult& baseline, const v1::ComparisonResult& candidate,
                             const v1::GatePolicy& policy);

// Each run's value of a sample metric (its statistic over that run's
// requests), in run order; empty when the result row has one run.
std::vector<double> RunFigures(const v1::VariantResult& r, const std::string& metric);

// The A/A split of a result measured with repetitions: the runs whose index
// has this parity (0: runs 0, 2, 4 ...; 1: runs 1, 3, 5 ...), renumbered,
// as a result of their own; used by `gate calibrate` to gate a build
// against itself.
v1::ComparisonResult RunsWithParity(const v1::ComparisonResult& result, int parity);

// The metric names that are per-request samples (gate calibrate reports
// their run-to-run spread).
bool IsSampleMetric(const std::string& metric);

// Exit codes: 0 pass, 1 regression, 3 inconclusive.
int GateExitCode(v1::MetricVerdict::Verdict overall);
std::string VerdictName(v1::MetricVerdict::Verdict v);

}  // namespace tcobench
