// Comparison specs: parsing the proto JSON mapping and the checks that make a
// spec runnable, each failure naming the field (docs/spec.md).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "tcobench/v1/types.pb.h"

namespace tcobench {

// The proto JSON mapping into `message` (camelCase or snake_case field
// names); unknown fields and wrong types are errors, reported as
// "not a valid <what>: <why>". Every file tcobench reads goes through here.
absl::Status ParseJsonInto(absl::string_view json, google::protobuf::Message* message, absl::string_view what);

// INVALID_ARGUMENT "field: what", the form of every spec and cost-block
// error (a user finds the field by its name).
absl::Status FieldError(absl::string_view field, absl::string_view what);

// JSON to a spec. Does not run ValidateSpec.
absl::StatusOr<v1::ComparisonSpec> ParseSpecJson(absl::string_view json);

// Every rule a runnable spec follows; the first broken one is returned, as
// "field.path: what is wrong".
absl::Status ValidateSpec(const v1::ComparisonSpec& spec);

// A llamacpp variant's GPU layers: -1 for all, else the count; unset means
// all on a hardware target of class gpu, none elsewhere.
absl::StatusOr<int> LlamaCppGpuLayers(const v1::LlamaCppSettings& settings, bool gpu_target);

// What a coordinator accepts (flags of the same names, docs/security.md):
// bounds on a spec's size and on the work it asks for.
struct SpecLimits {
  int64_t max_spec_bytes = 1 << 20;   // --max-spec-bytes: the spec's encoded size
  int max_variants = 16;              // --max-variants
  int max_hardware = 16;              // --max-hardware: hardware targets
  int max_prompt_tokens = 32768;      // --max-prompt-tokens: each swept length
  int max_output_tokens = 8192;       // --max-output-tokens
  int max_measured_runs = 100000;     // --max-measured-runs
};

// The first limit the spec breaks, as INVALID_ARGUMENT "field: N …, at most
// M (--flag)".
absl::Status CheckSpecLimits(const v1::ComparisonSpec& spec, const SpecLimits& limits);

// The lengths a workload sweeps (prompt_tokens / output_tokens: a number or a
// list of numbers).
absl::StatusOr<std::vector<int32_t>> SweepValues(const google::protobuf::Value& value,
                                                 absl::string_view field);

// Defaults filled in where the spec leaves a field unset (seed 1,
// concurrency 1 for SINGLE_STREAM and 8 otherwise, one "cpu" hardware entry).
v1::ComparisonSpec WithDefaults(v1::ComparisonSpec spec);

// The job variant of a spec with workload.repetitions above 1: one job per
// hardware target measures every variant, so that its runs interleave on
// one worker (A B A B ...); a job naming one variant measures that one.
inline constexpr char kAllVariantsJob[] = "*";

// The proto JSON mapping the way every file and --format json output is
// written: snake_case names, zero values printed.
std::string ToJson(const google::protobuf::Message& message);

// Scenario and task names as the spec spells them.
std::string ScenarioName(v1::Workload::Scenario s);
std::string TaskName(v1::Accuracy::Choice::Task t);

}  // namespace tcobench
