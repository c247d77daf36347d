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
  int64_t n_ctx = 0;  // KV cache length in tokens per sequence; 0: min(training context, 4096)
  int n_seq = 1;      // sequences, each with its own KV cache (1..16)
};

enum class LogitsMode { kLast, kAll };

// Sequences are numbered 0..n_seq-1; the single-sequence calls use sequence 0.
class Session {
 public:
  static constexpr int kMaxSequences = 16;

  static absl::StatusOr<std::unique_ptr<Session>> Create(const LlamaModel& model,
                                                         const SessionOptions& options);

  // Evaluates `tokens` of sequence `seq` at positions n_past(seq).. as one
  // batch and appends them to its cache. `logits` receives (1 or n, n_vocab).
  absl::Status Prefill(int seq, std::span<const int32_t> tokens, LogitsMode mode,
                       std::vector<float>* logits);
  absl::Status Prefill(std::span<const int32_t> tokens, LogitsMode mode,
                       std::vector<float>* logits) {
    return Prefill(0, tokens, mode, logits);
  }
  // One token at position n_past(); logits of that position.
  absl::Status Decode(int32_t token, std::vector<float>* logits) {
    return Prefill(0, std::span<const int32_t>(&token, 1), LogitsMode::kLast, logits);
  }
  // One token for each of several distinct sequences, decoded together in one
  // pass (the weights are read once for all of them). logits: (n, n_vocab),
  // row i for tokens[i] of sequence seqs[i].
  absl::Status DecodeBatch(std::span<const int32_t> tokens, std::span<const int> seqs,
                           std::vector<float>* logits);

  // Forgets every position of every sequence (the caches are reused).
  void Reset() { std::fill(n_past_.begin(), n_past_.end(), 0); }
  // Forgets every position of one sequence.
  void ResetSequence(int seq) { n_past_[seq] = 0; }
  // Keeps the first n positions of sequence seq and forgets the rest.
  void Truncate(int64_t n, int seq = 0) {
    n_past_[seq] = std::min(n_past_[seq], std::max<int64_t>(0, n));
  }

  int64_t n_past(int seq = 0) const { return n_past_[seq]; }
  int64_t n_ctx() const { return n_ctx_; }
  int n_seq() const { return static_cast<int>(n_past_.size()); }
  int64_t kv_cache_bytes() const {
    return static_cast<int64_t>(k_cache_.bytes() + v_cache_.bytes());
  }

 private:
  explicit Session(const LlamaModel& model) : model_(model), backend_(model.backend()) {}
  // The forward pass over n tokens; token t belongs to sequence seq[t] at
  // position pos[t]. Logits for rows first_row..n-1.
  absl::Status Eval(const int32_t* tokens, const int* seq, const int64_t* pos, int64_t n,
                    int64_t first_row, std::vector<float>* logits);
  // The forward pass's operations (all on the backend) for a step whose
  // inputs are uploaded; logits of rows first_row.. go to logits_.
  void Forward(const StepInputs& in, int64_t first_row);
  // Grows the scratch buffers to hold n tokens (dropping recorded steps).
  absl::Status Reserve(int64_t n);
  KvLayer KvCache(int64_t layer) const;

  // Steps of at most this many tokens (decode, batched decode) are recorded
  // once per shape and replayed (CUDA graphs); prefill runs op by op.
  static constexpr int64_t kMaxRecordedTokens = 16;

  const LlamaModel& model_;
  Backend& backend_;
  int64_t n_ctx_ = 0;
  std::vector<int64_t> n_past_;  // per sequence
  BackendBuffer k_cache_;        // (n_seq, n_layer, n_ctx, n_head_kv * head_dim)
  BackendBuffer v_cache_;        // (n_seq, n_layer, n_ctx, n_head_kv * head_dim)
  // Scratch in backend memory, sized for the largest batch seen.
  int64_t capacity_ = 0;
  BackendBuffer x_, xb_, q_, k_, v_, attn_, gate_, up_, logits_, inputs_;
  BackendBuffer attn_scratch_;  // the backend's attention workspace (may be empty)
  std::vector<int32_t> inputs_host_;  // tokens, sequences, positions; capacity_ each
  std::unique_ptr<StepCache> steps_;
  std::vector<int64_t> positions_;
  std::vector<int> seqs_;
};

}  // namespace tcobench
