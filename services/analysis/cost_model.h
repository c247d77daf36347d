// The cost model: measured results and prices in, $ per million tokens,
// energy, carbon, monthly TCO, the recommendation and the Pareto front out.
// Pure code, no I/O; every formula is in docs/cost-model.md.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/spec/cost_spec.h"
#include "tcobench/v1/types.pb.h"

namespace tcobench {

// An amount as the reports print it: "$1234", "$12.34", "$0.008768".
std::string FormatUsd(double usd);

// The capital recovery factor: the share of a purchase paid each year to
// repay it with interest over its life. rate 0 gives 1 / years.
double CapitalRecoveryFactor(double annual_rate, double years);

// One instance's cost per paid hour: usd_per_hour when rented, else the
// annualised ownership cost (purchase - residual) * CRF + residual * rate,
// over 8760 hours. 0 when neither is given.
double HourlyPrice(const v1::Cost::HardwarePrice& price);

// Prices every result row of `result` with `cost` (the spec's own cost block
// when `cost` is null). Rows keep the result's order.
absl::StatusOr<v1::CostReport> ComputeCostReport(const v1::ComparisonResult& result,
                                                 const v1::Cost* cost = nullptr);

}  // namespace tcobench
