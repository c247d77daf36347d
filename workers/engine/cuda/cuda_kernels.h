// The CUDA backend's kernels, behind plain launch functions (no CUDA types
// but the stream, no Abseil): cuda_backend.cc calls them, cuda_kernels.cu
// defines them. Weights are GGUF rows as stored; activations are float.
#pragma once

#include <cstdint>

#include <cuda_runtime_api.h>

namespace tcobench::cuda {

// ggml type ids the kernels read (TensorType's values).
constexpr int kF32 = 0, kF16 = 1, kQ4_0 = 2, kQ4_1 = 3, kQ5_0 = 6, kQ5_1 = 7, kQ8_0 = 8,
              kQ4_K = 12, kQ5_K = 13, kQ6_K = 14, kBF16 = 30;
bool TypeSupported(int type);

struct Mat {
  int type = 0;
  const void* w = nullptr;
  int64_t n_in = 0, n_out = 0, row_bytes = 0;
};

// The most tokens the matrix-vector kernels take in one launch; larger
// batches go through the tensor-core kernel.
constexpr int kMaxMatVecTokens = 16;

enum class Epilogue { kStore, kAccumulate };

// An RMS norm whose output is a product's input: y = norm(x) * weight for
// `rows` rows of n (x and y apart). The products below take one, their x
// being its y: the direct kernels compute it inside the product (every
// block for itself; one block also writes y), saving its launch; otherwise
// it runs first, as its own kernel.
struct Norm {
  const float* x = nullptr;
  const float* weight = nullptr;
  float eps = 0.0f;
  float* y = nullptr;
  int rows = 0;
  int64_t n = 0;
};

// y = w x (or y += w x) for n tokens: x (n, n_in), y (n, n_out); after
// `norm` unless it is null.
void MatMul(const Mat& w, const float* x, int n, float* y, Epilogue e, void* half_scratch,
            cudaStream_t s, const Norm* norm = nullptr);
// Up to three products of one input of the same type in one launch
// (q/k/v), n <= kMaxMatVecTokens.
void MatVecMulti(const Mat* w, float* const* y, int n_mats, const float* x, int n, cudaStream_t s,
                 const Norm* norm = nullptr);
// out = silu(gate x) * (up x), n <= kMaxMatVecTokens, gate and up of one type.
void MatVecSwiGlu(const Mat& gate, const Mat& up, const float* x, int n, float* out,
                  cudaStream_t s, const Norm* norm = nullptr);
// Which matrix-vector kernels MatMul, MatVecMulti and MatVecSwiGlu use for
// up to kMaxDirectTokens tokens: the staged ones (the default), or the
// direct ones (rows read straight from global memory, a lane per unit;
// quantized types against activations quantized to int8 per 32 values in
// shared memory, 4-way int8 dot products). TCOBENCH_CUDA_MATVEC=direct
// in the backend. Products the direct kernels do not take (F32, rows whose
// alignment or length they cannot read, inputs whose int8 copy for all
// tokens passes their shared memory) stay on the staged ones.
void UseDirectMatVec(bool on);
constexpr int kMaxDirectTokens = 8;
// With the direct kernels on, raises their dynamic shared-memory limit
// (once per device, before any step is recorded); nothing otherwise.
cudaError_t PrepareDirectMatVec();
// Programmatic dependent launch (compute capability 9.0 and newer; off by
// default): each kernel may start while the one before it finishes, its
// blocks scheduled into free slots, the direct matrix-vector kernels asking L2 for
// their first weights, and wait there for the earlier kernel's results.
// TCOBENCH_CUDA_PDL=1 in the backend.
void UsePdl(bool on);
// Bytes of scratch MatMul needs for n tokens of n_in (the half copy of x).
int64_t MatMulScratchBytes(int n, int64_t n_in);

// out = act(gate) * up: silu, or GELU-tanh as the CPU backend rounds it.
void Glu(const float* gate, const float* up, int64_t count, float* out, bool gelu,
         cudaStream_t s);
void GetRows(const Mat& w, const int32_t* tokens, int n, float* y, cudaStream_t s);
void RmsNorm(const float* x, const float* weight, int n_rows, int64_t n, float eps, float* y,
             cudaStream_t s);
// y += norm(x) * weight, rows of n.
void RmsNormAdd(const float* x, const float* weight, int n_rows, int64_t n, float eps, float* y,
                cudaStream_t s);
void AddBias(float* y, const float* bias, int n_rows, int64_t n, cudaStream_t s);
void Scale(float* y, int64_t count, float factor, cudaStream_t s);
void SoftCap(float* y, int64_t count, float cap, cudaStream_t s);

struct RopeStore {
  float* q = nullptr;
  float* k = nullptr;
  const float* v = nullptr;
  const int32_t* seq = nullptr;
  const int32_t* pos = nullptr;
  int n_tokens = 0, n_head = 0, n_head_kv = 0, head_dim = 0, n_rot = 0;
  float theta_scale = 1.0f, freq_scale = 1.0f, attn_factor = 1.0f;
  bool neox = false;  // pairs (i, i + n_rot/2) instead of (2i, 2i + 1)
  const float* freq_factors = nullptr;
  float* k_cache = nullptr;
  float* v_cache = nullptr;
  int64_t seq_stride = 0;
};
void RopeAndStore(const RopeStore& a, cudaStream_t s);

struct AttentionLaunch {
  const float* q = nullptr;
  const float* k_cache = nullptr;
  const float* v_cache = nullptr;
  const int32_t* seq = nullptr;
  const int32_t* pos = nullptr;
  float* out = nullptr;
  int n_tokens = 0, n_head = 0, n_head_kv = 0, head_dim = 0;
  int64_t seq_stride = 0;
  int64_t n_ctx = 0;  // sizes the shared memory (scores of every position)
  float scale = 1.0f;
  int window = 0;  // > 0: only the last `window` positions are seen
  // Split attention's scratch (attention.cuh), for n_splits splits; null:
  // the block kernel.
  float* split = nullptr;
  int n_splits = 0;
};
// The block kernel (a block per token and head), or with `split` set the
// split kernels (attention.cuh: the context cut into splits of 64
// positions, then combined) where they take the shape (head_dim a multiple
// of 4, 16-byte aligned rows).
void Attention(const AttentionLaunch& a, cudaStream_t s);
// The most tokens split attention takes in one step (decode), and the
// positions of one split.
constexpr int kMaxSplitTokens = kMaxMatVecTokens;
constexpr int kSplitChunk = 64;
// Splits of a context of n_ctx, and the scratch bytes they need for n
// tokens: {max, sum} and head_dim weighted values per token, head and split.
inline int SplitCount(int64_t n_ctx) { return static_cast<int>((n_ctx + kSplitChunk - 1) / kSplitChunk); }
inline int64_t SplitScratchBytes(int64_t n, int64_t n_head, int64_t head_dim, int64_t n_ctx) {
  return n * n_head * SplitCount(n_ctx) * (2 + head_dim) * 4;
}
// Shared memory Attention needs for a context of n_ctx; 0 if too large.
int64_t AttentionSharedBytes(int64_t n_ctx, int head_dim);
// Raises Attention's dynamic shared-memory limit (once per device).
cudaError_t PrepareAttention(int64_t max_shared_bytes);

// Reads `bytes` of device memory (16 bytes per load, every byte once) and
// writes one sum per block to `sums` (at most 1024 blocks): the read-only
// bandwidth a decode step is bounded by.
void ReadAll(const void* data, int64_t bytes, float* sums, cudaStream_t s);

}  // namespace tcobench::cuda
