// What the benchmark harness drives: a model that starts sequences from a
// prompt and decodes the next token of several sequences in one step. The
// embedded engine is one runtime; a null runtime (no work) measures the
// harness's own overhead; external servers plug in behind the same interface.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "workers/engine/llama_model.h"

namespace tcobench {

class Runtime {
 public:
  virtual ~Runtime() = default;
  virtual int max_sequences() const = 0;
  virtual int32_t vocab_size() const = 0;
  // Starts sequence `seq` afresh from `prompt`; returns its first output
  // token (greedy).
  virtual absl::StatusOr<int32_t> Prefill(int seq, std::span<const int32_t> prompt) = 0;
  // One step for several distinct sequences: next[i] follows last[i] in
  // sequence seqs[i] (greedy).
  virtual absl::Status Step(std::span<const int> seqs, std::span<const int32_t> last,
                            std::span<int32_t> next) = 0;
};

// The embedded engine: one session with n_seq sequences of n_ctx positions.
// Buffers are sized up front, so Prefill/Step allocate nothing once each
// prompt length has been seen (the harness warms up first).
absl::StatusOr<std::unique_ptr<Runtime>> MakeEngineRuntime(const LlamaModel& model, int n_seq,
                                                           int64_t n_ctx);

// Does no work: returns token 0 at once.
std::unique_ptr<Runtime> MakeNullRuntime(int n_seq, int32_t vocab_size);

}  // namespace tcobench
