// Reports as text, CSV and Markdown (the same cells as HTML).
#include "services/analysis/report_render.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "common/base/statistics.h"
#include "services/analysis/cost_model.h"
#include "services/analysis/gate.h"
#include "services/analysis/report_cells.h"

namespace tcobench {

using namespace render;  // NOLINT: the cells and table writers of this renderer

std::string RenderSummaryText(const v1::ComparisonResult& r) {
  std::string out = absl::StrFormat("%s — %s, %s, %d threads, isa %s\n", r.spec().name(),
                                    r.manifest().cpu_model(), r.manifest().os(),
                                    r.manifest().threads(), r.manifest().isa());
  std::vector<std::vector<std::string>> rows;
  for (const v1::VariantResult& v : r.results()) rows.push_back(ResultCells(v));
  out += TextTable(kResultHeads, rows);
  out += "latency: over the measured requests (95% CIs of the medians in the result file)\n";
  for (const v1::VariantResult& v : r.results()) {
    if (v.interference().contaminated()) {
      absl::StrAppendFormat(&out, "CONTAMINATED: %s @ %s (%d/%d): %s; do not trust its speed, energy or cost\n",
                            v.variant(), v.hardware(), v.prompt_tokens(), v.output_tokens(), v.interference().reason());
    }
  }
  if (const std::vector<std::vector<std::string>> load_rows = LoadRows(r); !load_rows.empty()) {
    out += "\nendpoint load (goodput: requests meeting every SLO bound per second)\n";
    out += TextTable(kLoadHeads, load_rows);
  }
  if (const std::vector<std::vector<std::string>> runtime_rows = RuntimeRows(r); !runtime_rows.empty()) {
    out += "\nengine vs llama.cpp on the same file (ratio: engine / llama.cpp; runs pooled)\n";
    out += TextTable(kRuntimeHeads, runtime_rows);
  }
  if (!r.results().empty()) {
    const v1::Energy& e = r.results(0).energy();
    absl::StrAppendFormat(&out, "energy: %s ±%.0f%%%s\n", e.source(),
                          100 * e.uncertainty_fraction(),
                          e.source() == "model" ? " (an estimate, not a measurement)" : "");
    absl::StrAppendFormat(&out, "harness overhead: %.2f us per decode step (%.3f%% of %s's step)\n",
                          r.results(0).harness_overhead().seconds_per_step() * 1e6,
                          100 * r.results(0).harness_overhead().fraction_of_decode_step(),
                          r.results(0).variant());
  }
  return out;
}

std::string RenderCostText(const v1::CostReport& c) {
  std::string out = absl::StrCat("\ncost (", Assumptions(c), ")\n");
  absl::StrAppend(&out, "recommendation: ", c.recommendation(), "\n");
  std::vector<std::vector<std::string>> rows;
  for (const v1::VariantCost& r : c.rows()) rows.push_back(CostCells(r, HasLoad(c)));
  out += TextTable(kCostHeads, rows);
  for (const std::string& n : c.notes()) absl::StrAppend(&out, "note: ", n, "\n");
  return out;
}

std::string RenderReportCsv(const v1::Report& rep) {
  const std::vector<std::string> heads = {"variant",
                                          "hardware",
                                          "scenario",
                                          "prompt_tokens",
                                          "output_tokens",
                                          "ttft_p50_ms",
                                          "ttft_p99_ms",
                                          "tpot_p50_ms",
                                          "tpot_p99_ms",
                                          "e2e_p50_ms",
                                          "decode_tokens_per_second",
                                          "output_tokens_per_second",
                                          "joules_per_token",
                                          "energy_source",
                                          "ppl",
                                          "mean_kld",
                                          "same_top1",
                                          "usd_per_hour",
                                          "price_source",
                                          "usd_per_million_output_tokens",
                                          "usd_per_million_input_tokens",
                                          "wh_per_thousand_tokens",
                                          "grams_co2_per_million_tokens",
                                          "monthly_tco_usd",
                                          "instances",
                                          "meets_slo",
                                          "meets_accuracy",
                                          "on_pareto_front",
                                          "recommended",
                                          "usd_per_million_output_tokens_low",
                                          "usd_per_million_output_tokens_high",
                                          "monthly_tco_usd_low",
                                          "monthly_tco_usd_high",
                                          "repetitions",
                                          "foreign_cpu_fraction",
                                          "contaminated"};
  std::string out = absl::StrCat(absl::StrJoin(heads, ","), "\n");
  const auto& cost = rep.cost();
  for (int i = 0; i < rep.result().results_size(); ++i) {
    const v1::VariantResult& v = rep.result().results(i);
    const v1::VariantCost c = i < cost.rows_size() ? cost.rows(i) : v1::VariantCost();
    const auto& a = v.accuracy();
    const std::vector<std::string> cells = {
        v.variant(),
        v.hardware(),
        v.scenario(),
        absl::StrCat(v.prompt_tokens()),
        absl::StrCat(v.output_tokens()),
        Num(1e3 * v.latency().ttft_seconds().p50()),
        Num(1e3 * v.latency().ttft_seconds().p99()),
        Num(1e3 * v.latency().tpot_seconds().p50()),
        Num(1e3 * v.latency().tpot_seconds().p99()),
        Num(1e3 * v.latency().e2e_seconds().p50()),
        Num(v.throughput().decode_tokens_per_second()),
        Num(v.throughput().output_tokens_per_second()),
        Num(v.energy().joules_per_token()),
        v.energy().source(),
        a.has_perplexity() ? Num(a.perplexity().ppl()) : "",
        HasKld(v) ? Num(a.kld().mean_kld()) : "",
        HasKld(v) ? Num(a.kld().same_top1()) : "",
        Num(c.usd_per_hour()),
        c.price_source(),
        Num(c.usd_per_million_output_tokens()),
        Num(c.usd_per_million_input_tokens()),
        Num(c.wh_per_thousand_tokens()),
        Num(c.grams_co2_per_million_tokens()),
        Num(c.monthly_tco_usd()),
        Num(c.instances()),
        c.meets_slo() ? "true" : "false",
        c.meets_accuracy() ? "true" : "false",
        c.on_pareto_front() ? "true" : "false",
        v.variant() == cost.recommended_variant() && v.hardware() == cost.recommended_hardware()
            ? "true"
            : "false",
        Num(c.usd_per_million_output_tokens_low()),
        Num(c.usd_per_million_output_tokens_high()),
        Num(c.monthly_tco_usd_low()),
        Num(c.monthly_tco_usd_high()),
        absl::StrCat(std::max(1, v.repetitions())),
        Num(v.interference().foreign_cpu_fraction()),
        v.interference().contaminated() ? "true" : "false"};
    std::vector<std::string> quoted;
    for (const auto& s : cells) quoted.push_back(CsvField(s));
    absl::StrAppend(&out, absl::StrJoin(quoted, ","), "\n");
  }
  return out;
}

std::string RenderReportMarkdown(const v1::Report& rep) {
  const v1::ComparisonResult& r = rep.result();
  std::string out = absl::StrCat("# ", Title(rep), "\n\n");
  absl::StrAppend(&out, "**Recommendation:** ", rep.cost().recommendation(), "\n\n");
  absl::StrAppend(
      &out, "Cost inputs: ", Assumptions(rep.cost()), ".",
      rep.comparison_id().empty() ? "" : absl::StrCat(" Comparison `", rep.comparison_id(), "`."),
      "\n\n");
  std::vector<std::vector<std::string>> rows;
  for (const auto& c : rep.cost().rows()) rows.push_back(CostCells(c, HasLoad(rep.cost())));
  absl::StrAppend(&out, "## Cost\n\n", MdTable(kCostHeads, rows), "\n");
  rows.clear();
  for (const auto& v : r.results()) rows.push_back(ResultCells(v));
  absl::StrAppend(&out, "## Results\n\n", MdTable(kResultHeads, rows), "\n");
  if (const std::vector<std::vector<std::string>> load_rows = LoadRows(r); !load_rows.empty()) {
    absl::StrAppend(&out, "## Endpoint load\n\nGoodput: requests meeting every SLO bound per second.\n\n",
                    MdTable(kLoadHeads, load_rows), "\n");
  }
  if (const std::vector<std::vector<std::string>> runtime_rows = RuntimeRows(r); !runtime_rows.empty()) {
    absl::StrAppend(&out, "## Engine vs llama.cpp\n\nThe same file on both runtimes; ratio: engine / llama.cpp.\n\n",
                    MdTable(kRuntimeHeads, runtime_rows), "\n");
  }
  if (!r.results().empty()) {
    const v1::Energy& e = r.results(0).energy();
    absl::StrAppendFormat(
        &out, "Energy: %s, ±%.0f%%%s. Latency: medians and p99 over the measured requests.\n\n",
        e.source(), 100 * e.uncertainty_fraction(),
        e.source() == "model" ? " (an estimate from CPU time and TDP, not a measurement)" : "");
  }
  if (!rep.cost().notes().empty()) {
    out += "## Notes\n\n";
    for (const auto& n : rep.cost().notes()) absl::StrAppend(&out, "- ", MdCell(n), "\n");
    out += "\n";
  }
  rows.clear();
  ManifestRows(r.manifest(), &rows);
  absl::StrAppend(&out, "## Manifest\n\n", MdTable({"", ""}, rows));
  return out;
}

}  // namespace tcobench
