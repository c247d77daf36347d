// The embedded engine behind the load generator's Runtime interface.
#pragma once

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "workers/engine/llama_model.h"
#include "workers/loadgen/runtime.h"

namespace tcobench {

// One session with n_seq sequences of n_ctx positions. Buffers are sized up
// front, so Prefill/Step allocate nothing once each prompt length and batch
// size has been seen (the harness warms up first).
absl::StatusOr<std::unique_ptr<Runtime>> MakeEngineRuntime(const LlamaModel& model, int n_seq,
                                                           int64_t n_ctx);

}  // namespace tcobench
