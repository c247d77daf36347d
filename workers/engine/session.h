// One inference sequence over a LlamaModel: its KV cache, scratch buffers
// and position. Not thread-safe; the model must outlive the session.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "workers/engine/llama_model.h"

namespace tcobench {

struct SessionOptions {
  int64_t n_ctx = 0;  // KV cache length in tokens; 0: min(training context, 4096)
};

enum class LogitsMode { kLast, kAll };

class Session {
 public:
  static absl::StatusOr<std::unique_ptr<Session>> Create(const LlamaModel& model,
                                                         const SessionOptions& options);

  // Evaluates `tokens` at positions n_past()..n_past()+n-1 as one batch and
  // appends them to the cache. `logits` receives (1 or n, n_vocab) values.
  absl::Status Prefill(std::span<const int32_t> tokens, LogitsMode mode,
                       std::vector<float>* logits);
  // One token at position n_past(); logits of that position.
  absl::Status Decode(int32_t token, std::vector<float>* logits) {
    return Prefill(std::span<const int32_t>(&token, 1), LogitsMode::kLast, logits);
  }
  // Forgets every position (the cache is reused).
  void Reset() { n_past_ = 0; }
  // Keeps the first n positions and forgets the rest (n <= n_past()).
  void Truncate(int64_t n) { n_past_ = std::min(n_past_, std::max<int64_t>(0, n)); }

  int64_t n_past() const { return n_past_; }
  int64_t n_ctx() const { return n_ctx_; }

 private:
  explicit Session(const LlamaModel& model) : model_(model) {}

  const LlamaModel& model_;
  int64_t n_ctx_ = 0;
  int64_t n_past_ = 0;
  std::vector<float> k_cache_;  // (n_layer, n_ctx, n_head_kv * head_dim)
  std::vector<float> v_cache_;  // (n_layer, n_ctx, n_head_kv * head_dim)
  // Scratch, sized for the largest batch seen.
  std::vector<float> x_, xb_, q_, k_, v_, attn_, proj_, gate_, up_;
};

}  // namespace tcobench
