// Interleaved ("repacked") weight layouts: groups of kRepackRows rows stored
// together so one vector load gives the same position of every row in the
// group, which is what the matrix kernels of wide ISAs want (16 lanes of
// int32 or float, one per row). A repacked matrix has exactly the bytes of
// the GGUF rows it came from, rearranged inside each group, so it replaces
// them in place (no second copy of the weights) and UnpackGroup gives the
// original bytes back.
//
// Layouts, per group of 16 rows (r = row in the group):
//   F16   per column k: the 16 rows' halves (32 bytes).
//   Q8_0  per block: 16 fp16 scales, then 8 quads of 64 bytes: quad q holds
//         row r's quants 4q..4q+3 at bytes 4r..4r+3, each XOR 0x80 (the
//         quant + 128 as an unsigned byte).
//   Q4_0  per block: 16 fp16 scales, then 4 chunks of 64 bytes: chunk g holds
//         row r's packed bytes qs[4g..4g+3] (low nibbles: weights 4g..4g+3,
//         high nibbles: weights 16+4g..16+4g+3).
//   Q5_0  per block: 16 fp16 scales, the 16 rows' qh words (64 bytes), then
//         the quants as Q4_0's 4 chunks of 64.
//   Q4_K  per super-block: 16 d, 16 dmin (fp16), the 12 scale bytes as 12
//         planes of 16 (plane i: byte i of each row), then 32 chunks of 64:
//         chunk 8g+q holds row r's qs[32g+4q..32g+4q+3].
//   Q6_K  per super-block: 16 d, the 16 scales as 16 planes of 16, then ql
//         as 32 chunks of 64 (chunk c: row r's ql[4c..4c+3]) and qh as 16
//         chunks of 64 (chunk c: row r's qh[4c..4c+3]).
#pragma once

#include <cstdint>

#include "workers/engine/tensor_type.h"

namespace tcobench {

inline constexpr int kRepackRows = 16;

// Whether `type` has an interleaved layout (the kernels are per ISA: see
// TypeOps::gemm_repacked).
bool HasRepackedLayout(TensorType type);

// Rearranges kRepackRows consecutive rows of n_in elements (`rows`, GGUF
// layout) into one group (`group`, same size). The two must not overlap.
void RepackGroup(TensorType type, int64_t n_in, const uint8_t* rows, uint8_t* group);
// The inverse: the GGUF rows of a group.
void UnpackGroup(TensorType type, int64_t n_in, const uint8_t* group, uint8_t* rows);

// Row r (< kRepackRows) of a group in the GGUF layout (embedding lookups
// of a repacked, tied token embedding).
void UnpackRow(TensorType type, int64_t n_in, const uint8_t* group, int r, uint8_t* row);

// The activations a repacked product reads: n_tok rows `row_bytes` apart in
// the weight type's vec_dot_type (Q8_0, Q8_K), or for F16 weights floats
// already rounded to fp16, which the kernel also reads packed by
// PackGemmActivations (quants.h) in `packed`. For Q8_0 the kernels also
// need, per token and 32-block, the scale as float and the sum of the
// quants: d[t * n_blocks + b], sums[t * n_blocks + b].
struct RepackedActs {
  const uint8_t* rows = nullptr;
  int64_t row_bytes = 0;
  const float* d = nullptr;
  const int32_t* sums = nullptr;
  const float* packed = nullptr;
};

// Fills d and sums (n_blocks each) for one row of Q8_0 activations.
void Q8_0ActStats(const uint8_t* row, int64_t n_blocks, float* d, int32_t* sums);

// y(t, 16 g + r) = row r of group g . activation row t, for n_groups
// consecutive groups (the matrix's rows 16 g .. 16 g + 15 from `groups`)
// and t < n_tok, at y[t * y_stride + 16 g + r]. Equal, bit for bit, to the
// reference vec_dot of each row (the integer sums are exact and the float
// steps are the reference's, in its order). `scratch` holds
// RepackedScratchBytes(n_tok) bytes, 64-aligned.
using RepackedGemmFn = void (*)(int64_t n_in, const uint8_t* groups, int64_t n_groups,
                                const RepackedActs& acts, int64_t n_tok, float* y, int64_t y_stride,
                                void* scratch);
int64_t RepackedScratchBytes(int64_t n_tok);
// The K-quant kernels (Q4_K, Q6_K) do too much work per cache line for the
// hardware prefetcher alone to keep the memory busy at decode: each
// super-block asks for the lines kPrefetchAhead bytes past its own [p, p + n)
// into L2 (prefetcht1; into L1, 2, 4 or 8 KiB ahead, it did not help).
// llama-1b Q4_K_M decode 1.16-1.25x at the AVX-512 level (2 threads),
// 1.40x at AVX2; Q8_0, already near the bandwidth, lost 7% with it, so the
// legacy kernels go without (bench/RESULTS.md). A prefetch never faults:
// running past the matrix's end is harmless.
inline constexpr int64_t kPrefetchAhead = 8192;
inline void PrefetchAhead(const uint8_t* p, int64_t n) {
  const uintptr_t ahead = reinterpret_cast<uintptr_t>(p) + kPrefetchAhead;
  for (int64_t o = 0; o < n; o += 64) __builtin_prefetch(reinterpret_cast<const void*>(ahead + o), 0, 2);
}

// The scratch begins with this many bytes for a decoded tile (8 blocks or a
// super-block of 16 rows, up to 64 quads of 64 bytes, with room to spare);
// the per-token sums follow it.
inline constexpr int64_t kRepackTileBytes = 8192;

}  // namespace tcobench
