// Reports as text a person reads: the summary table, the cost section, CSV,
// Markdown, one self-contained HTML page with SVG charts, and the gate's
// verdicts as a table, Markdown and JUnit XML. Pure code: strings in, strings
// out (docs/reports.md).
#pragma once

#include <string>

#include "tcobench/v1/types.pb.h"

namespace tcobench {

// The results table `run` prints: one row per variant and sweep point.
std::string RenderSummaryText(const v1::ComparisonResult& result);
// The cost section: recommendation, one row per variant x hardware, notes.
std::string RenderCostText(const v1::CostReport& cost);

std::string RenderReportCsv(const v1::Report& report);
std::string RenderReportMarkdown(const v1::Report& report);
// One file, no network fetches: summary and recommendation, then charts
// (accuracy vs cost with the Pareto front, latency distributions, cost
// breakdown, energy per token), then the tables and the manifest.
std::string RenderReportHtml(const v1::Report& report);

std::string RenderGateText(const v1::GateVerdict& verdict);
std::string RenderGateMarkdown(const v1::GateVerdict& verdict);
std::string RenderGateJunit(const v1::GateVerdict& verdict);

}  // namespace tcobench
