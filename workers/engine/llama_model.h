// A llama-family model loaded from GGUF: hyper-parameters, weight views into
// the mapped file, tokenizer, and the thread pool and backend its sessions
// use. Immutable after Open (sessions are the mutable part); the pool and
// backend are shared, so run one session's calls at a time per model.
#pragma once

#include <cstdint>
#include <deque>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "workers/engine/backend.h"
#include "workers/engine/gguf.h"
#include "workers/engine/thread_pool.h"
#include "workers/engine/tokenizer.h"

namespace tcobench {

struct ModelOptions {
  int n_threads = 0;      // 0: all hardware threads
  bool populate = false;  // fault every page of the file in while opening (benchmarks)
  std::string device = "cpu";  // "cpu", or "cuda" / "cuda:N" where the build has CUDA
};

struct LlamaHParams {
  std::string architecture;
  int64_t n_vocab = 0;
  int64_t n_ctx_train = 0;
  int64_t n_embd = 0;
  int64_t n_layer = 0;
  int64_t n_head = 0;
  int64_t n_head_kv = 0;
  int64_t n_ff = 0;
  int64_t head_dim = 0;  // n_embd / n_head unless the file says otherwise
  int64_t n_rot = 0;     // rotated dimensions per head
  float rms_eps = 1e-5f;
  float rope_freq_base = 10000.0f;
  float rope_freq_scale = 1.0f;  // 1 / linear scaling factor
  // What the families add to the llama block (docs/engine.md):
  bool rope_neox = false;        // NeoX RoPE pairs (qwen2, qwen3, gemma3, phi3)
  float rope_attn_factor = 1.0f;  // rope.scaling.attn_factor (LongRoPE)
  int64_t n_ctx_orig = 0;        // rope.scaling.original_context_length (LongRoPE's switch)
  float attn_scale = 0.0f;       // q.k scale (1/sqrt(head_dim) unless the family says)
  float embd_scale = 1.0f;       // token embeddings multiplied by this (gemma3: sqrt(n_embd))
  GluActivation ffn_act = GluActivation::kSilu;
  float final_softcap = 0.0f;    // final_logit_softcapping; 0: none
  // Sliding-window attention (gemma3): layers with swa_layer[il] see the last
  // n_swa positions and use the sliding RoPE base and scale.
  int64_t n_swa = 0;
  std::vector<bool> swa_layer;
  float rope_freq_base_swa = 10000.0f;
  float rope_freq_scale_swa = 1.0f;
};

// Weights live in the backend's memory (Backend::PlaceWeights). Fused
// tensors (phi3's attn_qkv and gate/up ffn_up) are split into row views of
// one placed tensor, so every family runs the same operations.
struct LlamaLayer {
  const float* attn_norm = nullptr;  // (n_embd)
  const float* ffn_norm = nullptr;   // (n_embd)
  WeightMatrix wq;               // (n_head * head_dim, n_embd)
  WeightMatrix wk;               // (n_head_kv * head_dim, n_embd)
  WeightMatrix wv;               // (n_head_kv * head_dim, n_embd)
  WeightMatrix wo;               // (n_embd, n_head * head_dim)
  WeightMatrix w_gate;           // (n_ff, n_embd)
  WeightMatrix w_up;             // (n_ff, n_embd)
  WeightMatrix w_down;           // (n_embd, n_ff)
  // Optional, null when the family or file has none:
  const float* bq = nullptr;     // q/k/v biases (qwen2)
  const float* bk = nullptr;
  const float* bv = nullptr;
  const float* q_norm = nullptr;  // per-head RMS norms of q and k, (head_dim) (qwen3, gemma3)
  const float* k_norm = nullptr;
  const float* attn_post_norm = nullptr;  // norms of the block outputs, (n_embd) (gemma3)
  const float* ffn_post_norm = nullptr;
};

class LlamaModel {
 public:
  static absl::StatusOr<std::unique_ptr<LlamaModel>> Open(const std::filesystem::path& path,
                                                          const ModelOptions& options);

  const LlamaHParams& hparams() const { return hparams_; }
  const GgufFile& gguf() const { return *gguf_; }
  const Tokenizer& tokenizer() const { return *tokenizer_; }
  const WeightMatrix& token_embd() const { return token_embd_; }
  const WeightMatrix& output() const { return output_; }  // token_embd when tied
  const float* output_norm() const { return output_norm_; }  // backend memory, (n_embd)
  // Per-frequency RoPE divisors (rope_freqs.weight, n_rot/2 values) in
  // backend memory, or null.
  const float* rope_freq_factors() const { return rope_freq_factors_; }
  // LongRoPE (phi3): the factors for a context of n_ctx tokens per sequence
  // (long beyond n_ctx_orig, else short), or rope_freq_factors().
  const float* RopeFactorsFor(int64_t n_ctx) const;
  const float* output_bias() const { return output_bias_; }  // (n_vocab) or null
  const std::vector<LlamaLayer>& layers() const { return layers_; }
  Backend& backend() const { return *backend_; }
  int n_threads() const { return pool_->n_threads(); }

 private:
  LlamaModel() = default;

  std::unique_ptr<GgufFile> gguf_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<ThreadPool> pool_;
  std::unique_ptr<Backend> backend_;
  LlamaHParams hparams_;
  WeightMatrix token_embd_;
  WeightMatrix output_;
  const float* output_norm_ = nullptr;
  const float* rope_freq_factors_ = nullptr;
  const float* rope_factors_long_ = nullptr;
  const float* rope_factors_short_ = nullptr;
  const float* output_bias_ = nullptr;
  std::vector<LlamaLayer> layers_;
  // Host copies of the float vectors (norms, rope factors), which the CPU
  // backend uses in place; a deque, so placed vectors never move.
  std::deque<std::vector<float>> host_vectors_;
};

}  // namespace tcobench
