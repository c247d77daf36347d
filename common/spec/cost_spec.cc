#include "common/spec/cost_spec.h"

#include <cmath>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/spec/spec.h"

namespace tcobench {

absl::StatusOr<v1::Cost> ParseCostJson(absl::string_view json) {
  v1::Cost cost;
  if (absl::Status s = ParseJsonInto(json, &cost, "cost block"); !s.ok()) return s;
  return cost;
}

absl::Status ValidateCost(const v1::Cost& c) {
  auto finite_non_negative = [](double v) { return std::isfinite(v) && v >= 0; };
  if (!finite_non_negative(c.energy_usd_per_kwh()))
    return FieldError("cost.energyUsdPerKwh", "must not be negative");
  if (!std::isfinite(c.pue()) || (c.pue() != 0 && c.pue() < 1)) {
    return FieldError("cost.pue", "must be at least 1 (or unset)");
  }
  if (!finite_non_negative(c.grid_grams_co2_per_kwh())) {
    return FieldError("cost.gridGramsCo2PerKwh", "must not be negative");
  }
  for (const auto& [name, p] : c.hardware()) {
    const std::string at = absl::StrCat("cost.hardware.", name);
    if (name.empty()) return FieldError("cost.hardware", "a hardware name is empty");
    for (auto [v, field] : {std::pair{p.usd_per_hour(), "usdPerHour"},
                            {p.purchase_usd(), "purchaseUsd"},
                            {p.residual_usd(), "residualUsd"},
                            {p.lifetime_years(), "lifetimeYears"},
                            {p.annual_interest_rate(), "annualInterestRate"}}) {
      if (!finite_non_negative(v))
        return FieldError(absl::StrCat(at, ".", field), "must not be negative");
    }
    if (p.usd_per_hour() > 0 && p.purchase_usd() > 0) {
      return FieldError(at, "give usdPerHour (rented) or purchaseUsd (owned), not both");
    }
    if (p.residual_usd() > p.purchase_usd() && p.purchase_usd() > 0) {
      return FieldError(at + ".residualUsd", "must not exceed purchaseUsd");
    }
    if (p.annual_interest_rate() > 1) {
      return FieldError(at + ".annualInterestRate", "is a fraction (0.05 = 5%); must be at most 1");
    }
    if (p.lifetime_years() > 100) return FieldError(at + ".lifetimeYears", "must be at most 100");
    if (!std::isfinite(p.utilization()) || p.utilization() < 0 || p.utilization() > 1) {
      return FieldError(at + ".utilization", "must be between 0 and 1 (0: the default, 1)");
    }
  }
  if (!finite_non_negative(c.slo().ttft_p99_seconds()))
    return FieldError("cost.slo.ttftP99Seconds", "must not be negative");
  if (!finite_non_negative(c.slo().tpot_p99_seconds()))
    return FieldError("cost.slo.tpotP99Seconds", "must not be negative");
  const auto& f = c.accuracy_floor();
  if (!finite_non_negative(f.max_mean_kld()))
    return FieldError("cost.accuracyFloor.maxMeanKld", "must not be negative");
  if (!std::isfinite(f.max_ppl_ratio()) || (f.max_ppl_ratio() != 0 && f.max_ppl_ratio() < 1)) {
    return FieldError("cost.accuracyFloor.maxPplRatio",
                      "must be at least 1 (the baseline's own ratio)");
  }
  if (!std::isfinite(f.min_choice_accuracy_ratio()) || f.min_choice_accuracy_ratio() < 0 ||
      f.min_choice_accuracy_ratio() > 1) {
    return FieldError("cost.accuracyFloor.minChoiceAccuracyRatio", "must be between 0 and 1");
  }
  const auto& l = c.load();
  for (auto [v, field] : {std::pair{l.tokens_per_day(), "tokensPerDay"},
                          {l.requests_per_second(), "requestsPerSecond"},
                          {l.prompt_tokens(), "promptTokens"},
                          {l.output_tokens(), "outputTokens"}}) {
    if (!finite_non_negative(v))
      return FieldError(absl::StrCat("cost.load.", field), "must not be negative");
  }
  if (l.tokens_per_day() > 0 && l.requests_per_second() > 0) {
    return FieldError("cost.load", "give tokensPerDay or requestsPerSecond, not both");
  }
  return absl::OkStatus();
}

v1::Cost CostWithDefaults(v1::Cost c) {
  if (c.energy_usd_per_kwh() == 0) c.set_energy_usd_per_kwh(kDefaultUsdPerKwh);
  if (c.pue() == 0) c.set_pue(kDefaultPue);
  if (c.grid_grams_co2_per_kwh() == 0) c.set_grid_grams_co2_per_kwh(kDefaultGridGramsCo2PerKwh);
  for (auto& [name, p] : *c.mutable_hardware()) {
    if (p.purchase_usd() > 0 && p.lifetime_years() == 0)
      p.set_lifetime_years(kDefaultLifetimeYears);
    if (p.utilization() == 0) p.set_utilization(1);
  }
  return c;
}

}  // namespace tcobench
