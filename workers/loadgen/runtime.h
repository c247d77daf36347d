// What the load generator drives: a model that starts sequences from a
// prompt and decodes the next token of several sequences in one step. The
// embedded engine is one runtime (workers/bench/engine_runtime.h); a null
// runtime (no work) measures the harness's own overhead; external servers
// and libraries plug in behind the same interface. Nothing here may depend
// on the engine (docs/architecture.md, "Layers").
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

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

// Does no work: returns token 0 at once.
std::unique_ptr<Runtime> MakeNullRuntime(int n_seq, int32_t vocab_size);

}  // namespace tcobench
