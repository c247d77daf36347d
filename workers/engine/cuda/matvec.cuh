// The matrix-vector kernels' shared pieces, written once for the GPU and
// the host (__host__ __device__): their parameters, the row map, and the
// direct kernels' work before the warp sums (DirectWarp: which rows a warp
// takes, what each lane adds up), so cuda_blocks_test runs the direct
// kernels' arithmetic lane by lane on the CPU. The kernels themselves
// (launches, shared memory, shuffles, stores) are in cuda_kernels.cu.
#pragma once

#include <cstdint>

#include "workers/engine/cuda/blocks.cuh"

namespace tcobench::cuda {

enum Mode { kStoreMode, kAccumulateMode, kSwiGluMode };

// Up to three matrices of one input and type, their rows numbered one after
// another (q/k/v in one launch); kSwiGluMode: w[0] gate, w[1] up, n_mats 1.
struct MatVecParams {
  const uint8_t* w[3];
  float* y[3];
  int64_t n_out[3];
  int n_mats;
  int64_t n_in, row_bytes;
  const float* x;  // n tokens of n_in
  int n;
  bool xvec;  // n_in % 4 == 0
};

// Row i of the matrices numbered one after another: its weights (null past
// the last), output and index there.
struct RowRef {
  const uint8_t* row;
  float* y;
  int64_t idx, n_out;
};
TCOBENCH_HD RowRef MapRow(const MatVecParams& p, int64_t i) {
  int m = 0;
  if (i >= p.n_out[0]) {
    i -= p.n_out[0];
    m = 1;
    if (p.n_mats > 1 && i >= p.n_out[1]) {
      i -= p.n_out[1];
      m = 2;
    }
  }
  RowRef r;
  r.n_out = m == 0 ? p.n_out[0] : m == 1 ? p.n_out[1] : p.n_out[2];
  const bool valid = m < p.n_mats && i < r.n_out;
  r.row = valid ? (m == 0 ? p.w[0] : m == 1 ? p.w[1] : p.w[2]) + i * p.row_bytes : nullptr;
  r.y = m == 0 ? p.y[0] : m == 1 ? p.y[1] : p.y[2];
  r.idx = i;
  return r;
}

template <int R, int NT>
TCOBENCH_HD void Zero(float (&acc)[R][NT]) {
TCOBENCH_UNROLL
  for (int r = 0; r < R; ++r)
TCOBENCH_UNROLL
    for (int t = 0; t < NT; ++t) acc[r][t] = 0.0f;
}

// --- Direct matrix-vector products (decode, up to kMaxDirectTokens) --------
// No staging: each lane loads its units of a row (Unit<T>) straight from
// global memory, U of them in flight, consecutive lanes on consecutive
// units so a warp's loads cover whole sectors. A block holds
// kDirectRowsPerBlock rows. Quantized types multiply int8 codes with the
// tokens' activations, which every block first quantizes per 32 values into
// its shared memory (DirectQuantize: no extra launch, the same codes in
// every block).

constexpr int kDirectRowsPerBlock = 8;

// Rows per warp: one for a single token, two for batches (the activations
// reused across them); one for SwiGLU, whose warps read a gate and an up row
// (registers: two rows of Q5_K units for eight tokens spill).
template <int NT, int MODE>
TCOBENCH_HD constexpr int DirectRowsPerWarp() {
  return NT == 1 || MODE == kSwiGluMode ? 1 : 2;
}
template <int NT, int MODE>
TCOBENCH_HD constexpr int DirectThreads() {
  return 32 * kDirectRowsPerBlock / DirectRowsPerWarp<NT, MODE>();
}

// Shared memory of the int8 activations: n tokens' codes, then their {d, sum}.
inline int64_t DirectSharedBytes(int type, int n, int64_t n_in) {
  if (DirectFloatType(type)) return 0;
  return static_cast<int64_t>(n) * n_in + static_cast<int64_t>(n) * (n_in / 32) * 8;
}

// Thread `tid` of `threads` quantizes its share of the tokens' 32-value blocks.
TCOBENCH_HD void DirectQuantize(const MatVecParams& p, int tid, int threads, int8_t* qx, float2* ds) {
  const int64_t n_qb = p.n_in / 32;
  for (int64_t i = tid; i < p.n * n_qb; i += threads) {
    const int64_t t = i / n_qb, b = i % n_qb;
    QuantizeBlock32(p.x + t * p.n_in + 32 * b, qx + t * p.n_in + 32 * b, ds + t * n_qb + b);
  }
}

// A warp's rows (R of them from `first`; SwiGLU: R gate rows, then the R
// up rows) and one lane's partial sums over its units.
template <int T, int NT, int MODE>
struct DirectWarp {
  static constexpr int R = DirectRowsPerWarp<NT, MODE>();
  static constexpr int RR = MODE == kSwiGluMode ? 2 * R : R;
  static constexpr int kWarps = kDirectRowsPerBlock / R;
  static constexpr bool kQuant = !DirectFloatType(T);
  static constexpr int U = kQuant ? 2 : 4;  // units in flight per lane and row
  RowRef refs[R];
  const uint8_t* rows[RR];

  TCOBENCH_HD DirectWarp(const MatVecParams& p, int64_t first) {
TCOBENCH_UNROLL
    for (int r = 0; r < R; ++r) {
      refs[r] = MapRow(p, first + r);
      rows[r] = refs[r].row;
      if constexpr (MODE == kSwiGluMode) {
        rows[R + r] = rows[r] != nullptr ? p.w[1] + refs[r].idx * p.row_bytes : nullptr;
      }
    }
  }
  // False when the warp is past the last row.
  TCOBENCH_HD bool active() const { return rows[0] != nullptr; }

  // Adds lane `lane`'s units of every row, times each token's activations
  // (quantized types: qx and ds from DirectQuantize), to acc.
  TCOBENCH_HD void LaneSums(const MatVecParams& p, int lane, const int8_t* qx, const float2* ds,
                            float (&acc)[RR][NT]) const {
    const int64_t n_qb = p.n_in / 32;
    const int64_t n_units = p.n_in / Unit<T>::kWeights;
    for (int64_t u0 = lane; u0 < n_units; u0 += 32 * U) {
      typename Unit<T>::Raw raw[RR][U];
TCOBENCH_UNROLL
      for (int k = 0; k < U; ++k) {
TCOBENCH_UNROLL
        for (int r = 0; r < RR; ++r) {
          if (rows[r] != nullptr && u0 + 32 * k < n_units) raw[r][k] = Unit<T>::Load(rows[r], u0 + 32 * k);
        }
      }
TCOBENCH_UNROLL
      for (int k = 0; k < U; ++k) {
        const int64_t u = u0 + 32 * k;
        if (u >= n_units) break;
TCOBENCH_UNROLL
        for (int t = 0; t < NT; ++t) {
          if (t >= p.n) break;
          if constexpr (kQuant) {
            const int8_t* qt = qx + t * p.n_in;
            const float2* dt = ds + t * n_qb;
TCOBENCH_UNROLL
            for (int r = 0; r < RR; ++r) {
              if (rows[r] != nullptr) acc[r][t] += Unit<T>::Dot(raw[r][k], u, qt, dt);
            }
          } else {
            const float* xt = p.x + t * p.n_in + 8 * u;
            const float4 x0 = LoadFloat4(xt), x1 = LoadFloat4(xt + 4);
TCOBENCH_UNROLL
            for (int r = 0; r < RR; ++r) {
              if (rows[r] != nullptr) acc[r][t] += Unit<T>::Dot(raw[r][k], x0, x1);
            }
          }
        }
      }
    }
  }

  // The warp's results from its summed rows: SwiGLU's silu(gate) * up.
  static TCOBENCH_HD void Finish(const float (&acc)[RR][NT], float (&out)[R][NT]) {
TCOBENCH_UNROLL
    for (int r = 0; r < R; ++r)
TCOBENCH_UNROLL
      for (int t = 0; t < NT; ++t) {
        out[r][t] = MODE == kSwiGluMode ? Silu(acc[r][t]) * acc[(R + r) % RR][t] : acc[r][t];
      }
  }
};

}  // namespace tcobench::cuda
