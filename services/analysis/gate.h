// The release gate: a candidate's results against a baseline's, metric by
// metric, under a policy (docs/gate.md). Latency and throughput: a one-sided
// Mann–Whitney U test on the per-request samples together with a minimum
// effect and a power calculation (too noisy to decide = inconclusive, with
// the repetitions that would decide); accuracy: a bound with its standard
// error. Pure code, no I/O.
#pragma once

#include <span>
#include <string>

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
// the metric (seconds, or tokens per second), positive.
v1::MetricVerdict CompareSamples(const std::string& metric, const v1::GatePolicy::Metric& policy, double alpha,
                                 double power, std::span<const double> baseline, std::span<const double> candidate);

// One value with its standard error against an absolute bound.
v1::MetricVerdict CompareBounded(const std::string& metric, const v1::GatePolicy::Metric& policy, double alpha,
                                 double value, double stderr_value, double baseline_value);

// Every metric of the policy over every result row the two share (variant,
// hardware, prompt and output lengths). `policy` must have its defaults.
v1::GateVerdict EvaluateGate(const v1::ComparisonResult& baseline, const v1::ComparisonResult& candidate,
                             const v1::GatePolicy& policy);

// Exit codes: 0 pass, 1 regression, 3 inconclusive.
int GateExitCode(v1::MetricVerdict::Verdict overall);
std::string VerdictName(v1::MetricVerdict::Verdict v);

}  // namespace tcobench
