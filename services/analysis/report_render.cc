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
#include "services/analysis/cost_model.h"
#include "services/analysis/gate.h"
#include "common/base/statistics.h"

namespace tcobench {
namespace {

std::string Ms(double seconds) { return absl::StrFormat("%.2f", seconds * 1e3); }


std::string Esc(absl::string_view s) {
  return absl::StrReplaceAll(s, {{"&", "&amp;"}, {"<", "&lt;"}, {">", "&gt;"}, {"\"", "&quot;"}, {"'", "&#39;"}});
}

std::string CsvField(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  return absl::StrCat("\"", absl::StrReplaceAll(s, {{"\"", "\"\""}}), "\"");
}

std::string MdCell(const std::string& s) { return absl::StrReplaceAll(s, {{"|", "\\|"}, {"\n", " "}}); }

std::string ChoiceText(const v1::AccuracyResult& a) {
  std::string choice;
  for (const auto& c : a.choice()) {
    absl::StrAppendFormat(&choice, "%s%s %.1f%% (n=%d)", choice.empty() ? "" : ", ", c.task(), 100 * c.accuracy(),
                          c.n());
  }
  return choice.empty() ? "-" : choice;
}

bool HasKld(const v1::VariantResult& v) { return v.accuracy().has_kld() && v.accuracy().kld().applicable(); }

std::string Row(const v1::VariantCost& c) { return absl::StrCat(c.variant(), " @ ", c.hardware()); }

// Every cell of the results table, as text.
std::vector<std::string> ResultCells(const v1::VariantResult& v) {
  const auto& a = v.accuracy();
  const bool kld = HasKld(v);
  return {v.variant(),
          v.hardware(),
          v.scenario(),
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
          ChoiceText(a)};
}
const std::vector<std::string> kResultHeads = {"variant", "hardware", "scenario", "prompt", "output", "TTFT p50 ms",
                                    "TTFT p99 ms", "TPOT p50 ms", "e2e p50 ms", "decode tok/s", "req/s",
                                    "J/token", "energy", "PPL", "mean KLD", "top-1", "choice"};

std::vector<std::string> CostCells(const v1::VariantCost& c, bool load) {
  std::vector<std::string> out = {
      c.variant(),
      c.hardware(),
      absl::StrCat(c.prompt_tokens(), "/", c.output_tokens()),
      absl::StrCat(FormatUsd(c.usd_per_hour()), " (", c.price_source(), ")"),
      absl::StrFormat("%.1f", c.output_tokens_per_second()),
      FormatUsd(c.usd_per_million_output_tokens()),
      absl::StrCat(FormatUsd(c.hardware_usd_per_million_output_tokens()), " + ",
                   FormatUsd(c.energy_usd_per_million_output_tokens())),
      FormatUsd(c.usd_per_million_input_tokens()),
      absl::StrFormat("%.4g", c.wh_per_thousand_tokens()),
      absl::StrFormat("%.4g", c.grams_co2_per_million_tokens()),
      load ? absl::StrFormat("%s (%.0f)", FormatUsd(c.monthly_tco_usd()), c.instances()) : "-",
      c.meets_slo() ? "yes" : "no",
      c.meets_accuracy() ? "yes" : "no",
      c.on_pareto_front() ? "yes" : "",
      c.why().empty() ? "" : absl::StrJoin(c.why(), "; ")};
  return out;
}
const std::vector<std::string> kCostHeads = {"variant", "hardware", "prompt/output", "price/hour", "out tok/s",
                                  "per M out", "hardware + energy", "per M in", "Wh/1k tok", "gCO2e/M tok",
                                  "monthly TCO (instances)", "SLO", "accuracy", "Pareto", "why not"};

bool HasLoad(const v1::CostReport& c) {
  return c.inputs().load().tokens_per_day() > 0 || c.inputs().load().requests_per_second() > 0;
}

std::string Assumptions(const v1::CostReport& c) {
  const v1::Cost& in = c.inputs();
  std::string s = absl::StrFormat("energy $%.3f/kWh, PUE %.2f, grid %.0f gCO2e/kWh", in.energy_usd_per_kwh(), in.pue(),
                                  in.grid_grams_co2_per_kwh());
  if (in.slo().ttft_p99_seconds() > 0) absl::StrAppendFormat(&s, ", SLO TTFT p99 <= %.0f ms", 1e3 * in.slo().ttft_p99_seconds());
  if (in.slo().tpot_p99_seconds() > 0) absl::StrAppendFormat(&s, ", SLO TPOT p99 <= %.1f ms", 1e3 * in.slo().tpot_p99_seconds());
  if (in.load().tokens_per_day() > 0) absl::StrAppendFormat(&s, ", load %.4g output tokens/day", in.load().tokens_per_day());
  if (in.load().requests_per_second() > 0) absl::StrAppendFormat(&s, ", load %.4g requests/s", in.load().requests_per_second());
  return s;
}

std::string MdTable(const std::vector<std::string>& heads, const std::vector<std::vector<std::string>>& rows) {
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
std::string TextTable(const std::vector<std::string>& heads, const std::vector<std::vector<std::string>>& rows) {
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

std::string HtmlTable(const std::vector<std::string>& heads, const std::vector<std::vector<std::string>>& rows) {
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

// ------------------------------------------------------------- SVG charts

// Each chart's colours are its own (the browser test finds every chart by them).
const char* const kPalette[] = {"#3366cc", "#dc3912", "#ff9900", "#109618", "#990099",
                                "#0099c6", "#dd4477", "#66aa00", "#b82e2e"};

struct Linear {
  double d0, d1, r0, r1;
  double operator()(double v) const { return d1 == d0 ? (r0 + r1) / 2 : r0 + (v - d0) / (d1 - d0) * (r1 - r0); }
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

std::string Num(double v) { return absl::StrFormat("%.4g", v); }

struct Frame {
  double w = 720, h = 360, left = 70, right = 20, top = 20, bottom = 50;
};

// Axes with ticks and titles; returns the scales.
std::string Axes(const Frame& f, const std::vector<double>& xt, const std::vector<double>& yt, const std::string& xlabel,
                 const std::string& ylabel, Linear* x, Linear* y) {
  *x = {xt.front(), xt.back(), f.left, f.w - f.right};
  *y = {yt.front(), yt.back(), f.h - f.bottom, f.top};
  std::string s;
  for (double t : xt) {
    absl::StrAppendFormat(&s,
                          "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' stroke='#ddd'/>"
                          "<text x='%.1f' y='%.1f' text-anchor='middle' class='tick'>%s</text>\n",
                          (*x)(t), f.top, (*x)(t), f.h - f.bottom, (*x)(t), f.h - f.bottom + 16, Num(t));
  }
  for (double t : yt) {
    absl::StrAppendFormat(&s,
                          "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' stroke='#ddd'/>"
                          "<text x='%.1f' y='%.1f' text-anchor='end' class='tick'>%s</text>\n",
                          f.left, (*y)(t), f.w - f.right, (*y)(t), f.left - 6, (*y)(t) + 4, Num(t));
  }
  absl::StrAppendFormat(&s, "<rect x='%.1f' y='%.1f' width='%.1f' height='%.1f' fill='none' stroke='#888'/>\n", f.left,
                        f.top, f.w - f.left - f.right, f.h - f.top - f.bottom);
  absl::StrAppendFormat(&s, "<text x='%.1f' y='%.1f' text-anchor='middle' class='axis'>%s</text>\n",
                        (f.left + f.w - f.right) / 2, f.h - 12, Esc(xlabel));
  absl::StrAppendFormat(&s,
                        "<text transform='translate(16,%.1f) rotate(-90)' text-anchor='middle' class='axis'>%s</text>\n",
                        (f.top + f.h - f.bottom) / 2, Esc(ylabel));
  return s;
}

std::string Svg(const Frame& f, const std::string& body) {
  return absl::StrFormat("<svg xmlns='http://www.w3.org/2000/svg' width='%.0f' height='%.0f' viewBox='0 0 %.0f %.0f'>\n%s</svg>\n",
                         f.w, f.h, f.w, f.h, body);
}

std::string Figure(const std::string& id, const std::string& caption, const std::string& svg) {
  return absl::StrCat("<figure id='", id, "'>\n", svg, "<figcaption>", Esc(caption), "</figcaption></figure>\n");
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
  std::string body = Axes(f, Ticks(x0, x1 * 1.1), Ticks(y0 - pad, y1 + pad), "$ per million output tokens", ylabel, &x, &y);
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
    for (auto* r : front) absl::StrAppendFormat(&line, "%.1f,%.1f ", x(r->usd_per_million_output_tokens()), y(score(r)));
    absl::StrAppend(&body, "<polyline class='front' points='", line,
                    "' fill='none' stroke='#d62728' stroke-width='2' stroke-dasharray='6 3'/>\n");
  }
  for (size_t i = 0; i < pts.size(); ++i) {
    const auto* r = pts[i];
    const double px = x(r->usd_per_million_output_tokens()), py = y(score(r));
    const bool rec = r->variant() == c.recommended_variant() && r->hardware() == c.recommended_hardware();
    if (rec) absl::StrAppendFormat(&body, "<circle cx='%.1f' cy='%.1f' r='11' fill='none' stroke='#000' stroke-width='2'/>", px, py);
    absl::StrAppendFormat(&body,
                          "<circle cx='%.1f' cy='%.1f' r='6' fill='%s'><title>%s: %s per million output tokens, %s</title></circle>"
                          "<text x='%.1f' y='%.1f' class='label' text-anchor='%s'>%s%s</text>\n",
                          px, py, kPalette[i % std::size(kPalette)], Esc(Row(*r)), FormatUsd(r->usd_per_million_output_tokens()),
                          r->meets_accuracy() && r->meets_slo() ? "meets the bars" : "misses a bar",
                          px > f.w * 0.65 ? px - 9 : px + 9, py - 8, px > f.w * 0.65 ? "end" : "start", Esc(Row(*r)),
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
      for (double v : per[i]) hi = std::max(hi, v);
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
    absl::StrAppendFormat(&body, "<text x='%.1f' y='14' text-anchor='middle' class='axis'>%s</text>\n", left + panel / 2,
                          k == 0 ? "TTFT per request, ms" : "TPOT per request, ms");
    const char* color = k == 0 ? "#1f77b4" : "#ff7f0e";
    const char* fill = k == 0 ? "#9ecae1" : "#fdd0a2";
    for (int i = 0; i < n; ++i) {
      const double cy = 40 + 34.0 * i;
      if (k == 0) {
        absl::StrAppendFormat(&body, "<text x='%.1f' y='%.1f' text-anchor='end' class='label'>%s @ %s (%d/%d)</text>\n",
                              f.left - 8, cy + 4, Esc(r.results(i).variant()), Esc(r.results(i).hardware()),
                              r.results(i).prompt_tokens(), r.results(i).output_tokens());
      }
      if (per[i].empty()) continue;
      const double p1 = Quantile(per[i], 0.01), p25 = Quantile(per[i], 0.25), p50 = Quantile(per[i], 0.5),
                   p75 = Quantile(per[i], 0.75), p99 = Quantile(per[i], 0.99);
      absl::StrAppendFormat(&body,
                            "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' stroke='%s'/>"
                            "<rect x='%.1f' y='%.1f' width='%.1f' height='18' fill='%s' stroke='%s'/>"
                            "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' stroke='#000' stroke-width='2'/>\n",
                            x(p1), cy, x(p99), cy, color, x(p25), cy - 9, std::max(1.0, x(p75) - x(p25)), fill, color,
                            x(p50), cy - 9, x(p50), cy + 9);
    }
  }
  body += "<text x='10' y='14' class='tick'>box: quartiles; line: p1 to p99; bar: median</text>\n";
  return Svg(f, body);
}

// Horizontal bars, one row per cost row, `parts` stacked.
std::string Bars(const v1::CostReport& c, const std::vector<std::pair<std::string, std::string>>& parts,
                 const std::function<std::vector<double>(const v1::VariantCost&)>& values, const std::string& xlabel,
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
  absl::StrAppendFormat(&body, "<text x='%.1f' y='%.1f' text-anchor='middle' class='axis'>%s</text>\n",
                        (f.left + f.w) / 2, f.h - 12, Esc(xlabel));
  for (int i = 0; i < n; ++i) {
    const auto& r = c.rows(i);
    const double cy = f.top + 10 + 30.0 * i;
    absl::StrAppendFormat(&body, "<text x='%.1f' y='%.1f' text-anchor='end' class='label'>%s (%d/%d)</text>\n",
                          f.left - 8, cy + 13, Esc(Row(r)), r.prompt_tokens(), r.output_tokens());
    double at = 0;
    const std::vector<double> v = values(r);
    for (size_t p = 0; p < v.size(); ++p) {
      absl::StrAppendFormat(&body, "<rect x='%.1f' y='%.1f' width='%.1f' height='18' fill='%s'><title>%s: %s</title></rect>",
                            x(at), cy, std::max(0.0, x(at + v[p]) - x(at)), parts[p].second, Esc(parts[p].first),
                            Num(v[p]));
      at += v[p];
    }
    if (error && error(r) > 0 && at > 0) {
      absl::StrAppendFormat(&body, "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' stroke='#000'/>",
                            x(at * (1 - error(r))), cy + 9, x(at * (1 + error(r))), cy + 9);
    }
    absl::StrAppendFormat(&body, "<text x='%.1f' y='%.1f' class='tick'>%s</text>\n", x(at * (1 + (error ? error(r) : 0))) + 6,
                          cy + 13, Esc(note(r)));
  }
  // The legend.
  double lx = f.left;
  for (const auto& [name, color] : parts) {
    absl::StrAppendFormat(&body, "<rect x='%.1f' y='2' width='12' height='12' fill='%s'/><text x='%.1f' y='12' class='tick'>%s</text>",
                          lx, color, lx + 16, Esc(name));
    lx += 30 + 7.0 * static_cast<double>(name.size());
  }
  return Svg(f, body);
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
  add("os / kernel", absl::StrCat(m.os(), " / ", m.kernel()));
  add("host", m.hostname());
  add("seed", absl::StrCat(m.seed()));
  add("time", absl::StrCat(m.start_time(), " to ", m.end_time()));
  for (const auto& mi : m.models()) {
    add(absl::StrCat("model ", mi.variant()),
        absl::StrCat(mi.path(), " sha256 ", mi.sha256().substr(0, 16), "…, ", mi.file_bytes(), " bytes",
                     mi.quantized_from().empty() ? "" : absl::StrCat(", quantized: ", mi.quantized_from())));
  }
}

std::string Title(const v1::Report& r) {
  return r.result().spec().name().empty() ? "tcobench report" : r.result().spec().name();
}

}  // namespace

std::string RenderSummaryText(const v1::ComparisonResult& r) {
  std::string out = absl::StrFormat("%s — %s, %s, %d threads, isa %s\n", r.spec().name(), r.manifest().cpu_model(),
                                    r.manifest().os(), r.manifest().threads(), r.manifest().isa());
  std::vector<std::vector<std::string>> rows;
  for (const v1::VariantResult& v : r.results()) rows.push_back(ResultCells(v));
  out += TextTable(kResultHeads, rows);
  out += "latency: over the measured requests (95% CIs of the medians in the result file)\n";
  if (!r.results().empty()) {
    const v1::Energy& e = r.results(0).energy();
    absl::StrAppendFormat(&out, "energy: %s ±%.0f%%%s\n", e.source(), 100 * e.uncertainty_fraction(),
                          e.source() == "model" ? " (an estimate, not a measurement)" : "");
    absl::StrAppendFormat(&out, "harness overhead: %.2f us per decode step (%.3f%% of %s's step)\n",
                          r.results(0).harness_overhead().seconds_per_step() * 1e6,
                          100 * r.results(0).harness_overhead().fraction_of_decode_step(), r.results(0).variant());
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
  const std::vector<std::string> heads = {
      "variant", "hardware", "scenario", "prompt_tokens", "output_tokens", "ttft_p50_ms", "ttft_p99_ms", "tpot_p50_ms",
      "tpot_p99_ms", "e2e_p50_ms", "decode_tokens_per_second", "output_tokens_per_second", "joules_per_token",
      "energy_source", "ppl", "mean_kld", "same_top1", "usd_per_hour", "price_source",
      "usd_per_million_output_tokens", "usd_per_million_input_tokens", "wh_per_thousand_tokens",
      "grams_co2_per_million_tokens", "monthly_tco_usd", "instances", "meets_slo", "meets_accuracy",
      "on_pareto_front", "recommended"};
  std::string out = absl::StrCat(absl::StrJoin(heads, ","), "\n");
  const auto& cost = rep.cost();
  for (int i = 0; i < rep.result().results_size(); ++i) {
    const v1::VariantResult& v = rep.result().results(i);
    const v1::VariantCost c = i < cost.rows_size() ? cost.rows(i) : v1::VariantCost();
    const auto& a = v.accuracy();
    const std::vector<std::string> cells = {
        v.variant(), v.hardware(), v.scenario(), absl::StrCat(v.prompt_tokens()), absl::StrCat(v.output_tokens()),
        Num(1e3 * v.latency().ttft_seconds().p50()), Num(1e3 * v.latency().ttft_seconds().p99()),
        Num(1e3 * v.latency().tpot_seconds().p50()), Num(1e3 * v.latency().tpot_seconds().p99()),
        Num(1e3 * v.latency().e2e_seconds().p50()), Num(v.throughput().decode_tokens_per_second()),
        Num(v.throughput().output_tokens_per_second()), Num(v.energy().joules_per_token()), v.energy().source(),
        a.has_perplexity() ? Num(a.perplexity().ppl()) : "", HasKld(v) ? Num(a.kld().mean_kld()) : "",
        HasKld(v) ? Num(a.kld().same_top1()) : "", Num(c.usd_per_hour()), c.price_source(),
        Num(c.usd_per_million_output_tokens()), Num(c.usd_per_million_input_tokens()), Num(c.wh_per_thousand_tokens()),
        Num(c.grams_co2_per_million_tokens()), Num(c.monthly_tco_usd()), Num(c.instances()),
        c.meets_slo() ? "true" : "false", c.meets_accuracy() ? "true" : "false", c.on_pareto_front() ? "true" : "false",
        v.variant() == cost.recommended_variant() && v.hardware() == cost.recommended_hardware() ? "true" : "false"};
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
  absl::StrAppend(&out, "Cost inputs: ", Assumptions(rep.cost()), ".", rep.comparison_id().empty() ? "" : absl::StrCat(" Comparison `", rep.comparison_id(), "`."), "\n\n");
  std::vector<std::vector<std::string>> rows;
  for (const auto& c : rep.cost().rows()) rows.push_back(CostCells(c, HasLoad(rep.cost())));
  absl::StrAppend(&out, "## Cost\n\n", MdTable(kCostHeads, rows), "\n");
  rows.clear();
  for (const auto& v : r.results()) rows.push_back(ResultCells(v));
  absl::StrAppend(&out, "## Results\n\n", MdTable(kResultHeads, rows), "\n");
  if (!r.results().empty()) {
    const v1::Energy& e = r.results(0).energy();
    absl::StrAppendFormat(&out, "Energy: %s, ±%.0f%%%s. Latency: medians and p99 over the measured requests.\n\n",
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

std::string RenderReportHtml(const v1::Report& rep) {
  const v1::ComparisonResult& r = rep.result();
  const v1::CostReport& c = rep.cost();
  std::string out = absl::StrCat(
      "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>\n<title>", Esc(Title(rep)), "</title>\n",
      "<style>\nbody{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1100px;color:#222;padding:0 16px}\n"
      "h1{font-size:24px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd}\n"
      ".rec{background:#eef6ee;border-left:4px solid #2ca02c;padding:10px 14px;font-size:16px}\n"
      "table{border-collapse:collapse;margin:8px 0;font-size:12px}td,th{border:1px solid #ddd;padding:3px 6px;text-align:left}\n"
      "th{background:#f4f4f4}figure{margin:16px 0}figcaption{color:#555;font-size:12px}\n"
      "svg text{font-family:system-ui,sans-serif}.tick{font-size:11px;fill:#444}.axis{font-size:12px;fill:#222}\n"
      ".label{font-size:11px;fill:#222}.notes li{color:#555}\n</style></head><body>\n");
  absl::StrAppend(&out, "<h1>", Esc(Title(rep)), "</h1>\n");
  absl::StrAppend(&out, "<p class='rec'><b>Recommendation.</b> ", Esc(c.recommendation()), "</p>\n");
  absl::StrAppend(&out, "<p>Cost inputs: ", Esc(Assumptions(c)), ". Baseline variant: <b>", Esc(r.spec().baseline()),
                  "</b>. Measured on ", Esc(r.manifest().cpu_model()), ", ", r.manifest().threads(), " threads, ISA ",
                  Esc(r.manifest().isa()), rep.comparison_id().empty() ? "" : absl::StrCat("; comparison ", Esc(rep.comparison_id())),
                  ".</p>\n");
  if (!c.notes().empty()) {
    out += "<ul class='notes'>";
    for (const auto& n : c.notes()) absl::StrAppend(&out, "<li>", Esc(n), "</li>");
    out += "</ul>\n";
  }
  out += "<h2>Charts</h2>\n";
  absl::StrAppend(&out, Figure("chart-accuracy-cost",
                               "Accuracy against cost; the dashed line is the Pareto front (nothing is both cheaper and "
                               "more accurate than a point on it); the ringed point is the recommendation.",
                               AccuracyCostChart(c)));
  absl::StrAppend(&out, Figure("chart-latency", "Latency distributions per variant, hardware and workload point.",
                               LatencyChart(r)));
  absl::StrAppend(&out, Figure("chart-cost-breakdown", "Cost per million output tokens: hardware and energy.",
                               Bars(c, {{"hardware", "#2ca02c"}, {"energy", "#9467bd"}},
                                    [](const v1::VariantCost& x) {
                                      return std::vector<double>{x.hardware_usd_per_million_output_tokens(),
                                                                 x.energy_usd_per_million_output_tokens()};
                                    },
                                    "$ per million output tokens",
                                    [](const v1::VariantCost& x) { return FormatUsd(x.usd_per_million_output_tokens()); })));
  absl::StrAppend(&out, Figure("chart-energy", "Energy per 1,000 output tokens (facility, x PUE), with its source and uncertainty.",
                               Bars(c, {{"Wh per 1,000 tokens", "#8c564b"}},
                                    [](const v1::VariantCost& x) { return std::vector<double>{x.wh_per_thousand_tokens()}; },
                                    "Wh per 1,000 output tokens",
                                    [](const v1::VariantCost& x) {
                                      return absl::StrFormat("%s ±%.0f%%", x.energy_source(), 100 * x.energy_uncertainty_fraction());
                                    },
                                    [](const v1::VariantCost& x) { return x.energy_uncertainty_fraction(); })));
  std::vector<std::vector<std::string>> rows;
  for (const auto& x : c.rows()) rows.push_back(CostCells(x, HasLoad(c)));
  absl::StrAppend(&out, "<h2>Cost</h2>\n", HtmlTable(kCostHeads, rows));
  rows.clear();
  for (const auto& v : r.results()) rows.push_back(ResultCells(v));
  absl::StrAppend(&out, "<h2>Results</h2>\n", HtmlTable(kResultHeads, rows));
  rows.clear();
  ManifestRows(r.manifest(), &rows);
  absl::StrAppend(&out, "<h2>Manifest</h2>\n", HtmlTable({"", ""}, rows));
  if (r.job_manifests_size() > 1) {
    rows.clear();
    for (const auto& m : r.job_manifests()) {
      rows.push_back({m.hostname(), m.cpu_model(), m.isa(), absl::StrCat(m.threads()), m.start_time()});
    }
    absl::StrAppend(&out, "<h3>Every job's machine</h3>\n", HtmlTable({"host", "cpu", "isa", "threads", "start"}, rows));
  }
  out += "</body></html>\n";
  return out;
}

namespace {

std::string MetricValue(const std::string& metric, double v) {
  if (metric.rfind("ttft_", 0) == 0 || metric.rfind("tpot_", 0) == 0 || metric.rfind("e2e_", 0) == 0) {
    return absl::StrFormat("%.3f ms", 1e3 * v);
  }
  if (metric == "decode_tokens_per_second") return absl::StrFormat("%.2f tok/s", v);
  if (metric == "joules_per_token") return absl::StrFormat("%.4g J", v);
  if (metric == "ppl_ratio") return absl::StrFormat("PPL %.4f", v);
  return absl::StrFormat("%.6g", v);
}

std::vector<std::string> GateCells(const v1::MetricVerdict& m) {
  const bool values = m.verdict() != v1::MetricVerdict::SKIPPED && m.metric() != "results";
  return {m.metric(),
          absl::StrCat(m.variant(), " @ ", m.hardware(), " (", m.prompt_tokens(), "/", m.output_tokens(), ")"),
          values ? MetricValue(m.metric(), m.baseline_value()) : "-",
          values ? MetricValue(m.metric(), m.candidate_value()) : "-",
          values ? absl::StrFormat("%+.2f%%", 100 * m.relative_change()) : "-",
          VerdictName(m.verdict()),
          m.detail()};
}

const std::vector<std::string> kGateHeads = {"metric", "variant @ hardware (in/out)", "baseline", "candidate", "change",
                                  "verdict", "why"};

std::string GateHeadline(const v1::GateVerdict& g) {
  return absl::StrFormat("gate: %s — candidate %s against baseline %s (alpha %.3g)", VerdictName(g.overall()),
                         g.candidate_ref(), g.baseline_ref(), g.policy().alpha());
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
  std::string out = absl::StrFormat("### tcobench gate: **%s**\n\nCandidate `%s` against baseline `%s`: %d regression, "
                                    "%d inconclusive, %d pass, %d skipped (one-sided Mann–Whitney at alpha %.3g; "
                                    "accuracy against its bounds).\n\n",
                                    VerdictName(g.overall()), g.candidate_ref(), g.baseline_ref(),
                                    counts[v1::MetricVerdict::REGRESSION], counts[v1::MetricVerdict::INCONCLUSIVE],
                                    counts[v1::MetricVerdict::PASS], counts[v1::MetricVerdict::SKIPPED], g.policy().alpha());
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
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"tcobench gate\" tests=\"%d\" failures=\"%d\" "
      "errors=\"%d\" skipped=\"%d\">\n<testsuite name=\"%s\" tests=\"%d\" failures=\"%d\" errors=\"%d\" skipped=\"%d\">\n",
      g.metrics_size(), failures, errors, skipped, Esc(absl::StrCat("gate ", g.candidate_ref(), " vs ", g.baseline_ref())),
      g.metrics_size(), failures, errors, skipped);
  for (const auto& m : g.metrics()) {
    const auto c = GateCells(m);
    absl::StrAppend(&out, "  <testcase classname=\"", Esc(absl::StrCat("tcobench.gate.", m.variant(), ".", m.hardware())),
                    "\" name=\"", Esc(absl::StrCat(m.metric(), " (", m.prompt_tokens(), "/", m.output_tokens(), ")")), "\"");
    const std::string text = absl::StrCat("baseline ", c[2], ", candidate ", c[3], ", change ", c[4], ": ", m.detail());
    switch (m.verdict()) {
      case v1::MetricVerdict::REGRESSION:
        absl::StrAppend(&out, ">\n    <failure type=\"regression\" message=\"", Esc(text), "\"/>\n  </testcase>\n");
        break;
      case v1::MetricVerdict::INCONCLUSIVE:
        absl::StrAppend(&out, ">\n    <error type=\"inconclusive\" message=\"", Esc(text), "\"/>\n  </testcase>\n");
        break;
      case v1::MetricVerdict::SKIPPED:
        absl::StrAppend(&out, ">\n    <skipped message=\"", Esc(m.detail()), "\"/>\n  </testcase>\n");
        break;
      default:
        absl::StrAppend(&out, ">\n    <system-out>", Esc(text), "</system-out>\n  </testcase>\n");
    }
  }
  return out + "</testsuite>\n</testsuites>\n";
}

}  // namespace tcobench
