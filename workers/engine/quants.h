// Block layouts of the GGUF tensor types and their scalar reference math:
// dequantize, quantize (activation formats and float conversions) and the
// dot product of a weight row with an activation row in its companion format.
//
// Layouts are bit-exact with ggml (see docs/engine.md). Every function here is
// the plain reference; fast kernels slot in beside it through TypeOps and are
// tested against it.
#pragma once

#include <cstdint>

#include "workers/engine/isa.h"
#include "workers/engine/repack.h"
#include "workers/engine/tensor_type.h"

namespace tcobench {

inline constexpr int kQK = 32;     // weights per block of the legacy types
inline constexpr int kQK_K = 256;  // weights per super-block of the k-quants

struct BlockQ4_0 {
  uint16_t d;           // fp16 scale
  uint8_t qs[kQK / 2];  // weight j: low nibble of qs[j]; weight j+16: high nibble
};
struct BlockQ4_1 {
  uint16_t d, m;  // fp16 scale and minimum
  uint8_t qs[kQK / 2];
};
struct BlockQ5_0 {
  uint16_t d;
  uint8_t qh[4];  // 5th bit of weight w is bit w of this little-endian uint32
  uint8_t qs[kQK / 2];
};
struct BlockQ5_1 {
  uint16_t d, m;
  uint8_t qh[4];
  uint8_t qs[kQK / 2];
};
struct BlockQ8_0 {
  uint16_t d;
  int8_t qs[kQK];
};
struct BlockQ8_1 {
  uint16_t d;  // fp16 scale
  uint16_t s;  // fp16 of d * sum(qs)
  int8_t qs[kQK];
};
struct BlockQ2_K {
  uint8_t scales[kQK_K / 16];  // low nibble scale, high nibble min, per 16 weights
  uint8_t qs[kQK_K / 4];
  uint16_t d, dmin;
};
struct BlockQ3_K {
  uint8_t hmask[kQK_K / 8];
  uint8_t qs[kQK_K / 4];
  uint8_t scales[12];  // sixteen 6-bit scales
  uint16_t d;
};
struct BlockQ4_K {
  uint16_t d, dmin;
  uint8_t scales[12];  // eight 6-bit (scale, min) pairs
  uint8_t qs[kQK_K / 2];
};
struct BlockQ5_K {
  uint16_t d, dmin;
  uint8_t scales[12];
  uint8_t qh[kQK_K / 8];
  uint8_t qs[kQK_K / 2];
};
struct BlockQ6_K {
  uint8_t ql[kQK_K / 2];
  uint8_t qh[kQK_K / 4];
  int8_t scales[kQK_K / 16];
  uint16_t d;
};
struct BlockQ8_K {
  float d;
  int8_t qs[kQK_K];
  int16_t bsums[kQK_K / 16];  // sum of each group of 16 quants
};

static_assert(sizeof(BlockQ4_0) == 18);
static_assert(sizeof(BlockQ4_1) == 20);
static_assert(sizeof(BlockQ5_0) == 22);
static_assert(sizeof(BlockQ5_1) == 24);
static_assert(sizeof(BlockQ8_0) == 34);
static_assert(sizeof(BlockQ8_1) == 36);
static_assert(sizeof(BlockQ2_K) == 84);
static_assert(sizeof(BlockQ3_K) == 110);
static_assert(sizeof(BlockQ4_K) == 144);
static_assert(sizeof(BlockQ5_K) == 176);
static_assert(sizeof(BlockQ6_K) == 210);
static_assert(sizeof(BlockQ8_K) == 292);

using ToFloatFn = void (*)(const void* src, float* dst, int64_t n);
using FromFloatFn = void (*)(const float* src, void* dst, int64_t n);
// Dot product of n weights (a row in the weight type) with n activations (in
// the weight type's vec_dot_type).
using VecDotFn = float (*)(int64_t n, const void* weights, const void* activations);
// One weight row dotted with n_act (1..8) activation rows `act_stride` bytes
// apart: out[t] = vec_dot(n, weights, activations + t * act_stride). The
// weights are decoded once for all of them (batched decoding).
using VecDotNFn = void (*)(int64_t n, const void* weights, const void* activations,
                           int64_t act_stride, int n_act, float* out);
inline constexpr int kMaxVecDotN = 8;
// Several weight rows (w_stride bytes apart) against one activation row:
// out[r] = vec_dot(n, weights + r * w_stride, activations), r < kVecDotRows.
// The activation blocks are loaded once for all rows (decoding).
inline constexpr int kVecDotRows = 4;
using VecDotRowsFn = void (*)(int64_t n, const void* weights, int64_t w_stride,
                              const void* activations, float* out);

// The math the engine has for one tensor type.
struct TypeOps {
  TensorType type;
  TensorType vec_dot_type;  // format activations are converted to before vec_dot
  ToFloatFn to_float;
  FromFloatFn from_float;  // null where the type is not produced at run time
  VecDotFn vec_dot;        // null for activation-only formats
  // The reference weight quantizer (llama-quantize without an importance
  // matrix): deterministic, byte-identical to the reference for the
  // closed-form types. Null for activation-only formats.
  FromFloatFn quantize;
  VecDotNFn vec_dot_n = nullptr;  // optional; callers fall back to vec_dot
  VecDotRowsFn vec_dot_rows = nullptr;  // optional; callers fall back to vec_dot
  // Products with weights in the interleaved layout (repack.h); non-null
  // only at levels that have such a kernel for the type, which is when a
  // backend repacks the type's matrices at load.
  RepackedGemmFn gemm_repacked = nullptr;
};

// The reference ops of a type, or nullptr when the engine cannot compute with it.
const TypeOps* GetReferenceOps(TensorType type);
// The ops for an ISA level: the reference ops with that level's kernels in
// place of the reference ones where it has them.
const TypeOps* GetOpsFor(TensorType type, Isa isa);
// Matrix-matrix product on float rows, for prefill: y(t, r) = sum_i w(r, i) *
// a(t, i) for r < n_rows, t < n_tok, rows of k values (w: n_rows x k, y: n_tok
// rows of y_stride). The activations come packed by PackGemmActivations.
// Null at levels that have none.
using GemmF32Fn = void (*)(int64_t n_rows, int64_t n_tok, int64_t k, const float* w,
                           const float* a_packed, float* y, int64_t y_stride);
// Tokens per group of packed activations.
inline constexpr int64_t kGemmTokenTile = 16;
// Floats the packed form of n_tok activation rows of k values takes.
inline int64_t PackedGemmSize(int64_t n_tok, int64_t k) {
  return (n_tok + kGemmTokenTile - 1) / kGemmTokenTile * kGemmTokenTile * k;
}
// Packs a (n_tok rows of k) for GemmF32Fn: groups of kGemmTokenTile tokens,
// each k x kGemmTokenTile with the token index fastest, zero past n_tok.
void PackGemmActivations(int64_t n_tok, int64_t k, const float* a, float* packed);
GemmF32Fn GetGemmF32(Isa isa);

// Causal attention for the query heads of n_tok tokens that read one KV head
// of one sequence's cache (grouped-query attention; consecutive tokens of a
// prefill). Query head h of token t (head_dim floats) is at q + t * q_stride
// + h * head_dim for h < n_head, and its result goes to the same place in
// out. It sees positions [first[t], n[t]): out(t, h, d) = sum_j softmax_j(
// scale * q.k_j) * v_j(d), row j of K at k + j * stride and of V at v + j *
// stride. scores: workspace, the row of query (t, h) at scores + (t * n_head
// + h) * scores_stride, scores_stride >= every n[t] (positions before
// first[t] are not touched). The softmax subtracts the maximum and sums the
// exponentials in double, as the reference does. A query's result does not
// depend on which others share the call: they share only the loads of K
// and V.
using AttentionFn = void (*)(const float* q, int64_t q_stride, int64_t n_tok, int64_t n_head,
                             const int64_t* first, const int64_t* n, const float* k,
                             const float* v, int64_t stride, int64_t head_dim, float scale,
                             float* scores, int64_t scores_stride, float* out);
// The level's kernel; the scalar level's is the plain reference.
AttentionFn GetAttention(Isa isa);
// Queries the kernels take through each block of K and V at once; callers
// that choose how many queries share a call aim for it.
inline constexpr int64_t kAttentionBatch = 8;

// The ops of the active level (ActiveIsa()): what the engine runs.
inline const TypeOps* GetOps(TensorType type) { return GetOpsFor(type, ActiveIsa()); }

// Types the engine can hold weights in, for error messages.
const char* SupportedWeightTypesList();

// The 6-bit (scale, min) pair j of a Q4_K/Q5_K block's 12 scale bytes.
void GetScaleMinK4(int j, const uint8_t* q, uint8_t* scale, uint8_t* min);
// The signed scale s (-32..31) of a Q3_K block's 12 scale bytes.
int GetScaleQ3K(const uint8_t* scales, int s);

}  // namespace tcobench
