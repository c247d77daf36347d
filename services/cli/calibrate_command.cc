// tcobench gate calibrate: an A/A series on this machine — the spec measured
// with repetitions, its even runs gated against its odd runs — reporting the
// run-to-run spread and the smallest change the gate can see here.
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/base/statistics.h"
#include "services/analysis/gate.h"
#include "services/analysis/report_cells.h"
#include "services/cli/commands.h"
#include "services/cli/json_writer.h"
#include "common/spec/spec.h"

namespace tcobench::cli {
namespace {

std::vector<FlagSpec> CalibrateFlags() {
  std::vector<FlagSpec> flags = LocalRunFlags();
  for (FlagSpec& f : flags) {
    if (f.name == "repetitions") f.help = "runs of each variant, interleaved; even, at least 4 (default 10: 5 a side)";
  }
  flags.push_back({"policy", "", true, "FILE", "the gate policy to calibrate (default: docs/gate.md's)"});
  flags.push_back({"output", "o", true, "FILE", "write the full result of the series here (JSON)"});
  flags.push_back(kFormatFlag);
  return flags;
}

const CommandSpec kCalibrate = {
    "tcobench gate calibrate SPEC.json [--repetitions 10] [--policy FILE] [--output FILE]\n"
    "    [--format table|json] [--model-root DIR] [--threads N] [...run --local flags]",
    "Runs the spec here with repetitions (interleaved A B A B ...), then gates its\n"
    "even runs against its odd runs: an A/A gate of one build against itself.\n"
    "For each result row and latency/throughput metric it prints the run-to-run\n"
    "spread (standard deviation of the runs' logs), the A/A change and its\n"
    "interval, the verdict, the smallest regression threshold this machine\n"
    "supports (the interval's larger end) and the smallest slowdown the gate\n"
    "would catch at that threshold. Exit 0 when the A/A passes, 3 when it is\n"
    "inconclusive (noisier than the policy's thresholds, or contaminated), 1 when\n"
    "noise alone looked like a regression, 2 usage or input error.",
    CalibrateFlags(),
    1,
    1};

struct Row {
  const v1::MetricVerdict* verdict;
  int runs = 0;
  double spread = 0;      // standard deviation of the runs' logs
  double supports = 0;    // the smallest threshold the A/A passes under
  double catches = 0;     // the smallest slowdown caught at that threshold
};

}  // namespace

int RunGateCalibrate(const std::vector<std::string>& argv) {
  Args args;
  if (auto rc = ParseCommand(kCalibrate, argv, &args)) return *rc;
  auto fail = [](const absl::Status& s) {
    ReportError(s);
    return kExitUsage;
  };
  const std::string format = args.Get("format", "table");
  if (format != "table" && format != "json") return fail(absl::InvalidArgumentError("--format must be table or json"));
  absl::StatusOr<v1::GatePolicy> policy = PolicyFromArgs(args);
  if (!policy.ok()) return fail(policy.status());
  absl::StatusOr<v1::ComparisonSpec> spec = LoadSpec(args.positional()[0]);
  if (!spec.ok()) return fail(spec.status());
  absl::StatusOr<int64_t> reps = args.GetInt("repetitions", 10, 4, 100);
  if (!reps.ok()) return fail(reps.status());
  if (*reps % 2 != 0) return fail(absl::InvalidArgumentError("--repetitions must be even (half the runs a side)"));
  spec->mutable_workload()->set_repetitions(static_cast<int32_t>(*reps));
  Args run_args = args;
  absl::StatusOr<v1::ComparisonResult> result = RunLocalFromArgs(run_args, *spec);
  if (!result.ok()) {
    ReportError(result.status());
    return kExitFailed;
  }
  if (args.Has("output")) {
    if (absl::Status s = WriteFileAtomically(args.Get("output"), ToJson(*result) + "\n", "--output"); !s.ok()) {
      return fail(s);
    }
  }
  v1::GateVerdict verdict = EvaluateGate(RunsWithParity(*result, 0), RunsWithParity(*result, 1), *policy);
  verdict.set_baseline_ref("even runs");
  verdict.set_candidate_ref("odd runs");
  std::vector<Row> rows;
  for (const v1::MetricVerdict& m : verdict.metrics()) {
    if (!IsSampleMetric(m.metric()) || m.verdict() == v1::MetricVerdict::SKIPPED) continue;
    Row row{&m};
    for (const v1::VariantResult& r : result->results()) {
      if (r.variant() != m.variant() || r.hardware() != m.hardware() || r.prompt_tokens() != m.prompt_tokens() ||
          r.output_tokens() != m.output_tokens()) {
        continue;
      }
      std::vector<double> logs;
      for (double x : RunFigures(r, m.metric())) logs.push_back(std::log(x));
      row.runs = static_cast<int>(logs.size());
      row.spread = Summarize(logs, 1, 0).stddev;
    }
    // The A/A passes under a threshold beyond the interval's worse end; at
    // that threshold a change is caught once its interval's lower end clears
    // it: the threshold plus the interval's width below its estimate.
    const bool higher = policy->metrics().at(m.metric()).direction() == "higher";
    const double worse_end = higher ? -m.change_ci_low() : m.change_ci_high();
    const double half = (m.change_ci_high() - m.change_ci_low()) / 2;
    row.supports = std::max(0.0, worse_end);
    row.catches = row.supports + 2 * half;
    rows.push_back(row);
  }
  if (format == "json") {
    JsonWriter w;
    w.BeginObject().Key("verdict").String(VerdictName(verdict.overall())).Key("repetitions").Int(*reps);
    w.Key("rows").BeginArray();
    for (const Row& r : rows) {
      w.BeginObject()
          .Key("metric").String(r.verdict->metric())
          .Key("variant").String(r.verdict->variant())
          .Key("hardware").String(r.verdict->hardware())
          .Key("prompt_tokens").Int(r.verdict->prompt_tokens())
          .Key("output_tokens").Int(r.verdict->output_tokens())
          .Key("runs").Int(r.runs)
          .Key("run_to_run_sigma_log").Double(r.spread)
          .Key("aa_change").Double(r.verdict->relative_change())
          .Key("aa_change_ci_low").Double(r.verdict->change_ci_low())
          .Key("aa_change_ci_high").Double(r.verdict->change_ci_high())
          .Key("aa_verdict").String(VerdictName(r.verdict->verdict()))
          .Key("smallest_threshold").Double(r.supports)
          .Key("smallest_regression_caught").Double(r.catches)
          .Key("detail").String(r.verdict->detail())
          .EndObject();
    }
    w.EndArray().EndObject();
    std::fputs(w.str().c_str(), stdout);
  } else {
    std::vector<std::vector<std::string>> cells;
    for (const Row& r : rows) {
      const v1::MetricVerdict& m = *r.verdict;
      cells.push_back({m.metric(),
                       absl::StrCat(m.variant(), " @ ", m.hardware(), " (", m.prompt_tokens(), "/", m.output_tokens(), ")"),
                       absl::StrCat(r.runs), absl::StrFormat("%.2f%%", 100 * r.spread),
                       absl::StrFormat("%+.2f%% [%+.2f%%, %+.2f%%]", 100 * m.relative_change(),
                                       100 * m.change_ci_low(), 100 * m.change_ci_high()),
                       VerdictName(m.verdict()), absl::StrFormat("%.1f%%", 100 * r.supports),
                       absl::StrFormat("%.1f%%", 100 * r.catches)});
    }
    std::printf("gate calibrate: A/A of %lld runs (even against odd) — %s\n", static_cast<long long>(*reps),
                VerdictName(verdict.overall()).c_str());
    std::fputs(render::TextTable({"metric", "variant @ hardware (in/out)", "runs", "run-to-run", "A/A change [interval]",
                                  "A/A verdict", "threshold >=", "catches >="},
                                 cells)
                   .c_str(),
               stdout);
    std::printf("threshold >=: the smallest max_relative_change this machine passes an unchanged build under;\n"
                "catches >=: the smallest slowdown the gate then calls a regression (docs/gate.md, \"Calibrate\").\n");
    for (const v1::MetricVerdict& m : verdict.metrics()) {
      if (m.verdict() != v1::MetricVerdict::PASS && m.verdict() != v1::MetricVerdict::SKIPPED &&
          m.detail().find("contaminated") != std::string::npos) {
        std::printf("note: %s: %s\n", m.metric().c_str(), m.detail().c_str());
        break;
      }
    }
  }
  return GateExitCode(verdict.overall());
}

}  // namespace tcobench::cli
