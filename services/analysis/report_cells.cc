#include "services/analysis/report_cells.h"

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

namespace tcobench::render {

std::string Num(double v) { return absl::StrFormat("%.4g", v); }

std::string Ms(double seconds) { return absl::StrFormat("%.2f", seconds * 1e3); }

std::string Esc(absl::string_view s) {
  return absl::StrReplaceAll(
      s, {{"&", "&amp;"}, {"<", "&lt;"}, {">", "&gt;"}, {"\"", "&quot;"}, {"'", "&#39;"}});
}

std::string CsvField(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  return absl::StrCat("\"", absl::StrReplaceAll(s, {{"\"", "\"\""}}), "\"");
}

std::string MdCell(const std::string& s) {
  return absl::StrReplaceAll(s, {{"|", "\\|"}, {"\n", " "}});
}

std::string ChoiceText(const v1::AccuracyResult& a) {
  std::string choice;
  for (const auto& c : a.choice()) {
    absl::StrAppendFormat(&choice, "%s%s %.1f%% (n=%d%s)", choice.empty() ? "" : ", ", c.task(),
                          100 * c.accuracy(), c.n(), c.method() == "generated" ? ", generated answers" : "");
  }
  return choice.empty() ? "-" : choice;
}

bool HasKld(const v1::VariantResult& v) {
  return v.accuracy().has_kld() && v.accuracy().kld().applicable();
}

std::string Row(const v1::VariantCost& c) { return absl::StrCat(c.variant(), " @ ", c.hardware()); }

// Every cell of the results table, as text.
std::vector<std::string> ResultCells(const v1::VariantResult& v) {
  const auto& a = v.accuracy();
  const bool kld = HasKld(v);
  return {
      VariantName(v.variant(), v.endpoint()),
      v.hardware(),
      v.runtime() == "openai" ? absl::StrCat(v.scenario(), " ", LoadPoint(v.target_qps(), v.concurrency()))
                              : v.scenario(),
      absl::StrCat(v.prompt_tokens()),
      absl::StrCat(v.output_tokens()),
      Ms(v.latency().ttft_seconds().p50()),
      Ms(v.latency().ttft_seconds().p99()),
      Ms(v.latency().tpot_seconds().p50()),
      Ms(v.latency().e2e_seconds().p50()),
      absl::StrFormat("%.1f", v.throughput().decode_tokens_per_second()),
      absl::StrFormat("%.2f", v.throughput().requests_per_second()),
      v.energy().source() == "none" ? "-" : absl::StrFormat("%.4g", v.energy().joules_per_token()),
      v.energy().source(),
      a.has_perplexity() ? absl::StrFormat("%.4f", a.perplexity().ppl()) : "-",
      kld ? absl::StrFormat("%.6f", a.kld().mean_kld()) : "-",
      kld ? absl::StrFormat("%.2f%%", 100 * a.kld().same_top1()) : "-",
      ChoiceText(a),
      v.interference().contaminated() ? "CONTAMINATED"
      : v.interference().window_seconds() > 0
          ? absl::StrFormat("ok (%.0f%%)", 100 * v.interference().foreign_cpu_fraction())
          : "-"};
}
const std::vector<std::string> kResultHeads = {
    "variant",     "hardware",    "scenario",   "prompt",       "output", "TTFT p50 ms",
    "TTFT p99 ms", "TPOT p50 ms", "e2e p50 ms", "decode tok/s", "req/s",  "J/token",
    "energy",      "PPL",         "mean KLD",   "top-1",        "choice", "other CPU use"};

std::string LoadPoint(double target_qps, int concurrency) {
  return target_qps > 0 ? absl::StrFormat("%g req/s", target_qps) : absl::StrFormat("%d users", std::max(1, concurrency));
}

std::string VariantName(const std::string& variant, const std::string& endpoint) {
  return endpoint.empty() ? variant : absl::StrCat(variant, " [", endpoint, "]");
}

double LoadValue(double target_qps, int concurrency) {
  return target_qps > 0 ? target_qps : std::max(1, concurrency);
}

std::string RowLoad(const std::string& runtime, double target_qps, int concurrency) {
  return runtime == "openai" ? LoadPoint(target_qps, concurrency) : "";
}

namespace {

std::vector<std::string> LoadCells(const v1::VariantResult& v) {
  const v1::EndpointLoadResult& l = v.load();
  std::string errors;
  for (const auto& [kind, n] : l.errors()) absl::StrAppend(&errors, errors.empty() ? "" : " ", kind, "=", n);
  return {v.variant(),
          v.hardware(),
          LoadPoint(v.target_qps(), v.concurrency()),
          absl::StrFormat("%.2f", l.achieved_requests_per_second()),
          absl::StrFormat("%.2f (%.0f%%)", l.goodput_requests_per_second(), 100 * l.good_fraction()),
          Ms(v.latency().ttft_seconds().p99()),
          Ms(v.latency().tpot_seconds().p99()),
          Ms(l.itl_seconds().p99()),
          absl::StrCat(l.failed(), "/", l.requests(), errors.empty() ? "" : " (" + errors + ")"),
          l.token_count_source(),
          l.slo_met() ? "yes" : "no",
          l.capacity() ? "CAPACITY" : !l.ended_early().empty() ? "ended early: " + l.ended_early() : l.sweep_note()};
}

}  // namespace

const std::vector<std::string> kLoadHeads = {"variant",     "hardware",    "load",       "sent/s",
                                             "goodput/s",   "TTFT p99 ms", "TPOT p99 ms", "ITL p99 ms",
                                             "failed",      "tokens",      "SLO",        "sweep"};

std::vector<std::vector<std::string>> LoadRows(const v1::ComparisonResult& r) {
  std::vector<std::vector<std::string>> rows;
  for (const v1::VariantResult& v : r.results()) {
    if (v.has_load()) rows.push_back(LoadCells(v));
  }
  return rows;
}

const std::vector<std::string> kRuntimeHeads = {
    "model",          "hardware", "prompt/output", "prefill tok/s engine / llama.cpp", "ratio",
    "decode tok/s engine / llama.cpp", "ratio", "J/token engine / llama.cpp", "ratio"};

std::vector<std::vector<std::string>> RuntimeRows(const v1::ComparisonResult& r) {
  std::map<std::string, const v1::Variant*> variants;
  for (const v1::Variant& v : r.spec().variants()) variants[v.name()] = &v;
  auto file = [&](const std::string& name) {
    const v1::Variant* v = variants.count(name) ? variants[name] : nullptr;
    return v == nullptr ? std::string() : absl::StrCat(v->model(), v->quantize().empty() ? "" : " -> ", v->quantize());
  };
  auto ratio = [](double a, double b) { return a > 0 && b > 0 ? absl::StrFormat("%.2fx", a / b) : std::string("-"); };
  auto pair = [](double a, double b) { return absl::StrCat(Num(a), " / ", Num(b)); };
  std::vector<std::vector<std::string>> rows;
  for (const v1::VariantResult& e : r.results()) {
    if (!(e.runtime().empty() || e.runtime() == "engine")) continue;
    for (const v1::VariantResult& l : r.results()) {
      if (l.runtime() != "llamacpp" || file(l.variant()) != file(e.variant()) || l.hardware() != e.hardware() ||
          l.prompt_tokens() != e.prompt_tokens() || l.output_tokens() != e.output_tokens() ||
          l.concurrency() != e.concurrency()) {
        continue;
      }
      const v1::Throughput &te = e.throughput(), &tl = l.throughput();
      rows.push_back({file(e.variant()), e.hardware(), absl::StrCat(e.prompt_tokens(), "/", e.output_tokens()),
                      pair(te.prefill_tokens_per_second(), tl.prefill_tokens_per_second()),
                      ratio(te.prefill_tokens_per_second(), tl.prefill_tokens_per_second()),
                      pair(te.decode_tokens_per_second(), tl.decode_tokens_per_second()),
                      ratio(te.decode_tokens_per_second(), tl.decode_tokens_per_second()),
                      pair(e.energy().joules_per_token(), l.energy().joules_per_token()),
                      ratio(e.energy().joules_per_token(), l.energy().joules_per_token())});
    }
  }
  return rows;
}

namespace {

// "$0.01255 ±6.1%": the cost and the larger side of its 95% interval.
std::string WithInterval(double v, double low, double high) {
  if (v <= 0 || !(high > low)) return FormatUsd(v);
  return absl::StrFormat("%s ±%.1f%%", FormatUsd(v), 100 * std::max(high - v, v - low) / v);
}

std::vector<std::string> Why(const v1::VariantCost& c) {
  std::vector<std::string> why(c.why().begin(), c.why().end());
  if (c.contaminated()) why.insert(why.begin(), "CONTAMINATED measurement (see notes)");
  return why;
}

}  // namespace

std::vector<std::string> CostCells(const v1::VariantCost& c, bool load) {
  std::vector<std::string> out = {
      VariantName(c.variant(), c.endpoint()),
      c.hardware(),
      c.runtime() == "openai" ? absl::StrCat(c.prompt_tokens(), "/", c.output_tokens(), " @ ",
                                             LoadPoint(c.target_qps(), c.concurrency()))
                              : absl::StrCat(c.prompt_tokens(), "/", c.output_tokens()),
      absl::StrCat(FormatUsd(c.usd_per_hour()), " (", c.price_source(), ")"),
      absl::StrFormat("%.1f", c.output_tokens_per_second()),
      WithInterval(c.usd_per_million_output_tokens(), c.usd_per_million_output_tokens_low(),
                   c.usd_per_million_output_tokens_high()),
      absl::StrCat(FormatUsd(c.hardware_usd_per_million_output_tokens()), " + ",
                   FormatUsd(c.energy_usd_per_million_output_tokens())),
      FormatUsd(c.usd_per_million_input_tokens()),
      absl::StrFormat("%.4g", c.wh_per_thousand_tokens()),
      absl::StrFormat("%.4g", c.grams_co2_per_million_tokens()),
      load ? absl::StrFormat("%s (%.0f)", WithInterval(c.monthly_tco_usd(), c.monthly_tco_usd_low(), c.monthly_tco_usd_high()),
                             c.instances())
           : "-",
      c.meets_slo() ? "yes" : "no",
      c.meets_accuracy() ? "yes" : "no",
      c.on_pareto_front() ? "yes" : "",
      absl::StrJoin(Why(c), "; ")};
  return out;
}
const std::vector<std::string> kCostHeads = {"variant",
                                             "hardware",
                                             "prompt/output",
                                             "price/hour",
                                             "out tok/s",
                                             "per M out",
                                             "hardware + energy",
                                             "per M in",
                                             "Wh/1k tok",
                                             "gCO2e/M tok",
                                             "monthly TCO (instances)",
                                             "SLO",
                                             "accuracy",
                                             "Pareto",
                                             "why not"};

bool HasLoad(const v1::CostReport& c) {
  return c.inputs().load().tokens_per_day() > 0 || c.inputs().load().requests_per_second() > 0;
}

std::string Assumptions(const v1::CostReport& c) {
  const v1::Cost& in = c.inputs();
  std::string s = absl::StrFormat("energy $%.3f/kWh, PUE %.2f, grid %.0f gCO2e/kWh",
                                  in.energy_usd_per_kwh(), in.pue(), in.grid_grams_co2_per_kwh());
  if (in.slo().ttft_p99_seconds() > 0)
    absl::StrAppendFormat(&s, ", SLO TTFT p99 <= %.0f ms", 1e3 * in.slo().ttft_p99_seconds());
  if (in.slo().tpot_p99_seconds() > 0)
    absl::StrAppendFormat(&s, ", SLO TPOT p99 <= %.1f ms", 1e3 * in.slo().tpot_p99_seconds());
  if (in.load().tokens_per_day() > 0)
    absl::StrAppendFormat(&s, ", load %.4g output tokens/day", in.load().tokens_per_day());
  if (in.load().requests_per_second() > 0)
    absl::StrAppendFormat(&s, ", load %.4g requests/s", in.load().requests_per_second());
  return s;
}

std::string MdTable(const std::vector<std::string>& heads,
                    const std::vector<std::vector<std::string>>& rows) {
  std::string out = absl::StrCat("| ", absl::StrJoin(heads, " | "), " |\n|");
  for (size_t i = 0; i < heads.size(); ++i) out += "---|";
  out += "\n";
  for (const auto& r : rows) {
    std::vector<std::string> cells;
    for (const auto& c : r) cells.push_back(MdCell(c));
    absl::StrAppend(&out, "| ", absl::StrJoin(cells, " | "), " |\n");
  }
  return out;
}

// Columns padded to their widest cell (counted in code points), two spaces apart.
std::string TextTable(const std::vector<std::string>& heads,
                      const std::vector<std::vector<std::string>>& rows) {
  auto width = [](const std::string& s) {
    size_t n = 0;
    for (unsigned char ch : s) n += (ch & 0xC0) != 0x80;
    return n;
  };
  std::vector<size_t> w(heads.size());
  for (size_t i = 0; i < heads.size(); ++i) w[i] = width(heads[i]);
  for (const auto& r : rows) {
    for (size_t i = 0; i < r.size() && i < w.size(); ++i) w[i] = std::max(w[i], width(r[i]));
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string out;
    for (size_t i = 0; i < cells.size(); ++i) {
      out += cells[i];
      if (i + 1 < cells.size()) out += std::string(w[i] - width(cells[i]) + 2, ' ');
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();  // empty last cells
    return out + "\n";
  };
  std::string out = line(heads);
  for (const auto& r : rows) out += line(r);
  return out;
}

std::string HtmlTable(const std::vector<std::string>& heads,
                      const std::vector<std::vector<std::string>>& rows) {
  std::string out = "<table><thead><tr>";
  for (const auto& h : heads) absl::StrAppend(&out, "<th>", Esc(h), "</th>");
  out += "</tr></thead><tbody>\n";
  for (const auto& r : rows) {
    out += "<tr>";
    for (const auto& c : r) absl::StrAppend(&out, "<td>", Esc(c), "</td>");
    out += "</tr>\n";
  }
  return out + "</tbody></table>\n";
}

void ManifestRows(const v1::Manifest& m, std::vector<std::vector<std::string>>* rows) {
  auto add = [&](const std::string& k, const std::string& v) {
    if (!v.empty()) rows->push_back({k, v});
  };
  add("tcobench", absl::StrCat(m.tcobench_version(), " (", m.git_commit(), ")"));
  add("compiler", m.compiler());
  add("isa / threads", absl::StrCat(m.isa(), " / ", m.threads()));
  add("cpu", absl::StrCat(m.cpu_model(), ", ", m.cpu_cores(), " cores"));
  add("memory", absl::StrFormat("%.1f GiB", m.memory_bytes() / 1073741824.0));
  add("gpu", m.gpu());
  add("gpu driver", m.gpu_driver());
  // Where the engine ran, when not the CPU: the GPU, CUDA and clocks.
  if (!m.device().empty() && m.device() != "cpu") {
    add("device", absl::StrCat(m.device(), m.device_description().empty() ? "" : ": ",
                               m.device_description()));
    add("cuda", m.cuda_version());
    add("gpu clocks", m.gpu_clocks());
  }
  add("os / kernel", absl::StrCat(m.os(), " / ", m.kernel()));
  add("host", m.hostname());
  add("seed", absl::StrCat(m.seed()));
  add("time", absl::StrCat(m.start_time(), " to ", m.end_time()));
  for (const auto& mi : m.models()) {
    add(absl::StrCat("model ", mi.variant()),
        absl::StrCat(
            mi.path(), " sha256 ", mi.sha256().substr(0, 16), "…, ", mi.file_bytes(), " bytes",
            mi.quantized_from().empty() ? "" : absl::StrCat(", quantized: ", mi.quantized_from())));
  }
}

std::string Title(const v1::Report& r) {
  return r.result().spec().name().empty() ? "tcobench report" : r.result().spec().name();
}

}  // namespace tcobench::render
