// The seam between the llama model and the hardware. The model calls only
// these operations; the CPU backend implements them with the reference (and
// later SIMD) kernels, and a CUDA backend can implement them without changes
// to the model. Buffers are plain float arrays in host memory, row-major.
//
// A backend is used by one session at a time (not thread-safe); it may use
// its own threads inside each call.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <utility>
#include <string>

#include "workers/engine/tensor_type.h"

namespace tcobench {

// A weight matrix: n_out rows of n_in elements of `type`, as stored in GGUF
// (ne[0] = n_in, ne[1] = n_out). Does not own `data`.
struct WeightMatrix {
  std::string name;
  TensorType type = TensorType::kF32;
  const void* data = nullptr;
  int64_t n_in = 0;
  int64_t n_out = 0;
};

// Causal attention for a batch of tokens that may belong to different
// sequences: token t attends to positions 0..n_visible[t]-1 of its own
// sequence's cache (which already holds the token itself).
struct AttentionArgs {
  const float* q = nullptr;  // (n_tokens, n_head * head_dim), already rotated
  const float* const* k_cache =
      nullptr;  // per token: its sequence's (n_ctx, n_head_kv * head_dim) keys
  const float* const* v_cache = nullptr;  // per token: its sequence's values, same layout
  const int64_t* n_visible = nullptr;     // per token
  float* out = nullptr;                   // (n_tokens, n_head * head_dim)
  int64_t n_tokens = 0;
  int64_t n_head = 0;
  int64_t n_head_kv = 0;
  int64_t head_dim = 0;
  float scale = 1.0f;  // applied to q.k before the softmax
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;

  // y(t, o) = sum_i w(o, i) * x(t, i) for t < n_tokens; x is (n_tokens, n_in).
  virtual void MatMul(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y) = 0;
  // Several products of one input (q/k/v, gate/up): ys[i] = ws[i] x. A
  // backend may convert x once for all of them.
  virtual void MatMulSameInput(std::initializer_list<std::pair<const WeightMatrix*, float*>> products,
                               const float* x, int64_t n_tokens) {
    for (const auto& [w, y] : products) MatMul(*w, x, n_tokens, y);
  }
  // Row `row` of w as floats (embedding lookup).
  virtual void GetRow(const WeightMatrix& w, int64_t row, float* y) = 0;
  // y(t) = x(t) / sqrt(mean(x(t)^2) + eps) * weight, rows of n.
  virtual void RmsNorm(const float* x, const float* weight, int64_t n_tokens, int64_t n, float eps,
                       float* y) = 0;
  // Llama "normal" RoPE in place: rotates adjacent pairs (2i, 2i+1), i < n_rot/2,
  // of every head of token t by freq_scale * positions[t] * freq_base^(-2i/n_rot)
  // / freq_factors[i] (Llama 3.1 style factors; null means all 1).
  virtual void Rope(float* x, int64_t n_tokens, int64_t n_heads, int64_t head_dim, int64_t n_rot,
                    const int64_t* positions, float freq_base, float freq_scale,
                    const float* freq_factors) = 0;
  // Grouped-query attention over the KV caches.
  virtual void Attention(const AttentionArgs& args) = 0;
  // out = silu(gate) * up, elementwise over n values.
  virtual void SwiGlu(const float* gate, const float* up, int64_t n, float* out) = 0;
  // x += y over n values.
  virtual void Add(float* x, const float* y, int64_t n) = 0;
};

}  // namespace tcobench
