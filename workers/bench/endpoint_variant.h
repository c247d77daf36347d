// A variant with runtime "openai": its rows measured against the endpoint
// the worker was started next to (docs/endpoints.md). Prompts come from the
// workload (exact token counts through the variant's tokenizer GGUF, else
// words of the prompt text) or from a JSONL requests file; each workload
// point, and each rate or concurrency of a sweep, is one result row with
// goodput, errors by kind, ITL and the token count source; a sweep names its
// capacity (the highest rate, or concurrency, whose p99 met the SLO).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "tcobench/v1/types.pb.h"
#include "workers/bench/comparison.h"

namespace tcobench {

struct EndpointVariantRun {
  const v1::ComparisonSpec& spec;  // with defaults
  const v1::Variant& variant;
  const LocalRunOptions& o;
  int repetition = 0;
  // Takes the host's measurement lock for one measured point (may be empty).
  std::function<absl::StatusOr<std::shared_ptr<void>>()> lock_for_measuring;
};

// Measures every workload point of the variant on every hardware target and
// appends (repetition 0) or merges (later ones, from row *first_result) its
// rows.
absl::Status RunEndpointVariant(const EndpointVariantRun& run, int* first_result, v1::ComparisonResult* result);

}  // namespace tcobench
