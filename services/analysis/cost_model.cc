#include "services/analysis/cost_model.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/spec/spec.h"

namespace tcobench {
namespace {

constexpr double kJoulesPerKwh = 3.6e6;

// The facility's energy cost of one joule at the device.
double UsdPerJoule(const v1::Cost& c) { return c.energy_usd_per_kwh() * c.pue() / kJoulesPerKwh; }

const v1::VariantResult* BaselineWith(const v1::ComparisonResult& r, bool (*has)(const v1::VariantResult&)) {
  for (const v1::VariantResult& v : r.results()) {
    if (v.variant() == r.spec().baseline() && has(v)) return &v;
  }
  return nullptr;
}

bool HasPpl(const v1::VariantResult& v) { return v.accuracy().perplexity().ppl() > 0; }
bool HasChoice(const v1::VariantResult& v) { return !v.accuracy().choice().empty(); }

// The lowest ratio of this row's multiple-choice accuracy to the baseline's
// over the tasks both ran; 0 when none matches.
double ChoiceRatio(const v1::VariantResult& v, const v1::VariantResult& base) {
  double worst = 0;
  bool any = false;
  for (const v1::ChoiceResult& c : v.accuracy().choice()) {
    for (const v1::ChoiceResult& b : base.accuracy().choice()) {
      // Scored the same way only (an endpoint's generated answers are not
      // comparable with log-likelihood scores; "" is from before methods).
      auto method = [](const v1::ChoiceResult& r) { return r.method().empty() ? "loglikelihood" : r.method(); };
      if (b.task() != c.task() || b.accuracy() <= 0 || method(b) != method(c)) continue;
      const double ratio = c.accuracy() / b.accuracy();
      worst = any ? std::min(worst, ratio) : ratio;
      any = true;
    }
  }
  return worst;
}


}  // namespace

std::string FormatUsd(double usd) {
  if (usd == 0) return "$0";
  if (usd >= 100) return absl::StrFormat("$%.0f", usd);
  if (usd >= 1) return absl::StrFormat("$%.2f", usd);
  return absl::StrFormat("$%.4g", usd);
}

double CapitalRecoveryFactor(double rate, double years) {
  if (years <= 0) return 0;
  if (rate <= 0) return 1 / years;
  const double g = std::pow(1 + rate, years);
  return rate * g / (g - 1);
}

double HourlyPrice(const v1::Cost::HardwarePrice& p) {
  if (p.usd_per_hour() > 0) return p.usd_per_hour();
  if (p.purchase_usd() <= 0) return 0;
  const double years = p.lifetime_years() > 0 ? p.lifetime_years() : kDefaultLifetimeYears;
  const double annual = (p.purchase_usd() - p.residual_usd()) * CapitalRecoveryFactor(p.annual_interest_rate(), years) +
                        p.residual_usd() * p.annual_interest_rate();
  return annual / 8760;
}

namespace {

// What pricing the rows found out, for the report's notes and the Pareto
// front's axis.
struct RowFindings {
  std::map<std::string, bool> noted_price;  // hardware already noted as unpriced
  bool any_model_energy = false, any_no_energy = false;
  bool all_kld = true, only_baseline = true;
};

// The throughput's 95% interval; the value itself at both ends when the
// result has none (older results).
std::pair<double, double> ThroughputInterval(const v1::VariantResult& v) {
  const v1::Throughput& t = v.throughput();
  const double tps = t.output_tokens_per_second();
  const double lo = t.output_tokens_per_second_ci95_low(), hi = t.output_tokens_per_second_ci95_high();
  if (!(lo > 0 && hi >= lo)) return {tps, tps};
  return {std::min(lo, tps), std::max(hi, tps)};
}

bool HasLoad(const v1::Cost::Load& load) { return load.tokens_per_day() > 0 || load.requests_per_second() > 0; }

// The row's price of an instance (the spec's, else the worker's advertised
// one) and its costs per million output and input tokens, energy per token
// and carbon. Returns the hourly price.
double PriceRow(const v1::VariantResult& v, const v1::Cost& cost, v1::VariantCost* row, RowFindings* found,
                v1::CostReport* report) {
  v1::Cost::HardwarePrice price;
  if (auto it = cost.hardware().find(v.hardware()); it != cost.hardware().end()) price = it->second;
  double hourly = HourlyPrice(price);
  if (price.usd_per_hour() > 0) {
    row->set_price_source("spec: rented");
  } else if (price.purchase_usd() > 0) {
    row->set_price_source("spec: owned");
  } else if (v.advertised_usd_per_hour() > 0) {
    hourly = v.advertised_usd_per_hour();
    row->set_price_source("worker");
  } else {
    row->set_price_source("none");
    if (!found->noted_price[v.hardware()]) {
      report->add_notes(absl::StrCat("no price for hardware '", v.hardware(),
                                     "' (cost.hardware or the worker's --cost-per-hour): its costs are energy only"));
      found->noted_price[v.hardware()] = true;
    }
  }
  const double util = price.utilization() > 0 ? price.utilization() : 1;
  row->set_usd_per_hour(hourly);
  row->set_utilization(util);
  const double tps = v.throughput().output_tokens_per_second();
  row->set_output_tokens_per_second(tps);
  // Energy, as measured: joules per output token over the whole window.
  const v1::Energy& e = v.energy();
  const bool measured = e.source() != "none" && !e.source().empty() && e.joules_per_token() > 0;
  row->set_energy_source(e.source().empty() ? "none" : e.source());
  row->set_energy_uncertainty_fraction(e.uncertainty_fraction());
  found->any_model_energy |= e.source() == "model";
  found->any_no_energy |= !measured;
  const double jpt = measured ? e.joules_per_token() : 0;
  if (tps > 0) {
    const double hw = hourly / (tps * util * 3600) * 1e6;
    const double en = jpt * UsdPerJoule(cost) * 1e6;
    row->set_hardware_usd_per_million_output_tokens(hw);
    row->set_energy_usd_per_million_output_tokens(en);
    row->set_usd_per_million_output_tokens(hw + en);
    // The interval: the hardware part moves inversely with the throughput's
    // interval, the energy part by the source's uncertainty.
    const auto [tps_low, tps_high] = ThroughputInterval(v);
    const double u = measured ? std::clamp(e.uncertainty_fraction(), 0.0, 1.0) : 0;
    row->set_usd_per_million_output_tokens_low(hw * tps / tps_high + en * (1 - u));
    row->set_usd_per_million_output_tokens_high(hw * tps / tps_low + en * (1 + u));
  } else {
    row->add_why("no output throughput measured");
  }
  const double prefill = v.throughput().prefill_tokens_per_second();
  if (prefill > 0) {
    const double usd_per_second = hourly / util / 3600 + (measured ? e.average_watts() * UsdPerJoule(cost) : 0);
    row->set_usd_per_million_input_tokens(usd_per_second / prefill * 1e6);
  }
  row->set_wh_per_thousand_tokens(jpt * cost.pue() * 1000 / 3600);
  row->set_grams_co2_per_million_tokens(jpt * cost.pue() * 1e6 / kJoulesPerKwh * cost.grid_grams_co2_per_kwh());
  return hourly;
}

// Whether the row's p99 latencies meet the cost block's SLO.
void CheckSlo(const v1::VariantResult& v, const v1::Cost& cost, v1::VariantCost* row) {
  row->set_ttft_p99_seconds(v.latency().ttft_seconds().p99());
  row->set_tpot_p99_seconds(v.latency().tpot_seconds().p99());
  bool slo = row->output_tokens_per_second() > 0;
  if (cost.slo().ttft_p99_seconds() > 0 && row->ttft_p99_seconds() > cost.slo().ttft_p99_seconds()) {
    slo = false;
    row->add_why(absl::StrFormat("TTFT p99 %.1f ms > SLO %.1f ms", 1e3 * row->ttft_p99_seconds(),
                                 1e3 * cost.slo().ttft_p99_seconds()));
  }
  if (cost.slo().tpot_p99_seconds() > 0 && row->tpot_p99_seconds() > cost.slo().tpot_p99_seconds()) {
    slo = false;
    row->add_why(absl::StrFormat("TPOT p99 %.2f ms > SLO %.2f ms", 1e3 * row->tpot_p99_seconds(),
                                 1e3 * cost.slo().tpot_p99_seconds()));
  }
  row->set_meets_slo(slo);
}

// Accuracy against the baseline. A floor the user set fails when its metric
// was not measured; a default floor applies only where it was.
// The baseline's rows the ratios divide by (found once per report).
struct Baselines {
  const v1::VariantResult* ppl;
  const v1::VariantResult* choice;
};

void CheckAccuracy(const v1::VariantResult& v, const v1::ComparisonResult& result, const Baselines& base,
                   const v1::Cost& cost, v1::VariantCost* row, RowFindings* found) {
  const auto& floor = cost.accuracy_floor();
  const v1::VariantResult* ppl_base = base.ppl;
  const v1::VariantResult* choice_base = base.choice;
  bool acc = true;
  const bool is_base = v.variant() == result.spec().baseline();
  const v1::KldResult& kld = v.accuracy().kld();
  const bool has_kld = is_base || (kld.applicable() && kld.scored_tokens() > 0);
  found->all_kld &= has_kld;
  found->only_baseline &= is_base;
  if (has_kld) row->set_mean_kld(is_base ? 0 : kld.mean_kld());
  // Perplexity ratios only between like methods: an endpoint's perplexity
  // comes from the server's tokens and chunks; the engine and llama.cpp
  // chunk the text alike (llama-perplexity's way) from exact logits.
  auto runtime = [](const v1::VariantResult& r) { return r.runtime().empty() ? std::string("engine") : r.runtime(); };
  auto method = [&](const v1::VariantResult& r) { return runtime(r) == "llamacpp" ? std::string("engine") : runtime(r); };
  if (ppl_base != nullptr && HasPpl(v)) {
    if (method(v) == method(*ppl_base)) {
      row->set_ppl_ratio(v.accuracy().perplexity().ppl() / ppl_base->accuracy().perplexity().ppl());
    } else {
      row->add_why(absl::StrCat("perplexity measured by the ", runtime(v), " runtime, the baseline's by the ",
                                runtime(*ppl_base), ": no ratio (different tokens and chunks)"));
    }
  }
  if (choice_base != nullptr && HasChoice(v)) row->set_choice_accuracy_ratio(ChoiceRatio(v, *choice_base));
  if (floor.max_mean_kld() > 0) {
    if (!has_kld) {
      acc = false;
      row->add_why("mean KLD not measured (cost.accuracyFloor.maxMeanKld is set)");
    } else if (row->mean_kld() > floor.max_mean_kld()) {
      acc = false;
      row->add_why(absl::StrFormat("mean KLD %.5f > floor %.5f", row->mean_kld(), floor.max_mean_kld()));
    }
  }
  const double max_ppl = floor.max_ppl_ratio() > 0 ? floor.max_ppl_ratio() : kDefaultMaxPplRatio;
  if (row->ppl_ratio() > 0 && row->ppl_ratio() > max_ppl) {
    acc = false;
    row->add_why(absl::StrFormat("PPL ratio %.4f > floor %.4f", row->ppl_ratio(), max_ppl));
  } else if (row->ppl_ratio() == 0 && floor.max_ppl_ratio() > 0) {
    acc = false;
    row->add_why("perplexity not measured (cost.accuracyFloor.maxPplRatio is set)");
  }
  const double min_choice =
      floor.min_choice_accuracy_ratio() > 0 ? floor.min_choice_accuracy_ratio() : kDefaultMinChoiceAccuracyRatio;
  if (row->choice_accuracy_ratio() > 0 && row->choice_accuracy_ratio() < min_choice) {
    acc = false;
    row->add_why(absl::StrFormat("choice accuracy ratio %.4f < floor %.4f", row->choice_accuracy_ratio(), min_choice));
  } else if (row->choice_accuracy_ratio() == 0 && floor.min_choice_accuracy_ratio() > 0) {
    acc = false;
    row->add_why("multiple-choice accuracy not measured (cost.accuracyFloor.minChoiceAccuracyRatio is set)");
  }
  row->set_meets_accuracy(acc);
}

// Monthly TCO of the cost block's load, at the throughput measured.
void PriceLoad(const v1::VariantResult& v, const v1::Cost& cost, double hourly, v1::VariantCost* row) {
  const auto& load = cost.load();
  const double tps = row->output_tokens_per_second();
  if (!HasLoad(load) || tps <= 0) return;
  const double jpt = row->energy_source() == "none" ? 0 : v.energy().joules_per_token();
  const double out_tokens = load.output_tokens() > 0 ? load.output_tokens() : v.output_tokens();
  const double need_tps =
      load.tokens_per_day() > 0 ? load.tokens_per_day() / 86400 : load.requests_per_second() * out_tokens;
  auto instances_at = [&](double rate) {
    return std::max(1.0, std::ceil(need_tps / (rate * row->utilization()) - 1e-9));
  };
  const double instances = instances_at(tps);
  const double tokens_month = need_tps * kHoursPerMonth * 3600;
  const double kwh = tokens_month * jpt * cost.pue() / kJoulesPerKwh;
  row->set_instances(instances);
  row->set_monthly_hardware_usd(instances * hourly * kHoursPerMonth);
  row->set_monthly_energy_usd(kwh * cost.energy_usd_per_kwh());
  row->set_monthly_tco_usd(row->monthly_hardware_usd() + row->monthly_energy_usd());
  const auto [tps_low, tps_high] = ThroughputInterval(v);
  const double u = jpt > 0 ? std::clamp(v.energy().uncertainty_fraction(), 0.0, 1.0) : 0;
  row->set_monthly_tco_usd_low(instances_at(tps_high) * hourly * kHoursPerMonth + row->monthly_energy_usd() * (1 - u));
  row->set_monthly_tco_usd_high(instances_at(tps_low) * hourly * kHoursPerMonth + row->monthly_energy_usd() * (1 + u));
  row->set_monthly_kwh(kwh);
  row->set_monthly_kg_co2(kwh * cost.grid_grams_co2_per_kwh() / 1000);
}

void AddNotes(const v1::Cost& cost, const RowFindings& found, v1::CostReport* report) {
  if (found.any_model_energy) report->add_notes("energy from the CPU model is an estimate (see energy_uncertainty_fraction)");
  if (found.any_no_energy) report->add_notes("some rows have no energy measurement: their energy cost is 0");
  const auto& load = cost.load();
  if (HasLoad(load) && load.requests_per_second() > 0 && load.prompt_tokens() > 0) {
    report->add_notes("load.promptTokens is informational: the prompt cost is the measured workload's");
  }
}

// The cost both the front and the recommendation compare, with its
// interval.
struct CostOnAxis {
  double value, low, high;
};
CostOnAxis AxisCost(const v1::VariantCost& r, bool has_load) {
  if (has_load) return {r.monthly_tco_usd(), r.monthly_tco_usd_low(), r.monthly_tco_usd_high()};
  return {r.usd_per_million_output_tokens(), r.usd_per_million_output_tokens_low(),
          r.usd_per_million_output_tokens_high()};
}

// Whether `o` beats `r` beyond the measurements' uncertainty: at least as
// accurate and clearly cheaper (its interval wholly below r's), or more
// accurate and not clearly dearer (the intervals overlap or o is cheaper).
// A row that breaks the SLO is no alternative: it beats nothing.
bool Dominates(const v1::VariantCost& o, const v1::VariantCost& r, bool has_load) {
  if (&o == &r || o.output_tokens_per_second() <= 0 || !o.meets_slo() || o.below_capacity()) return false;
  const CostOnAxis oc = AxisCost(o, has_load), rc = AxisCost(r, has_load);
  if (o.accuracy_score() >= r.accuracy_score() && oc.high < rc.low) return true;
  return o.accuracy_score() > r.accuracy_score() && oc.low <= rc.high;
}

// The accuracy axis of the Pareto front (the first metric every row has;
// KL divergence only when some row is not the baseline), each row's score
// on it, and which rows no other row beats (Dominates) on cost and accuracy.
void MarkParetoFront(const RowFindings& found, bool has_load, v1::CostReport* report) {
  auto all = [&](auto has) { return std::all_of(report->rows().begin(), report->rows().end(), has); };
  const std::string metric =
      report->rows().empty()                                                        ? ""
      : found.all_kld && !found.only_baseline                                       ? "mean_kld"
      : all([](const v1::VariantCost& r) { return r.ppl_ratio() > 0; })             ? "ppl_ratio"
      : all([](const v1::VariantCost& r) { return r.choice_accuracy_ratio() > 0; }) ? "choice_accuracy_ratio"
                                                                                    : "";
  report->set_pareto_metric(metric);
  for (v1::VariantCost& r : *report->mutable_rows()) {
    if (metric == "mean_kld") r.set_accuracy_score(1 - r.mean_kld());
    if (metric == "ppl_ratio") r.set_accuracy_score(1 / r.ppl_ratio());
    if (metric == "choice_accuracy_ratio") r.set_accuracy_score(r.choice_accuracy_ratio());
  }
  if (metric.empty() && !report->rows().empty()) {
    report->add_notes("no accuracy measured for every variant: no Pareto front");
    return;
  }
  for (v1::VariantCost& r : *report->mutable_rows()) {
    if (r.output_tokens_per_second() <= 0) continue;
    bool dominated = false;
    for (const v1::VariantCost& o : report->rows()) dominated |= Dominates(o, r, has_load);
    r.set_on_pareto_front(!dominated);
  }
}

std::string Named(const v1::VariantCost& r) { return absl::StrCat(r.variant(), " on ", r.hardware()); }

// The recommendation: among the rows meeting both bars, those whose cost
// interval overlaps the cheapest one's cost the same; of them the most
// accurate, then the smallest in memory, then the cheapest. A row another
// eligible row beats (Dominates) gives way to it, so the choice is always
// on the front. In words, saying why.
void Recommend(const v1::ComparisonResult& result, bool has_load, v1::CostReport* report) {
  const bool has_front = !report->pareto_metric().empty();
  std::vector<const v1::VariantCost*> eligible;
  for (const v1::VariantCost& r : report->rows()) {
    if (r.meets_slo() && r.meets_accuracy() && !r.below_capacity()) eligible.push_back(&r);
  }
  if (eligible.empty()) {
    report->set_recommendation(report->rows().empty()
                                   ? "No results to price."
                                   : "No variant meets both the accuracy floor and the SLO; see each row's reasons.");
    return;
  }
  const v1::VariantCost* cheapest = eligible[0];
  for (const v1::VariantCost* r : eligible) {
    if (AxisCost(*r, has_load).value < AxisCost(*cheapest, has_load).value) cheapest = r;
  }
  const CostOnAxis cc = AxisCost(*cheapest, has_load);
  std::vector<const v1::VariantCost*> same;  // cost the same as the cheapest, within the intervals
  for (const v1::VariantCost* r : eligible) {
    const CostOnAxis rc = AxisCost(*r, has_load);
    if (rc.low <= cc.high && cc.low <= rc.high) same.push_back(r);
  }
  auto better = [&](const v1::VariantCost* a, const v1::VariantCost* b) {
    if (has_front && a->accuracy_score() != b->accuracy_score()) return a->accuracy_score() > b->accuracy_score();
    if (a->model_bytes() != b->model_bytes() && a->model_bytes() > 0 && b->model_bytes() > 0) {
      return a->model_bytes() < b->model_bytes();
    }
    return AxisCost(*a, has_load).value < AxisCost(*b, has_load).value;
  };
  const v1::VariantCost* best = *std::min_element(same.begin(), same.end(), better);
  for (size_t step = 0; step < eligible.size(); ++step) {
    const v1::VariantCost* beater = nullptr;
    for (const v1::VariantCost* o : eligible) {
      if (has_front && Dominates(*o, *best, has_load) && (beater == nullptr || better(o, beater))) beater = o;
    }
    if (beater == nullptr) break;
    best = beater;
  }
  report->set_recommended_variant(best->variant());
  report->set_recommended_hardware(best->hardware());
  const CostOnAxis bc = AxisCost(*best, has_load);
  std::string text = absl::StrCat("Serve ", best->variant(), " on ", best->hardware(), ": ",
                                  FormatUsd(best->usd_per_million_output_tokens()), " per million output tokens");
  if (bc.high > bc.low) {
    absl::StrAppend(&text, " (", FormatUsd(AxisCost(*best, false).low), "–", FormatUsd(AxisCost(*best, false).high),
                    ")");
  }
  for (const v1::VariantCost& r : report->rows()) {
    if (&r != best && r.variant() != best->variant() && r.variant() == result.spec().baseline() &&
        r.hardware() == best->hardware() && !r.below_capacity() &&
        r.prompt_tokens() == best->prompt_tokens() && r.output_tokens() == best->output_tokens()) {
      absl::StrAppend(&text, " (baseline ", r.variant(), ": ", FormatUsd(r.usd_per_million_output_tokens()), ")");
    }
  }
  if (best->variant() != result.spec().baseline()) {
    if (report->pareto_metric() == "mean_kld") {
      absl::StrAppend(&text, absl::StrFormat(", mean KLD %.5f against the baseline", best->mean_kld()));
    } else if (best->ppl_ratio() > 0) {
      absl::StrAppend(&text, absl::StrFormat(", perplexity %.2f%% of the baseline's", 100 * best->ppl_ratio()));
    }
  }
  if (has_load) {
    absl::StrAppend(&text, absl::StrFormat("; %.0f instance%s, %s a month for the load", best->instances(),
                                           best->instances() == 1 ? "" : "s", FormatUsd(best->monthly_tco_usd())));
  }
  // Why this one and not a cheaper-looking one: the rows that cost the same.
  if (same.size() > 1) {
    std::vector<std::string> names;
    double spread = 0;
    for (const v1::VariantCost* r : same) {
      names.push_back(Named(*r));
      const CostOnAxis rc = AxisCost(*r, has_load);
      if (rc.value > 0) spread = std::max(spread, (rc.high - rc.low) / (2 * rc.value));
    }
    const std::string list = names.size() == 2 ? absl::StrJoin(names, " and ")
                                               : absl::StrCat(absl::StrJoin(names.begin(), names.end() - 1, ", "),
                                                              " and ", names.back());
    if (spread < 0.0005) {  // the same to the cent: e.g. one instance each
      absl::StrAppend(&text, "; ", list, " cost the same (", FormatUsd(cc.value),
                      has_load ? " a month)" : " per million output tokens)");
    } else {
      absl::StrAppend(&text, absl::StrFormat("; %s cost the same within ±%.1f%%", list, 100 * spread),
                      has_load ? " a month" : " per token");
    }
    const bool more_accurate = has_front && std::any_of(same.begin(), same.end(), [&](const v1::VariantCost* r) {
                                 return r->accuracy_score() < best->accuracy_score();
                               });
    if (more_accurate) {
      absl::StrAppend(&text, ", and ", best->variant(), " is the most accurate of them");
    } else if (best->model_bytes() > 0 && std::any_of(same.begin(), same.end(), [&](const v1::VariantCost* r) {
                 return r->model_bytes() > best->model_bytes();
               })) {
      absl::StrAppend(&text, ", equally accurate, and ", best->variant(), " is the smallest in memory");
    }
  }
  absl::StrAppend(&text, ".");
  if (best->contaminated()) {
    absl::StrAppend(&text, " Caution: measured while other processes used the machine (see the result's "
                           "interference); rerun on a quiet machine before acting on it.");
  }
  report->set_recommendation(text);
}

}  // namespace

absl::StatusOr<v1::CostReport> ComputeCostReport(const v1::ComparisonResult& result, const v1::Cost* cost_in) {
  const v1::Cost& given = cost_in != nullptr ? *cost_in : result.spec().cost();
  if (absl::Status s = ValidateCost(given); !s.ok()) return s;
  v1::CostReport report;
  const v1::Cost cost = CostWithDefaults(given);
  *report.mutable_inputs() = cost;
  const bool has_load = HasLoad(cost.load());
  if (!has_load) report.add_notes("no cost.load given: monthly TCO not computed (per-token costs only)");
  RowFindings found;
  const Baselines base{BaselineWith(result, HasPpl), BaselineWith(result, HasChoice)};
  for (const v1::VariantResult& v : result.results()) {
    v1::VariantCost* row = report.add_rows();
    row->set_variant(v.variant());
    row->set_hardware(v.hardware());
    row->set_prompt_tokens(v.prompt_tokens());
    row->set_output_tokens(v.output_tokens());
    row->set_model_bytes(v.memory().model_bytes());
    row->set_contaminated(v.interference().contaminated());
    if (row->contaminated()) {
      report.add_notes(absl::StrCat(Named(*row), " (", v.prompt_tokens(), "/", v.output_tokens(),
                                    "): contaminated measurement, ", v.interference().reason(),
                                    ": its throughput and costs are not to be trusted"));
    }
    const double hourly = PriceRow(v, cost, row, &found, &report);
    CheckSlo(v, cost, row);
    row->set_runtime(v.runtime().empty() ? "engine" : v.runtime());  // results from before runtimes: the engine
    row->set_endpoint(v.endpoint());
    if (v.has_load()) {  // an endpoint's point
      const v1::EndpointLoadResult& l = v.load();
      row->set_target_qps(v.target_qps());
      row->set_concurrency(v.concurrency());
      row->set_goodput_requests_per_second(l.goodput_requests_per_second());
      row->set_error_rate(l.error_rate());
      if (l.failed() > 0) {
        row->set_meets_slo(false);
        row->add_why(absl::StrCat(l.failed(), " of ", l.requests(), " requests failed"));
      }
      const v1::Workload& w = result.spec().workload();
      if ((w.target_qps_sweep_size() > 1 || w.concurrency_sweep_size() > 1) && !l.capacity()) {
        row->set_below_capacity(true);
        row->add_why("a sweep point, not its capacity");
      }
    }
    CheckAccuracy(v, result, base, cost, row, &found);
    PriceLoad(v, cost, hourly, row);
  }
  AddNotes(cost, found, &report);
  report.set_cost_axis(has_load ? "monthly_tco_usd" : "usd_per_million_output_tokens");
  MarkParetoFront(found, has_load, &report);
  Recommend(result, has_load, &report);
  return report;
}

}  // namespace tcobench
