// A spec's cost block (or a --cost file): parsing, the rules it follows and
// its documented defaults (docs/cost-model.md). The cost model itself
// (services/analysis/cost_model.h) prices results with it.
#pragma once

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "tcobench/v1/types.pb.h"

namespace tcobench {

// Documented defaults.
inline constexpr double kDefaultUsdPerKwh = 0.15;
inline constexpr double kDefaultPue = 1.2;
inline constexpr double kDefaultGridGramsCo2PerKwh = 400;
inline constexpr double kDefaultLifetimeYears = 4;
inline constexpr double kDefaultMaxPplRatio = 1.05;
inline constexpr double kDefaultMinChoiceAccuracyRatio = 0.98;
inline constexpr double kHoursPerMonth = 730;  // 8760 / 12

// A cost block (the spec's `cost`, or a --cost file) from JSON; unknown
// fields and wrong types are errors.
absl::StatusOr<v1::Cost> ParseCostJson(absl::string_view json);

// Every rule a cost block follows; the first broken one as "cost.field: what".
absl::Status ValidateCost(const v1::Cost& cost);

// The defaults filled in where a field is unset (the accuracy floor's
// defaults are not: they apply only to what was measured).
v1::Cost CostWithDefaults(v1::Cost cost);

}  // namespace tcobench
