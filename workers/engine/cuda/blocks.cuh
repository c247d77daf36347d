// How the CUDA kernels read GGUF blocks, written once for the GPU and the
// host (__host__ __device__), so tests check them on the CPU against the
// reference quants (cuda_blocks_test) on machines without a GPU:
//
// - Dq4<T>: four weights at a time as floats (the staged matrix-vector
//   kernels, the tensor-core prefill, the embedding lookup);
// - Unit<T>: a lane's share of a row in the direct matrix-vector kernels
//   (decode): 8 weights of the float types, a 32-weight block of the legacy
//   types, a 64-weight pair of sub-blocks of the k-quants, multiplied with
//   activations quantized per 32 values to int8 (QuantizeBlock32, as ggml's
//   q8_1) through 4-way int8 dot products;
//
// Layouts follow ggml's block definitions (workers/engine/quants.h).
#pragma once

#include <cuda_fp16.h>
#include <vector_functions.h>
#include <vector_types.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "workers/engine/cuda/cuda_kernels.h"
#include "workers/engine/fp16.h"

#define TCOBENCH_HD __host__ __device__ __forceinline__
#ifdef __CUDACC__
#define TCOBENCH_UNROLL _Pragma("unroll")
#else
#define TCOBENCH_UNROLL
#endif

namespace tcobench::cuda {

// --- Loads and bit helpers (device intrinsics, plain C++ on the host) -----

TCOBENCH_HD float HalfBits(uint16_t h) {
#ifdef __CUDA_ARCH__
  return __half2float(__ushort_as_half(h));
#else
  return Fp16ToFp32Compute(h);
#endif
}
TCOBENCH_HD float FloatBits(uint32_t u) {
#ifdef __CUDA_ARCH__
  return __uint_as_float(u);
#else
  return FloatFromBits(u);
#endif
}
// A T at p (aligned for T): a plain load, or ReadOnly through the read-only
// cache (memory nothing writes during the launch; not shared memory); a
// memcpy on the host, where the pointer may alias anything.
template <typename T>
TCOBENCH_HD T LoadAs(const void* p) {
#ifdef __CUDA_ARCH__
  return *reinterpret_cast<const T*>(p);
#else
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
#endif
}
template <typename T>
TCOBENCH_HD T ReadOnly(const void* p) {
#ifdef __CUDA_ARCH__
  return __ldg(reinterpret_cast<const T*>(p));
#else
  return LoadAs<T>(p);
#endif
}
template <typename T>
TCOBENCH_HD void StoreAs(void* p, const T& v) {
#ifdef __CUDA_ARCH__
  *reinterpret_cast<T*>(p) = v;
#else
  std::memcpy(p, &v, sizeof(T));
#endif
}
TCOBENCH_HD uint16_t Load16(const uint8_t* p) { return LoadAs<uint16_t>(p); }
TCOBENCH_HD uint32_t Load32(const uint8_t* p) { return LoadAs<uint32_t>(p); }  // 4-byte aligned
// Two 16-bit loads (2-byte alignment is all the odd-sized blocks keep).
TCOBENCH_HD uint32_t Load32From16(const uint8_t* p) {
  return Load16(p) | (static_cast<uint32_t>(Load16(p + 2)) << 16);
}
TCOBENCH_HD float4 LoadFloat4(const float* p) { return ReadOnly<float4>(p); }
// c + the sum of the four signed byte products of a and b.
TCOBENCH_HD int Dp4a(int a, int b, int c) {
#ifdef __CUDA_ARCH__
  return __dp4a(a, b, c);
#else
  for (int i = 0; i < 4; ++i) {
    c += static_cast<int8_t>(static_cast<uint32_t>(a) >> (8 * i)) *
         static_cast<int8_t>(static_cast<uint32_t>(b) >> (8 * i));
  }
  return c;
#endif
}
// Each byte minus 32 (no borrow between bytes): Q6_K's 0..63 to -32..31.
TCOBENCH_HD uint32_t BytesMinus32(uint32_t v) {
#ifdef __CUDA_ARCH__
  return __vsub4(v, 0x20202020u);
#else
  uint32_t r = 0;
  for (int i = 0; i < 4; ++i) r |= ((((v >> (8 * i)) & 0xFF) - 0x20u) & 0xFF) << (8 * i);
  return r;
#endif
}
// Bits 0..3 of b to bit 4 of bytes 0..3 (the legacy 5-bit types' fifth bits).
TCOBENCH_HD uint32_t SpreadBits4(uint32_t b) {
  return ((b & 1u) << 4) | ((b & 2u) << 11) | ((b & 4u) << 18) | ((b & 8u) << 25);
}
TCOBENCH_HD uint32_t Word(const uint4& v, int i) {
  return i == 0 ? v.x : i == 1 ? v.y : i == 2 ? v.z : v.w;
}
TCOBENCH_HD float Silu(float g) { return g / (1.0f + expf(-g)); }

// The k-quants' 6-bit scale and minimum of sub-block j (ggml's get_scale_min_k4).
TCOBENCH_HD void ScaleMinK4(int j, const uint8_t* q, int* sc, int* m) {
  if (j < 4) {
    *sc = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

// d * scale and dmin * min of sub-block j of a Q4_K or Q5_K block (its
// header: fp16 d, fp16 dmin, 12 bytes of 6-bit scales and minima).
TCOBENCH_HD void KScaleMin(const uint8_t* b, int j, float* d1, float* m1) {
  const float d = HalfBits(Load16(b)), dmin = HalfBits(Load16(b + 2));
  int sc, m;
  ScaleMinK4(j, b + 4, &sc, &m);
  *d1 = d * static_cast<float>(sc);
  *m1 = dmin * static_cast<float>(m);
}

// The same from a header held in registers (bytes 0..15 of the block).
TCOBENCH_HD int HeaderByte(const uint4& h, int i) { return (Word(h, i >> 2) >> (8 * (i & 3))) & 0xFF; }
TCOBENCH_HD void KScaleMinRegs(const uint4& h, int j, int* sc, int* m) {
  // Scale bytes start at header byte 4.
  if (j < 4) {
    *sc = HeaderByte(h, 4 + j) & 63;
    *m = HeaderByte(h, 8 + j) & 63;
  } else {
    *sc = (HeaderByte(h, 8 + j) & 0xF) | ((HeaderByte(h, j) >> 6) << 4);
    *m = (HeaderByte(h, 8 + j) >> 4) | ((HeaderByte(h, 4 + j) >> 6) << 4);
  }
}

// --- Dq4: four weights at a time ------------------------------------------
// Dq4<T>::Four(base, e, w): weights e..e+3 (e a multiple of 4) of the
// elements that start at `base`, a block boundary (a row, a staged chunk).
// Reads 2-, 4-, 8- or 16-byte words at their natural alignment (base is
// 16-byte aligned in shared memory; rows keep the block alignment).
// Dq4<T>::One(base, e): one weight (float types' tails).
template <int T>
struct Dq4;

template <>
struct Dq4<kF32> {
  static constexpr int kBlock = 1, kBytes = 4;
  static TCOBENCH_HD void Four(const uint8_t* base, int64_t e, float (&w)[4]) {
    const float4 v = *reinterpret_cast<const float4*>(base + 4 * e);
    w[0] = v.x; w[1] = v.y; w[2] = v.z; w[3] = v.w;
  }
  static TCOBENCH_HD float One(const uint8_t* base, int64_t e) {
    return reinterpret_cast<const float*>(base)[e];
  }
};

template <>
struct Dq4<kF16> {
  static constexpr int kBlock = 1, kBytes = 2;
  static TCOBENCH_HD void Four(const uint8_t* base, int64_t e, float (&w)[4]) {
#ifdef __CUDA_ARCH__
    const uint2 v = *reinterpret_cast<const uint2*>(base + 2 * e);
    const float2 a = __half22float2(*reinterpret_cast<const __half2*>(&v.x));
    const float2 b = __half22float2(*reinterpret_cast<const __half2*>(&v.y));
    w[0] = a.x; w[1] = a.y; w[2] = b.x; w[3] = b.y;
#else
    for (int i = 0; i < 4; ++i) w[i] = HalfBits(Load16(base + 2 * (e + i)));
#endif
  }
  static TCOBENCH_HD float One(const uint8_t* base, int64_t e) {
    return HalfBits(Load16(base + 2 * e));
  }
};

template <>
struct Dq4<kBF16> {
  static constexpr int kBlock = 1, kBytes = 2;
  static TCOBENCH_HD void Four(const uint8_t* base, int64_t e, float (&w)[4]) {
#ifdef __CUDA_ARCH__
    const uint2 v = *reinterpret_cast<const uint2*>(base + 2 * e);  // one 8-byte load
    w[0] = __uint_as_float(v.x << 16);
    w[1] = __uint_as_float(v.x & 0xFFFF0000u);
    w[2] = __uint_as_float(v.y << 16);
    w[3] = __uint_as_float(v.y & 0xFFFF0000u);
#else
    for (int i = 0; i < 4; ++i) w[i] = FloatBits(static_cast<uint32_t>(Load16(base + 2 * (e + i))) << 16);
#endif
  }
  static TCOBENCH_HD float One(const uint8_t* base, int64_t e) {
    return FloatBits(static_cast<uint32_t>(Load16(base + 2 * e)) << 16);
  }
};

template <>
struct Dq4<kQ8_0> {
  static constexpr int kBlock = 32, kBytes = 34;
  static TCOBENCH_HD void Four(const uint8_t* base, int64_t e, float (&w)[4]) {
    const uint8_t* b = base + (e >> 5) * 34;
    const int i = static_cast<int>(e & 31);
    const float d = HalfBits(Load16(b));
    const uint32_t v = Load32From16(b + 2 + i);
TCOBENCH_UNROLL
    for (int k = 0; k < 4; ++k) w[k] = static_cast<float>(static_cast<int8_t>(v >> (8 * k))) * d;
  }
  static TCOBENCH_HD float One(const uint8_t*, int64_t) { return 0.0f; }
};

// The legacy 4- and 5-bit blocks: weight i < 16 in the low nibble of qs[i],
// weight i + 16 in its high nibble; the 5-bit types' fifth bit of weight i
// is bit i of the little-endian qh. w = d * (q - offset) or d * q + m.
template <int kHeader, bool kFifth, bool kMin>
struct LegacyDq4 {
  static constexpr int kBlock = 32, kBytes = kHeader + 16;
  static TCOBENCH_HD void Four(const uint8_t* base, int64_t e, float (&w)[4]) {
    const uint8_t* b = base + (e >> 5) * kBytes;
    const int i = static_cast<int>(e & 31);
    const float d = HalfBits(Load16(b));
    const int shift = i >= 16 ? 4 : 0;
    const uint32_t v = Load32From16(b + kHeader + (i & 15));
    const uint32_t qh = kFifth ? Load32From16(b + (kMin ? 4 : 2)) : 0;
    const float m = kMin ? HalfBits(Load16(b + 2)) : 0.0f;
TCOBENCH_UNROLL
    for (int k = 0; k < 4; ++k) {
      int q = static_cast<int>((v >> (8 * k + shift)) & 0xF);
      if (kFifth) q |= static_cast<int>((qh >> (i + k)) & 1) << 4;
      w[k] = kMin ? static_cast<float>(q) * d + m : static_cast<float>(q - (kFifth ? 16 : 8)) * d;
    }
  }
  static TCOBENCH_HD float One(const uint8_t*, int64_t) { return 0.0f; }
};
template <>
struct Dq4<kQ4_0> : LegacyDq4<2, false, false> {};
template <>
struct Dq4<kQ4_1> : LegacyDq4<4, false, true> {};
template <>
struct Dq4<kQ5_0> : LegacyDq4<6, true, false> {};
template <>
struct Dq4<kQ5_1> : LegacyDq4<8, true, true> {};

// Q4_K, and Q5_K (kFive: each weight's fifth bit from the 32 bytes of high
// bits after the scales).
template <bool kFive>
struct KDq4 {
  static constexpr int kBlock = 256, kBytes = kFive ? 176 : 144;
  static TCOBENCH_HD void Four(const uint8_t* base, int64_t e, float (&w)[4]) {
    const uint8_t* b = base + (e >> 8) * kBytes;
    const int within = static_cast<int>(e & 255);
    const int j = within >> 5, l = within & 31;
    float d1, m1;
    KScaleMin(b, j, &d1, &m1);
    const uint32_t q = Load32(b + (kFive ? 48 : 16) + 32 * (j >> 1) + l);
    const uint32_t h = kFive ? Load32(b + 16 + l) : 0;
    const int shift = (j & 1) * 4;
TCOBENCH_UNROLL
    for (int k = 0; k < 4; ++k) {
      const int v = static_cast<int>((q >> (8 * k + shift)) & 0xF) + static_cast<int>(((h >> (8 * k + j)) & 1) << 4);
      w[k] = d1 * static_cast<float>(v) - m1;
    }
  }
  static TCOBENCH_HD float One(const uint8_t*, int64_t) { return 0.0f; }
};
template <>
struct Dq4<kQ4_K> : KDq4<false> {};
template <>
struct Dq4<kQ5_K> : KDq4<true> {};

template <>
struct Dq4<kQ6_K> {
  static constexpr int kBlock = 256, kBytes = 210;
  static TCOBENCH_HD void Four(const uint8_t* base, int64_t e, float (&w)[4]) {
    const uint8_t* b = base + (e >> 8) * 210;
    const int within = static_cast<int>(e & 255);
    const int half = within >> 7, r = within & 127;
    const int k = r >> 5, l = r & 31;
    const uint32_t lo = Load32From16(b + 64 * half + 32 * (k & 1) + l);
    const uint32_t hi = Load32From16(b + 128 + 32 * half + l);
    const int8_t sc = static_cast<int8_t>(b[192 + 8 * half + 2 * k + (l >> 4)]);
    const float ds = HalfBits(Load16(b + 208)) * static_cast<float>(sc);
    const int shift_l = (k >> 1) * 4, shift_h = 2 * k;
TCOBENCH_UNROLL
    for (int i = 0; i < 4; ++i) {
      const int q = static_cast<int>((lo >> (8 * i + shift_l)) & 0xF) |
                    static_cast<int>(((hi >> (8 * i + shift_h)) & 3) << 4);
      w[i] = ds * static_cast<float>(q - 32);
    }
  }
  static TCOBENCH_HD float One(const uint8_t*, int64_t) { return 0.0f; }
};

// Calls f(std::integral_constant<int, T>) for a type T the kernels read;
// false for any other type.
template <typename F>
bool ForType(int type, F&& f) {
  switch (type) {
    case kF32: f(std::integral_constant<int, kF32>()); return true;
    case kF16: f(std::integral_constant<int, kF16>()); return true;
    case kBF16: f(std::integral_constant<int, kBF16>()); return true;
    case kQ8_0: f(std::integral_constant<int, kQ8_0>()); return true;
    case kQ4_0: f(std::integral_constant<int, kQ4_0>()); return true;
    case kQ4_1: f(std::integral_constant<int, kQ4_1>()); return true;
    case kQ5_0: f(std::integral_constant<int, kQ5_0>()); return true;
    case kQ5_1: f(std::integral_constant<int, kQ5_1>()); return true;
    case kQ4_K: f(std::integral_constant<int, kQ4_K>()); return true;
    case kQ5_K: f(std::integral_constant<int, kQ5_K>()); return true;
    case kQ6_K: f(std::integral_constant<int, kQ6_K>()); return true;
    default: return false;
  }
}

// Bytes of the first n elements of a row of type T (n a multiple of the block).
template <int T>
TCOBENCH_HD int64_t ElemBytes(int64_t n) {
  return n / Dq4<T>::kBlock * Dq4<T>::kBytes;
}

// --- Activations as int8 blocks of 32 ---------------------------------------
// v[0..31] -> q (32 int8, 4-byte aligned) and ds = {d, sum of q} with
// v ~ d * q (ggml's quantize_row_q8_1, d kept as float).
TCOBENCH_HD void QuantizeValues32(const float (&v)[32], int8_t* q, float2* ds) {
  float amax = 0.0f;
TCOBENCH_UNROLL
  for (int i = 0; i < 32; ++i) amax = fmaxf(amax, fabsf(v[i]));
  const float d = amax / 127.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  int sum = 0;
TCOBENCH_UNROLL
  for (int i = 0; i < 32; i += 4) {
    uint32_t packed = 0;
TCOBENCH_UNROLL
    for (int k = 0; k < 4; ++k) {
      const int qi = static_cast<int>(roundf(v[i + k] * id));
      sum += qi;
      packed |= (static_cast<uint32_t>(qi) & 0xFF) << (8 * k);
    }
    StoreAs<uint32_t>(q + i, packed);
  }
  *ds = make_float2(d, static_cast<float>(sum));
}
// The same for 32 floats in global memory (16-byte aligned).
TCOBENCH_HD void QuantizeBlock32(const float* x, int8_t* q, float2* ds) {
  float v[32];
TCOBENCH_UNROLL
  for (int i = 0; i < 32; i += 4) {
    const float4 f = LoadFloat4(x + i);
    v[i] = f.x; v[i + 1] = f.y; v[i + 2] = f.z; v[i + 3] = f.w;
  }
  QuantizeValues32(v, q, ds);
}

// Word k (bytes 4k..4k+3) of an int8 activation block.
TCOBENCH_HD int QxWord(const int8_t* q, int k) {
  return static_cast<int>(Load32(reinterpret_cast<const uint8_t*>(q) + 4 * k));
}

// --- Unit<T>: a lane's share of a row in the direct kernels -----------------
// kWeights per unit; Raw holds its bytes (Load: unit u of a row). Float
// types: Dot(raw, x) with the unit's 8 activations as two float4. Quantized
// types: Dot(raw, u, qx, ds) with the token's int8 activations and their
// per-32 {d, sum} (QuantizeBlock32). kAlign: the row alignment Load needs.
template <int T>
struct Unit;

template <int T>
struct HalfUnit {  // F16, BF16: 8 weights in 16 bytes
  static constexpr int kWeights = 8, kAlign = 16;
  struct Raw {
    uint4 w;
  };
  static TCOBENCH_HD Raw Load(const uint8_t* row, int64_t u) { return {ReadOnly<uint4>(row + 16 * u)}; }
  static TCOBENCH_HD float Weight(const Raw& r, int i) {
    const uint32_t word = Word(r.w, i >> 1);
    const uint32_t bits = (i & 1) ? word >> 16 : word & 0xFFFF;
    return T == kF16 ? HalfBits(static_cast<uint16_t>(bits)) : FloatBits(bits << 16);
  }
  static TCOBENCH_HD float Dot(const Raw& r, const float4& x0, const float4& x1) {
    return Weight(r, 0) * x0.x + Weight(r, 1) * x0.y + Weight(r, 2) * x0.z + Weight(r, 3) * x0.w +
           Weight(r, 4) * x1.x + Weight(r, 5) * x1.y + Weight(r, 6) * x1.z + Weight(r, 7) * x1.w;
  }
};
template <>
struct Unit<kF16> : HalfUnit<kF16> {};
template <>
struct Unit<kBF16> : HalfUnit<kBF16> {};

template <>
struct Unit<kQ8_0> {
  static constexpr int kWeights = 32, kAlign = 2;
  struct Raw {
    uint32_t q[8];
    uint16_t d;
  };
  static TCOBENCH_HD Raw Load(const uint8_t* row, int64_t u) {
    const uint8_t* b = row + 34 * u;
    Raw r;
    r.d = Load16(b);
TCOBENCH_UNROLL
    for (int k = 0; k < 8; ++k) r.q[k] = Load32From16(b + 2 + 4 * k);
    return r;
  }
  static TCOBENCH_HD float Dot(const Raw& r, int64_t u, const int8_t* qx, const float2* ds) {
    const int8_t* x = qx + 32 * u;
    int sumi = 0;
TCOBENCH_UNROLL
    for (int k = 0; k < 8; ++k) sumi = Dp4a(static_cast<int>(r.q[k]), QxWord(x, k), sumi);
    return HalfBits(r.d) * ds[u].x * static_cast<float>(sumi);
  }
};

// Q4_0, Q4_1, Q5_0, Q5_1: the block's 16 quant bytes as four words; word k
// holds weights 4k..4k+3 (low nibbles) and 16+4k.. (high nibbles).
template <int kHeader, bool kFifth, bool kMin>
struct LegacyUnit {
  static constexpr int kWeights = 32, kAlign = 2, kBytes = kHeader + 16;
  struct Raw {
    uint32_t q[4];
    uint32_t qh;
    uint16_t d, m;
  };
  static TCOBENCH_HD Raw Load(const uint8_t* row, int64_t u) {
    const uint8_t* b = row + kBytes * u;
    Raw r;
    r.d = Load16(b);
    r.m = kMin ? Load16(b + 2) : 0;
    r.qh = kFifth ? Load32From16(b + (kMin ? 4 : 2)) : 0;
TCOBENCH_UNROLL
    for (int k = 0; k < 4; ++k) r.q[k] = Load32From16(b + kHeader + 4 * k);
    return r;
  }
  static TCOBENCH_HD float Dot(const Raw& r, int64_t u, const int8_t* qx, const float2* ds) {
    const int8_t* x = qx + 32 * u;
    int sumi = 0;
TCOBENCH_UNROLL
    for (int k = 0; k < 4; ++k) {
      uint32_t lo = r.q[k] & 0x0F0F0F0Fu, hi = (r.q[k] >> 4) & 0x0F0F0F0Fu;
      if (kFifth) {
        lo |= SpreadBits4(r.qh >> (4 * k));
        hi |= SpreadBits4(r.qh >> (16 + 4 * k));
      }
      sumi = Dp4a(static_cast<int>(lo), QxWord(x, k), sumi);
      sumi = Dp4a(static_cast<int>(hi), QxWord(x, k + 4), sumi);
    }
    const float2 a = ds[u];
    const float d = HalfBits(r.d);
    if (kMin) return d * a.x * static_cast<float>(sumi) + HalfBits(r.m) * a.x * a.y;
    return d * a.x * (static_cast<float>(sumi) - (kFifth ? 16.0f : 8.0f) * a.y);
  }
};
template <>
struct Unit<kQ4_0> : LegacyUnit<2, false, false> {};
template <>
struct Unit<kQ4_1> : LegacyUnit<4, false, true> {};
template <>
struct Unit<kQ5_0> : LegacyUnit<6, true, false> {};
template <>
struct Unit<kQ5_1> : LegacyUnit<8, true, true> {};

// Q4_K and Q5_K: unit u is sub-blocks 2p and 2p+1 (p = u % 4) of
// super-block u / 4: the 32 quant bytes they share (low nibbles: sub-block
// 2p, high: 2p+1), the block header, and Q5_K's 32 high-bit bytes.
template <bool kFive>
struct KUnit {
  static constexpr int kWeights = 64, kAlign = 16, kBytes = kFive ? 176 : 144;
  struct Raw {
    uint4 head;
    uint4 q[2];
    uint4 h[kFive ? 2 : 1];
  };
  static TCOBENCH_HD Raw Load(const uint8_t* row, int64_t u) {
    const uint8_t* b = row + kBytes * (u >> 2);
    const int p = static_cast<int>(u & 3);
    Raw r;
    r.head = ReadOnly<uint4>(b);
    const uint8_t* qs = b + (kFive ? 48 : 16) + 32 * p;
    r.q[0] = ReadOnly<uint4>(qs);
    r.q[1] = ReadOnly<uint4>(qs + 16);
    if (kFive) {
      r.h[0] = ReadOnly<uint4>(b + 16);
      r.h[kFive ? 1 : 0] = ReadOnly<uint4>(b + 32);
    }
    return r;
  }
  static TCOBENCH_HD float Dot(const Raw& r, int64_t u, const int8_t* qx, const float2* ds) {
    const int p = static_cast<int>(u & 3);
    const int64_t qb = 8 * (u >> 2) + 2 * p;  // activation block of sub-block 2p
    const int8_t* x0 = qx + 32 * qb;
    const int8_t* x1 = x0 + 32;
    int sum0 = 0, sum1 = 0;
TCOBENCH_UNROLL
    for (int k = 0; k < 8; ++k) {
      const uint32_t w = Word(r.q[k >> 2], k & 3);
      uint32_t lo = w & 0x0F0F0F0Fu, hi = (w >> 4) & 0x0F0F0F0Fu;
      if (kFive) {
        const uint32_t hb = Word(r.h[k >> 2], k & 3);
        lo |= ((hb >> (2 * p)) & 0x01010101u) << 4;
        hi |= ((hb >> (2 * p + 1)) & 0x01010101u) << 4;
      }
      sum0 = Dp4a(static_cast<int>(lo), QxWord(x0, k), sum0);
      sum1 = Dp4a(static_cast<int>(hi), QxWord(x1, k), sum1);
    }
    const float d = HalfBits(static_cast<uint16_t>(r.head.x & 0xFFFF));
    const float dmin = HalfBits(static_cast<uint16_t>(r.head.x >> 16));
    int sc0, m0, sc1, m1;
    KScaleMinRegs(r.head, 2 * p, &sc0, &m0);
    KScaleMinRegs(r.head, 2 * p + 1, &sc1, &m1);
    const float2 a0 = ds[qb], a1 = ds[qb + 1];
    return a0.x * (d * static_cast<float>(sc0 * sum0) - dmin * static_cast<float>(m0) * a0.y) +
           a1.x * (d * static_cast<float>(sc1 * sum1) - dmin * static_cast<float>(m1) * a1.y);
  }
};
template <>
struct Unit<kQ4_K> : KUnit<false> {};
template <>
struct Unit<kQ5_K> : KUnit<true> {};

// Q6_K: unit u is, in half h of super-block u / 4 (r = u % 4: h = r / 2,
// kk = r % 2), the 32-weight groups kk and kk + 2 that share 32 low-bit
// bytes (low and high nibbles) and the half's 32 high-bit bytes.
template <>
struct Unit<kQ6_K> {
  static constexpr int kWeights = 64, kAlign = 2;
  struct Raw {
    uint32_t ql[8];
    uint32_t qh[8];
    uint32_t sc;  // int8 scales of groups kk (two halves of 16) and kk + 2
    uint16_t d;
  };
  static TCOBENCH_HD Raw Load(const uint8_t* row, int64_t u) {
    const uint8_t* b = row + 210 * (u >> 2);
    const int h = static_cast<int>((u >> 1) & 1), kk = static_cast<int>(u & 1);
    Raw r;
TCOBENCH_UNROLL
    for (int k = 0; k < 8; ++k) {
      r.ql[k] = Load32From16(b + 64 * h + 32 * kk + 4 * k);
      r.qh[k] = Load32From16(b + 128 + 32 * h + 4 * k);
    }
    const uint8_t* s = b + 192 + 8 * h + 2 * kk;
    r.sc = Load16(s) | (static_cast<uint32_t>(Load16(s + 4)) << 16);
    r.d = Load16(b + 208);
    return r;
  }
  static TCOBENCH_HD int Scale(const Raw& r, int i) { return static_cast<int8_t>(r.sc >> (8 * i)); }
  static TCOBENCH_HD float Dot(const Raw& r, int64_t u, const int8_t* qx, const float2* ds) {
    const int h = static_cast<int>((u >> 1) & 1), kk = static_cast<int>(u & 1);
    const int64_t qb = 8 * (u >> 2) + 4 * h + kk;  // activation block of group kk; kk + 2 is qb + 2
    const int8_t* x0 = qx + 32 * qb;
    const int8_t* x2 = x0 + 64;
    int s0[2] = {0, 0}, s2[2] = {0, 0};  // per 16 weights
TCOBENCH_UNROLL
    for (int k = 0; k < 8; ++k) {
      const uint32_t lo = (r.ql[k] & 0x0F0F0F0Fu) | (((r.qh[k] >> (2 * kk)) & 0x03030303u) << 4);
      const uint32_t hi = ((r.ql[k] >> 4) & 0x0F0F0F0Fu) | (((r.qh[k] >> (2 * kk + 4)) & 0x03030303u) << 4);
      s0[k >> 2] = Dp4a(static_cast<int>(BytesMinus32(lo)), QxWord(x0, k), s0[k >> 2]);
      s2[k >> 2] = Dp4a(static_cast<int>(BytesMinus32(hi)), QxWord(x2, k), s2[k >> 2]);
    }
    const float d = HalfBits(r.d);
    const int g0 = Scale(r, 0) * s0[0] + Scale(r, 1) * s0[1];
    const int g2 = Scale(r, 2) * s2[0] + Scale(r, 3) * s2[1];
    return d * (ds[qb].x * static_cast<float>(g0) + ds[qb + 2].x * static_cast<float>(g2));
  }
};

// The direct kernels read every type the kernels read but F32 (each has a
// Unit<T>); F16 and BF16 with float activations, the others with int8.
TCOBENCH_HD constexpr bool DirectType(int t) { return t != kF32; }
TCOBENCH_HD constexpr bool DirectFloatType(int t) { return t == kF16 || t == kBF16; }

}  // namespace tcobench::cuda
