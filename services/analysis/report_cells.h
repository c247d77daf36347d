// What the report renderings share (report_text.cc: text, CSV, Markdown;
// report_html.cc: HTML with SVG charts; gate_render.cc: gate verdicts): the
// cells of each table row, one table writer per format, and escaping. One
// set of cells, so every format shows the same numbers.
#pragma once

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "tcobench/v1/types.pb.h"

namespace tcobench::render {

// Formatting and escaping.
std::string Num(double v);             // 4 significant digits
std::string Ms(double seconds);        // "12.34" (milliseconds)
std::string Esc(absl::string_view s);  // HTML
std::string CsvField(const std::string& s);
std::string MdCell(const std::string& s);
std::string ChoiceText(const v1::AccuracyResult& a);
bool HasKld(const v1::VariantResult& v);
std::string Row(const v1::VariantCost& c);  // "variant @ hardware"

// The results table and the cost table: headings and one row's cells.
extern const std::vector<std::string> kResultHeads;
std::vector<std::string> ResultCells(const v1::VariantResult& v);
// Endpoint points (results with a load section): the load each ran at and
// what came of it, one row each (none when no result ran on an endpoint).
extern const std::vector<std::string> kLoadHeads;
std::vector<std::vector<std::string>> LoadRows(const v1::ComparisonResult& r);
// The same model file on two in-process runtimes (variants with equal model
// and quantize, one "engine", one "llamacpp"): prefill, decode and J/token
// of each at each point, and engine / llama.cpp ratios (none when the
// result has no such pair).
extern const std::vector<std::string> kRuntimeHeads;
std::vector<std::vector<std::string>> RuntimeRows(const v1::ComparisonResult& r);
// "5 req/s" (SERVER) or "4 users".
std::string LoadPoint(double target_qps, int concurrency);
// A row's load point as a dimension (gate rows, Prometheus labels): the
// load point of an endpoint row, "" for engine rows (they do not sweep).
std::string RowLoad(const std::string& runtime, double target_qps, int concurrency);
// A row's variant, with its endpoint for endpoint rows: "served [fast]".
std::string VariantName(const std::string& variant, const std::string& endpoint);
// The load as a number: the rate when there is one, else the users (a
// single stream: 1).
double LoadValue(double target_qps, int concurrency);
extern const std::vector<std::string> kCostHeads;
std::vector<std::string> CostCells(const v1::VariantCost& c, bool load);
bool HasLoad(const v1::CostReport& c);             // the cost report priced a load
std::string Assumptions(const v1::CostReport& c);  // prices and factors used, one line

// One table in each format.
std::string MdTable(const std::vector<std::string>& heads,
                    const std::vector<std::vector<std::string>>& rows);
std::string TextTable(const std::vector<std::string>& heads,
                      const std::vector<std::vector<std::string>>& rows);
std::string HtmlTable(const std::vector<std::string>& heads,
                      const std::vector<std::vector<std::string>>& rows);

// The manifest as (field, value) rows; the report's title.
void ManifestRows(const v1::Manifest& m, std::vector<std::vector<std::string>>* rows);
std::string Title(const v1::Report& r);

}  // namespace tcobench::render
