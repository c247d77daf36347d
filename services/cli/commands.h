// The tcobench subcommands. Each returns the process exit code:
// 0 success, 1 the work failed, 2 usage or input error.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/base/flags.h"
#include "tcobench/v1/coordinator.pb.h"

namespace tcobench::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;
inline constexpr int kExitUsage = 2;

int RunModelInfo(const std::vector<std::string>& argv);
int RunModelLogits(const std::vector<std::string>& argv);
int RunModelTokenize(const std::vector<std::string>& argv);
int RunModelSynth(const std::vector<std::string>& argv);
int RunModelQuantize(const std::vector<std::string>& argv);
int RunModelBench(const std::vector<std::string>& argv);
int RunEvalPerplexity(const std::vector<std::string>& argv);
int RunEvalKld(const std::vector<std::string>& argv);
int RunEvalChoice(const std::vector<std::string>& argv);
int RunGenerate(const std::vector<std::string>& argv);
int RunSpecValidate(const std::vector<std::string>& argv);
int RunRun(const std::vector<std::string>& argv);
// Client commands (service_commands.cc).
int RunSubmit(const std::vector<std::string>& argv);
int RunWatch(const std::vector<std::string>& argv);
int RunList(const std::vector<std::string>& argv);
int RunReport(const std::vector<std::string>& argv);
int RunCancel(const std::vector<std::string>& argv);
int RunDelete(const std::vector<std::string>& argv);
int RunWorkers(const std::vector<std::string>& argv);
int RunDrain(const std::vector<std::string>& argv);
int RunDemo(const std::vector<std::string>& argv);
// Reports, tags and the release gate (report_commands.cc).
int RunTag(const std::vector<std::string>& argv);
int RunGate(const std::vector<std::string>& argv);

// The flags of a local run (run --local, gate calibrate) and the run they
// describe: `spec` measured on this machine with progress on stderr.
std::vector<FlagSpec> LocalRunFlags();
absl::StatusOr<v1::ComparisonResult> RunLocalFromArgs(const Args& args, v1::ComparisonSpec spec);
int RunGateCalibrate(const std::vector<std::string>& argv);
// --policy FILE (and --ignore-contamination) as a policy with its defaults.
absl::StatusOr<v1::GatePolicy> PolicyFromArgs(const Args& args);

// A spec file, parsed and validated (errors name the file and field).
absl::StatusOr<v1::ComparisonSpec> LoadSpec(const std::string& path);
// The summary table of `run` (one row per variant and sweep point), then
// the cost section priced with the spec's cost block.
void PrintSummary(const v1::ComparisonResult& result);
// A line per job of `c` that did not succeed, with its last error.
std::string UnfinishedJobsText(const v1::Comparison& c);

// Writes `text` to a temporary file beside `path`, then renames it over
// `path` (a reader never sees half a file); errors name `flag`.
absl::Status WriteFileAtomically(const std::string& path, const std::string& text, const char* flag);

// --device for the commands that run the embedded engine.
inline const FlagSpec kDeviceFlag = {
    "device", "", true, "DEV",
    "where the engine runs: cpu (default), cuda or cuda:N (builds with TCOBENCH_CUDA)"};

// --format for the commands whose output is a table by default, or JSON.
inline const FlagSpec kFormatFlag = {"format", "", true, "FORMAT", "table (default) or json"};

// Prints the one-line error for `status` to stderr and returns its exit code.
int ReportError(const absl::Status& status);

// Parses argv; on --help prints help and returns 0, on a usage error returns 2.
std::optional<int> ParseCommand(const CommandSpec& spec, const std::vector<std::string>& argv,
                                Args* out);

}  // namespace tcobench::cli
