// Gate verdicts as text, Markdown and JUnit XML.
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

namespace {

std::string MetricValue(const std::string& metric, double v) {
  if (metric.rfind("ttft_", 0) == 0 || metric.rfind("tpot_", 0) == 0 ||
      metric.rfind("e2e_", 0) == 0) {
    return absl::StrFormat("%.3f ms", 1e3 * v);
  }
  if (metric == "decode_tokens_per_second") return absl::StrFormat("%.2f tok/s", v);
  if (metric == "joules_per_token") return absl::StrFormat("%.4g J", v);
  if (metric == "ppl_ratio") return absl::StrFormat("PPL %.4f", v);
  if (metric == "error_rate") return absl::StrFormat("%.2f%% failed", 100 * v);
  if (metric == "goodput") return absl::StrFormat("%.4g good req/s", v);
  if (metric == "capacity") return absl::StrFormat("%g", v);
  return absl::StrFormat("%.6g", v);
}

// The change in the metric's own direction and whether that is better:
// "+2114% better" for tokens/s that rose 22-fold, "+3.10% worse" for a
// latency that rose.
std::string ChangeCell(const v1::MetricVerdict& m) {
  if (m.metric() == "error_rate") {  // a change in points, not relative
    const std::string number = absl::StrFormat("%+.2f points", 100 * m.relative_change());
    return m.relative_change() == 0 ? number : absl::StrCat(number, m.better() ? " better" : " worse");
  }
  const double pct = 100 * m.relative_change();
  const std::string number = std::abs(pct) >= 100 ? absl::StrFormat("%+.0f%%", pct) : absl::StrFormat("%+.2f%%", pct);
  if (m.relative_change() == 0) return number;
  return absl::StrCat(number, m.better() ? " better" : " worse");
}

// "variant @ hardware (in/out)", with an endpoint row's endpoint and load
// point: "served [fast] @ gpu (128/64) 8 req/s".
std::string GateRowName(const v1::MetricVerdict& m) {
  return absl::StrCat(VariantName(m.variant(), m.endpoint()), " @ ",
                      m.hardware(), " (", m.prompt_tokens(), "/", m.output_tokens(), ")",
                      m.load().empty() ? "" : " " + m.load());
}

std::vector<std::string> GateCells(const v1::MetricVerdict& m) {
  const bool values = m.verdict() != v1::MetricVerdict::SKIPPED && m.metric() != "results";
  return {m.metric(),
          GateRowName(m),
          values ? MetricValue(m.metric(), m.baseline_value()) : "-",
          values ? MetricValue(m.metric(), m.candidate_value()) : "-",
          values ? ChangeCell(m) : "-",
          VerdictName(m.verdict()),
          m.detail()};
}

const std::vector<std::string> kGateHeads = {
    "metric", "variant @ hardware (in/out)", "baseline", "candidate", "change", "verdict", "why"};

std::string GateHeadline(const v1::GateVerdict& g) {
  return absl::StrFormat("gate: %s — candidate %s against baseline %s (alpha %.3g)",
                         VerdictName(g.overall()), g.candidate_ref(), g.baseline_ref(),
                         g.policy().alpha());
}

}  // namespace

std::string RenderGateText(const v1::GateVerdict& g) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& m : g.metrics()) rows.push_back(GateCells(m));
  return absl::StrCat(GateHeadline(g), "\n", TextTable(kGateHeads, rows));
}

std::string RenderGateMarkdown(const v1::GateVerdict& g) {
  int counts[5] = {0, 0, 0, 0, 0};
  for (const auto& m : g.metrics()) ++counts[std::clamp(static_cast<int>(m.verdict()), 0, 4)];
  std::string out = absl::StrFormat(
      "### tcobench gate: **%s**\n\nCandidate `%s` against baseline `%s`: %d regression, "
      "%d inconclusive, %d pass, %d skipped (each change's %.0f%% interval against its regression "
      "threshold; accuracy against its bounds).\n\n",
      VerdictName(g.overall()), g.candidate_ref(), g.baseline_ref(),
      counts[v1::MetricVerdict::REGRESSION], counts[v1::MetricVerdict::INCONCLUSIVE],
      counts[v1::MetricVerdict::PASS], counts[v1::MetricVerdict::SKIPPED], 100 * (1 - 2 * g.policy().alpha()));
  std::vector<std::vector<std::string>> rows;
  for (const auto& m : g.metrics()) rows.push_back(GateCells(m));
  return out + MdTable(kGateHeads, rows);
}

std::string RenderGateJunit(const v1::GateVerdict& g) {
  int failures = 0, errors = 0, skipped = 0;
  for (const auto& m : g.metrics()) {
    failures += m.verdict() == v1::MetricVerdict::REGRESSION;
    errors += m.verdict() == v1::MetricVerdict::INCONCLUSIVE;
    skipped += m.verdict() == v1::MetricVerdict::SKIPPED;
  }
  std::string out = absl::StrFormat(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"tcobench gate\" tests=\"%d\" "
      "failures=\"%d\" "
      "errors=\"%d\" skipped=\"%d\">\n<testsuite name=\"%s\" tests=\"%d\" failures=\"%d\" "
      "errors=\"%d\" skipped=\"%d\">\n",
      g.metrics_size(), failures, errors, skipped,
      Esc(absl::StrCat("gate ", g.candidate_ref(), " vs ", g.baseline_ref())), g.metrics_size(),
      failures, errors, skipped);
  for (const auto& m : g.metrics()) {
    const auto c = GateCells(m);
    absl::StrAppend(
        &out, "  <testcase classname=\"",
        Esc(absl::StrCat("tcobench.gate.", m.variant(), ".", m.hardware())), "\" name=\"",
        Esc(absl::StrCat(m.metric(), " (", m.prompt_tokens(), "/", m.output_tokens(), ")",
                         m.load().empty() ? "" : " " + m.load())),
        "\"");
    const std::string text =
        absl::StrCat("baseline ", c[2], ", candidate ", c[3], ", change ", c[4], ": ", m.detail());
    switch (m.verdict()) {
      case v1::MetricVerdict::REGRESSION:
        absl::StrAppend(&out, ">\n    <failure type=\"regression\" message=\"", Esc(text),
                        "\"/>\n  </testcase>\n");
        break;
      case v1::MetricVerdict::INCONCLUSIVE:
        absl::StrAppend(&out, ">\n    <error type=\"inconclusive\" message=\"", Esc(text),
                        "\"/>\n  </testcase>\n");
        break;
      case v1::MetricVerdict::SKIPPED:
        absl::StrAppend(&out, ">\n    <skipped message=\"", Esc(m.detail()),
                        "\"/>\n  </testcase>\n");
        break;
      default:
        absl::StrAppend(&out, ">\n    <system-out>", Esc(text), "</system-out>\n  </testcase>\n");
    }
  }
  return out + "</testsuite>\n</testsuites>\n";
}

}  // namespace tcobench
