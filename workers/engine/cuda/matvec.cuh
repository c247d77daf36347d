// The matrix-vector kernels' shared pieces, written once for the GPU and
// the host (__host__ __device__): their parameters, the row map, and the
// direct kernels' work before the warp sums (DirectWarp: which rows a warp
// takes, what each lane adds up; the activations' quantization and fused
// RMS norm), so cuda_blocks_test runs the direct
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
  // An RMS norm fused in front (direct kernels only; null: none): the input
  // is then norm(norm_x) * norm_w per token, which every block computes for
  // itself (NormScale, NormValue) and block 0 also writes to norm_y, the
  // norm's own output, for later readers; x is not read.
  const float* norm_x;
  const float* norm_w;
  float* norm_y;
  float norm_eps;
  bool pdl;  // launched with PDL (cuda_kernels.cu): the direct kernels prefetch rows before waiting
};

// RMS norm, as the CPU backend rounds it: a token's scale from the sum of
// its squares over n values, and one normalized value.
TCOBENCH_HD float NormScale(float sum_sq, int64_t n, float eps) {
  return 1.0f / sqrtf(sum_sq / static_cast<float>(n) + eps);
}
TCOBENCH_HD float NormValue(float x, float scale, float w) { return (x * scale) * w; }
TCOBENCH_HD float4 NormValues(float4 x, float scale, float4 w) {
  return make_float4(NormValue(x.x, scale, w.x), NormValue(x.y, scale, w.y),
                     NormValue(x.z, scale, w.z), NormValue(x.w, scale, w.w));
}

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
// every block). An RMS norm in front of the product (MatVecParams::norm_x)
// is fused the same way: every block scales the raw input itself while it
// quantizes it (or, float types, copies it normalized into its shared
// memory), so the norm costs no launch of its own.

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

// Dynamic shared memory of a block: quantized types, the int8 activations
// (n tokens' codes, then their {d, sum}); float types, the normalized
// activations when a norm is fused (else none: they read x).
inline int64_t DirectSharedBytes(int type, int n, int64_t n_in, bool norm) {
  if (DirectFloatType(type)) return norm ? static_cast<int64_t>(n) * n_in * 4 : 0;
  return static_cast<int64_t>(n) * n_in + static_cast<int64_t>(n) * (n_in / 32) * 8;
}

// The activations a block's lanes multiply with: int8 codes and {d, sum}
// per 32 (quantized types), or floats (x, or their normalized copy in
// shared memory, read with plain loads).
struct DirectInputs {
  const int8_t* qx = nullptr;
  const float2* ds = nullptr;
  const float* xf = nullptr;
  bool xf_shared = false;
};

// Thread `tid` of `threads` quantizes its share of the tokens' 32-value
// blocks. With a norm: of the normalized values (token t's scale in
// scales[t]), also written to y_out unless it is null.
TCOBENCH_HD void DirectQuantize(const MatVecParams& p, int tid, int threads, const float* scales,
                                float* y_out, int8_t* qx, float2* ds) {
  const int64_t n_qb = p.n_in / 32;
  for (int64_t i = tid; i < p.n * n_qb; i += threads) {
    const int64_t t = i / n_qb, b = i % n_qb;
    const int64_t at = t * p.n_in + 32 * b;
    if (p.norm_x == nullptr) {
      QuantizeBlock32(p.x + at, qx + at, ds + t * n_qb + b);
      continue;
    }
    float v[32];
TCOBENCH_UNROLL
    for (int k = 0; k < 32; k += 4) {
      const float4 n4 = NormValues(LoadFloat4(p.norm_x + at + k), scales[t], LoadFloat4(p.norm_w + 32 * b + k));
      v[k] = n4.x; v[k + 1] = n4.y; v[k + 2] = n4.z; v[k + 3] = n4.w;
      if (y_out != nullptr) StoreAs(y_out + at + k, n4);
    }
    QuantizeValues32(v, qx + at, ds + t * n_qb + b);
  }
}

// Float types with a norm: thread `tid` of `threads` writes its share of
// the normalized activations to xs (shared memory), and to y_out unless it
// is null.
TCOBENCH_HD void DirectNormFloats(const MatVecParams& p, int tid, int threads, const float* scales,
                                  float* y_out, float* xs) {
  for (int64_t e = 4 * static_cast<int64_t>(tid); e < p.n * p.n_in; e += 4 * static_cast<int64_t>(threads)) {
    const int64_t t = e / p.n_in;
    const float4 n4 = NormValues(LoadFloat4(p.norm_x + e), scales[t], LoadFloat4(p.norm_w + e % p.n_in));
    StoreAs(xs + e, n4);
    if (y_out != nullptr) StoreAs(y_out + e, n4);
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
  // (in.qx and in.ds from DirectQuantize, or the floats in.xf), to acc.
  TCOBENCH_HD void LaneSums(const MatVecParams& p, int lane, const DirectInputs& in,
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
            const int8_t* qt = in.qx + t * p.n_in;
            const float2* dt = in.ds + t * n_qb;
TCOBENCH_UNROLL
            for (int r = 0; r < RR; ++r) {
              if (rows[r] != nullptr) acc[r][t] += Unit<T>::Dot(raw[r][k], u, qt, dt);
            }
          } else {
            const float* xt = in.xf + t * p.n_in + 8 * u;
            const float4 x0 = in.xf_shared ? LoadAs<float4>(xt) : LoadFloat4(xt);
            const float4 x1 = in.xf_shared ? LoadAs<float4>(xt + 4) : LoadFloat4(xt + 4);
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
