// tcobench report / tag / gate: reports in every format with their cost,
// tags on the coordinator's comparisons, and the release gate. A REF is an
// existing result file, else a comparison id, else a tag.
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "services/analysis/cost_model.h"
#include "services/analysis/gate.h"
#include "services/analysis/report_render.h"
#include "common/spec/spec.h"
#include "common/base/flags.h"
#include "services/cli/client.h"
#include "services/cli/commands.h"
#include "workers/bench/system_info.h"

namespace tcobench::cli {
namespace {

// A report and where it came from.
struct Loaded {
  v1::Report report;
  v1::Comparison comparison;  // when from the coordinator
  bool from_coordinator = false;
};

// REF: a result file (what `run --output` or `report --format json` wrote),
// else a comparison id or tag on the coordinator.
absl::StatusOr<Loaded> LoadRef(const std::string& ref, const Args& args) {
  Loaded out;
  std::error_code ec;
  if (std::filesystem::is_regular_file(ref, ec)) {
    absl::StatusOr<std::string> text = ReadFileText(ref);
    if (!text.ok()) return text.status();
    if (!ParseJsonInto(*text, out.report.mutable_result(), "result").ok()) {
      out.report.Clear();
      if (!ParseJsonInto(*text, &out.report, "report").ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat(ref, ": not a result file (a `run --output` result or a `report --format json` report)"));
      }
    }
    return out;
  }
  v1::GetReportRequest req;
  req.set_comparison_id(ref);
  v1::GetReportResponse resp;
  if (grpc::Status s = Call(args, &CoordinatorStub::GetReport, req, &resp); !s.ok()) {
    if (s.error_code() == grpc::StatusCode::UNAVAILABLE) {
      return absl::UnavailableError(absl::StrCat("'", ref, "' is not a file, and coordinator ", CoordinatorAddress(args),
                                                 " is not reachable: ", s.error_message()));
    }
    return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                        absl::StrCat("'", ref, "' is not a file; the coordinator says: ", s.error_message()));
  }
  *out.report.mutable_result() = std::move(*resp.mutable_result());
  out.comparison = std::move(*resp.mutable_comparison());
  out.report.set_comparison_id(out.comparison.id());
  out.from_coordinator = true;
  return out;
}

const CommandSpec kReport = {
    "tcobench report REF [--format table|json|csv|markdown|html] [--output FILE] [--cost COST.json]\n"
    "    [--coordinator ADDR]",
    "Renders a comparison's results and their cost: the recommendation (the\n"
    "cheapest variant x hardware meeting the accuracy floor and the SLO), $ per\n"
    "million tokens, energy, carbon, monthly TCO and the Pareto front. REF is a\n"
    "result file (run --output), else a comparison id, else a tag. --cost prices\n"
    "it again with other cost inputs (a spec's `cost` block as its own file)\n"
    "without re-running. html is one self-contained page with charts.",
    {{"format", "", true, "FORMAT", "table (default), json, csv, markdown or html"},
     {"output", "o", true, "FILE", "write the report here instead of stdout"},
     {"cost", "", true, "FILE", "cost inputs (JSON, the spec's `cost` block) instead of the spec's"},
     kCoordinatorFlag},
    1,
    1};

const CommandSpec kTag = {"tcobench tag ID NAME [--coordinator ADDR]",
                          "Names a comparison on the coordinator (e.g. release/1.4 or main). A tag\n"
                          "that exists moves to ID, like a forced git tag; REFs everywhere accept it.",
                          {kCoordinatorFlag},
                          2,
                          2};

const CommandSpec kGate = {
    "tcobench gate --baseline REF --candidate REF [--policy FILE] [--junit FILE] [--markdown FILE]\n"
    "    [--format table|json] [--no-record] [--ignore-contamination] [--coordinator ADDR]\n"
    "tcobench gate calibrate SPEC.json [--repetitions 10] [--policy FILE] [run --local flags]",
    "Decides whether the candidate regressed against the baseline, metric by\n"
    "metric (docs/gate.md): latency and throughput by the confidence interval of\n"
    "the change (distribution-free, from the rank test) against the regression\n"
    "threshold: wholly on the good side passes, wholly past it fails, straddling\n"
    "it is 'inconclusive' (with the samples that would decide); with several runs\n"
    "a side (workload.repetitions) the runs decide. Accuracy against its bounds\n"
    "with its standard error. A side measured while other processes used the\n"
    "machine (contaminated) makes speed inconclusive. Exit 0 pass, 1 regression,\n"
    "3 inconclusive, 2 usage or input error. When both REFs are comparisons the\n"
    "verdict is recorded with the coordinator. `gate calibrate` measures the\n"
    "run-to-run noise here (see tcobench gate calibrate --help).",
    {{"baseline", "", true, "REF", "the release to compare against (file, id or tag)"},
     {"candidate", "", true, "REF", "the build under test (file, id or tag)"},
     {"policy", "", true, "FILE", "thresholds (JSON; default: docs/gate.md's)"},
     {"junit", "", true, "FILE", "write JUnit XML here (one test case per metric)"},
     {"markdown", "", true, "FILE", "write a Markdown table here (for a CI comment)"},
     kFormatFlag,
     {"no-record", "", false, "", "do not record the verdict with the coordinator"},
     {"ignore-contamination", "", false, "",
      "decide on the numbers even when a side was contaminated (the table still says so)"},
     kCoordinatorFlag},
    0,
    0};

}  // namespace

absl::Status WriteFileAtomically(const std::string& path, const std::string& text, const char* flag) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f << text;
    if (!f.flush()) return absl::PermissionDeniedError(absl::StrCat(flag, ": cannot write ", tmp));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::PermissionDeniedError(absl::StrCat(flag, ": cannot write ", path));
  }
  return absl::OkStatus();
}

std::string UnfinishedJobsText(const v1::Comparison& c) {
  std::string text;
  for (const v1::Job& j : c.jobs()) {
    if (j.state() == v1::Job::SUCCEEDED) continue;
    absl::StrAppend(&text, "job ", j.id(), " (", j.variant(), " on ", j.hardware(), "): ", v1::Job::State_Name(j.state()),
                    j.attempt_errors().empty() ? "" : absl::StrCat(" — ", *j.attempt_errors().rbegin()), "\n");
  }
  return text;
}

int RunReport(const std::vector<std::string>& argv) {
  Args args;
  if (auto rc = ParseCommand(kReport, argv, &args)) return *rc;
  const std::string format = args.Get("format", "table");
  if (format != "table" && format != "json" && format != "csv" && format != "markdown" && format != "html") {
    return ReportError(absl::InvalidArgumentError("--format must be table, json, csv, markdown or html"));
  }
  v1::Cost cost_override;
  if (args.Has("cost")) {
    absl::StatusOr<std::string> text = ReadFileText(args.Get("cost"));
    if (!text.ok()) return ReportError(text.status());
    absl::StatusOr<v1::Cost> cost = ParseCostJson(*text);
    if (!cost.ok()) return ReportError(absl::InvalidArgumentError(absl::StrCat(args.Get("cost"), ": ", cost.status().message())));
    if (absl::Status s = ValidateCost(*cost); !s.ok()) {
      return ReportError(absl::InvalidArgumentError(absl::StrCat(args.Get("cost"), ": ", s.message())));
    }
    cost_override = *cost;
  }
  absl::StatusOr<Loaded> loaded = LoadRef(args.positional()[0], args);
  if (!loaded.ok()) return ReportError(loaded.status());
  v1::Report& report = loaded->report;
  absl::StatusOr<v1::CostReport> cost =
      ComputeCostReport(report.result(), args.Has("cost") ? &cost_override : nullptr);
  if (!cost.ok()) return ReportError(cost.status());
  *report.mutable_cost() = *cost;
  std::string text;
  if (format == "json") text = ToJson(report) + "\n";
  if (format == "csv") text = RenderReportCsv(report);
  if (format == "markdown") text = RenderReportMarkdown(report);
  if (format == "html") text = RenderReportHtml(report);
  if (format == "table") {
    text = RenderSummaryText(report.result()) + RenderCostText(report.cost()) +
           UnfinishedJobsText(loaded->comparison);
  }
  if (args.Has("output")) {
    if (absl::Status s = WriteFileAtomically(args.Get("output"), text, "--output"); !s.ok()) return ReportError(s);
    std::fprintf(stderr, "wrote %s\n", args.Get("output").c_str());
  } else {
    std::fputs(text.c_str(), stdout);
  }
  return kExitOk;
}

int RunTag(const std::vector<std::string>& argv) {
  Args args;
  if (auto rc = ParseCommand(kTag, argv, &args)) return *rc;
  v1::TagComparisonRequest req;
  req.set_comparison_id(args.positional()[0]);
  req.set_tag(args.positional()[1]);
  v1::TagComparisonResponse resp;
  if (grpc::Status s = Call(args, &CoordinatorStub::TagComparison, req, &resp); !s.ok()) return ReportRpc(s, args);
  std::printf("%s -> %s%s\n", req.tag().c_str(), resp.comparison().id().c_str(),
              resp.previous_comparison_id().empty() ? ""
                                                    : absl::StrCat(" (moved from ", resp.previous_comparison_id(), ")").c_str());
  return kExitOk;
}

absl::StatusOr<v1::GatePolicy> PolicyFromArgs(const Args& args) {
  v1::GatePolicy policy;
  if (args.Has("policy")) {
    absl::StatusOr<std::string> text = ReadFileText(args.Get("policy"));
    if (!text.ok()) return text.status();
    absl::StatusOr<v1::GatePolicy> parsed = ParseGatePolicyJson(*text);
    if (!parsed.ok()) return absl::InvalidArgumentError(absl::StrCat(args.Get("policy"), ": ", parsed.status().message()));
    policy = *parsed;
  }
  if (args.Has("ignore-contamination")) policy.set_ignore_contamination(true);
  absl::StatusOr<v1::GatePolicy> filled = GatePolicyWithDefaults(policy);
  if (!filled.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(args.Has("policy") ? args.Get("policy") : "policy", ": ", filled.status().message()));
  }
  return filled;
}

int RunGate(const std::vector<std::string>& argv) {
  if (!argv.empty() && argv[0] == "calibrate") return RunGateCalibrate({argv.begin() + 1, argv.end()});
  Args args;
  if (auto rc = ParseCommand(kGate, argv, &args)) return *rc;
  // Every failure to gate is exit 2, never 1 (that means a regression).
  auto fail = [](const absl::Status& s) {
    ReportError(s);
    return kExitUsage;
  };
  if (!args.Has("baseline") || !args.Has("candidate")) {
    return fail(absl::InvalidArgumentError("--baseline and --candidate are required (a file, comparison id or tag)"));
  }
  const std::string format = args.Get("format", "table");
  if (format != "table" && format != "json") return fail(absl::InvalidArgumentError("--format must be table or json"));
  absl::StatusOr<v1::GatePolicy> filled = PolicyFromArgs(args);
  if (!filled.ok()) return fail(filled.status());
  absl::StatusOr<Loaded> base = LoadRef(args.Get("baseline"), args);
  if (!base.ok()) return fail(base.status());
  absl::StatusOr<Loaded> cand = LoadRef(args.Get("candidate"), args);
  if (!cand.ok()) return fail(cand.status());
  v1::GateVerdict verdict = EvaluateGate(base->report.result(), cand->report.result(), *filled);
  verdict.set_baseline_ref(args.Get("baseline"));
  verdict.set_candidate_ref(args.Get("candidate"));
  verdict.set_baseline_comparison_id(base->report.comparison_id());
  verdict.set_candidate_comparison_id(cand->report.comparison_id());
  if (base->from_coordinator && cand->from_coordinator && !args.Has("no-record")) {
    v1::RecordGateVerdictRequest req;
    *req.mutable_verdict() = verdict;
    v1::RecordGateVerdictResponse resp;
    if (grpc::Status s = Call(args, &CoordinatorStub::RecordGateVerdict, req, &resp); !s.ok()) {
      std::fprintf(stderr, "tcobench: warning: the verdict was not recorded: %s\n", s.error_message().c_str());
    } else {
      std::fprintf(stderr, "verdict recorded as %s\n", resp.verdict_id().c_str());
    }
  }
  if (args.Has("junit")) {
    if (absl::Status s = WriteFileAtomically(args.Get("junit"), RenderGateJunit(verdict), "--junit"); !s.ok()) return fail(s);
  }
  if (args.Has("markdown")) {
    if (absl::Status s = WriteFileAtomically(args.Get("markdown"), RenderGateMarkdown(verdict), "--markdown"); !s.ok()) {
      return fail(s);
    }
  }
  std::fputs(format == "json" ? (ToJson(verdict) + "\n").c_str() : RenderGateText(verdict).c_str(), stdout);
  return GateExitCode(verdict.overall());
}

}  // namespace tcobench::cli
