// The coordinator's client commands: submit, watch, list, cancel, delete,
// workers (report, tag and gate: report_commands.cc). Each talks gRPC to --coordinator (default
// $TCOBENCH_COORDINATOR, else 127.0.0.1:7700).
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <cstdio>
#include <map>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/base/clock.h"
#include "common/base/flags.h"
#include "common/spec/spec.h"
#include "services/cli/client.h"
#include "services/cli/commands.h"
#include "tcobench/v1/coordinator.grpc.pb.h"

namespace tcobench::cli {

absl::StatusOr<std::unique_ptr<v1::CoordinatorService::Stub>> Connect(const Args& args) {
  absl::StatusOr<ClientOptions> options = ConnectionOptions(args);
  if (!options.ok()) return options.status();
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = MakeChannel(*options);
  if (!channel.ok()) return channel.status();
  return v1::CoordinatorService::NewStub(*channel);
}

int ReportRpc(const grpc::Status& s, const Args& args) {
  if (s.error_code() == grpc::StatusCode::UNAVAILABLE) {
    // The coordinator's own refusal (its disk) or no coordinator at all.
    const bool answered = s.error_message().find("cannot write its store") != std::string::npos;
    std::fprintf(stderr, "tcobench: coordinator %s %s: %s\n", CoordinatorAddress(args).c_str(),
                 answered ? "is UNAVAILABLE" : "is not reachable", s.error_message().c_str());
    return kExitFailed;
  }
  // Credentials the caller can fix: exit 2, like other mistakes of theirs.
  if (s.error_code() == grpc::StatusCode::UNAUTHENTICATED) {
    std::fprintf(stderr, "tcobench: UNAUTHENTICATED by %s: %s (give --token-file or TCOBENCH_TOKEN)\n",
                 CoordinatorAddress(args).c_str(), s.error_message().c_str());
    return kExitUsage;
  }
  if (s.error_code() == grpc::StatusCode::PERMISSION_DENIED) {
    std::fprintf(stderr, "tcobench: PERMISSION_DENIED: %s\n", s.error_message().c_str());
    return kExitUsage;
  }
  if (s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
    std::fprintf(stderr, "tcobench: RESOURCE_EXHAUSTED: %s\n", s.error_message().c_str());
    return kExitFailed;
  }
  return ReportError(absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message()));
}


namespace {

std::optional<int> CheckFormat(const Args& args) {
  const std::string f = args.Get("format", "table");
  if (f != "table" && f != "json") return ReportError(absl::InvalidArgumentError("--format must be table or json"));
  return std::nullopt;
}

// The enum's own spelling (QUEUED, RUNNING, ...); the generated name table
// lives as long as the program.
const char* StateName(v1::Comparison::State s) { return v1::Comparison::State_Name(s).c_str(); }

double Fraction(const v1::Job& j) {
  return j.state() == v1::Job::SUCCEEDED ? 1.0 : j.fraction_done();
}

// One block of lines per comparison state: a bar per job.
void PrintProgress(const v1::Comparison& c, bool tty, double elapsed) {
  std::string out;
  for (const v1::Job& j : c.jobs()) {
    const double f = Fraction(j);
    const int filled = static_cast<int>(f * 20);
    std::string eta = "";
    if (f > 0.02 && f < 1 && elapsed > 0) eta = absl::StrFormat(" ETA %.0fs", elapsed * (1 - f) / f);
    out += absl::StrFormat("  %-10s %-10s [%s%s] %3.0f%% %-9s%s %s\n",
                           j.variant() == kAllVariantsJob ? "(all)" : j.variant(), j.hardware(),
                           std::string(filled, '#'), std::string(20 - filled, '.'), 100 * f,
                           v1::Job::State_Name(j.state()), eta,
                           j.stage().substr(0, 60));
  }
  if (tty) std::fprintf(stderr, "\033[H\033[J");
  std::fprintf(stderr, "%s %s (%d jobs)\n%s", c.id().c_str(), StateName(c.state()), c.jobs_size(), out.c_str());
}

// Follows a comparison until it ends; returns its last state.
absl::StatusOr<v1::Comparison> Follow(const Args& args, const std::string& id, bool show) {
  auto stub = Connect(args);
  if (!stub.ok()) return stub.status();
  grpc::ClientContext ctx;
  v1::WatchComparisonRequest req;
  req.set_comparison_id(id);
  auto reader = (*stub)->WatchComparison(&ctx, req);
  v1::WatchComparisonResponse resp;
  v1::Comparison last;
  const bool tty = isatty(fileno(stderr));
  const auto start = std::chrono::steady_clock::now();
  while (reader->Read(&resp)) {
    last = resp.comparison();
    if (show) {
      PrintProgress(last, tty, SecondsSince(start));
    }
  }
  const grpc::Status s = reader->Finish();
  if (!s.ok()) return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
  return last;
}

int PrintReport(const std::string& id, const Args& args) {
  v1::GetReportRequest req;
  req.set_comparison_id(id);
  v1::GetReportResponse resp;
  if (grpc::Status s = Call(args, &CoordinatorStub::GetReport, req, &resp); !s.ok()) return ReportRpc(s, args);
  const std::string json = ToJson(resp.result());
  if (args.Has("output")) {
    if (absl::Status s = WriteFileAtomically(args.Get("output"), json + "\n", "--output"); !s.ok()) {
      return ReportError(s);
    }
  }
  if (args.Get("format", "table") == "json") {
    std::printf("%s\n", json.c_str());
  } else {
    PrintSummary(resp.result());
    std::fputs(UnfinishedJobsText(resp.comparison()).c_str(), stdout);
  }
  return kExitOk;
}

const CommandSpec kSubmit = {
    "tcobench submit SPEC.json [--wait] [--output FILE] [--format table|json] [--coordinator ADDR]",
    "Submits a comparison to the coordinator and prints its id on the first line.\n"
    "With --wait, follows it (progress on stderr) and prints the report; exits 1\n"
    "if the comparison fails or is cancelled.",
    {{"wait", "", false, "", "follow the comparison and print its report"},
     {"quiet-id", "", false, "", "do not print the id (run uses it)"},
     {"output", "o", true, "FILE", "with --wait: write the full report JSON here"},
     kFormatFlag,
     kCoordinatorFlag},
    1,
    1};

const CommandSpec kWatch = {"tcobench watch ID [--coordinator ADDR]",
                            "Shows a comparison's jobs live (a bar and ETA each) until it ends.\n"
                            "Exits 0 when it succeeded, 1 when it failed or was cancelled.",
                            {kCoordinatorFlag},
                            1,
                            1};
const CommandSpec kList = {"tcobench list [--limit N] [--format table|json] [--coordinator ADDR]",
                           "Lists comparisons, newest first.",
                           {{"limit", "", true, "N", "at most N (default 100)"}, kFormatFlag, kCoordinatorFlag},
                           0,
                           0};
const CommandSpec kCancel = {"tcobench cancel ID [--coordinator ADDR]",
                             "Cancels a comparison: queued jobs will not run and running ones stop.",
                             {kCoordinatorFlag},
                             1,
                             1};
const CommandSpec kDelete = {"tcobench delete ID [--coordinator ADDR]",
                             "Deletes a comparison and its results from the coordinator.",
                             {kCoordinatorFlag},
                             1,
                             1};
const CommandSpec kWorkers = {"tcobench workers [--format table|json] [--coordinator ADDR]",
                              "Lists the workers that registered with the coordinator.",
                              {kFormatFlag, kCoordinatorFlag},
                              0,
                              0};

const CommandSpec kDrain = {"tcobench drain WORKER [--coordinator ADDR]",
                            "Drains a worker (its id, or its name): it gets no new jobs, finishes the\n"
                            "one it runs and exits. Needs an admin token when the coordinator\n"
                            "authenticates.",
                            {kFormatFlag, kCoordinatorFlag},
                            1,
                            1};

}  // namespace

int RunSubmit(const std::vector<std::string>& argv) {
  Args args;
  if (auto rc = ParseCommand(kSubmit, argv, &args)) return *rc;
  if (auto rc = CheckFormat(args)) return *rc;
  absl::StatusOr<v1::ComparisonSpec> spec = LoadSpec(args.positional()[0]);
  if (!spec.ok()) return ReportError(spec.status());
  v1::SubmitComparisonRequest req;
  *req.mutable_spec() = *spec;
  v1::SubmitComparisonResponse resp;
  if (grpc::Status s = Call(args, &CoordinatorStub::SubmitComparison, req, &resp); !s.ok()) return ReportRpc(s, args);
  if (!args.Has("quiet-id")) {
    std::printf("%s\n", resp.comparison_id().c_str());
    std::fflush(stdout);
  }
  if (!args.Has("wait")) return kExitOk;
  absl::StatusOr<v1::Comparison> last = Follow(args, resp.comparison_id(), true);
  if (!last.ok()) return ReportError(last.status());
  const int rc = PrintReport(resp.comparison_id(), args);
  if (rc != kExitOk) return rc;
  if (last->state() != v1::Comparison::SUCCEEDED) {
    std::fprintf(stderr, "tcobench: comparison %s %s%s%s\n", resp.comparison_id().c_str(),
                 StateName(last->state()), last->error().empty() ? "" : ": ", last->error().c_str());
    return kExitFailed;
  }
  return kExitOk;
}

int RunWatch(const std::vector<std::string>& argv) {
  Args args;
  if (auto rc = ParseCommand(kWatch, argv, &args)) return *rc;
  absl::StatusOr<v1::Comparison> last = Follow(args, args.positional()[0], true);
  if (!last.ok()) return ReportError(last.status());
  std::printf("%s %s\n", last->id().c_str(), StateName(last->state()));
  return last->state() == v1::Comparison::SUCCEEDED ? kExitOk : kExitFailed;
}

int RunList(const std::vector<std::string>& argv) {
  Args args;
  if (auto rc = ParseCommand(kList, argv, &args)) return *rc;
  if (auto rc = CheckFormat(args)) return *rc;
  auto limit = args.GetInt("limit", 100, 1, 100000);
  if (!limit.ok()) return ReportError(limit.status());
  v1::ListComparisonsRequest req;
  req.set_limit(static_cast<int32_t>(*limit));
  v1::ListComparisonsResponse resp;
  if (grpc::Status s = Call(args, &CoordinatorStub::ListComparisons, req, &resp); !s.ok()) return ReportRpc(s, args);
  if (args.Get("format", "table") == "json") {
    std::printf("%s\n", ToJson(resp).c_str());
    return kExitOk;
  }
  std::printf("%-24s %-10s %-20s %5s %s\n", "id", "state", "created", "jobs", "name");
  for (const v1::Comparison& c : resp.comparisons()) {
    int done = 0;
    for (const v1::Job& j : c.jobs()) done += j.state() == v1::Job::SUCCEEDED;
    std::printf("%-24s %-10s %-20s %2d/%-2d %s\n", c.id().c_str(), StateName(c.state()), c.created_time().c_str(),
                done, c.jobs_size(), c.spec().name().c_str());
  }
  return kExitOk;
}

int RunCancel(const std::vector<std::string>& argv) {
  Args args;
  if (auto rc = ParseCommand(kCancel, argv, &args)) return *rc;
  v1::CancelComparisonRequest req;
  req.set_comparison_id(args.positional()[0]);
  v1::CancelComparisonResponse resp;
  if (grpc::Status s = Call(args, &CoordinatorStub::CancelComparison, req, &resp); !s.ok()) return ReportRpc(s, args);
  std::printf("%s %s\n", resp.comparison().id().c_str(), StateName(resp.comparison().state()));
  return kExitOk;
}

int RunDelete(const std::vector<std::string>& argv) {
  Args args;
  if (auto rc = ParseCommand(kDelete, argv, &args)) return *rc;
  v1::DeleteComparisonRequest req;
  req.set_comparison_id(args.positional()[0]);
  v1::DeleteComparisonResponse resp;
  if (grpc::Status s = Call(args, &CoordinatorStub::DeleteComparison, req, &resp); !s.ok()) return ReportRpc(s, args);
  std::printf("deleted %s\n", args.positional()[0].c_str());
  return kExitOk;
}

int RunWorkers(const std::vector<std::string>& argv) {
  Args args;
  if (auto rc = ParseCommand(kWorkers, argv, &args)) return *rc;
  if (auto rc = CheckFormat(args)) return *rc;
  v1::ListWorkersResponse resp;
  if (grpc::Status s = Call(args, &CoordinatorStub::ListWorkers, v1::ListWorkersRequest(), &resp); !s.ok()) return ReportRpc(s, args);
  if (args.Get("format", "table") == "json") {
    std::printf("%s\n", ToJson(resp).c_str());
    return kExitOk;
  }
  std::printf("%-22s %-12s %-6s %-7s %4s %8s %-20s %-22s %s\n", "id", "name", "state", "isa", "thr", "mem GiB",
              "last seen", "runtimes", "labels");
  for (const v1::Worker& w : resp.workers()) {
    std::string labels;
    for (const auto& [k, v] : std::map<std::string, std::string>(w.inventory().labels().begin(),
                                                                  w.inventory().labels().end())) {
      labels += absl::StrCat(labels.empty() ? "" : ",", k, "=", v);
    }
    // Runtimes, llamacpp with its libllama's version: "engine,llamacpp 0.5.0-dev".
    std::string runtimes = absl::StrJoin(w.inventory().runtimes(), ",");
    if (runtimes.empty()) runtimes = "engine";
    const std::string& llama = w.inventory().llama_cpp_build();
    if (absl::StartsWith(llama, "libllama ")) {
      absl::StrAppend(&runtimes, " ", llama.substr(9, llama.find(' ', 9) - 9), w.inventory().llama_cpp_gpu() ? " gpu" : "");
    }
    std::printf("%-22s %-12s %-6s %-7s %4d %8.1f %-20s %-22s %s\n", w.id().c_str(), w.inventory().name().c_str(),
                w.draining() ? "DRAIN" : v1::Worker::State_Name(w.state()).c_str(), w.inventory().isa().c_str(),
                w.inventory().threads(), w.inventory().memory_bytes() / 1073741824.0, w.last_seen_time().c_str(),
                runtimes.c_str(), labels.c_str());
  }
  return kExitOk;
}

int RunDrain(const std::vector<std::string>& argv) {
  Args args;
  if (auto rc = ParseCommand(kDrain, argv, &args)) return *rc;
  if (auto rc = CheckFormat(args)) return *rc;
  v1::DrainWorkerRequest req;
  req.set_worker(args.positional()[0]);
  v1::DrainWorkerResponse resp;
  if (grpc::Status s = Call(args, &CoordinatorStub::DrainWorker, req, &resp); !s.ok()) return ReportRpc(s, args);
  if (args.Get("format", "table") == "json") {
    std::printf("%s\n", ToJson(resp).c_str());
  } else {
    std::printf("draining %s (%s): %s\n", resp.worker().inventory().name().c_str(), resp.worker().id().c_str(),
                resp.worker().job_id().empty() ? "idle, it stops at its next poll"
                                               : ("it stops after job " + resp.worker().job_id()).c_str());
  }
  return kExitOk;
}

}  // namespace tcobench::cli
