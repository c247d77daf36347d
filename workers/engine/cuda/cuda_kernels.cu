// CUDA kernels of the embedded engine. Weights stay in their GGUF blocks,
// read through blocks.cuh: four weights at a time in registers
// (Dq4<T>::Four) multiplied with float (staged matrix-vector) or half
// (tensor-core matrix-matrix) activations, or a lane's unit of a row
// against int8 activations (Unit<T>, direct matrix-vector).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <mma.h>

#include <algorithm>
#include <type_traits>

#include "workers/engine/cuda/attention.cuh"
#include "workers/engine/cuda/blocks.cuh"
#include "workers/engine/cuda/cuda_kernels.h"
#include "workers/engine/cuda/matvec.cuh"

namespace tcobench::cuda {
namespace {

// --- Launches, and programmatic dependent launch (UsePdl) ----------------
// With PDL on (Hopper and newer), a kernel is started while the one before
// it in the stream is still running, once all of that one's blocks are past
// their own PdlStart: its blocks take the free slots, do what needs nothing
// from earlier kernels (the direct matrix-vector kernels ask L2 for the
// start of their weight rows), and wait in PdlStart until the earlier kernel has
// completed and its writes are visible. Every kernel launched through
// Launch calls PdlStart before it reads anything an earlier kernel wrote.

bool g_pdl = false;

__device__ __forceinline__ void PdlStart() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

// Asks L2 for the first bytes of a row (up to 2 KiB, 128 per lane).
__device__ __forceinline__ void PrefetchRow(const uint8_t* row, int64_t row_bytes, int lane) {
  const int64_t off = static_cast<int64_t>(lane) * 128;
  if (row != nullptr && off < row_bytes && off < 2048) {
    asm volatile("prefetch.global.L2 [%0];" ::"l"(row + off));
  }
}

template <typename... Params, typename... Args>
void Launch(void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem, cudaStream_t s,
            Args... args) {
  if (!g_pdl) {
    kernel<<<grid, block, smem, s>>>(args...);
    return;
  }
  cudaLaunchConfig_t config{};
  config.gridDim = grid;
  config.blockDim = block;
  config.dynamicSmemBytes = smem;
  config.stream = s;
  cudaLaunchAttribute attr{};
  attr.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr.val.programmaticStreamSerializationAllowed = 1;
  config.attrs = &attr;
  config.numAttrs = 1;
  cudaLaunchKernelEx(&config, kernel, args...);  // an error stays for cudaGetLastError
}

// --- Matrix-vector products (decode, small batches) ----------------------
// A warp computes kRows output rows. It copies the rows' raw blocks, a
// chunk of weights at a time, into its own shared memory with coalesced
// loads (many in flight per lane), then each lane decodes four consecutive
// weights of every row at a time and multiplies them with each token's
// activations, loaded once per four weights and reused across the rows
// (lane-consecutive, so those loads coalesce too); the warp sums. Up to
// three matrices of one input share a launch (rows numbered one after
// another); kSwiGluMode computes gate and up rows and writes silu(g) * u.

constexpr int kMatVecWarps = 4;

// Lane t writes token t's results (the warp's sums are in every lane).
template <int R, int NT, int MODE>
__device__ __forceinline__ void StoreRows(const RowRef (&refs)[R], const float (&acc)[R][NT], int lane,
                                          int n) {
#pragma unroll
  for (int r = 0; r < R; ++r) {
    if (refs[r].row == nullptr) continue;
#pragma unroll
    for (int t = 0; t < NT; ++t) {
      if (lane == t && t < n) {
        float* dst = refs[r].y + t * refs[r].n_out + refs[r].idx;
        if (MODE == kAccumulateMode) {
          *dst += acc[r][t];
        } else {
          *dst = acc[r][t];
        }
      }
    }
  }
}

template <int R, int NT>
__device__ __forceinline__ void WarpSums(float (&acc)[R][NT]) {
#pragma unroll
  for (int r = 0; r < R; ++r) {
#pragma unroll
    for (int t = 0; t < NT; ++t) {
#pragma unroll
      for (int off = 16; off > 0; off >>= 1) acc[r][t] += __shfl_xor_sync(0xFFFFFFFFu, acc[r][t], off);
    }
  }
}

// Rows per warp: activations are reused across them; fewer with many
// tokens (registers).
template <int NT>
__host__ __device__ constexpr int RowsPerWarp() {
  return NT >= 16 ? 2 : 4;
}
// Weights staged per row at a time (a multiple of 256): about 2 KiB of
// blocks, at most 2048 weights.
template <int T>
__host__ __device__ constexpr int ChunkElems() {
  return T == kF32 ? 512 : (T == kF16 || T == kBF16) ? 1024 : 2048;
}
template <int T>
__host__ __device__ constexpr int StageBytes() {
  return (ChunkElems<T>() / Dq4<T>::kBlock * Dq4<T>::kBytes + 15) / 16 * 16;
}

// Copies `bytes` at each of R sources into R shared buffers `stride` apart
// (a null source is skipped), words of W bytes, the lanes taking consecutive
// words and each issuing up to R * 4 loads before its first store.
template <typename Word, int R>
__device__ __forceinline__ void CopyRows(const uint8_t* const (&src)[R], int64_t bytes, uint8_t* dst,
                                         int stride, int lane) {
  constexpr int kW = sizeof(Word), kU = 4;
  for (int64_t base = lane * kW; base < bytes; base += 32 * kW * kU) {
    Word tmp[R][kU];
#pragma unroll
    for (int r = 0; r < R; ++r) {
#pragma unroll
      for (int u = 0; u < kU; ++u) {
        const int64_t i = base + u * 32 * kW;
        if (src[r] != nullptr && i < bytes) tmp[r][u] = __ldg(reinterpret_cast<const Word*>(src[r] + i));
      }
    }
#pragma unroll
    for (int r = 0; r < R; ++r) {
#pragma unroll
      for (int u = 0; u < kU; ++u) {
        const int64_t i = base + u * 32 * kW;
        if (src[r] != nullptr && i < bytes) *reinterpret_cast<Word*>(dst + r * stride + i) = tmp[r][u];
      }
    }
  }
}

// acc[r][t] += row r . x(t) for the R rows (null: absent).
template <int T, int NT, int R>
__device__ __forceinline__ void RowsDot(const uint8_t* const (&rows)[R], const MatVecParams& p,
                                        int lane, uint8_t* stage, float (&acc)[R][NT]) {
  constexpr int kChunk = ChunkElems<T>();
  constexpr int kStride = StageBytes<T>();
  for (int64_t c0 = 0; c0 < p.n_in; c0 += kChunk) {
    const int64_t ne = min(static_cast<int64_t>(kChunk), p.n_in - c0);
    const int64_t nb = Dq4<T>::kBlock == 1 ? ne * Dq4<T>::kBytes : ElemBytes<T>(ne);
    const int64_t off = ElemBytes<T>(c0);
    const uint8_t* src[R];
#pragma unroll
    for (int r = 0; r < R; ++r) src[r] = rows[r] != nullptr ? rows[r] + off : nullptr;
    const uintptr_t align = reinterpret_cast<uintptr_t>(rows[0]) | static_cast<uintptr_t>(p.row_bytes) |
                            static_cast<uintptr_t>(off) | static_cast<uintptr_t>(nb);
    __syncwarp();
    if ((align & 15) == 0) {
      CopyRows<uint4, R>(src, nb, stage, kStride, lane);
    } else if ((align & 3) == 0) {
      CopyRows<uint32_t, R>(src, nb, stage, kStride, lane);
    } else {
      CopyRows<uint16_t, R>(src, nb, stage, kStride, lane);
    }
    __syncwarp();
    const int64_t n4 = ne & ~int64_t{3};
#pragma unroll 2
    for (int64_t e = lane * 4; e < n4; e += 128) {
      float4 xv[NT];
#pragma unroll
      for (int t = 0; t < NT; ++t) {
        if (t < p.n) {
          const float* xr = p.x + t * p.n_in + c0 + e;
          xv[t] = p.xvec ? __ldg(reinterpret_cast<const float4*>(xr))
                         : make_float4(xr[0], xr[1], xr[2], xr[3]);
        }
      }
#pragma unroll
      for (int r = 0; r < R; ++r) {
        if (rows[r] == nullptr) continue;
        float w[4];
        Dq4<T>::Four(stage + r * kStride, e, w);
#pragma unroll
        for (int t = 0; t < NT; ++t) {
          if (t < p.n) acc[r][t] += w[0] * xv[t].x + w[1] * xv[t].y + w[2] * xv[t].z + w[3] * xv[t].w;
        }
      }
    }
    for (int64_t e = n4 + lane; e < ne; e += 32) {  // float types' tail
#pragma unroll
      for (int r = 0; r < R; ++r) {
        if (rows[r] == nullptr) continue;
        const float w = Dq4<T>::One(stage + r * kStride, e);
#pragma unroll
        for (int t = 0; t < NT; ++t) {
          if (t < p.n) acc[r][t] += w * p.x[t * p.n_in + c0 + e];
        }
      }
    }
  }
  WarpSums<R, NT>(acc);
}

template <int T, int NT, int MODE>
__global__ void __launch_bounds__(kMatVecWarps * 32) MatVecKernel(const MatVecParams p) {
  constexpr int R = RowsPerWarp<NT>();
  __shared__ __align__(16) uint8_t stage_all[kMatVecWarps * R * StageBytes<T>()];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  uint8_t* stage = stage_all + warp * R * StageBytes<T>();
  const int64_t first = (static_cast<int64_t>(blockIdx.x) * kMatVecWarps + warp) * R;
  // Each of the warp's rows: its matrix and index there (null when past the end).
  const uint8_t* rows[R];
  RowRef refs[R];
#pragma unroll
  for (int r = 0; r < R; ++r) {
    refs[r] = MapRow(p, first + r);
    rows[r] = refs[r].row;
  }
  PdlStart();
  if (rows[0] == nullptr) return;  // the warp is past the last row
  float acc[R][NT];
  Zero(acc);
  RowsDot<T, NT, R>(rows, p, lane, stage, acc);
  if (MODE == kSwiGluMode) {
    const uint8_t* up_rows[R];
#pragma unroll
    for (int r = 0; r < R; ++r) up_rows[r] = rows[r] != nullptr ? p.w[1] + refs[r].idx * p.row_bytes : nullptr;
    float up[R][NT];
    Zero(up);
    RowsDot<T, NT, R>(up_rows, p, lane, stage, up);
#pragma unroll
    for (int r = 0; r < R; ++r)
#pragma unroll
      for (int t = 0; t < NT; ++t) acc[r][t] = Silu(acc[r][t]) * up[r][t];
  }
  StoreRows<R, NT, MODE>(refs, acc, lane, p.n);
}

// f(std::integral_constant<int, NT>()) for the narrowest kernel width NT
// (1, 2, 4, 8, then 16 up to kMax) that takes n tokens.
template <int kMax, typename F>
void ForWidth(int n, F&& f) {
  if (n <= 1) return f(std::integral_constant<int, 1>());
  if (n <= 2) return f(std::integral_constant<int, 2>());
  if (n <= 4) return f(std::integral_constant<int, 4>());
  if constexpr (kMax > 8) {
    if (n > 8) return f(std::integral_constant<int, 16>());
  }
  f(std::integral_constant<int, 8>());
}

template <int T, int MODE>
void LaunchMatVecNt(const MatVecParams& p, int64_t rows, cudaStream_t s) {
  auto grid = [&](int r) {
    const int64_t per_block = static_cast<int64_t>(kMatVecWarps) * r;
    return dim3(static_cast<unsigned>((rows + per_block - 1) / per_block));
  };
  ForWidth<kMaxMatVecTokens>(p.n, [&](auto nt) {
    constexpr int NT = decltype(nt)::value;
    Launch(MatVecKernel<T, NT, MODE>, grid(RowsPerWarp<NT>()), dim3(kMatVecWarps * 32), 0, s, p);
  });
}

template <int MODE>
void LaunchMatVec(int type, const MatVecParams& p, int64_t rows, cudaStream_t s) {
  ForType(type, [&](auto t) { LaunchMatVecNt<decltype(t)::value, MODE>(p, rows, s); });
}

MatVecParams Params(const Mat& w, const float* x, int n) {
  MatVecParams p{};
  p.n_in = w.n_in;
  p.row_bytes = w.row_bytes;
  p.x = x;
  p.n = n;
  p.xvec = w.n_in % 4 == 0;
  p.pdl = g_pdl;
  return p;
}

// --- Direct matrix-vector products (matvec.cuh) ---------------------------

constexpr int64_t kDirectMaxShared = 160 * 1024;
bool g_direct_matvec = false;

// A fused norm's scale of each token into scales (a warp per token).
__device__ __forceinline__ void DirectNormScales(const MatVecParams& p, float* scales) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, n_warps = blockDim.x >> 5;
  for (int t = warp; t < p.n; t += n_warps) {
    const float* xt = p.norm_x + t * p.n_in;
    float sum = 0.0f;
    for (int64_t i = 4 * lane; i < p.n_in; i += 128) {
      const float4 v = LoadFloat4(xt + i);
      sum += v.x * v.x + v.y * v.y + v.z * v.z + v.w * v.w;
    }
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) sum += __shfl_xor_sync(0xFFFFFFFFu, sum, off);
    if (lane == 0) scales[t] = NormScale(sum, p.n_in, p.norm_eps);
  }
}

template <int T, int NT, int MODE>
__global__ void __launch_bounds__(DirectThreads<NT, MODE>()) DirectMatVecKernel(const MatVecParams p) {
  using Warp = DirectWarp<T, NT, MODE>;
  extern __shared__ __align__(16) uint8_t direct_smem[];
  __shared__ float scales[kMaxDirectTokens];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int64_t first = (static_cast<int64_t>(blockIdx.x) * Warp::kWarps + warp) * Warp::R;
  if (p.pdl) {  // the rows are mapped again below: fewer registers live across the set-up
    const Warp rows(p, first);
    for (int r = 0; r < Warp::RR; ++r) PrefetchRow(rows.rows[r], p.row_bytes, lane);
  }
  PdlStart();
  const bool norm = p.norm_x != nullptr;
  if (norm) {
    DirectNormScales(p, scales);
    __syncthreads();
  }
  float* y_out = norm && blockIdx.x == 0 ? p.norm_y : nullptr;  // one block writes the norm's output
  DirectInputs in;
  if (Warp::kQuant) {
    int8_t* qx = reinterpret_cast<int8_t*>(direct_smem);
    float2* ds = reinterpret_cast<float2*>(direct_smem + static_cast<int64_t>(p.n) * p.n_in);
    DirectQuantize(p, threadIdx.x, blockDim.x, scales, y_out, qx, ds);
    __syncthreads();
    in.qx = qx;
    in.ds = ds;
  } else if (norm) {
    float* xs = reinterpret_cast<float*>(direct_smem);
    DirectNormFloats(p, threadIdx.x, blockDim.x, scales, y_out, xs);
    __syncthreads();
    in.xf = xs;
    in.xf_shared = true;
  } else {
    in.xf = p.x;
  }
  const Warp w(p, first);
  if (!w.active()) return;
  float acc[Warp::RR][NT];
  Zero(acc);
  w.LaneSums(p, lane, in, acc);
  WarpSums<Warp::RR, NT>(acc);
  float out[Warp::R][NT];
  Warp::Finish(acc, out);
  StoreRows<Warp::R, NT, MODE>(w.refs, out, lane, p.n);
}

// ForType for the types the direct kernels read.
template <typename F>
void ForDirectType(int type, F&& f) {
  ForType(type, [&](auto t) {
    if constexpr (DirectType(decltype(t)::value)) f(t);
  });
}

// f(kernel) for each of type T's direct kernels in MODE (1, 2, 4, 8 tokens).
template <int T, int MODE, typename F>
void ForDirectKernels(F&& f) {
  f(DirectMatVecKernel<T, 1, MODE>);
  f(DirectMatVecKernel<T, 2, MODE>);
  f(DirectMatVecKernel<T, 4, MODE>);
  f(DirectMatVecKernel<T, 8, MODE>);
}

// Runs the product on the direct kernels where they take it (the type, at
// most kMaxDirectTokens tokens, the shared memory, Unit<T>'s alignment and
// row length); false leaves it to the staged ones.
template <int MODE>
bool LaunchDirect(int type, const MatVecParams& p, int64_t rows, cudaStream_t s) {
  if (!g_direct_matvec || p.n > kMaxDirectTokens) return false;
  const bool norm = p.norm_x != nullptr;
  const int64_t shared = DirectSharedBytes(type, p.n, p.n_in, norm);
  const uintptr_t align = reinterpret_cast<uintptr_t>(p.x) |
                          (norm ? reinterpret_cast<uintptr_t>(p.norm_x) | reinterpret_cast<uintptr_t>(p.norm_w) |
                                      reinterpret_cast<uintptr_t>(p.norm_y)
                                : 0);
  if (shared > kDirectMaxShared || (align & 15) != 0) return false;
  bool launched = false;
  ForDirectType(type, [&](auto t) {
    constexpr int T = decltype(t)::value;
    if (p.row_bytes % Unit<T>::kAlign != 0 || p.n_in % Unit<T>::kWeights != 0) return;
    for (int m = 0; m < (MODE == kSwiGluMode ? 2 : p.n_mats); ++m) {
      if (reinterpret_cast<uintptr_t>(p.w[m]) % Unit<T>::kAlign != 0) return;
    }
    const dim3 grid(static_cast<unsigned>((rows + kDirectRowsPerBlock - 1) / kDirectRowsPerBlock));
    const size_t smem = static_cast<size_t>(shared);
    ForWidth<kMaxDirectTokens>(p.n, [&](auto nt) {
      constexpr int NT = decltype(nt)::value;
      Launch(DirectMatVecKernel<T, NT, MODE>, grid, dim3(DirectThreads<NT, MODE>()), smem, s, p);
    });
    launched = true;
  });
  return launched;
}

// --- Matrix-matrix products (prefill): tensor cores, half inputs --------
// A block computes 128 weight rows x 64 tokens over k in steps of 64: its
// 256 threads dequantize the weight tile (16 threads per row, four weights
// each, coalesced) into shared memory as half, the activations come from a
// half copy of x, and eight warps each multiply a 32x32 tile with WMMA
// (float accumulators).

constexpr int kBM = 128, kBN = 64, kBK = 64, kGemmThreads = 256;
constexpr int kLdA = kBK + 8, kLdC = kBM + 4;
constexpr int kGemmSmem =
    (kBM * kLdA + kBN * kLdA) * 2 > kBN * kLdC * 4 ? (kBM * kLdA + kBN * kLdA) * 2 : kBN * kLdC * 4;

__global__ void ToHalfKernel(const float* x, int64_t count, __half* out) {
  PdlStart();
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < count;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    out[i] = __float2half_rn(x[i]);
  }
}

template <int T, int MODE>
__global__ void __launch_bounds__(kGemmThreads) GemmKernel(const uint8_t* w, int64_t row_bytes,
                                                            int64_t n_in, int64_t n_out,
                                                            const __half* xh, int n, float* y) {
  PdlStart();
  using namespace nvcuda;
  __shared__ __align__(128) unsigned char smem[kGemmSmem];
  __half* As = reinterpret_cast<__half*>(smem);  // [kBM][kLdA] weights
  __half* Bs = As + kBM * kLdA;                   // [kBN][kLdA] tokens
  float* Cs = reinterpret_cast<float*>(smem);     // [kBN][kLdC], after the loop

  const int tid = threadIdx.x, warp = tid >> 5;
  const int64_t n0 = static_cast<int64_t>(blockIdx.x) * kBN;  // tokens (fast: weights shared in L2)
  const int64_t m0 = static_cast<int64_t>(blockIdx.y) * kBM;  // weight rows
  const int wm = warp & 3, wn = warp >> 2;

  wmma::fragment<wmma::accumulator, 16, 16, 16, float> c[2][2];
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j) wmma::fill_fragment(c[i][j], 0.0f);

  const int b_tok = tid >> 2, b_col = (tid & 3) * 16;
  const bool b_vec = n_in % 8 == 0;
  // The next tile's global loads are issued before this tile's products
  // (register prefetch): raw words for the 16-bit float types, converted
  // when stored; other types are dequantized as they load.
  constexpr bool kRaw = T == kF16 || T == kBF16;
  uint2 a_raw[8];
  float a_val[kRaw ? 1 : 8][4];
  uint4 b_raw[2];
  const int f = tid & 15;
  auto load_tile = [&](int64_t k0) {
    const int64_t e0 = k0 + 4 * f;
    const bool vec_ok = e0 + 4 <= n_in;
#pragma unroll
    for (int pass = 0; pass < 8; ++pass) {
      const int64_t row = m0 + (tid >> 4) + 16 * pass;
      const uint8_t* base = w + row * row_bytes;
      if (kRaw) {
        a_raw[pass] = make_uint2(0, 0);
        if (row < n_out && vec_ok) {
          a_raw[pass] = __ldg(reinterpret_cast<const uint2*>(base + 2 * e0));
        } else if (row < n_out) {
          uint16_t h[4] = {0, 0, 0, 0};
          for (int i = 0; i < 4; ++i) {
            if (e0 + i < n_in) h[i] = Load16(base + 2 * (e0 + i));
          }
          a_raw[pass] = make_uint2(h[0] | (static_cast<uint32_t>(h[1]) << 16),
                                   h[2] | (static_cast<uint32_t>(h[3]) << 16));
        }
      } else {
        float* v = a_val[kRaw ? 0 : pass];
        v[0] = v[1] = v[2] = v[3] = 0.0f;
        if (row < n_out) {
          if (vec_ok) {
            const int64_t block0 = k0 / Dq4<T>::kBlock * Dq4<T>::kBlock;
            Dq4<T>::Four(base + ElemBytes<T>(block0), e0 - block0, *reinterpret_cast<float(*)[4]>(v));
          } else {
            for (int i = 0; i < 4; ++i) {
              if (e0 + i < n_in) v[i] = Dq4<T>::One(base, e0 + i);
            }
          }
        }
      }
    }
    const int64_t tok = n0 + b_tok;
    const int64_t first = k0 + b_col;
    if (tok < n && first + 16 <= n_in && b_vec) {
      const uint4* src = reinterpret_cast<const uint4*>(xh + tok * n_in + first);
      b_raw[0] = __ldg(src);
      b_raw[1] = __ldg(src + 1);
    } else {
      __half h[16];
      for (int i = 0; i < 16; ++i) {
        const int64_t col = first + i;
        h[i] = tok < n && col < n_in ? xh[tok * n_in + col] : __float2half_rn(0.0f);
      }
      b_raw[0] = *reinterpret_cast<const uint4*>(h);
      b_raw[1] = *reinterpret_cast<const uint4*>(h + 8);
    }
  };
  auto store_tile = [&] {
#pragma unroll
    for (int pass = 0; pass < 8; ++pass) {
      __half2* dst = reinterpret_cast<__half2*>(As + ((tid >> 4) + 16 * pass) * kLdA + 4 * f);
      if (T == kF16) {
        dst[0] = *reinterpret_cast<const __half2*>(&a_raw[pass].x);
        dst[1] = *reinterpret_cast<const __half2*>(&a_raw[pass].y);
      } else if (T == kBF16) {
        const uint2 r = a_raw[pass];
        dst[0] = __floats2half2_rn(__uint_as_float(r.x << 16), __uint_as_float(r.x & 0xFFFF0000u));
        dst[1] = __floats2half2_rn(__uint_as_float(r.y << 16), __uint_as_float(r.y & 0xFFFF0000u));
      } else {
        const float* v = a_val[kRaw ? 0 : pass];
        dst[0] = __floats2half2_rn(v[0], v[1]);
        dst[1] = __floats2half2_rn(v[2], v[3]);
      }
    }
    uint4* bdst = reinterpret_cast<uint4*>(Bs + b_tok * kLdA + b_col);
    bdst[0] = b_raw[0];
    bdst[1] = b_raw[1];
  };
  load_tile(0);
  for (int64_t k0 = 0; k0 < n_in; k0 += kBK) {
    store_tile();
    __syncthreads();
    if (k0 + kBK < n_in) load_tile(k0 + kBK);
#pragma unroll
    for (int kk = 0; kk < kBK; kk += 16) {
      wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> a[2];
      wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::col_major> b[2];
#pragma unroll
      for (int i = 0; i < 2; ++i) wmma::load_matrix_sync(a[i], As + (wm * 32 + 16 * i) * kLdA + kk, kLdA);
#pragma unroll
      for (int j = 0; j < 2; ++j) wmma::load_matrix_sync(b[j], Bs + (wn * 32 + 16 * j) * kLdA + kk, kLdA);
#pragma unroll
      for (int i = 0; i < 2; ++i)
#pragma unroll
        for (int j = 0; j < 2; ++j) wmma::mma_sync(c[i][j], a[i], b[j], c[i][j]);
    }
    __syncthreads();
  }
  // C (rows x tokens) to shared memory as [token][row], then out with bounds.
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j)
      wmma::store_matrix_sync(Cs + (wn * 32 + 16 * j) * kLdC + wm * 32 + 16 * i, c[i][j], kLdC,
                              wmma::mem_col_major);
  __syncthreads();
  for (int idx = tid; idx < kBM * kBN; idx += kGemmThreads) {
    const int t = idx / kBM, o = idx % kBM;
    const int64_t tok = n0 + t, row = m0 + o;
    if (tok < n && row < n_out) {
      float* dst = y + tok * n_out + row;
      if (MODE == kAccumulateMode) {
        *dst += Cs[t * kLdC + o];
      } else {
        *dst = Cs[t * kLdC + o];
      }
    }
  }
}

template <int MODE>
void LaunchGemm(const Mat& w, const __half* xh, int n, float* y, cudaStream_t s) {
  const dim3 grid(static_cast<unsigned>((n + kBN - 1) / kBN),
                  static_cast<unsigned>((w.n_out + kBM - 1) / kBM));
  const uint8_t* wp = static_cast<const uint8_t*>(w.w);
  ForType(w.type, [&](auto t) {
    Launch(GemmKernel<decltype(t)::value, MODE>, grid, dim3(kGemmThreads), 0, s, wp, w.row_bytes, w.n_in,
           w.n_out, static_cast<const __half*>(xh), n, y);
  });
}

// --- Elementwise and per-row kernels -------------------------------------

// GELU (tanh approximation) as the CPU backend computes it (after the
// reference's half-precision table): input and result rounded to half.
__device__ float GeluTanh(float x) {
  if (x <= -10.0f) return 0.0f;
  if (x >= 10.0f) return x;
  const float h = __half2float(__float2half(x));
  const float g = 0.5f * h * (1.0f + tanhf(0.79788456080286535588f * h * (1.0f + 0.044715f * h * h)));
  return __half2float(__float2half(g));
}

template <bool kGelu>
__global__ void GluKernel(const float* gate, const float* up, int64_t count, float* out) {
  PdlStart();
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < count;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    out[i] = (kGelu ? GeluTanh(gate[i]) : Silu(gate[i])) * up[i];
  }
}

__global__ void AddBiasKernel(float* y, const float* bias, int64_t n) {
  PdlStart();
  float* yr = y + blockIdx.x * n;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) yr[i] += bias[i];
}

__global__ void ScaleKernel(float* y, int64_t count, float factor) {
  PdlStart();
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < count;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    y[i] *= factor;
  }
}

__global__ void SoftCapKernel(float* y, int64_t count, float cap) {
  PdlStart();
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < count;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    y[i] = tanhf(y[i] * (1.0f / cap)) * cap;
  }
}

template <int T>
__global__ void GetRowsKernel(const uint8_t* w, int64_t row_bytes, int64_t n_in,
                              const int32_t* tokens, float* y) {
  PdlStart();
  const uint8_t* row = w + static_cast<int64_t>(tokens[blockIdx.x]) * row_bytes;
  float* out = y + blockIdx.x * n_in;
  // Four at a time where the row keeps Four's alignment (always for the
  // block types; float rows a multiple of 4 long), the rest one by one.
  const int64_t n4 = n_in % 4 == 0 ? n_in : 0;
  for (int64_t e = 4 * static_cast<int64_t>(threadIdx.x); e < n4; e += 4 * blockDim.x) {
    float v[4];
    Dq4<T>::Four(row, e, v);
    for (int i = 0; i < 4; ++i) out[e + i] = v[i];
  }
  for (int64_t e = n4 + threadIdx.x; e < n_in; e += blockDim.x) out[e] = Dq4<T>::One(row, e);
}

// Sum over the block (blockDim.x a multiple of 32, at most 1024).
__device__ float BlockSum(float v, float* scratch) {
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xFFFFFFFFu, v, off);
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  __syncthreads();  // scratch may still be read by an earlier call
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  const int n_warps = blockDim.x >> 5;
  float total = 0.0f;
  for (int i = 0; i < n_warps; ++i) total += scratch[i];
  return total;
}

__device__ float BlockMax(float v, float* scratch) {
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) v = fmaxf(v, __shfl_xor_sync(0xFFFFFFFFu, v, off));
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  const int n_warps = blockDim.x >> 5;
  float m = -INFINITY;
  for (int i = 0; i < n_warps; ++i) m = fmaxf(m, scratch[i]);
  return m;
}

// y = norm(x) * weight, or y += it (kAdd: a normalized branch onto the residual).
template <bool kAdd>
__global__ void RmsNormKernel(const float* x, const float* weight, int64_t n, float eps, float* y) {
  PdlStart();
  __shared__ float scratch[32];
  const float* xr = x + blockIdx.x * n;
  float* yr = y + blockIdx.x * n;
  float sum = 0.0f;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) sum += xr[i] * xr[i];
  sum = BlockSum(sum, scratch);
  const float scale = NormScale(sum, n, eps);
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    const float r = NormValue(xr[i], scale, weight[i]);
    yr[i] = kAdd ? yr[i] + r : r;
  }
}

void RunNorm(const Norm& norm, cudaStream_t s) {
  Launch(RmsNormKernel<false>, dim3(norm.rows), dim3(256), 0, s, norm.x, norm.weight, norm.n, norm.eps,
         norm.y);
}

// The product with `norm` (null: none; else its output is p.x) fused into
// the direct kernels where they take both; otherwise the norm runs first
// and the product on the staged kernels.
template <int MODE>
void LaunchProduct(int type, MatVecParams& p, int64_t rows, const Norm* norm, cudaStream_t s) {
  if (norm != nullptr && norm->y == p.x && norm->n == p.n_in && norm->rows == p.n && norm->x != norm->y) {
    p.norm_x = norm->x;
    p.norm_w = norm->weight;
    p.norm_y = norm->y;
    p.norm_eps = norm->eps;
    if (LaunchDirect<MODE>(type, p, rows, s)) return;
    p.norm_x = p.norm_w = nullptr;
    p.norm_y = nullptr;
  }
  if (norm != nullptr) RunNorm(*norm, s);
  if (!LaunchDirect<MODE>(type, p, rows, s)) LaunchMatVec<MODE>(type, p, rows, s);
}

__global__ void RopeAndStoreKernel(const RopeStore a) {
  PdlStart();
  const int t = blockIdx.x;
  const int p = a.pos[t];
  const int half_dim = a.head_dim / 2;
  const int kv_dim = a.n_head_kv * a.head_dim;
  float* kc = a.k_cache + a.seq[t] * a.seq_stride + static_cast<int64_t>(p) * kv_dim;
  float* vc = a.v_cache + a.seq[t] * a.seq_stride + static_cast<int64_t>(p) * kv_dim;
  const int q_pairs = a.n_head * half_dim, k_pairs = a.n_head_kv * half_dim;
  for (int idx = threadIdx.x; idx < q_pairs + k_pairs; idx += blockDim.x) {
    const bool is_q = idx < q_pairs;
    const int j = is_q ? idx : idx - q_pairs;
    const int h = j / half_dim, i = j % half_dim;
    float* v = is_q ? a.q + (static_cast<int64_t>(t) * a.n_head + h) * a.head_dim
                    : a.k + (static_cast<int64_t>(t) * a.n_head_kv + h) * a.head_dim;
    // The pair's two dimensions: (2i, 2i + 1), or NeoX's (i, i + n_rot/2)
    // with the unrotated tail after n_rot kept in adjacent pairs.
    const int half_rot = a.n_rot / 2;
    int d0 = 2 * i;
    bool rotate = 2 * i < a.n_rot;
    int stride = 1;
    if (a.neox) {
      rotate = i < half_rot;
      d0 = rotate ? i : a.n_rot + 2 * (i - half_rot);
      stride = rotate ? half_rot : 1;
    }
    float x0 = v[d0], x1 = v[d0 + stride];
    if (rotate) {
      // The angle as the reference computes it: p * theta_scale^i by
      // repeated float multiplication.
      float theta = static_cast<float>(p);
      for (int m = 0; m < i; ++m) theta *= a.theta_scale;
      const float ff = a.freq_factors != nullptr ? a.freq_factors[i] : 1.0f;
      const float angle = a.freq_scale * (theta / ff);
      const float c = cosf(angle) * a.attn_factor, s = sinf(angle) * a.attn_factor;
      const float r0 = x0 * c - x1 * s, r1 = x0 * s + x1 * c;
      x0 = r0;
      x1 = r1;
      v[d0] = x0;
      v[d0 + stride] = x1;
    }
    if (!is_q) {
      kc[h * a.head_dim + d0] = x0;
      kc[h * a.head_dim + d0 + stride] = x1;
    }
  }
  for (int i = threadIdx.x; i < kv_dim; i += blockDim.x) vc[i] = a.v[static_cast<int64_t>(t) * kv_dim + i];
}

constexpr int kAttentionThreads = 256;

int AttentionBlock(int head_dim) {
  return std::min(1024, std::max(kAttentionThreads, (head_dim + 31) / 32 * 32));
}

// One block per (token, head): scores of every visible position in shared
// memory, softmax, then the weighted sum of values split over thread groups.
__global__ void AttentionKernel(const AttentionLaunch a) {
  PdlStart();
  extern __shared__ float sm[];
  __shared__ float scratch[32];
  const int t = blockIdx.x, h = blockIdx.y;
  const int hd = a.head_dim;
  const int kvh = h / (a.n_head / a.n_head_kv);
  const int64_t kv_dim = static_cast<int64_t>(a.n_head_kv) * hd;
  const int n_vis = a.pos[t] + 1;
  const int j0 = a.window > 0 ? max(0, n_vis - a.window) : 0;  // sliding-window layers
  const float* kbase = a.k_cache + a.seq[t] * a.seq_stride + kvh * hd;
  const float* vbase = a.v_cache + a.seq[t] * a.seq_stride + kvh * hd;
  float* scores = sm;                  // [n_ctx]
  float* q = sm + a.n_ctx;             // [hd]
  float* partial = q + hd;             // [groups * hd]
  const float* qg = a.q + (static_cast<int64_t>(t) * a.n_head + h) * hd;
  for (int i = threadIdx.x; i < hd; i += blockDim.x) q[i] = qg[i];
  __syncthreads();
  // Scores: a warp per position, its lanes over the head's dimensions
  // (coalesced key reads), summed across the warp.
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, n_warps = blockDim.x >> 5;
  float local_max = -INFINITY;
  for (int j = j0 + warp; j < n_vis; j += n_warps) {
    const float* k = kbase + j * kv_dim;
    float s = 0.0f;
    for (int i = lane; i < hd; i += 32) s += q[i] * k[i];
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) s += __shfl_xor_sync(0xFFFFFFFFu, s, off);
    s *= a.scale;
    if (lane == 0) scores[j] = s;
    local_max = fmaxf(local_max, s);
  }
  const float top = BlockMax(local_max, scratch);  // its barriers also publish scores
  float local_sum = 0.0f;
  for (int j = j0 + threadIdx.x; j < n_vis; j += blockDim.x) {
    const float e = expf(scores[j] - top);
    scores[j] = e;
    local_sum += e;
  }
  const float sum = BlockSum(local_sum, scratch);  // its barriers also publish scores
  const int groups = max(1, static_cast<int>(blockDim.x) / hd);
  for (int idx = threadIdx.x; idx < groups * hd; idx += blockDim.x) {
    const int g = idx / hd, d = idx % hd;
    float acc = 0.0f;
#pragma unroll 4
    for (int j = j0 + g; j < n_vis; j += groups) acc += scores[j] * vbase[j * kv_dim + d];
    partial[idx] = acc;
  }
  __syncthreads();
  const float inv = 1.0f / sum;
  float* out = a.out + (static_cast<int64_t>(t) * a.n_head + h) * hd;
  for (int d = threadIdx.x; d < hd; d += blockDim.x) {
    float acc = 0.0f;
    for (int g = 0; g < groups; ++g) acc += partial[g * hd + d];
    out[d] = acc * inv;
  }
}

// Split attention (attention.cuh): block (t, KV head and head group, split).
__global__ void __launch_bounds__(kSplitThreads) SplitAttentionKernel(const AttentionLaunch a) {
  PdlStart();
  const int t = blockIdx.x, split = blockIdx.z;
  if (split >= ActiveSplits(VisibleRange(a, t))) return;
  const SplitHeads hs = HeadsOf(a, blockIdx.y);
  const int hd = a.head_dim;
  extern __shared__ __align__(16) float split_smem[];
  float* qs = split_smem;                    // [kSplitHeads][hd]
  float* p = split_smem + kSplitHeads * hd;  // [kSplitHeads][kSplitChunk]
  __shared__ float red[kSplitThreads / 32][kSplitHeads];
  for (int i = threadIdx.x; i < hs.nh * hd; i += blockDim.x) {
    qs[i] = a.q[(static_cast<int64_t>(t) * a.n_head + hs.h0) * hd + i];
  }
  __syncthreads();
  float sc[kSplitHeads];
  const bool valid = SplitScores(a, t, hs, split, threadIdx.x, qs, sc);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  // The split's max per head, then the exponentials and their sums.
  float m[kSplitHeads], l[kSplitHeads];
#pragma unroll
  for (int h = 0; h < kSplitHeads; ++h) {
    float v = valid ? sc[h] : -INFINITY;
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) v = fmaxf(v, __shfl_xor_sync(0xFFFFFFFFu, v, off));
    if (lane == 0) red[warp][h] = v;
  }
  __syncthreads();
#pragma unroll
  for (int h = 0; h < kSplitHeads; ++h) {
    m[h] = red[0][h];
#pragma unroll
    for (int w = 1; w < kSplitThreads / 32; ++w) m[h] = fmaxf(m[h], red[w][h]);
  }
  __syncthreads();  // red is reused
#pragma unroll
  for (int h = 0; h < kSplitHeads; ++h) {
    const float e = valid ? expf(sc[h] - m[h]) : 0.0f;
    p[h * kSplitChunk + threadIdx.x] = e;
    float v = e;
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xFFFFFFFFu, v, off);
    if (lane == 0) red[warp][h] = v;
  }
  __syncthreads();  // p and red are complete
#pragma unroll
  for (int h = 0; h < kSplitHeads; ++h) {
    l[h] = 0.0f;
#pragma unroll
    for (int w = 0; w < kSplitThreads / 32; ++w) l[h] += red[w][h];
    if (threadIdx.x == h && h < hs.nh) SplitStats(a)[SplitSlot(a, t, hs.h0 + h, split)] = make_float2(m[h], l[h]);
  }
  float* values = SplitValuesOut(a);
  for (int d = threadIdx.x; d < hd; d += blockDim.x) {
    float acc[kSplitHeads];
    SplitValues(a, t, hs, split, d, p, acc);
#pragma unroll
    for (int h = 0; h < kSplitHeads; ++h) {
      if (h < hs.nh) values[SplitSlot(a, t, hs.h0 + h, split) * hd + d] = acc[h];
    }
  }
}

// Block (t, h): the splits of token t, head h, combined.
__global__ void SplitCombineKernel(const AttentionLaunch a) {
  PdlStart();
  const int t = blockIdx.x, h = blockIdx.y;
  float* out = a.out + (static_cast<int64_t>(t) * a.n_head + h) * a.head_dim;
  for (int d = threadIdx.x; d < a.head_dim; d += blockDim.x) out[d] = CombineSplits(a, t, h, d);
}

unsigned Blocks(int64_t count, int threads) {
  return static_cast<unsigned>(std::min<int64_t>((count + threads - 1) / threads, 65535));
}

__global__ void ReadAllKernel(const uint4* data, int64_t n, float* sums) {
  uint32_t acc = 0;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const uint4 v = __ldg(data + i);
    acc ^= v.x ^ v.y ^ v.z ^ v.w;
  }
  __shared__ float scratch[32];
  const float total = BlockSum(static_cast<float>(acc & 0xFF), scratch);
  if (threadIdx.x == 0) sums[blockIdx.x] = total;
}

}  // namespace

void ReadAll(const void* data, int64_t bytes, float* sums, cudaStream_t s) {
  ReadAllKernel<<<1024, 512, 0, s>>>(static_cast<const uint4*>(data), bytes / 16, sums);
}

bool TypeSupported(int type) {
  return ForType(type, [](auto) {});
}

void UseDirectMatVec(bool on) { g_direct_matvec = on; }
void UsePdl(bool on) { g_pdl = on; }

cudaError_t PrepareDirectMatVec() {
  if (!g_direct_matvec) return cudaSuccess;
  cudaError_t err = cudaSuccess;
  auto raise = [&](auto kernel) {
    const cudaError_t e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                               static_cast<int>(kDirectMaxShared));
    if (err == cudaSuccess) err = e;
  };
  for (int type = 0; type <= kBF16; ++type) {  // every type id; ForDirectType picks
    ForDirectType(type, [&](auto t) {
      constexpr int T = decltype(t)::value;
      ForDirectKernels<T, kStoreMode>(raise);
      ForDirectKernels<T, kAccumulateMode>(raise);
      ForDirectKernels<T, kSwiGluMode>(raise);
    });
  }
  return err;
}

int64_t MatMulScratchBytes(int n, int64_t n_in) {
  return n > kMaxMatVecTokens ? static_cast<int64_t>(n) * n_in * 2 : 0;
}

void MatMul(const Mat& w, const float* x, int n, float* y, Epilogue e, void* half_scratch,
            cudaStream_t s, const Norm* norm) {
  // F32 weights keep float arithmetic (half tensor cores would round them),
  // and float rows not a multiple of 4 long take the same path: the
  // matrix-vector kernel over chunks of tokens.
  if (n > kMaxMatVecTokens && norm != nullptr) {  // no fused norm there: it runs first
    RunNorm(*norm, s);
    norm = nullptr;
  }
  if (n > kMaxMatVecTokens && (w.type == kF32 || w.n_in % 4 != 0)) {
    for (int t0 = 0; t0 < n; t0 += kMaxMatVecTokens) {
      MatMul(w, x + t0 * w.n_in, std::min(kMaxMatVecTokens, n - t0), y + t0 * w.n_out, e, nullptr, s);
    }
    return;
  }
  if (n <= kMaxMatVecTokens) {
    MatVecParams p = Params(w, x, n);
    p.w[0] = static_cast<const uint8_t*>(w.w);
    p.y[0] = y;
    p.n_out[0] = w.n_out;
    p.n_mats = 1;
    if (e == Epilogue::kAccumulate) {
      LaunchProduct<kAccumulateMode>(w.type, p, w.n_out, norm, s);
    } else {
      LaunchProduct<kStoreMode>(w.type, p, w.n_out, norm, s);
    }
    return;
  }
  __half* xh = static_cast<__half*>(half_scratch);
  const int64_t count = static_cast<int64_t>(n) * w.n_in;
  Launch(ToHalfKernel, dim3(Blocks(count, 256)), dim3(256), 0, s, x, count, xh);
  if (e == Epilogue::kAccumulate) {
    LaunchGemm<kAccumulateMode>(w, xh, n, y, s);
  } else {
    LaunchGemm<kStoreMode>(w, xh, n, y, s);
  }
}

void MatVecMulti(const Mat* w, float* const* y, int n_mats, const float* x, int n, cudaStream_t s,
                 const Norm* norm) {
  MatVecParams p = Params(w[0], x, n);
  int64_t rows = 0;
  for (int i = 0; i < n_mats; ++i) {
    p.w[i] = static_cast<const uint8_t*>(w[i].w);
    p.y[i] = y[i];
    p.n_out[i] = w[i].n_out;
    rows += w[i].n_out;
  }
  p.n_mats = n_mats;
  LaunchProduct<kStoreMode>(w[0].type, p, rows, norm, s);
}

void MatVecSwiGlu(const Mat& gate, const Mat& up, const float* x, int n, float* out,
                  cudaStream_t s, const Norm* norm) {
  MatVecParams p = Params(gate, x, n);
  p.w[0] = static_cast<const uint8_t*>(gate.w);
  p.w[1] = static_cast<const uint8_t*>(up.w);
  p.y[0] = out;
  p.n_out[0] = gate.n_out;
  p.n_mats = 1;
  LaunchProduct<kSwiGluMode>(gate.type, p, gate.n_out, norm, s);
}

void Glu(const float* gate, const float* up, int64_t count, float* out, bool gelu,
         cudaStream_t s) {
  if (gelu) {
    Launch(GluKernel<true>, dim3(Blocks(count, 256)), dim3(256), 0, s, gate, up, count, out);
  } else {
    Launch(GluKernel<false>, dim3(Blocks(count, 256)), dim3(256), 0, s, gate, up, count, out);
  }
}

void AddBias(float* y, const float* bias, int n_rows, int64_t n, cudaStream_t s) {
  Launch(AddBiasKernel, dim3(n_rows), dim3(256), 0, s, y, bias, n);
}

void Scale(float* y, int64_t count, float factor, cudaStream_t s) {
  Launch(ScaleKernel, dim3(Blocks(count, 256)), dim3(256), 0, s, y, count, factor);
}

void SoftCap(float* y, int64_t count, float cap, cudaStream_t s) {
  Launch(SoftCapKernel, dim3(Blocks(count, 256)), dim3(256), 0, s, y, count, cap);
}

void GetRows(const Mat& w, const int32_t* tokens, int n, float* y, cudaStream_t s) {
  const uint8_t* wp = static_cast<const uint8_t*>(w.w);
  ForType(w.type, [&](auto t) {
    Launch(GetRowsKernel<decltype(t)::value>, dim3(n), dim3(128), 0, s, wp, w.row_bytes, w.n_in, tokens, y);
  });
}

void RmsNorm(const float* x, const float* weight, int n_rows, int64_t n, float eps, float* y,
             cudaStream_t s) {
  Launch(RmsNormKernel<false>, dim3(n_rows), dim3(256), 0, s, x, weight, n, eps, y);
}

void RmsNormAdd(const float* x, const float* weight, int n_rows, int64_t n, float eps, float* y,
                cudaStream_t s) {
  Launch(RmsNormKernel<true>, dim3(n_rows), dim3(256), 0, s, x, weight, n, eps, y);
}

void RopeAndStore(const RopeStore& a, cudaStream_t s) {
  Launch(RopeAndStoreKernel, dim3(a.n_tokens), dim3(128), 0, s, a);
}

int64_t AttentionSharedBytes(int64_t n_ctx, int head_dim) {
  const int block = AttentionBlock(head_dim);
  const int groups = std::max(1, block / head_dim);
  const int64_t bytes = (n_ctx + head_dim + static_cast<int64_t>(groups) * head_dim) * 4;
  return bytes <= 227 * 1024 ? bytes : 0;
}

cudaError_t PrepareAttention(int64_t max_shared_bytes) {
  return cudaFuncSetAttribute(AttentionKernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                              static_cast<int>(max_shared_bytes));
}

void Attention(const AttentionLaunch& a, cudaStream_t s) {
  const bool split = a.split != nullptr && a.n_tokens <= kMaxSplitTokens && a.head_dim % 4 == 0 &&
                     a.seq_stride % 4 == 0 && a.n_head % a.n_head_kv == 0 &&
                     (reinterpret_cast<uintptr_t>(a.k_cache) & 15) == 0;
  if (split) {
    const dim3 grid(a.n_tokens, a.n_head_kv * HeadGroups(a), a.n_splits);
    const size_t smem = static_cast<size_t>(kSplitHeads) * (a.head_dim + kSplitChunk) * 4;
    Launch(SplitAttentionKernel, grid, dim3(kSplitThreads), smem, s, a);
    Launch(SplitCombineKernel, dim3(a.n_tokens, a.n_head), dim3(std::min(256, (a.head_dim + 31) / 32 * 32)), 0,
           s, a);
    return;
  }
  const dim3 grid(a.n_tokens, a.n_head);
  Launch(AttentionKernel, grid, dim3(AttentionBlock(a.head_dim)),
         static_cast<size_t>(AttentionSharedBytes(a.n_ctx, a.head_dim)), s, a);
}

}  // namespace tcobench::cuda
