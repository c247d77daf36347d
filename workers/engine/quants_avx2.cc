// AVX2 (+FMA, F16C) dot products, built with -mavx2 -mfma -mf16c and only
// called when the CPU has them (see isa.h). Each computes the same value as
// the scalar reference in quants.cc up to float summation order; the tests
// check them against it on random data.
#include <immintrin.h>

#include <type_traits>

#include "workers/engine/quants.h"

namespace tcobench::internal {
namespace {

// Own scalar conversions: header inline functions (fp16.h) compiled with AVX2
// flags here could be picked by the linker for the whole program.
inline float H2F(uint16_t h) { return _cvtsh_ss(h); }
inline float B2F(uint16_t h) {
  const uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  __builtin_memcpy(&f, &u, 4);
  return f;
}

inline float Hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline float Hmax(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

// Eight int32 sums of products of 32 signed bytes (values in -127..127).
inline __m256i DotI8(__m256i x, __m256i y) {
  const __m256i ax = _mm256_sign_epi8(x, x);
  const __m256i sy = _mm256_sign_epi8(y, x);
  return _mm256_madd_epi16(_mm256_maddubs_epi16(ax, sy), _mm256_set1_epi16(1));
}

inline __m256i Load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

float F32Dot(int64_t n, const void* w, const void* a) {
  const float* x = static_cast<const float*>(w);
  const float* y = static_cast<const float*>(a);
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                   _mm256_setzero_ps()};
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    for (int k = 0; k < 4; ++k) {
      acc[k] =
          _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8 * k), _mm256_loadu_ps(y + i + 8 * k), acc[k]);
    }
  }
  float sum = Hsum(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
  for (; i < n; ++i) sum += x[i] * y[i];
  return sum;
}

inline __m256 LoadF16(const uint16_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
inline __m256 LoadBf16(const uint16_t* p) {
  const __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}

template <__m256 (*Load)(const uint16_t*), float (*ToF32)(uint16_t)>
float Half16Dot(int64_t n, const void* w, const void* a) {
  const uint16_t* x = static_cast<const uint16_t*>(w);
  const uint16_t* y = static_cast<const uint16_t*>(a);
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                   _mm256_setzero_ps()};
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    for (int k = 0; k < 4; ++k)
      acc[k] = _mm256_fmadd_ps(Load(x + i + 8 * k), Load(y + i + 8 * k), acc[k]);
  }
  float sum = Hsum(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
  for (; i < n; ++i) sum += ToF32(x[i]) * ToF32(y[i]);
  return sum;
}

// Two blocks per step into two accumulators: one FMA chain per block would
// make every block wait for the previous one's result.
float Q8_0Dot(int64_t n, const void* w, const void* a) {
  const BlockQ8_0* x = static_cast<const BlockQ8_0*>(w);
  const BlockQ8_0* y = static_cast<const BlockQ8_0*>(a);
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  const int64_t nb = n / kQK;
  int64_t i = 0;
  for (; i + 2 <= nb; i += 2) {
    _mm_prefetch(reinterpret_cast<const char*>(x + i + 8), _MM_HINT_T0);
    const __m256 d0 = _mm256_set1_ps(H2F(x[i].d) * H2F(y[i].d));
    const __m256 d1 = _mm256_set1_ps(H2F(x[i + 1].d) * H2F(y[i + 1].d));
    acc0 = _mm256_fmadd_ps(d0, _mm256_cvtepi32_ps(DotI8(Load256(x[i].qs), Load256(y[i].qs))), acc0);
    acc1 = _mm256_fmadd_ps(
        d1, _mm256_cvtepi32_ps(DotI8(Load256(x[i + 1].qs), Load256(y[i + 1].qs))), acc1);
  }
  for (; i < nb; ++i) {
    const __m256 d = _mm256_set1_ps(H2F(x[i].d) * H2F(y[i].d));
    acc0 = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(DotI8(Load256(x[i].qs), Load256(y[i].qs))), acc0);
  }
  return Hsum(_mm256_add_ps(acc0, acc1));
}

// 32 4-bit quants as bytes: weights 0..15 from the low nibbles, 16..31 from the high.
inline __m256i Nibbles32(const uint8_t* qs) {
  const __m128i tmp = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m256i bytes = _mm256_set_m128i(_mm_srli_epi16(tmp, 4), tmp);
  return _mm256_and_si256(bytes, _mm256_set1_epi8(0x0F));
}

// (q - 8) . y as q . y - 8 * sum(y): q is unsigned, so one maddubs does the
// products and a second gives the sums, without sign juggling.
inline __m256i Q4_0BlockDot(const BlockQ4_0& x, const BlockQ8_0& y) {
  const __m256i qy = Load256(y.qs);
  const __m256i p = _mm256_sub_epi16(_mm256_maddubs_epi16(Nibbles32(x.qs), qy),
                                     _mm256_maddubs_epi16(_mm256_set1_epi8(8), qy));
  return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}

// A legacy block type (32 weights, one scale) against Q8_0 activations, or
// with a minimum (Q4_1, Q5_1) against Q8_1 ones, whose m * s terms are summed
// apart as the reference adds them per block; two blocks per step into two
// accumulators.
template <typename Block, typename Act, __m256i (*kBlockDot)(const Block&, const Act&)>
float LegacyDot(int64_t n, const void* w, const void* a) {
  constexpr bool kMin = std::is_same_v<Act, BlockQ8_1>;
  const Block* x = static_cast<const Block*>(w);
  const Act* y = static_cast<const Act*>(a);
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  float mins = 0.0f;
  const int64_t nb = n / kQK;
  int64_t i = 0;
  for (; i + 2 <= nb; i += 2) {
    _mm_prefetch(reinterpret_cast<const char*>(x + i + 12), _MM_HINT_T0);
    const __m256 d0 = _mm256_set1_ps(H2F(x[i].d) * H2F(y[i].d));
    const __m256 d1 = _mm256_set1_ps(H2F(x[i + 1].d) * H2F(y[i + 1].d));
    acc0 = _mm256_fmadd_ps(d0, _mm256_cvtepi32_ps(kBlockDot(x[i], y[i])), acc0);
    acc1 = _mm256_fmadd_ps(d1, _mm256_cvtepi32_ps(kBlockDot(x[i + 1], y[i + 1])), acc1);
    if constexpr (kMin) mins += H2F(x[i].m) * H2F(y[i].s) + H2F(x[i + 1].m) * H2F(y[i + 1].s);
  }
  for (; i < nb; ++i) {
    const __m256 d = _mm256_set1_ps(H2F(x[i].d) * H2F(y[i].d));
    acc0 = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(kBlockDot(x[i], y[i])), acc0);
    if constexpr (kMin) mins += H2F(x[i].m) * H2F(y[i].s);
  }
  return Hsum(_mm256_add_ps(acc0, acc1)) + mins;
}

float Q4_0Dot(int64_t n, const void* w, const void* a) {
  return LegacyDot<BlockQ4_0, BlockQ8_0, Q4_0BlockDot>(n, w, a);
}

// 32 bytes, 0xFF where bit j of the little-endian qh is set (byte j).
inline __m256i BitsToBytes(const uint8_t* qh) {
  uint32_t bits;
  __builtin_memcpy(&bits, qh, 4);
  const __m256i spread = _mm256_shuffle_epi8(
      _mm256_set1_epi32(static_cast<int>(bits)),
      _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0));
  const __m256i probe = _mm256_or_si256(spread, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe));
  return _mm256_cmpeq_epi8(probe, _mm256_set1_epi64x(-1));
}

// (q - 16) . y with q = nibble + 16 * high bit, as Q4_0's: q . y - 16 * sum(y).
inline __m256i Q5_0BlockDot(const BlockQ5_0& x, const BlockQ8_0& y) {
  const __m256i q = _mm256_or_si256(
      Nibbles32(x.qs), _mm256_and_si256(BitsToBytes(x.qh), _mm256_set1_epi8(0x10)));
  const __m256i qy = Load256(y.qs);
  const __m256i p = _mm256_sub_epi16(_mm256_maddubs_epi16(q, qy),
                                     _mm256_maddubs_epi16(_mm256_set1_epi8(16), qy));
  return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}

float Q5_0Dot(int64_t n, const void* w, const void* a) {
  return LegacyDot<BlockQ5_0, BlockQ8_0, Q5_0BlockDot>(n, w, a);
}

// Q4_1 and Q5_1: q . y with q unsigned (0..15, 0..31), one maddubs.
inline __m256i Q4_1BlockDot(const BlockQ4_1& x, const BlockQ8_1& y) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(Nibbles32(x.qs), Load256(y.qs)), _mm256_set1_epi16(1));
}
inline __m256i Q5_1BlockDot(const BlockQ5_1& x, const BlockQ8_1& y) {
  const __m256i q = _mm256_or_si256(
      Nibbles32(x.qs), _mm256_and_si256(BitsToBytes(x.qh), _mm256_set1_epi8(0x10)));
  return _mm256_madd_epi16(_mm256_maddubs_epi16(q, Load256(y.qs)), _mm256_set1_epi16(1));
}

float Q4_1Dot(int64_t n, const void* w, const void* a) {
  return LegacyDot<BlockQ4_1, BlockQ8_1, Q4_1BlockDot>(n, w, a);
}
float Q5_1Dot(int64_t n, const void* w, const void* a) {
  return LegacyDot<BlockQ5_1, BlockQ8_1, Q5_1BlockDot>(n, w, a);
}

// Four rows against one activation row (decode): the activation block, its
// scale and the -8 correction are loaded and computed once for the four.
void Q4_0Dot4(int64_t n, const void* w, int64_t w_stride, const void* a, float* out) {
  const BlockQ4_0* x[kVecDotRows];
  for (int r = 0; r < kVecDotRows; ++r) {
    x[r] = reinterpret_cast<const BlockQ4_0*>(static_cast<const uint8_t*>(w) + r * w_stride);
  }
  const BlockQ8_0* y = static_cast<const BlockQ8_0*>(a);
  const __m256i eight = _mm256_set1_epi8(8), ones = _mm256_set1_epi16(1);
  __m256 acc[kVecDotRows];
  for (__m256& v : acc) v = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / kQK; ++i) {
    const __m256i qy = Load256(y[i].qs);
    const __m256i corr = _mm256_maddubs_epi16(eight, qy);
    const float dy = H2F(y[i].d);
#pragma GCC unroll 4
    for (int r = 0; r < kVecDotRows; ++r) {
      // Four interleaved short streams defeat the hardware prefetcher: fetch
      // the same place of the next four rows (prefetches never fault).
      _mm_prefetch(reinterpret_cast<const char*>(x[r]) + kVecDotRows * w_stride + i * sizeof(BlockQ4_0),
                   _MM_HINT_T0);
      const __m256i p = _mm256_sub_epi16(_mm256_maddubs_epi16(Nibbles32(x[r][i].qs), qy), corr);
      acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(H2F(x[r][i].d) * dy),
                               _mm256_cvtepi32_ps(_mm256_madd_epi16(p, ones)), acc[r]);
    }
  }
  for (int r = 0; r < kVecDotRows; ++r) out[r] = Hsum(acc[r]);
}

// The eight 6-bit (scale, min) pairs of a Q4_K/Q5_K block, all at once
// (the same values as GetScaleMinK4, decoded with 32-bit masks).
inline void UnpackScalesK4(const uint8_t* packed, uint8_t* scales, uint8_t* mins) {
  constexpr uint32_t kLow6 = 0x3f3f3f3f, kLow4 = 0x0f0f0f0f, kLow2 = 0x03030303;
  uint32_t u[3];
  __builtin_memcpy(u, packed, 12);
  const uint32_t sc_lo = u[0] & kLow6;
  const uint32_t mn_lo = u[1] & kLow6;
  const uint32_t sc_hi = (u[2] & kLow4) | (((u[0] >> 6) & kLow2) << 4);
  const uint32_t mn_hi = ((u[2] >> 4) & kLow4) | (((u[1] >> 6) & kLow2) << 4);
  __builtin_memcpy(scales, &sc_lo, 4);
  __builtin_memcpy(scales + 4, &sc_hi, 4);
  __builtin_memcpy(mins, &mn_lo, 4);
  __builtin_memcpy(mins + 4, &mn_hi, 4);
}

// Sum over the 8 sub-blocks of min * (sum of their 32 activation quants).
inline int MinsDotBsums(const uint8_t* mins, const int16_t* bsums) {
  int s = 0;
  for (int j = 0; j < 8; ++j) s += mins[j] * (bsums[2 * j] + bsums[2 * j + 1]);
  return s;
}

// A Q4_K block's scales and mins as 16-bit lanes: the low 128 bits hold the
// eight scales, the high the eight mins.
inline __m256i ScalesMinsK4(const uint8_t* packed) {
  alignas(16) uint8_t sm[16];
  UnpackScalesK4(packed, sm, sm + 8);
  return _mm256_cvtepu8_epi16(_mm_load_si128(reinterpret_cast<const __m128i*>(sm)));
}

// Eight int32 partial sums of min[j] * (activation sum of sub-block j).
inline __m128i MinsTimesBsums(__m256i scales_mins, const BlockQ8_K& y) {
  const __m256i bsums = Load256(y.bsums);
  const __m128i pair_sums =
      _mm_hadd_epi16(_mm256_castsi256_si128(bsums), _mm256_extracti128_si256(bsums, 1));
  return _mm_madd_epi16(_mm256_extracti128_si256(scales_mins, 1), pair_sums);
}

// Scale j (0..7) of ScalesMinsK4's low half in every 16-bit lane.
inline __m256i ScaleLanes(__m256i scales2x, int j) {
  const __m256i pick = _mm256_set1_epi16(static_cast<int16_t>((2 * j) | ((2 * j + 1) << 8)));
  return _mm256_shuffle_epi8(scales2x, pick);
}

// The integer part of a Q4_K block against its activations: sum over the
// eight sub-blocks of scale * (q . y), as eight int32 lanes.
inline __m256i Q4_KBlockDot(const BlockQ4_K& x, const BlockQ8_K& y, __m256i scales_mins) {
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  const __m128i sc = _mm256_castsi256_si128(scales_mins);
  const __m256i scales2x = _mm256_set_m128i(sc, sc);
  __m256i sumi = _mm256_setzero_si256();
#pragma GCC unroll 4
  for (int g = 0; g < 4; ++g) {
    const __m256i q4 = Load256(x.qs + 32 * g);
    const __m256i lo = _mm256_and_si256(q4, low4);
    const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q4, 4), low4);
    const __m256i pl = _mm256_maddubs_epi16(lo, Load256(y.qs + 64 * g));
    const __m256i ph = _mm256_maddubs_epi16(hi, Load256(y.qs + 64 * g + 32));
    sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(pl, ScaleLanes(scales2x, 2 * g)));
    sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(ph, ScaleLanes(scales2x, 2 * g + 1)));
  }
  return sumi;
}

inline float Hsum128(__m128 s) {
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

float Q4_KDot(int64_t n, const void* w, const void* a) {
  const BlockQ4_K* x = static_cast<const BlockQ4_K*>(w);
  const BlockQ8_K* y = static_cast<const BlockQ8_K*>(a);
  __m256 acc = _mm256_setzero_ps();
  __m128 acc_min = _mm_setzero_ps();
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const __m256i sm = ScalesMinsK4(x[i].scales);
    acc_min = _mm_fmadd_ps(_mm_set1_ps(y[i].d * H2F(x[i].dmin)),
                           _mm_cvtepi32_ps(MinsTimesBsums(sm, y[i])), acc_min);
    acc = _mm256_fmadd_ps(_mm256_set1_ps(y[i].d * H2F(x[i].d)),
                          _mm256_cvtepi32_ps(Q4_KBlockDot(x[i], y[i], sm)), acc);
  }
  return Hsum(acc) - Hsum128(acc_min);
}

// Four rows against one activation row (decode), prefetching the next four.
void Q4_KDot4(int64_t n, const void* w, int64_t w_stride, const void* a, float* out) {
  const BlockQ4_K* x[kVecDotRows];
  for (int r = 0; r < kVecDotRows; ++r) {
    x[r] = reinterpret_cast<const BlockQ4_K*>(static_cast<const uint8_t*>(w) + r * w_stride);
  }
  const BlockQ8_K* y = static_cast<const BlockQ8_K*>(a);
  __m256 acc[kVecDotRows];
  __m128 acc_min[kVecDotRows];
  for (int r = 0; r < kVecDotRows; ++r) {
    acc[r] = _mm256_setzero_ps();
    acc_min[r] = _mm_setzero_ps();
  }
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    for (int r = 0; r < kVecDotRows; ++r) {
      const char* next = reinterpret_cast<const char*>(x[r] + i) + kVecDotRows * w_stride;
      _mm_prefetch(next, _MM_HINT_T0);
      _mm_prefetch(next + 64, _MM_HINT_T0);
      _mm_prefetch(next + 128, _MM_HINT_T0);
      const __m256i sm = ScalesMinsK4(x[r][i].scales);
      acc_min[r] = _mm_fmadd_ps(_mm_set1_ps(y[i].d * H2F(x[r][i].dmin)),
                                _mm_cvtepi32_ps(MinsTimesBsums(sm, y[i])), acc_min[r]);
      acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(y[i].d * H2F(x[r][i].d)),
                               _mm256_cvtepi32_ps(Q4_KBlockDot(x[r][i], y[i], sm)), acc[r]);
    }
  }
  for (int r = 0; r < kVecDotRows; ++r) out[r] = Hsum(acc[r]) - Hsum128(acc_min[r]);
}

float Q5_KDot(int64_t n, const void* w, const void* a) {
  const BlockQ5_K* x = static_cast<const BlockQ5_K*>(w);
  const BlockQ8_K* y = static_cast<const BlockQ8_K*>(a);
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  const __m256i one = _mm256_set1_epi8(1);
  __m256 acc = _mm256_setzero_ps();
  float mins_sum = 0.0f;
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    uint8_t sc[8], mn[8];
    UnpackScalesK4(x[i].scales, sc, mn);
    mins_sum += y[i].d * H2F(x[i].dmin) * MinsDotBsums(mn, y[i].bsums);
    const __m256i qh = Load256(x[i].qh);
    __m256i sumi = _mm256_setzero_si256();
    for (int g = 0; g < 4; ++g) {
      const __m256i q4 = Load256(x[i].qs + 32 * g);
      const __m256i hbit_lo =
          _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * g), one), 4);
      const __m256i hbit_hi =
          _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * g + 1), one), 4);
      const __m256i lo = _mm256_or_si256(_mm256_and_si256(q4, low4), hbit_lo);
      const __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q4, 4), low4), hbit_hi);
      const __m256i pl = _mm256_maddubs_epi16(lo, Load256(y[i].qs + 64 * g));
      const __m256i ph = _mm256_maddubs_epi16(hi, Load256(y[i].qs + 64 * g + 32));
      sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(pl, _mm256_set1_epi16(sc[2 * g])));
      sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(ph, _mm256_set1_epi16(sc[2 * g + 1])));
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(y[i].d * H2F(x[i].d)), _mm256_cvtepi32_ps(sumi), acc);
  }
  return Hsum(acc) - mins_sum;
}

// The 6-bit quants (0..63) of one half (128 weights) of a Q6_K block, as
// four vectors of 32 bytes in weight order.
inline void UnpackQ6Half(const BlockQ6_K& x, int half, __m256i* q) {
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  const __m256i two_bits = _mm256_set1_epi8(3);
  const uint8_t* ql = x.ql + 64 * half;
  const __m256i ql0 = Load256(ql), ql1 = Load256(ql + 32);
  const __m256i qh = Load256(x.qh + 32 * half);
  q[0] = _mm256_or_si256(_mm256_and_si256(ql0, low4),
                         _mm256_slli_epi16(_mm256_and_si256(qh, two_bits), 4));
  q[1] = _mm256_or_si256(_mm256_and_si256(ql1, low4),
                         _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), two_bits), 4));
  q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), low4),
                         _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), two_bits), 4));
  q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), low4),
                         _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), two_bits), 4));
}

// The integer part of a Q6_K block against its activations, as eight int32
// lanes: sum over the sixteen sub-blocks of scale * ((q - 32) . y).
inline __m256i Q6_KBlockDot(const BlockQ6_K& x, const BlockQ8_K& y) {
  const __m256i k32 = _mm256_set1_epi8(32);
  // The sixteen signed scales as 16-bit lanes, both halves of the block.
  const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x.scales)));
  __m256i sumi = _mm256_setzero_si256();
#pragma GCC unroll 2
  for (int half = 0; half < 2; ++half) {
    const __m128i sc_half = half == 0 ? _mm256_castsi256_si128(sc16) : _mm256_extracti128_si256(sc16, 1);
    const __m256i sc2x = _mm256_set_m128i(sc_half, sc_half);
    __m256i q[4];
    UnpackQ6Half(x, half, q);
#pragma GCC unroll 4
    for (int k = 0; k < 4; ++k) {
      const __m256i q8 = Load256(y.qs + 128 * half + 32 * k);
      // (q - 32) . q8 = q . q8 - 32 * sum(q8), each pair sum within int16.
      const __m256i p =
          _mm256_sub_epi16(_mm256_maddubs_epi16(q[k], q8), _mm256_maddubs_epi16(k32, q8));
      // Scale 2k in the low 128 bits, 2k + 1 in the high.
      const __m256i pick = _mm256_set_m128i(_mm_set1_epi16(static_cast<int16_t>((4 * k + 2) | ((4 * k + 3) << 8))),
                                            _mm_set1_epi16(static_cast<int16_t>((4 * k) | ((4 * k + 1) << 8))));
      sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, _mm256_shuffle_epi8(sc2x, pick)));
    }
  }
  return sumi;
}

float Q6_KDot(int64_t n, const void* w, const void* a) {
  const BlockQ6_K* x = static_cast<const BlockQ6_K*>(w);
  const BlockQ8_K* y = static_cast<const BlockQ8_K*>(a);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    acc = _mm256_fmadd_ps(_mm256_set1_ps(y[i].d * H2F(x[i].d)),
                          _mm256_cvtepi32_ps(Q6_KBlockDot(x[i], y[i])), acc);
  }
  return Hsum(acc);
}

// Four rows against one activation row (decode), prefetching the next four.
void Q6_KDot4(int64_t n, const void* w, int64_t w_stride, const void* a, float* out) {
  const BlockQ6_K* x[kVecDotRows];
  for (int r = 0; r < kVecDotRows; ++r) {
    x[r] = reinterpret_cast<const BlockQ6_K*>(static_cast<const uint8_t*>(w) + r * w_stride);
  }
  const BlockQ8_K* y = static_cast<const BlockQ8_K*>(a);
  __m256 acc[kVecDotRows];
  for (__m256& v : acc) v = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    for (int r = 0; r < kVecDotRows; ++r) {
      const char* next = reinterpret_cast<const char*>(x[r] + i) + kVecDotRows * w_stride;
      for (int line = 0; line < 4; ++line) _mm_prefetch(next + 64 * line, _MM_HINT_T0);
      acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(y[i].d * H2F(x[r][i].d)),
                               _mm256_cvtepi32_ps(Q6_KBlockDot(x[r][i], y[i])), acc[r]);
    }
  }
  for (int r = 0; r < kVecDotRows; ++r) out[r] = Hsum(acc[r]);
}

// Q2_K and Q3_K: sixteen sub-blocks of 16 weights, 2-bit quants stored as
// four 2-bit planes of 32 bytes per half (weight 128h + 32j + l is bits 2j of
// byte 32h + l). A plane's 32 weights are sub-blocks 8h + 2j (low 128 bits)
// and 8h + 2j + 1 (high), so one maddubs gives their 16-bit pair sums and one
// madd with those two scales their scaled int32 sums: the integer sums are
// the reference's exactly.

// Eight 16-bit scales (sub-blocks 8h..8h+7) in both 128-bit halves.
inline __m256i EightScales(__m128i scales8) { return _mm256_broadcastsi128_si256(scales8); }
// Scale 2j in the low half's lanes, 2j + 1 in the high half's.
inline __m256i ScalePair(__m256i eight, int j) {
  const auto pick = [](int s) { return _mm_set1_epi16(static_cast<int16_t>((2 * s) | ((2 * s + 1) << 8))); };
  return _mm256_shuffle_epi8(eight, _mm256_set_m128i(pick(2 * j + 1), pick(2 * j)));
}
// The 2-bit quants of plane j of a 32-byte half (0..3 each).
inline __m256i Plane2(__m256i q2, int j) {
  return _mm256_and_si256(_mm256_srli_epi16(q2, 2 * j), _mm256_set1_epi8(3));
}
// sum over the sixteen sub-blocks of scale * (q . y) as eight int32 lanes,
// from the scales as two EightScales vectors (halves 0 and 1) and
// pair_sums(h, j, y): the 16-bit pair sums of plane j of half h against the
// activations y of its 32 weights.
template <typename PairSums>
inline __m256i ScaledPlanes(const __m256i* eight, const int8_t* yqs, const PairSums& pair_sums) {
  __m256i sumi = _mm256_setzero_si256();
  for (int h = 0; h < 2; ++h) {
#pragma GCC unroll 4
    for (int j = 0; j < 4; ++j) {
      const __m256i p = pair_sums(h, j, Load256(yqs + 128 * h + 32 * j));
      sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, ScalePair(eight[h], j)));
    }
  }
  return sumi;
}
inline int HsumI32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 1));
  return _mm_cvtsi128_si32(s);
}

// sum = d * y.d * sum(scale * q . y) - dmin * y.d * sum(min * bsum) per block.
float Q2_KDot(int64_t n, const void* w, const void* a) {
  const BlockQ2_K* x = static_cast<const BlockQ2_K*>(w);
  const BlockQ8_K* y = static_cast<const BlockQ8_K*>(a);
  const __m128i low4 = _mm_set1_epi8(0x0F);
  __m256 acc = _mm256_setzero_ps();
  float mins_sum = 0.0f;
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[i].scales));
    const __m128i sc = _mm_and_si128(packed, low4);
    const __m128i mn = _mm_and_si128(_mm_srli_epi16(packed, 4), low4);
    const int msum = HsumI32(_mm256_madd_epi16(_mm256_cvtepu8_epi16(mn), Load256(y[i].bsums)));
    mins_sum += y[i].d * H2F(x[i].dmin) * static_cast<float>(msum);
    const __m256i eight[2] = {EightScales(_mm_cvtepu8_epi16(sc)),
                              EightScales(_mm_cvtepu8_epi16(_mm_unpackhi_epi64(sc, sc)))};
    const __m256i q2[2] = {Load256(x[i].qs), Load256(x[i].qs + 32)};
    const __m256i sumi = ScaledPlanes(eight, y[i].qs, [&](int h, int j, __m256i qy) {
      return _mm256_maddubs_epi16(Plane2(q2[h], j), qy);
    });
    acc = _mm256_fmadd_ps(_mm256_set1_ps(y[i].d * H2F(x[i].d)), _mm256_cvtepi32_ps(sumi), acc);
  }
  return Hsum(acc) - mins_sum;
}

// The sixteen 6-bit Q3_K scales, minus 32 (GetScaleQ3K's values), as bytes.
inline __m128i ScalesQ3K(const uint8_t* packed) {
  constexpr uint32_t kLow4 = 0x0f0f0f0f, kLow2 = 0x03030303;
  uint32_t u[3], s[4];
  __builtin_memcpy(u, packed, 12);
  s[0] = (u[0] & kLow4) | ((u[2] & kLow2) << 4);
  s[1] = (u[1] & kLow4) | (((u[2] >> 2) & kLow2) << 4);
  s[2] = ((u[0] >> 4) & kLow4) | (((u[2] >> 4) & kLow2) << 4);
  s[3] = ((u[1] >> 4) & kLow4) | (((u[2] >> 6) & kLow2) << 4);
  __m128i v;
  __builtin_memcpy(&v, s, 16);
  return _mm_sub_epi8(v, _mm_set1_epi8(32));
}

// q = low 2 bits - 4 where the hmask bit is clear: q . y = low . y - 4 . y
// over the clear ones, both with unsigned maddubs operands.
float Q3_KDot(int64_t n, const void* w, const void* a) {
  const BlockQ3_K* x = static_cast<const BlockQ3_K*>(w);
  const BlockQ8_K* y = static_cast<const BlockQ8_K*>(a);
  const __m256i four = _mm256_set1_epi8(4);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const __m128i sc = ScalesQ3K(x[i].scales);
    const __m256i eight[2] = {EightScales(_mm_cvtepi8_epi16(sc)),
                              EightScales(_mm_cvtepi8_epi16(_mm_unpackhi_epi64(sc, sc)))};
    const __m256i hm = Load256(x[i].hmask);
    const __m256i q2[2] = {Load256(x[i].qs), Load256(x[i].qs + 32)};
    const __m256i sumi = ScaledPlanes(eight, y[i].qs, [&](int h, int j, __m256i qy) {
      const __m256i bit = _mm256_set1_epi8(static_cast<char>(1 << (4 * h + j)));
      const __m256i minus4 = _mm256_andnot_si256(_mm256_cmpeq_epi8(_mm256_and_si256(hm, bit), bit), four);
      return _mm256_sub_epi16(_mm256_maddubs_epi16(Plane2(q2[h], j), qy), _mm256_maddubs_epi16(minus4, qy));
    });
    acc = _mm256_fmadd_ps(_mm256_set1_ps(y[i].d * H2F(x[i].d)), _mm256_cvtepi32_ps(sumi), acc);
  }
  return Hsum(acc);
}

// Prefill tile: R weight rows x kGemmTokenTile tokens, over kc values of k.
// Each step loads 16 tokens' activations (packed token-minor) once and
// broadcasts one weight per row: 2R independent accumulators, no horizontal
// sums, and the weights read straight from their float rows.
template <int R>
void GemmTile(const float* w, int64_t w_stride, const float* ap, int64_t kc, float* y,
              int64_t y_stride, int64_t n_tok) {
  static_assert(kGemmTokenTile == 16, "two 8-float vectors per step");
  __m256 acc[R][2];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
  for (int64_t i = 0; i < kc; ++i) {
    const __m256 a0 = _mm256_loadu_ps(ap + i * 16), a1 = _mm256_loadu_ps(ap + i * 16 + 8);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m256 b = _mm256_broadcast_ss(w + r * w_stride + i);
      acc[r][0] = _mm256_fmadd_ps(a0, b, acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(a1, b, acc[r][1]);
    }
  }
  alignas(32) float out[R][16];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    _mm256_store_ps(out[r], acc[r][0]);
    _mm256_store_ps(out[r] + 8, acc[r][1]);
  }
  for (int64_t t = 0; t < n_tok; ++t) {
    for (int r = 0; r < R; ++r) y[t * y_stride + r] += out[r][t];
  }
}

using GemmTileFn = void (*)(const float*, int64_t, const float*, int64_t, float*, int64_t, int64_t);
constexpr GemmTileFn kGemmTiles[7] = {nullptr,        GemmTile<1>, GemmTile<2>, GemmTile<3>,
                                      GemmTile<4>, GemmTile<5>, GemmTile<6>};

// Batched variants: each block's weights are decoded once into registers or
// an L1-resident array, then dotted with every activation row.
inline const BlockQ8_K* ActRow(const void* a, int64_t stride, int t) {
  return reinterpret_cast<const BlockQ8_K*>(static_cast<const uint8_t*>(a) + t * stride);
}

template <typename Block>
inline const Block& ActBlock(const void* a, int64_t stride, int t, int64_t i) {
  return reinterpret_cast<const Block*>(static_cast<const uint8_t*>(a) + t * stride)[i];
}

void Q8_0DotN(int64_t n, const void* w, const void* a, int64_t stride, int n_act, float* out) {
  const BlockQ8_0* x = static_cast<const BlockQ8_0*>(w);
  __m256 acc[kMaxVecDotN];
  for (int t = 0; t < n_act; ++t) acc[t] = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / kQK; ++i) {
    const __m256i qx = Load256(x[i].qs);
    const __m256i ax = _mm256_sign_epi8(qx, qx);
    const float dx = H2F(x[i].d);
    for (int t = 0; t < n_act; ++t) {
      const BlockQ8_0& y = ActBlock<BlockQ8_0>(a, stride, t, i);
      const __m256i p = _mm256_madd_epi16(
          _mm256_maddubs_epi16(ax, _mm256_sign_epi8(Load256(y.qs), qx)), _mm256_set1_epi16(1));
      acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(dx * H2F(y.d)), _mm256_cvtepi32_ps(p), acc[t]);
    }
  }
  for (int t = 0; t < n_act; ++t) out[t] = Hsum(acc[t]);
}

void Q4_0DotN(int64_t n, const void* w, const void* a, int64_t stride, int n_act, float* out) {
  const BlockQ4_0* x = static_cast<const BlockQ4_0*>(w);
  const __m256i eight = _mm256_set1_epi8(8);
  __m256 acc[kMaxVecDotN];
  for (int t = 0; t < n_act; ++t) acc[t] = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / kQK; ++i) {
    const __m256i q = Nibbles32(x[i].qs);
    const float dx = H2F(x[i].d);
    for (int t = 0; t < n_act; ++t) {
      const BlockQ8_0& y = ActBlock<BlockQ8_0>(a, stride, t, i);
      const __m256i qy = Load256(y.qs);
      const __m256i p =
          _mm256_sub_epi16(_mm256_maddubs_epi16(q, qy), _mm256_maddubs_epi16(eight, qy));
      acc[t] =
          _mm256_fmadd_ps(_mm256_set1_ps(dx * H2F(y.d)),
                          _mm256_cvtepi32_ps(_mm256_madd_epi16(p, _mm256_set1_epi16(1))), acc[t]);
    }
  }
  for (int t = 0; t < n_act; ++t) out[t] = Hsum(acc[t]);
}

void Q4_KDotN(int64_t n, const void* w, const void* a, int64_t stride, int n_act, float* out) {
  const BlockQ4_K* x = static_cast<const BlockQ4_K*>(w);
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  __m256 acc[kMaxVecDotN];
  __m128 acc_min[kMaxVecDotN];
  for (int t = 0; t < n_act; ++t) {
    acc[t] = _mm256_setzero_ps();
    acc_min[t] = _mm_setzero_ps();
  }
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const __m256i sm = ScalesMinsK4(x[i].scales);
    const __m128i sc = _mm256_castsi256_si128(sm);
    const __m256i scales2x = _mm256_set_m128i(sc, sc);
    __m256i q[8], s16[8];
    for (int g = 0; g < 4; ++g) {
      const __m256i q4 = Load256(x[i].qs + 32 * g);
      q[2 * g] = _mm256_and_si256(q4, low4);
      q[2 * g + 1] = _mm256_and_si256(_mm256_srli_epi16(q4, 4), low4);
    }
    for (int j = 0; j < 8; ++j) s16[j] = ScaleLanes(scales2x, j);
    const float dx = H2F(x[i].d), dmx = H2F(x[i].dmin);
    for (int t = 0; t < n_act; ++t) {
      const BlockQ8_K& y = ActRow(a, stride, t)[i];
      acc_min[t] = _mm_fmadd_ps(_mm_set1_ps(y.d * dmx), _mm_cvtepi32_ps(MinsTimesBsums(sm, y)),
                                acc_min[t]);
      __m256i sumi = _mm256_setzero_si256();
      for (int j = 0; j < 8; ++j) {
        sumi = _mm256_add_epi32(
            sumi, _mm256_madd_epi16(_mm256_maddubs_epi16(q[j], Load256(y.qs + 32 * j)), s16[j]));
      }
      acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(y.d * dx), _mm256_cvtepi32_ps(sumi), acc[t]);
    }
  }
  for (int t = 0; t < n_act; ++t) out[t] = Hsum(acc[t]) - Hsum128(acc_min[t]);
}

void Q6_KDotN(int64_t n, const void* w, const void* a, int64_t stride, int n_act, float* out) {
  const BlockQ6_K* x = static_cast<const BlockQ6_K*>(w);
  const __m256i k32 = _mm256_set1_epi8(32);
  __m256 acc[kMaxVecDotN];
  for (int t = 0; t < n_act; ++t) acc[t] = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    __m256i q[8], scales[8];
    for (int half = 0; half < 2; ++half) {
      UnpackQ6Half(x[i], half, q + 4 * half);
      const int8_t* sc = x[i].scales + 8 * half;
      for (int k = 0; k < 4; ++k) {
        scales[4 * half + k] =
            _mm256_set_m128i(_mm_set1_epi16(sc[2 * k + 1]), _mm_set1_epi16(sc[2 * k]));
      }
    }
    const float dx = H2F(x[i].d);
    for (int t = 0; t < n_act; ++t) {
      const BlockQ8_K& y = ActRow(a, stride, t)[i];
      __m256i sumi = _mm256_setzero_si256();
      for (int j = 0; j < 8; ++j) {
        const __m256i q8 = Load256(y.qs + 32 * j);
        const __m256i p =
            _mm256_sub_epi16(_mm256_maddubs_epi16(q[j], q8), _mm256_maddubs_epi16(k32, q8));
        sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, scales[j]));
      }
      acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(y.d * dx), _mm256_cvtepi32_ps(sumi), acc[t]);
    }
  }
  for (int t = 0; t < n_act; ++t) out[t] = Hsum(acc[t]);
}

template <__m256 (*Load)(const uint16_t*), float (*ToF32)(uint16_t)>
void Half16ToFloat(const void* src, float* dst, int64_t n) {
  const uint16_t* x = static_cast<const uint16_t*>(src);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, Load(x + i));
  for (; i < n; ++i) dst[i] = ToF32(x[i]);
}

// Dequantizers: the same single float product per weight as the reference.
inline void StoreScaled(float* y, __m128i bytes16_lo, __m256 d) {  // 8 signed ints widened
  _mm256_storeu_ps(y, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(bytes16_lo)), d));
}

void Q4_0ToFloat(const void* src, float* y, int64_t n) {
  const BlockQ4_0* x = static_cast<const BlockQ4_0*>(src);
  const __m128i low = _mm_set1_epi8(0x0F), eight = _mm_set1_epi8(8);
  for (int64_t i = 0; i < n / kQK; ++i, y += kQK) {
    const __m256 d = _mm256_set1_ps(H2F(x[i].d));
    const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[i].qs));
    const __m128i lo = _mm_sub_epi8(_mm_and_si128(q, low), eight);
    const __m128i hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(q, 4), low), eight);
    StoreScaled(y, lo, d);
    StoreScaled(y + 8, _mm_srli_si128(lo, 8), d);
    StoreScaled(y + 16, hi, d);
    StoreScaled(y + 24, _mm_srli_si128(hi, 8), d);
  }
}

void Q8_0ToFloat(const void* src, float* y, int64_t n) {
  const BlockQ8_0* x = static_cast<const BlockQ8_0*>(src);
  for (int64_t i = 0; i < n / kQK; ++i, y += kQK) {
    const __m256 d = _mm256_set1_ps(H2F(x[i].d));
    for (int j = 0; j < kQK; j += 16) {
      const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[i].qs + j));
      StoreScaled(y + j, q, d);
      StoreScaled(y + j + 8, _mm_srli_si128(q, 8), d);
    }
  }
}

// Activations to Q8_0 exactly as the reference's scalar code here does:
// amax/127 scale, x * (127/amax) rounded half to even.
void Q8_0FromFloat(const float* x, void* dst, int64_t n) {
  BlockQ8_0* y = static_cast<BlockQ8_0*>(dst);
  const __m256 sign = _mm256_set1_ps(-0.0f);
  for (int64_t i = 0; i < n / kQK; ++i, x += kQK) {
    __m256 v[4];
    __m256 amax = _mm256_setzero_ps();
    for (int j = 0; j < 4; ++j) {
      v[j] = _mm256_loadu_ps(x + 8 * j);
      amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign, v[j]));
    }
    const float max_abs = Hmax(amax);
    const float inv = max_abs != 0.0f ? 127.0f / max_abs : 0.0f;
    y[i].d = _cvtss_sh(max_abs / 127.0f, _MM_FROUND_TO_NEAREST_INT);
    const __m256 vinv = _mm256_set1_ps(inv);
    __m256i q[4];
    for (int j = 0; j < 4; ++j) {
      q[j] = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v[j], vinv),
                                                _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    }
    // int32 -> int16 -> int8 packs work per 128-bit lane; restore the order.
    const __m256i w01 = _mm256_packs_epi32(q[0], q[1]), w23 = _mm256_packs_epi32(q[2], q[3]);
    const __m256i b = _mm256_packs_epi16(w01, w23);
    const __m256i ordered = _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y[i].qs), ordered);
  }
}

// 32 unsigned (or signed) bytes as floats times dl, minus ml, exactly as
// the reference's (dl * q) - ml (no fused multiply-add).
inline void Store32(float* y, __m256i bytes, bool is_signed, __m256 dl, __m256 ml) {
  const __m128i halves[2] = {_mm256_castsi256_si128(bytes), _mm256_extracti128_si256(bytes, 1)};
  for (int h = 0; h < 2; ++h) {
    for (int k = 0; k < 2; ++k) {
      const __m128i b8 = k == 0 ? halves[h] : _mm_srli_si128(halves[h], 8);
      const __m256i w = is_signed ? _mm256_cvtepi8_epi32(b8) : _mm256_cvtepu8_epi32(b8);
      _mm256_storeu_ps(y + 16 * h + 8 * k,
                       _mm256_sub_ps(_mm256_mul_ps(dl, _mm256_cvtepi32_ps(w)), ml));
    }
  }
}

void Q4_KToFloat(const void* src, float* y, int64_t n) {
  const BlockQ4_K* x = static_cast<const BlockQ4_K*>(src);
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  for (int64_t i = 0; i < n / kQK_K; ++i, y += kQK_K) {
    const float d = H2F(x[i].d), dmin = H2F(x[i].dmin);
    uint8_t sc[8], mn[8];
    UnpackScalesK4(x[i].scales, sc, mn);
    for (int g = 0; g < 4; ++g) {
      const __m256i q4 = Load256(x[i].qs + 32 * g);
      for (int h = 0; h < 2; ++h) {
        const int j = 2 * g + h;
        const __m256i q = h == 0 ? _mm256_and_si256(q4, low4)
                                 : _mm256_and_si256(_mm256_srli_epi16(q4, 4), low4);
        Store32(y + 32 * j, q, false, _mm256_set1_ps(d * sc[j]), _mm256_set1_ps(dmin * mn[j]));
      }
    }
  }
}

void Q6_KToFloat(const void* src, float* y, int64_t n) {
  const BlockQ6_K* x = static_cast<const BlockQ6_K*>(src);
  const __m256i k32 = _mm256_set1_epi8(32);
  const __m256 zero = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / kQK_K; ++i, y += kQK_K) {
    const float d = H2F(x[i].d);
    for (int half = 0; half < 2; ++half) {
      __m256i q[4];
      UnpackQ6Half(x[i], half, q);
      const int8_t* sc = x[i].scales + 8 * half;
      for (int k = 0; k < 4; ++k) {
        const __m256i qs = _mm256_sub_epi8(q[k], k32);  // -32..31
        float* out = y + 128 * half + 32 * k;
        // Sixteen weights per scale: two scales per 32.
        const __m256i lo16 = _mm256_castsi128_si256(_mm256_castsi256_si128(qs));
        const __m256i hi16 = _mm256_castsi128_si256(_mm256_extracti128_si256(qs, 1));
        for (int part = 0; part < 2; ++part) {
          const __m128i b16 = _mm256_castsi256_si128(part == 0 ? lo16 : hi16);
          const __m256 dl = _mm256_set1_ps(d * sc[2 * k + part]);
          _mm256_storeu_ps(out + 16 * part,
                           _mm256_sub_ps(_mm256_mul_ps(dl, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(b16))), zero));
          _mm256_storeu_ps(out + 16 * part + 8,
                           _mm256_sub_ps(_mm256_mul_ps(dl, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(b16, 8)))), zero));
        }
      }
    }
  }
}

// Activations to Q8_K as the reference does: the value of largest magnitude
// (the first, on ties) maps to -127, quants round half to even, 16-sums kept.
void Q8_KFromFloat(const float* x, void* dst, int64_t n) {
  BlockQ8_K* y = static_cast<BlockQ8_K*>(dst);
  const __m256 sign = _mm256_set1_ps(-0.0f);
  for (int64_t i = 0; i < n / kQK_K; ++i, x += kQK_K) {
    __m256 amax_v = _mm256_setzero_ps();
    for (int j = 0; j < kQK_K; j += 8) amax_v = _mm256_max_ps(amax_v, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + j)));
    const float amax = Hmax(amax_v);
    if (amax == 0.0f) {
      __builtin_memset(&y[i], 0, sizeof y[i]);
      continue;
    }
    float max = 0.0f;
    for (int j = 0; j < kQK_K; ++j) {
      const float ax = x[j] < 0 ? -x[j] : x[j];
      if (ax == amax) {
        max = x[j];
        break;
      }
    }
    const float iscale = -127.0f / max;
    const __m256 vs = _mm256_set1_ps(iscale);
    const __m256i ones8 = _mm256_set1_epi8(1), ones16 = _mm256_set1_epi16(1);
    for (int j = 0; j < kQK_K; j += 32) {
      __m256i q[4];
      for (int k = 0; k < 4; ++k) {
        q[k] = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(vs, _mm256_loadu_ps(x + j + 8 * k)),
                                                  _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
      }
      const __m256i b = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
      const __m256i ordered = _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(y[i].qs + j), ordered);
      // Sums of 16: pairs, then fours, then two horizontal adds per lane.
      __m256i s = _mm256_madd_epi16(_mm256_maddubs_epi16(ones8, ordered), ones16);
      s = _mm256_hadd_epi32(s, s);
      s = _mm256_hadd_epi32(s, s);
      y[i].bsums[j / 16] = static_cast<int16_t>(_mm256_extract_epi32(s, 0));
      y[i].bsums[j / 16 + 1] = static_cast<int16_t>(_mm256_extract_epi32(s, 4));
    }
    y[i].d = 1.0f / iscale;
  }
}

void F16FromFloat(const float* src, void* dst, int64_t n) {
  uint16_t* y = static_cast<uint16_t*>(dst);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
  }
  for (; i < n; ++i) y[i] = _cvtss_sh(src[i], _MM_FROUND_TO_NEAREST_INT);
}

}  // namespace

FromFloatFn Avx2FromFloat(TensorType type) {
  switch (type) {
    case TensorType::kF16:
      return F16FromFloat;
    case TensorType::kQ8_0:
      return Q8_0FromFloat;
    case TensorType::kQ8_K:
      return Q8_KFromFloat;
    default:
      return nullptr;
  }
}

VecDotRowsFn Avx2VecDotRows(TensorType type) {
  switch (type) {
    case TensorType::kQ4_0:
      return Q4_0Dot4;
    case TensorType::kQ4_K:
      return Q4_KDot4;
    case TensorType::kQ6_K:
      return Q6_KDot4;
    default:
      return nullptr;
  }
}

VecDotNFn Avx2VecDotN(TensorType type) {
  switch (type) {
    case TensorType::kQ8_0:
      return Q8_0DotN;
    case TensorType::kQ4_0:
      return Q4_0DotN;
    case TensorType::kQ4_K:
      return Q4_KDotN;
    case TensorType::kQ6_K:
      return Q6_KDotN;
    default:
      return nullptr;
  }
}

ToFloatFn Avx2ToFloat(TensorType type) {
  switch (type) {
    case TensorType::kF16:
      return Half16ToFloat<LoadF16, H2F>;
    case TensorType::kBF16:
      return Half16ToFloat<LoadBf16, B2F>;
    case TensorType::kQ4_0:
      return Q4_0ToFloat;
    case TensorType::kQ8_0:
      return Q8_0ToFloat;
    case TensorType::kQ4_K:
      return Q4_KToFloat;
    case TensorType::kQ6_K:
      return Q6_KToFloat;
    default:
      return nullptr;
  }
}

// Matrix-matrix product for prefill on float rows and packed activations
// (see quants.h). k is walked in chunks so that six weight rows' slice
// (12 KiB) stays in L1 while every token group's activations pass by.
void Avx2GemmF32(int64_t n_rows, int64_t n_tok, int64_t k, const float* w, const float* a_packed,
                 float* y, int64_t y_stride) {
  constexpr int64_t kChunk = 512;
  constexpr int kRows = 6;
  for (int64_t t = 0; t < n_tok; ++t) {
    for (int64_t r = 0; r < n_rows; ++r) y[t * y_stride + r] = 0.0f;
  }
  for (int64_t k0 = 0; k0 < k; k0 += kChunk) {
    const int64_t kc = k - k0 < kChunk ? k - k0 : kChunk;  // no std:: templates in this file
    for (int64_t r = 0; r < n_rows; r += kRows) {
      const int64_t nr = n_rows - r < kRows ? n_rows - r : kRows;
      const GemmTileFn tile = kGemmTiles[nr];
      for (int64_t t0 = 0; t0 < n_tok; t0 += kGemmTokenTile) {
        const int64_t nt = n_tok - t0 < kGemmTokenTile ? n_tok - t0 : kGemmTokenTile;
        tile(w + r * k + k0, k, a_packed + t0 * k + k0 * kGemmTokenTile, kc, y + t0 * y_stride + r,
             y_stride, nt);
      }
    }
  }
}

namespace {

// Lane r: the sum of a[r]'s eight lanes.
inline __m256 Hsum8(const __m256* a) {
  const __m256 t0 = _mm256_hadd_ps(a[0], a[1]), t1 = _mm256_hadd_ps(a[2], a[3]);
  const __m256 t2 = _mm256_hadd_ps(a[4], a[5]), t3 = _mm256_hadd_ps(a[6], a[7]);
  const __m256 u0 = _mm256_hadd_ps(t0, t1), u1 = _mm256_hadd_ps(t2, t3);
  return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
}

// e^x for x <= 0, within a few ulp (Cephes' expf): x = n ln2 + r with
// |r| <= ln2 / 2, e^r by its polynomial, 2^n put in the exponent bits. Below
// -87.3, where e^x leaves the normal floats, it gives e^-87.3 (nothing beside
// the softmax maximum's 1); NaN stays NaN.
inline __m256 ExpNonPositive(__m256 x) {
  x = _mm256_max_ps(_mm256_set1_ps(-87.33654f), x);  // max_ps returns x when x is NaN
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 y = _mm256_set1_ps(1.9875691500e-4f);
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.3981999507e-3f));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(8.3334519073e-3f));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(4.1665795894e-2f));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.6666665459e-1f));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(5.0000001201e-1f));
  y = _mm256_fmadd_ps(y, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  const __m256i two_n =
      _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(y, _mm256_castsi256_ps(two_n));
}

// out(0..8 kV) = sum_j w(j) v_j(0..8 kV) over j in [j0, j1), from zero when
// `fresh`, else on from out's partial sums; the accumulators live in
// registers, and small chunks take two positions per step so that enough
// multiply-add chains are in flight.
template <int kV>
void WeightedSumV(const float* w, const float* v, int64_t stride, int64_t j0, int64_t j1,
                  bool fresh, float* out) {
  constexpr int kSets = kV <= 4 ? 2 : 1;
  __m256 acc[kSets][kV];
  for (int c = 0; c < kV; ++c) {
    acc[0][c] = fresh ? _mm256_setzero_ps() : _mm256_loadu_ps(out + 8 * c);
    if constexpr (kSets == 2) acc[1][c] = _mm256_setzero_ps();
  }
  int64_t j = j0;
  for (; j + kSets <= j1; j += kSets) {
    for (int s = 0; s < kSets; ++s) {
      const __m256 p = _mm256_broadcast_ss(w + j + s);
      const float* vj = v + (j + s) * stride;
      for (int c = 0; c < kV; ++c) acc[s][c] = _mm256_fmadd_ps(p, _mm256_loadu_ps(vj + 8 * c), acc[s][c]);
    }
  }
  for (; j < j1; ++j) {
    const __m256 p = _mm256_broadcast_ss(w + j);
    for (int c = 0; c < kV; ++c) {
      acc[0][c] = _mm256_fmadd_ps(p, _mm256_loadu_ps(v + j * stride + 8 * c), acc[0][c]);
    }
  }
  for (int c = 0; c < kV; ++c) {
    if constexpr (kSets == 2) acc[0][c] = _mm256_add_ps(acc[0][c], acc[1][c]);
    _mm256_storeu_ps(out + 8 * c, acc[0][c]);
  }
}

using WeightedSumFn = void (*)(const float*, const float*, int64_t, int64_t, int64_t, bool, float*);
constexpr WeightedSumFn kWeightedSums[9] = {nullptr,         WeightedSumV<1>, WeightedSumV<2>,
                                            WeightedSumV<3>, WeightedSumV<4>, WeightedSumV<5>,
                                            WeightedSumV<6>, WeightedSumV<7>, WeightedSumV<8>};

// scores(j) = e^(scores(j) - max) for j in [first, n); returns their sum, in
// double.
double ExpAndSum(float* scores, int64_t first, int64_t n, float max) {
  const __m256 vm = _mm256_set1_ps(max);
  __m256d sum_lo = _mm256_setzero_pd(), sum_hi = _mm256_setzero_pd();
  int64_t j = first;
  for (; j + 8 <= n; j += 8) {
    const __m256 e = ExpNonPositive(_mm256_sub_ps(_mm256_loadu_ps(scores + j), vm));
    _mm256_storeu_ps(scores + j, e);
    sum_lo = _mm256_add_pd(sum_lo, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
    sum_hi = _mm256_add_pd(sum_hi, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
  }
  double lanes[4];
  _mm256_storeu_pd(lanes, _mm256_add_pd(sum_lo, sum_hi));
  double sum = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
  if (j < n) {  // the last few through the same exponential
    float buf[8];
    for (int i = 0; i < 8; ++i) buf[i] = j + i < n ? scores[j + i] - max : 0.0f;
    _mm256_storeu_ps(buf, ExpNonPositive(_mm256_loadu_ps(buf)));
    for (int i = 0; j + i < n; ++i) {
      scores[j + i] = buf[i];
      sum += buf[i];
    }
  }
  return sum;
}

constexpr int64_t kVBlock = 64;  // positions per V block (16 KiB of a 64-column chunk)

}  // namespace

// See AttentionFn. Per batch of up to eight queries: each block of eight K
// rows is scored against every query that sees all of it while it is in L1
// (eight rows against one query reduced together; rows a query sees only
// some of are scored one by one), the exponentials go eight at a time, and V
// is summed in blocks of 64 positions by chunks of up to 64 columns held in
// registers, each block again for every query while it is in L1. Blocks sit
// at multiples of 8 and 64 positions, so how a query's positions are cut
// depends only on its own range, never on the other queries of the call.
void Avx2Attention(const float* q_all, int64_t q_stride, int64_t n_tok, int64_t n_head,
                   const int64_t* firsts, const int64_t* ns, const float* k, const float* v,
                   int64_t stride, int64_t head_dim, float scale, float* scores_all,
                   int64_t scores_stride, float* out_all) {
  const int64_t d8 = head_dim / 8 * 8;
  const __m256 vscale = _mm256_set1_ps(scale);
  const int64_t n_q = n_tok * n_head;
  for (int64_t i0 = 0; i0 < n_q; i0 += kAttentionBatch) {
    const int64_t nq = n_q - i0 < kAttentionBatch ? n_q - i0 : kAttentionBatch;
    const float* q[kAttentionBatch];
    float* out[kAttentionBatch];
    float* scores[kAttentionBatch];
    int64_t first[kAttentionBatch], n[kAttentionBatch];
    int64_t lo = firsts[i0 / n_head], hi = 0;
    for (int64_t i = 0; i < nq; ++i) {
      const int64_t t = (i0 + i) / n_head, h = (i0 + i) % n_head;
      q[i] = q_all + t * q_stride + h * head_dim;
      out[i] = out_all + t * q_stride + h * head_dim;
      scores[i] = scores_all + (i0 + i) * scores_stride;
      first[i] = firsts[t];
      n[i] = ns[t];
      lo = first[i] < lo ? first[i] : lo;
      hi = n[i] > hi ? n[i] : hi;
    }
    __m256 vmax[kAttentionBatch];
    float max[kAttentionBatch];
    for (int64_t i = 0; i < nq; ++i) {
      vmax[i] = _mm256_set1_ps(-__builtin_inff());
      max[i] = -__builtin_inff();
    }
    for (int64_t jb = lo / 8 * 8; jb < hi; jb += 8) {
      const float* kj = k + jb * stride;
      for (int64_t i = 0; i < nq; ++i) {
        if (jb < first[i] || jb + 8 > n[i]) {  // the block's edge rows of this query's range
          const int64_t a = jb > first[i] ? jb : first[i], b = jb + 8 < n[i] ? jb + 8 : n[i];
          for (int64_t j = a; j < b; ++j) {
            scores[i][j] = F32Dot(head_dim, k + j * stride, q[i]) * scale;
            if (scores[i][j] > max[i]) max[i] = scores[i][j];
          }
          continue;
        }
        __m256 acc[8];
        for (int r = 0; r < 8; ++r) acc[r] = _mm256_setzero_ps();
        for (int64_t d = 0; d < d8; d += 8) {
          const __m256 qd = _mm256_loadu_ps(q[i] + d);
          for (int r = 0; r < 8; ++r) {
            acc[r] = _mm256_fmadd_ps(_mm256_loadu_ps(kj + r * stride + d), qd, acc[r]);
          }
        }
        __m256 s = Hsum8(acc);
        if (d8 < head_dim) {
          float tail[8];
          for (int r = 0; r < 8; ++r) {
            float t = 0.0f;
            for (int64_t d = d8; d < head_dim; ++d) t += kj[r * stride + d] * q[i][d];
            tail[r] = t;
          }
          s = _mm256_add_ps(s, _mm256_loadu_ps(tail));
        }
        s = _mm256_mul_ps(s, vscale);
        _mm256_storeu_ps(scores[i] + jb, s);
        vmax[i] = _mm256_max_ps(vmax[i], s);
      }
    }
    float inv[kAttentionBatch];
    for (int64_t i = 0; i < nq; ++i) {
      const float m = Hmax(vmax[i]);
      inv[i] = static_cast<float>(1.0 / ExpAndSum(scores[i], first[i], n[i], m > max[i] ? m : max[i]));
    }

    for (int64_t d0 = 0; d0 < d8; d0 += 64) {
      const WeightedSumFn sum_v = kWeightedSums[d8 - d0 < 64 ? (d8 - d0) / 8 : 8];
      for (int64_t jb = lo / kVBlock * kVBlock; jb < hi; jb += kVBlock) {
        for (int64_t i = 0; i < nq; ++i) {
          const int64_t a = jb > first[i] ? jb : first[i];
          const int64_t b = jb + kVBlock < n[i] ? jb + kVBlock : n[i];
          if (a < b) sum_v(scores[i], v + d0, stride, a, b, a == first[i], out[i] + d0);
        }
      }
    }
    for (int64_t i = 0; i < nq; ++i) {
      const __m256 vinv = _mm256_set1_ps(inv[i]);
      for (int64_t d = 0; d < d8; d += 8) {
        _mm256_storeu_ps(out[i] + d, _mm256_mul_ps(_mm256_loadu_ps(out[i] + d), vinv));
      }
      for (int64_t d = d8; d < head_dim; ++d) {
        float t = 0.0f;
        for (int64_t j = first[i]; j < n[i]; ++j) t += scores[i][j] * v[j * stride + d];
        out[i][d] = t * inv[i];
      }
    }
  }
}

VecDotFn Avx2VecDot(TensorType type) {
  switch (type) {
    case TensorType::kF32:
      return F32Dot;
    case TensorType::kF16:
      return Half16Dot<LoadF16, H2F>;
    case TensorType::kBF16:
      return Half16Dot<LoadBf16, B2F>;
    case TensorType::kQ8_0:
      return Q8_0Dot;
    case TensorType::kQ4_0:
      return Q4_0Dot;
    case TensorType::kQ4_1:
      return Q4_1Dot;
    case TensorType::kQ5_0:  // Qwen2.5's and Gemma 3's Q4_K_M rows that do not fit Q4_K
      return Q5_0Dot;
    case TensorType::kQ5_1:
      return Q5_1Dot;
    case TensorType::kQ2_K:
      return Q2_KDot;
    case TensorType::kQ3_K:
      return Q3_KDot;
    case TensorType::kQ4_K:
      return Q4_KDot;
    case TensorType::kQ5_K:
      return Q5_KDot;
    case TensorType::kQ6_K:
      return Q6_KDot;
    default:
      return nullptr;
  }
}

}  // namespace tcobench::internal
