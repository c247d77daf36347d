// Reports as one self-contained HTML page with SVG charts (no scripts, no
// external resources).
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

// ------------------------------------------------------------- SVG charts

// Each chart's colours are its own (the browser test finds every chart by them).
const char* const kPalette[] = {"#3366cc", "#dc3912", "#ff9900", "#109618", "#990099",
                                "#0099c6", "#dd4477", "#66aa00", "#b82e2e"};

struct Linear {
  double d0, d1, r0, r1;
  double operator()(double v) const {
    return d1 == d0 ? (r0 + r1) / 2 : r0 + (v - d0) / (d1 - d0) * (r1 - r0);
  }
};

// Round tick values covering [lo, hi].
std::vector<double> Ticks(double lo, double hi, int n = 5) {
  if (!(hi > lo)) hi = lo + (lo == 0 ? 1 : std::abs(lo) * 0.1);
  const double raw = (hi - lo) / n;
  const double mag = std::pow(10, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (m * mag >= raw) {
      step = m * mag;
      break;
    }
  }
  std::vector<double> out;
  for (double t = std::floor(lo / step) * step; t <= hi + step * 0.5; t += step) out.push_back(t);
  return out;
}

struct Frame {
  double w = 720, h = 360, left = 70, right = 20, top = 20, bottom = 50;
};

// Axes with ticks and titles; returns the scales.
std::string Axes(const Frame& f, const std::vector<double>& xt, const std::vector<double>& yt,
                 const std::string& xlabel, const std::string& ylabel, Linear* x, Linear* y) {
  *x = {xt.front(), xt.back(), f.left, f.w - f.right};
  *y = {yt.front(), yt.back(), f.h - f.bottom, f.top};
  std::string s;
  for (double t : xt) {
    absl::StrAppendFormat(&s,
                          "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' stroke='#ddd'/>"
                          "<text x='%.1f' y='%.1f' text-anchor='middle' class='tick'>%s</text>\n",
                          (*x)(t), f.top, (*x)(t), f.h - f.bottom, (*x)(t), f.h - f.bottom + 16,
                          Num(t));
  }
  for (double t : yt) {
    absl::StrAppendFormat(&s,
                          "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' stroke='#ddd'/>"
                          "<text x='%.1f' y='%.1f' text-anchor='end' class='tick'>%s</text>\n",
                          f.left, (*y)(t), f.w - f.right, (*y)(t), f.left - 6, (*y)(t) + 4, Num(t));
  }
  absl::StrAppendFormat(
      &s, "<rect x='%.1f' y='%.1f' width='%.1f' height='%.1f' fill='none' stroke='#888'/>\n",
      f.left, f.top, f.w - f.left - f.right, f.h - f.top - f.bottom);
  absl::StrAppendFormat(&s, "<text x='%.1f' y='%.1f' text-anchor='middle' class='axis'>%s</text>\n",
                        (f.left + f.w - f.right) / 2, f.h - 12, Esc(xlabel));
  absl::StrAppendFormat(&s,
                        "<text transform='translate(16,%.1f) rotate(-90)' text-anchor='middle' "
                        "class='axis'>%s</text>\n",
                        (f.top + f.h - f.bottom) / 2, Esc(ylabel));
  return s;
}

std::string Svg(const Frame& f, const std::string& body) {
  return absl::StrFormat(
      "<svg xmlns='http://www.w3.org/2000/svg' width='%.0f' height='%.0f' viewBox='0 0 %.0f "
      "%.0f'>\n%s</svg>\n",
      f.w, f.h, f.w, f.h, body);
}

std::string Figure(const std::string& id, const std::string& caption, const std::string& svg) {
  return absl::StrCat("<figure id='", id, "'>\n", svg, "<figcaption>", Esc(caption),
                      "</figcaption></figure>\n");
}

std::string AccuracyCostChart(const v1::CostReport& c) {
  Frame f;
  std::vector<const v1::VariantCost*> pts;
  for (const auto& r : c.rows()) {
    if (r.output_tokens_per_second() > 0) pts.push_back(&r);
  }
  if (pts.empty()) return "<p>No throughput measured: no cost to chart.</p>";
  const std::string& metric = c.pareto_metric();
  auto score = [&](const v1::VariantCost* r) { return metric.empty() ? 1.0 : r->accuracy_score(); };
  double x0 = 0, x1 = 0, y0 = 1e300, y1 = -1e300;
  for (auto* r : pts) {
    x1 = std::max(x1, r->usd_per_million_output_tokens());
    y0 = std::min(y0, score(r));
    y1 = std::max(y1, score(r));
  }
  const double pad = std::max((y1 - y0) * 0.1, 1e-4);
  Linear x, y;
  const std::string ylabel = metric == "mean_kld"    ? "accuracy: 1 - mean KLD vs baseline"
                             : metric == "ppl_ratio" ? "accuracy: baseline PPL / PPL"
                             : metric.empty()        ? "accuracy not measured"
                                                     : "accuracy: choice accuracy / baseline's";
  std::string body = Axes(f, Ticks(x0, x1 * 1.1), Ticks(y0 - pad, y1 + pad),
                          "$ per million output tokens", ylabel, &x, &y);
  // The Pareto front, cheapest first.
  std::vector<const v1::VariantCost*> front;
  for (auto* r : pts) {
    if (r->on_pareto_front()) front.push_back(r);
  }
  std::sort(front.begin(), front.end(), [](auto* a, auto* b) {
    return a->usd_per_million_output_tokens() < b->usd_per_million_output_tokens();
  });
  if (front.size() > 1) {
    std::string line;
    for (auto* r : front)
      absl::StrAppendFormat(&line, "%.1f,%.1f ", x(r->usd_per_million_output_tokens()),
                            y(score(r)));
    absl::StrAppend(&body, "<polyline class='front' points='", line,
                    "' fill='none' stroke='#d62728' stroke-width='2' stroke-dasharray='6 3'/>\n");
  }
  for (size_t i = 0; i < pts.size(); ++i) {
    const auto* r = pts[i];
    const double px = x(r->usd_per_million_output_tokens()), py = y(score(r));
    const bool rec =
        r->variant() == c.recommended_variant() && r->hardware() == c.recommended_hardware();
    if (rec)
      absl::StrAppendFormat(
          &body, "<circle cx='%.1f' cy='%.1f' r='11' fill='none' stroke='#000' stroke-width='2'/>",
          px, py);
    absl::StrAppendFormat(&body,
                          "<circle cx='%.1f' cy='%.1f' r='6' fill='%s'><title>%s: %s per million "
                          "output tokens, %s</title></circle>"
                          "<text x='%.1f' y='%.1f' class='label' text-anchor='%s'>%s%s</text>\n",
                          px, py, kPalette[i % std::size(kPalette)], Esc(Row(*r)),
                          FormatUsd(r->usd_per_million_output_tokens()),
                          r->meets_accuracy() && r->meets_slo() ? "meets the bars" : "misses a bar",
                          px > f.w * 0.65 ? px - 9 : px + 9, py - 8,
                          px > f.w * 0.65 ? "end" : "start", Esc(Row(*r)),
                          rec ? " (recommended)" : "");
  }
  return Svg(f, body);
}

std::string LatencyChart(const v1::ComparisonResult& r) {
  Frame f;
  const int n = r.results_size();
  f.h = 60 + 34.0 * n;
  f.left = 190;
  f.w = 760;
  // Two panels: TTFT and TPOT, each with its own scale (ms).
  const double panel = (f.w - f.left - 70) / 2;
  std::string body;
  for (int k = 0; k < 2; ++k) {
    double hi = 0;
    std::vector<std::vector<double>> per(n);
    for (int i = 0; i < n; ++i) {
      for (const auto& s : r.results(i).samples()) {
        const double v = 1e3 * (k == 0 ? s.ttft_seconds() : s.tpot_seconds());
        if (v > 0) per[i].push_back(v);
      }
      // Scaled to what is drawn (up to p99): one stalled request must not
      // squeeze every box to a pixel.
      if (!per[i].empty()) hi = std::max(hi, Quantile(per[i], 0.99));
    }
    const std::vector<double> ticks = Ticks(0, hi > 0 ? hi * 1.05 : 1, 4);
    const double left = f.left + k * (panel + 40);
    const Linear x{ticks.front(), ticks.back(), left, left + panel};
    for (double t : ticks) {
      absl::StrAppendFormat(&body,
                            "<line x1='%.1f' y1='20' x2='%.1f' y2='%.1f' stroke='#ddd'/>"
                            "<text x='%.1f' y='%.1f' text-anchor='middle' class='tick'>%s</text>\n",
                            x(t), x(t), f.h - 35, x(t), f.h - 20, Num(t));
    }
    absl::StrAppendFormat(
        &body, "<text x='%.1f' y='14' text-anchor='middle' class='axis'>%s</text>\n",
        left + panel / 2, k == 0 ? "TTFT per request, ms" : "TPOT per request, ms");
    const char* color = k == 0 ? "#1f77b4" : "#ff7f0e";
    const char* fill = k == 0 ? "#9ecae1" : "#fdd0a2";
    for (int i = 0; i < n; ++i) {
      const double cy = 40 + 34.0 * i;
      if (k == 0) {
        absl::StrAppendFormat(
            &body,
            "<text x='%.1f' y='%.1f' text-anchor='end' class='label'>%s @ %s (%d/%d)</text>\n",
            f.left - 8, cy + 4, Esc(r.results(i).variant()), Esc(r.results(i).hardware()),
            r.results(i).prompt_tokens(), r.results(i).output_tokens());
      }
      if (per[i].empty()) continue;
      const double p1 = Quantile(per[i], 0.01), p25 = Quantile(per[i], 0.25),
                   p50 = Quantile(per[i], 0.5), p75 = Quantile(per[i], 0.75),
                   p99 = Quantile(per[i], 0.99);
      absl::StrAppendFormat(
          &body,
          "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' stroke='%s' shape-rendering='crispEdges'/>"
          "<rect x='%.1f' y='%.1f' width='%.1f' height='18' fill='%s' stroke='%s' shape-rendering='crispEdges'/>"
          "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' stroke='#000' stroke-width='2'/>\n",
          x(p1), cy, x(p99), cy, color, x(p25), cy - 9, std::max(4.0, x(p75) - x(p25)), fill, color,
          x(p50), cy - 9, x(p50), cy + 9);
    }
  }
  body += "<text x='10' y='14' class='tick'>box: quartiles; line: p1 to p99; bar: median</text>\n";
  return Svg(f, body);
}

// Horizontal bars, one row per cost row, `parts` stacked.
std::string Bars(const v1::CostReport& c,
                 const std::vector<std::pair<std::string, std::string>>& parts,
                 const std::function<std::vector<double>(const v1::VariantCost&)>& values,
                 const std::string& xlabel,
                 const std::function<std::string(const v1::VariantCost&)>& note,
                 const std::function<double(const v1::VariantCost&)>& error = nullptr) {
  Frame f;
  const int n = c.rows_size();
  f.left = 190;
  f.h = 70 + 30.0 * n;
  double hi = 0;
  for (const auto& r : c.rows()) {
    double sum = 0;
    for (double v : values(r)) sum += v;
    hi = std::max(hi, sum * (1 + (error ? error(r) : 0)));
  }
  const std::vector<double> ticks = Ticks(0, hi > 0 ? hi * 1.15 : 1, 5);
  const Linear x = {ticks.front(), ticks.back(), f.left, f.w - f.right};
  std::string body;
  for (double t : ticks) {
    absl::StrAppendFormat(&body,
                          "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' stroke='#ddd'/>"
                          "<text x='%.1f' y='%.1f' text-anchor='middle' class='tick'>%s</text>\n",
                          x(t), f.top, x(t), f.h - f.bottom, x(t), f.h - f.bottom + 16, Num(t));
  }
  absl::StrAppendFormat(&body,
                        "<text x='%.1f' y='%.1f' text-anchor='middle' class='axis'>%s</text>\n",
                        (f.left + f.w) / 2, f.h - 12, Esc(xlabel));
  for (int i = 0; i < n; ++i) {
    const auto& r = c.rows(i);
    const double cy = f.top + 10 + 30.0 * i;
    absl::StrAppendFormat(
        &body, "<text x='%.1f' y='%.1f' text-anchor='end' class='label'>%s (%d/%d)</text>\n",
        f.left - 8, cy + 13, Esc(Row(r)), r.prompt_tokens(), r.output_tokens());
    double at = 0;
    const std::vector<double> v = values(r);
    for (size_t p = 0; p < v.size(); ++p) {
      absl::StrAppendFormat(
          &body,
          "<rect x='%.1f' y='%.1f' width='%.1f' height='18' fill='%s'><title>%s: %s</title></rect>",
          x(at), cy, std::max(0.0, x(at + v[p]) - x(at)), parts[p].second, Esc(parts[p].first),
          Num(v[p]));
      at += v[p];
    }
    if (error && error(r) > 0 && at > 0) {
      absl::StrAppendFormat(&body, "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' stroke='#000'/>",
                            x(at * (1 - error(r))), cy + 9, x(at * (1 + error(r))), cy + 9);
    }
    absl::StrAppendFormat(&body, "<text x='%.1f' y='%.1f' class='tick'>%s</text>\n",
                          x(at * (1 + (error ? error(r) : 0))) + 6, cy + 13, Esc(note(r)));
  }
  // The legend.
  double lx = f.left;
  for (const auto& [name, color] : parts) {
    absl::StrAppendFormat(&body,
                          "<rect x='%.1f' y='2' width='12' height='12' fill='%s'/><text x='%.1f' "
                          "y='12' class='tick'>%s</text>",
                          lx, color, lx + 16, Esc(name));
    lx += 30 + 7.0 * static_cast<double>(name.size());
  }
  return Svg(f, body);
}

}  // namespace

std::string RenderReportHtml(const v1::Report& rep) {
  const v1::ComparisonResult& r = rep.result();
  const v1::CostReport& c = rep.cost();
  std::string out = absl::StrCat(
      "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>\n<title>", Esc(Title(rep)),
      "</title>\n",
      "<style>\nbody{font:14px/1.45 system-ui,sans-serif;margin:24px "
      "auto;max-width:1100px;color:#222;padding:0 16px}\n"
      "h1{font-size:24px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd}\n"
      ".rec{background:#eef6ee;border-left:4px solid #2ca02c;padding:10px 14px;font-size:16px}\n"
      "table{border-collapse:collapse;margin:8px 0;font-size:12px}td,th{border:1px solid "
      "#ddd;padding:3px 6px;text-align:left}\n"
      "th{background:#f4f4f4}figure{margin:16px 0}figcaption{color:#555;font-size:12px}\n"
      "svg "
      "text{font-family:system-ui,sans-serif}.tick{font-size:11px;fill:#444}.axis{font-size:12px;"
      "fill:#222}\n"
      ".label{font-size:11px;fill:#222}.notes li{color:#555}\n</style></head><body>\n");
  absl::StrAppend(&out, "<h1>", Esc(Title(rep)), "</h1>\n");
  absl::StrAppend(&out, "<p class='rec'><b>Recommendation.</b> ", Esc(c.recommendation()),
                  "</p>\n");
  absl::StrAppend(
      &out, "<p>Cost inputs: ", Esc(Assumptions(c)), ". Baseline variant: <b>",
      Esc(r.spec().baseline()), "</b>. Measured on ", Esc(r.manifest().cpu_model()), ", ",
      r.manifest().threads(), " threads, ISA ", Esc(r.manifest().isa()),
      rep.comparison_id().empty() ? "" : absl::StrCat("; comparison ", Esc(rep.comparison_id())),
      ".</p>\n");
  if (!c.notes().empty()) {
    out += "<ul class='notes'>";
    for (const auto& n : c.notes()) absl::StrAppend(&out, "<li>", Esc(n), "</li>");
    out += "</ul>\n";
  }
  out += "<h2>Charts</h2>\n";
  absl::StrAppend(
      &out,
      Figure(
          "chart-accuracy-cost",
          "Accuracy against cost; the dashed line is the Pareto front (nothing is both cheaper and "
          "more accurate than a point on it); the ringed point is the recommendation.",
          AccuracyCostChart(c)));
  absl::StrAppend(&out, Figure("chart-latency",
                               "Latency distributions per variant, hardware and workload point.",
                               LatencyChart(r)));
  absl::StrAppend(
      &out, Figure("chart-cost-breakdown", "Cost per million output tokens: hardware and energy.",
                   Bars(
                       c, {{"hardware", "#2ca02c"}, {"energy", "#9467bd"}},
                       [](const v1::VariantCost& x) {
                         return std::vector<double>{x.hardware_usd_per_million_output_tokens(),
                                                    x.energy_usd_per_million_output_tokens()};
                       },
                       "$ per million output tokens",
                       [](const v1::VariantCost& x) {
                         return FormatUsd(x.usd_per_million_output_tokens());
                       })));
  absl::StrAppend(
      &out,
      Figure("chart-energy",
             "Energy per 1,000 output tokens (facility, x PUE), with its source and uncertainty.",
             Bars(
                 c, {{"Wh per 1,000 tokens", "#8c564b"}},
                 [](const v1::VariantCost& x) {
                   return std::vector<double>{x.wh_per_thousand_tokens()};
                 },
                 "Wh per 1,000 output tokens",
                 [](const v1::VariantCost& x) {
                   return absl::StrFormat("%s ±%.0f%%", x.energy_source(),
                                          100 * x.energy_uncertainty_fraction());
                 },
                 [](const v1::VariantCost& x) { return x.energy_uncertainty_fraction(); })));
  std::vector<std::vector<std::string>> rows;
  for (const auto& x : c.rows()) rows.push_back(CostCells(x, HasLoad(c)));
  absl::StrAppend(&out, "<h2>Cost</h2>\n", HtmlTable(kCostHeads, rows));
  rows.clear();
  for (const auto& v : r.results()) rows.push_back(ResultCells(v));
  absl::StrAppend(&out, "<h2>Results</h2>\n", HtmlTable(kResultHeads, rows));
  if (const std::vector<std::vector<std::string>> load_rows = LoadRows(r); !load_rows.empty()) {
    absl::StrAppend(&out, "<h2>Endpoint load</h2>\n<p>Goodput: requests meeting every SLO bound per second.</p>\n",
                    HtmlTable(kLoadHeads, load_rows));
  }
  rows.clear();
  ManifestRows(r.manifest(), &rows);
  absl::StrAppend(&out, "<h2>Manifest</h2>\n", HtmlTable({"", ""}, rows));
  if (r.job_manifests_size() > 1) {
    rows.clear();
    for (const auto& m : r.job_manifests()) {
      rows.push_back(
          {m.hostname(), m.cpu_model(), m.isa(), absl::StrCat(m.threads()), m.start_time()});
    }
    absl::StrAppend(&out, "<h3>Every job's machine</h3>\n",
                    HtmlTable({"host", "cpu", "isa", "threads", "start"}, rows));
  }
  out += "</body></html>\n";
  return out;
}

}  // namespace tcobench
