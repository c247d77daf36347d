// The MLPerf-style scenarios over a Runtime (docs/harness.md):
//   SINGLE_STREAM  one request at a time, the next issued when one finishes;
//   SERVER         Poisson arrivals at target_qps, up to `concurrency` served
//                  together by batched decoding, latency counted from arrival;
//   OFFLINE        rounds of requests all issued at once, `concurrency` in
//                  flight, for throughput.
// Warm-up requests run first, one at a time, and are not measured; then one
// unmeasured decode step of each batch size up to `concurrency`, so nothing a
// runtime sizes per batch grows inside the window. The
// measured part runs until both `measured_runs` requests have finished and
// `min_duration_seconds` have passed. Inside the measured window nothing is
// allocated or logged: timings go into storage reserved beforehand and
// prompts are drawn without allocating.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "workers/loadgen/runtime.h"

namespace tcobench {

enum class Scenario { kSingleStream, kServer, kOffline };

struct ScenarioOptions {
  Scenario scenario = Scenario::kSingleStream;
  int32_t prompt_tokens = 64;
  int32_t output_tokens = 32;
  int warmup_runs = 0;
  int measured_runs = 1;
  double min_duration_seconds = 0;
  double target_qps = 0;  // SERVER
  int concurrency = 1;    // SERVER/OFFLINE; at most the runtime's sequences
  uint64_t seed = 1;
  // Prompts come from windows of this token stream (a tokenized text) when
  // it is not empty, else random token ids below the vocabulary size.
  std::span<const int32_t> prompt_corpus;
  int max_requests = 1 << 16;  // storage reserved for measured requests
  // Called right before the measured window opens and right after it closes
  // (energy meters); may be empty.
  std::function<void()> on_window_open, on_window_close;
};

struct RequestTiming {
  double arrival = 0;      // seconds since the window opened
  double start = 0;        // prefill began
  double first_token = 0;  // first output token ready
  double end = 0;          // last output token ready
  int32_t prompt_tokens = 0;
  int32_t output_tokens = 0;
  uint64_t prompt_index = 0;  // which prompt (see PromptFor)
};

struct ScenarioRun {
  std::vector<RequestTiming> requests;  // measured ones, in order of arrival
  double window_seconds = 0;            // first arrival to last token
  double prefill_seconds = 0;           // inside Prefill calls
  double decode_seconds = 0;            // inside Step calls
  int64_t prefill_tokens = 0;
  int64_t decode_tokens = 0;            // tokens produced by Step calls
  int64_t steps = 0;
};

absl::StatusOr<ScenarioRun> RunScenario(Runtime& runtime, const ScenarioOptions& options);

// The prompt of request `index` (deterministic from the seed), as recorded.
void PromptFor(const ScenarioOptions& options, int32_t vocab_size, uint64_t index,
               std::span<int32_t> out);

}  // namespace tcobench
