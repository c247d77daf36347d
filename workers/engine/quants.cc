#include "workers/engine/quants.h"

#include <algorithm>
#include <array>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <vector>

#include "workers/engine/fp16.h"

namespace tcobench {
namespace {

// Round to nearest, ties to even (the rounding of ggml's nearest_int and of
// _mm256_round_ps(_MM_ROUND_NEAREST)).
inline int NearestInt(float x) { return static_cast<int>(std::nearbyint(x)); }

// ---------------------------------------------------------------- F32/F16/BF16

void F32ToFloat(const void* src, float* dst, int64_t n) {
  std::memcpy(dst, src, n * sizeof(float));
}
void F32FromFloat(const float* src, void* dst, int64_t n) {
  std::memcpy(dst, src, n * sizeof(float));
}
float F32VecDot(int64_t n, const void* w, const void* a) {
  const float* x = static_cast<const float*>(w);
  const float* y = static_cast<const float*>(a);
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) sum += x[i] * y[i];
  return sum;
}

// 16-bit float formats (F16, BF16): one element per "block".
template <float (*ToF32)(uint16_t)>
void Half16ToFloat(const void* src, float* dst, int64_t n) {
  const uint16_t* x = static_cast<const uint16_t*>(src);
  for (int64_t i = 0; i < n; ++i) dst[i] = ToF32(x[i]);
}
template <uint16_t (*FromF32)(float)>
void Half16FromFloat(const float* src, void* dst, int64_t n) {
  uint16_t* y = static_cast<uint16_t*>(dst);
  for (int64_t i = 0; i < n; ++i) y[i] = FromF32(src[i]);
}
// The products of two fp16 (or two bf16) values are exact in float32.
template <float (*ToF32)(uint16_t)>
float Half16VecDot(int64_t n, const void* w, const void* a) {
  const uint16_t* x = static_cast<const uint16_t*>(w);
  const uint16_t* y = static_cast<const uint16_t*>(a);
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) sum += ToF32(x[i]) * ToF32(y[i]);
  return sum;
}

// ------------------------------------------------------------ legacy 32-blocks

void Q4_0ToFloat(const void* src, float* y, int64_t n) {
  const BlockQ4_0* x = static_cast<const BlockQ4_0*>(src);
  for (int64_t i = 0; i < n / kQK; ++i, y += kQK) {
    const float d = Fp16ToFp32(x[i].d);
    for (int j = 0; j < kQK / 2; ++j) {
      y[j] = ((x[i].qs[j] & 0x0F) - 8) * d;
      y[j + kQK / 2] = ((x[i].qs[j] >> 4) - 8) * d;
    }
  }
}

void Q4_1ToFloat(const void* src, float* y, int64_t n) {
  const BlockQ4_1* x = static_cast<const BlockQ4_1*>(src);
  for (int64_t i = 0; i < n / kQK; ++i, y += kQK) {
    const float d = Fp16ToFp32(x[i].d);
    const float m = Fp16ToFp32(x[i].m);
    for (int j = 0; j < kQK / 2; ++j) {
      y[j] = (x[i].qs[j] & 0x0F) * d + m;
      y[j + kQK / 2] = (x[i].qs[j] >> 4) * d + m;
    }
  }
}

inline uint32_t LoadQh(const uint8_t* qh) {
  uint32_t v;
  std::memcpy(&v, qh, 4);
  return v;
}

// The 5-bit quant of weight j (j < 16) and j + 16 of a Q5 block, unsigned.
inline void Q5Pair(const uint8_t* qs, uint32_t qh, int j, int* q0, int* q1) {
  *q0 = (qs[j] & 0x0F) | (((qh >> j) << 4) & 0x10);
  *q1 = (qs[j] >> 4) | ((qh >> (j + 12)) & 0x10);
}

void Q5_0ToFloat(const void* src, float* y, int64_t n) {
  const BlockQ5_0* x = static_cast<const BlockQ5_0*>(src);
  for (int64_t i = 0; i < n / kQK; ++i, y += kQK) {
    const float d = Fp16ToFp32(x[i].d);
    const uint32_t qh = LoadQh(x[i].qh);
    for (int j = 0; j < kQK / 2; ++j) {
      int q0, q1;
      Q5Pair(x[i].qs, qh, j, &q0, &q1);
      y[j] = (q0 - 16) * d;
      y[j + kQK / 2] = (q1 - 16) * d;
    }
  }
}

void Q5_1ToFloat(const void* src, float* y, int64_t n) {
  const BlockQ5_1* x = static_cast<const BlockQ5_1*>(src);
  for (int64_t i = 0; i < n / kQK; ++i, y += kQK) {
    const float d = Fp16ToFp32(x[i].d);
    const float m = Fp16ToFp32(x[i].m);
    const uint32_t qh = LoadQh(x[i].qh);
    for (int j = 0; j < kQK / 2; ++j) {
      int q0, q1;
      Q5Pair(x[i].qs, qh, j, &q0, &q1);
      y[j] = q0 * d + m;
      y[j + kQK / 2] = q1 * d + m;
    }
  }
}

void Q8_0ToFloat(const void* src, float* y, int64_t n) {
  const BlockQ8_0* x = static_cast<const BlockQ8_0*>(src);
  for (int64_t i = 0; i < n / kQK; ++i, y += kQK) {
    const float d = Fp16ToFp32(x[i].d);
    for (int j = 0; j < kQK; ++j) y[j] = x[i].qs[j] * d;
  }
}

// Activations: the scale is amax/127 and quants round half to even, as the
// reference's run-time (SIMD) quantize_row_q8_0 / q8_1 do.
inline float Q8Scale(const float* x, float* inv) {
  float amax = 0.0f;
  for (int j = 0; j < kQK; ++j) amax = std::fmax(amax, std::fabs(x[j]));
  *inv = amax != 0.0f ? 127.0f / amax : 0.0f;
  return amax / 127.0f;
}

void Q8_0FromFloat(const float* x, void* dst, int64_t n) {
  BlockQ8_0* y = static_cast<BlockQ8_0*>(dst);
  for (int64_t i = 0; i < n / kQK; ++i, x += kQK) {
    float inv;
    const float d = Q8Scale(x, &inv);
    y[i].d = Fp32ToFp16(d);
    for (int j = 0; j < kQK; ++j) y[i].qs[j] = static_cast<int8_t>(NearestInt(x[j] * inv));
  }
}

void Q8_1FromFloat(const float* x, void* dst, int64_t n) {
  BlockQ8_1* y = static_cast<BlockQ8_1*>(dst);
  for (int64_t i = 0; i < n / kQK; ++i, x += kQK) {
    float inv;
    const float d = Q8Scale(x, &inv);
    int sum = 0;
    for (int j = 0; j < kQK; ++j) {
      y[i].qs[j] = static_cast<int8_t>(NearestInt(x[j] * inv));
      sum += y[i].qs[j];
    }
    y[i].d = Fp32ToFp16(d);
    y[i].s = Fp32ToFp16(d * static_cast<float>(sum));
  }
}

void Q8_1ToFloat(const void* src, float* y, int64_t n) {
  const BlockQ8_1* x = static_cast<const BlockQ8_1*>(src);
  for (int64_t i = 0; i < n / kQK; ++i, y += kQK) {
    const float d = Fp16ToFp32(x[i].d);
    for (int j = 0; j < kQK; ++j) y[j] = x[i].qs[j] * d;
  }
}

float Q4_0VecDot(int64_t n, const void* w, const void* a) {
  const BlockQ4_0* x = static_cast<const BlockQ4_0*>(w);
  const BlockQ8_0* y = static_cast<const BlockQ8_0*>(a);
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQK; ++i) {
    int sumi = 0;
    for (int j = 0; j < kQK / 2; ++j) {
      sumi += ((x[i].qs[j] & 0x0F) - 8) * y[i].qs[j];
      sumi += ((x[i].qs[j] >> 4) - 8) * y[i].qs[j + kQK / 2];
    }
    sum += sumi * (Fp16ToFp32(x[i].d) * Fp16ToFp32(y[i].d));
  }
  return sum;
}

float Q4_1VecDot(int64_t n, const void* w, const void* a) {
  const BlockQ4_1* x = static_cast<const BlockQ4_1*>(w);
  const BlockQ8_1* y = static_cast<const BlockQ8_1*>(a);
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQK; ++i) {
    int sumi = 0;
    for (int j = 0; j < kQK / 2; ++j) {
      sumi += (x[i].qs[j] & 0x0F) * y[i].qs[j];
      sumi += (x[i].qs[j] >> 4) * y[i].qs[j + kQK / 2];
    }
    sum +=
        (Fp16ToFp32(x[i].d) * Fp16ToFp32(y[i].d)) * sumi + Fp16ToFp32(x[i].m) * Fp16ToFp32(y[i].s);
  }
  return sum;
}

float Q5_0VecDot(int64_t n, const void* w, const void* a) {
  const BlockQ5_0* x = static_cast<const BlockQ5_0*>(w);
  const BlockQ8_0* y = static_cast<const BlockQ8_0*>(a);
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQK; ++i) {
    const uint32_t qh = LoadQh(x[i].qh);
    int sumi = 0;
    for (int j = 0; j < kQK / 2; ++j) {
      int q0, q1;
      Q5Pair(x[i].qs, qh, j, &q0, &q1);
      sumi += (q0 - 16) * y[i].qs[j] + (q1 - 16) * y[i].qs[j + kQK / 2];
    }
    sum += sumi * (Fp16ToFp32(x[i].d) * Fp16ToFp32(y[i].d));
  }
  return sum;
}

float Q5_1VecDot(int64_t n, const void* w, const void* a) {
  const BlockQ5_1* x = static_cast<const BlockQ5_1*>(w);
  const BlockQ8_1* y = static_cast<const BlockQ8_1*>(a);
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQK; ++i) {
    const uint32_t qh = LoadQh(x[i].qh);
    int sumi = 0;
    for (int j = 0; j < kQK / 2; ++j) {
      int q0, q1;
      Q5Pair(x[i].qs, qh, j, &q0, &q1);
      sumi += q0 * y[i].qs[j] + q1 * y[i].qs[j + kQK / 2];
    }
    sum +=
        (Fp16ToFp32(x[i].d) * Fp16ToFp32(y[i].d)) * sumi + Fp16ToFp32(x[i].m) * Fp16ToFp32(y[i].s);
  }
  return sum;
}

float Q8_0VecDot(int64_t n, const void* w, const void* a) {
  const BlockQ8_0* x = static_cast<const BlockQ8_0*>(w);
  const BlockQ8_0* y = static_cast<const BlockQ8_0*>(a);
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQK; ++i) {
    int sumi = 0;
    for (int j = 0; j < kQK; ++j) sumi += x[i].qs[j] * y[i].qs[j];
    sum += sumi * (Fp16ToFp32(x[i].d) * Fp16ToFp32(y[i].d));
  }
  return sum;
}

// --------------------------------------------------------------------- k-quants

void Q8_KFromFloat(const float* x, void* dst, int64_t n) {
  BlockQ8_K* y = static_cast<BlockQ8_K*>(dst);
  for (int64_t i = 0; i < n / kQK_K; ++i, x += kQK_K) {
    float max = 0.0f, amax = 0.0f;
    for (int j = 0; j < kQK_K; ++j) {
      const float ax = std::fabs(x[j]);
      if (ax > amax) {
        amax = ax;
        max = x[j];
      }
    }
    if (amax == 0.0f) {
      std::memset(&y[i], 0, sizeof y[i]);
      continue;
    }
    const float iscale = -127.0f / max;
    for (int j = 0; j < kQK_K; ++j) {
      const int v = NearestInt(iscale * x[j]);
      y[i].qs[j] = static_cast<int8_t>(v < 127 ? v : 127);
    }
    for (int j = 0; j < kQK_K / 16; ++j) {
      int sum = 0;
      for (int l = 0; l < 16; ++l) sum += y[i].qs[j * 16 + l];
      y[i].bsums[j] = static_cast<int16_t>(sum);
    }
    y[i].d = 1.0f / iscale;
  }
}

void Q8_KToFloat(const void* src, float* y, int64_t n) {
  const BlockQ8_K* x = static_cast<const BlockQ8_K*>(src);
  for (int64_t i = 0; i < n / kQK_K; ++i, y += kQK_K) {
    for (int j = 0; j < kQK_K; ++j) y[j] = x[i].d * x[i].qs[j];
  }
}

// Each k-quant is decoded block by block into integer quants q[256] and
// per-16-weight integer scales/mins, so dequantize and dot share one decoder:
//   weight w = d * scale[w/16] * q[w] - dmin * min[w/16].
struct DecodedK {
  int8_t q[kQK_K];
  int scale[kQK_K / 16];
  int min[kQK_K / 16];
  float d;
  float dmin;
};

void DecodeQ2_K(const BlockQ2_K& b, DecodedK* out) {
  out->d = Fp16ToFp32(b.d);
  out->dmin = Fp16ToFp32(b.dmin);
  for (int s = 0; s < 16; ++s) {
    out->scale[s] = b.scales[s] & 0x0F;
    out->min[s] = b.scales[s] >> 4;
  }
  for (int half = 0; half < 2; ++half) {
    const uint8_t* qs = b.qs + 32 * half;
    for (int j = 0; j < 4; ++j) {
      for (int l = 0; l < 32; ++l) out->q[128 * half + 32 * j + l] = (qs[l] >> (2 * j)) & 3;
    }
  }
}

void DecodeQ3_K(const BlockQ3_K& b, DecodedK* out) {
  out->d = Fp16ToFp32(b.d);
  out->dmin = 0.0f;
  for (int s = 0; s < 16; ++s) {
    out->scale[s] = GetScaleQ3K(b.scales, s);
    out->min[s] = 0;
  }
  for (int half = 0; half < 2; ++half) {
    const uint8_t* qs = b.qs + 32 * half;
    for (int j = 0; j < 4; ++j) {
      const uint8_t mask = static_cast<uint8_t>(1u << (4 * half + j));
      for (int l = 0; l < 32; ++l) {
        const int low = (qs[l] >> (2 * j)) & 3;
        out->q[128 * half + 32 * j + l] = static_cast<int8_t>(low - ((b.hmask[l] & mask) ? 0 : 4));
      }
    }
  }
}

void DecodeQ4_K(const BlockQ4_K& b, DecodedK* out) {
  out->d = Fp16ToFp32(b.d);
  out->dmin = Fp16ToFp32(b.dmin);
  for (int j = 0; j < 8; ++j) {
    uint8_t sc, m;
    GetScaleMinK4(j, b.scales, &sc, &m);
    out->scale[2 * j] = out->scale[2 * j + 1] = sc;
    out->min[2 * j] = out->min[2 * j + 1] = m;
  }
  for (int g = 0; g < 4; ++g) {
    for (int l = 0; l < 32; ++l) {
      out->q[64 * g + l] = b.qs[32 * g + l] & 0x0F;
      out->q[64 * g + 32 + l] = b.qs[32 * g + l] >> 4;
    }
  }
}

void DecodeQ5_K(const BlockQ5_K& b, DecodedK* out) {
  out->d = Fp16ToFp32(b.d);
  out->dmin = Fp16ToFp32(b.dmin);
  for (int j = 0; j < 8; ++j) {
    uint8_t sc, m;
    GetScaleMinK4(j, b.scales, &sc, &m);
    out->scale[2 * j] = out->scale[2 * j + 1] = sc;
    out->min[2 * j] = out->min[2 * j + 1] = m;
  }
  for (int g = 0; g < 4; ++g) {
    for (int l = 0; l < 32; ++l) {
      const int hi0 = (b.qh[l] >> (2 * g)) & 1;
      const int hi1 = (b.qh[l] >> (2 * g + 1)) & 1;
      out->q[64 * g + l] = static_cast<int8_t>((b.qs[32 * g + l] & 0x0F) | (hi0 << 4));
      out->q[64 * g + 32 + l] = static_cast<int8_t>((b.qs[32 * g + l] >> 4) | (hi1 << 4));
    }
  }
}

void DecodeQ6_K(const BlockQ6_K& b, DecodedK* out) {
  out->d = Fp16ToFp32(b.d);
  out->dmin = 0.0f;
  for (int s = 0; s < 16; ++s) {
    out->scale[s] = b.scales[s];
    out->min[s] = 0;
  }
  for (int half = 0; half < 2; ++half) {
    const uint8_t* ql = b.ql + 64 * half;
    const uint8_t* qh = b.qh + 32 * half;
    int8_t* q = out->q + 128 * half;
    for (int l = 0; l < 32; ++l) {
      q[l] = static_cast<int8_t>(((ql[l] & 0x0F) | (((qh[l] >> 0) & 3) << 4)) - 32);
      q[l + 32] = static_cast<int8_t>(((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) - 32);
      q[l + 64] = static_cast<int8_t>(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
      q[l + 96] = static_cast<int8_t>(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
    }
  }
}

template <typename Block, void (*Decode)(const Block&, DecodedK*)>
void KToFloat(const void* src, float* y, int64_t n) {
  const Block* x = static_cast<const Block*>(src);
  DecodedK dk;
  for (int64_t i = 0; i < n / kQK_K; ++i, y += kQK_K) {
    Decode(x[i], &dk);
    for (int s = 0; s < 16; ++s) {
      const float dl = dk.d * dk.scale[s];
      const float ml = dk.dmin * dk.min[s];
      for (int l = 0; l < 16; ++l) y[16 * s + l] = dl * dk.q[16 * s + l] - ml;
    }
  }
}

// sum_w weight_w * act_w with act_w = d_y * q8_w, computed as ggml does: exact
// integer sums per super-block, then d_x * d_y * sum(scale * q . q8) minus
// dmin_x * d_y * sum(min * bsum).
template <typename Block, void (*Decode)(const Block&, DecodedK*)>
float KVecDot(int64_t n, const void* w, const void* a) {
  const Block* x = static_cast<const Block*>(w);
  const BlockQ8_K* y = static_cast<const BlockQ8_K*>(a);
  DecodedK dk;
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    Decode(x[i], &dk);
    int32_t isum = 0;
    int32_t msum = 0;
    for (int s = 0; s < 16; ++s) {
      int32_t dot = 0;
      for (int l = 0; l < 16; ++l) dot += dk.q[16 * s + l] * y[i].qs[16 * s + l];
      isum += dk.scale[s] * dot;
      msum += dk.min[s] * y[i].bsums[s];
    }
    sum += (dk.d * y[i].d) * isum - (dk.dmin * y[i].d) * msum;
  }
  return sum;
}

// ------------------------------------------------------------ weight quantizers
// The reference's row quantizers, operation for operation (plain float32, no
// fused multiply-add), so files made here match llama-quantize's.

constexpr float kGroupMaxEps = 1e-15f;

void Q8_0Quantize(const float* x, void* dst, int64_t n) {
  BlockQ8_0* y = static_cast<BlockQ8_0*>(dst);
  for (int64_t i = 0; i < n / kQK; ++i, x += kQK) {
    float amax = 0.0f;
    for (int j = 0; j < kQK; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[i].d = Fp32ToFp16(d);
    for (int j = 0; j < kQK; ++j) y[i].qs[j] = static_cast<int8_t>(std::round(x[j] * id));
  }
}

// The value of largest magnitude, sign kept (the first one among ties).
inline float SignedMax(const float* x, int n) {
  float amax = 0.0f, max = 0.0f;
  for (int j = 0; j < n; ++j) {
    if (amax < std::fabs(x[j])) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  }
  return max;
}

void Q4_0Quantize(const float* x, void* dst, int64_t n) {
  BlockQ4_0* y = static_cast<BlockQ4_0*>(dst);
  for (int64_t i = 0; i < n / kQK; ++i, x += kQK) {
    const float d = SignedMax(x, kQK) / -8.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[i].d = Fp32ToFp16(d);
    for (int j = 0; j < kQK / 2; ++j) {
      const float x0 = x[j] * id, x1 = x[kQK / 2 + j] * id;
      const uint8_t q0 =
          static_cast<uint8_t>(std::min(15, static_cast<int>(static_cast<int8_t>(x0 + 8.5f))));
      const uint8_t q1 =
          static_cast<uint8_t>(std::min(15, static_cast<int>(static_cast<int8_t>(x1 + 8.5f))));
      y[i].qs[j] = static_cast<uint8_t>(q0 | (q1 << 4));
    }
  }
}

inline void MinMax(const float* x, int n, float* min, float* max) {
  *min = FLT_MAX;
  *max = -FLT_MAX;
  for (int j = 0; j < n; ++j) {
    if (x[j] < *min) *min = x[j];
    if (x[j] > *max) *max = x[j];
  }
}

void Q4_1Quantize(const float* x, void* dst, int64_t n) {
  BlockQ4_1* y = static_cast<BlockQ4_1*>(dst);
  for (int64_t i = 0; i < n / kQK; ++i, x += kQK) {
    float min, max;
    MinMax(x, kQK, &min, &max);
    const float d = (max - min) / 15.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[i].d = Fp32ToFp16(d);
    y[i].m = Fp32ToFp16(min);
    for (int j = 0; j < kQK / 2; ++j) {
      const float x0 = (x[j] - min) * id, x1 = (x[kQK / 2 + j] - min) * id;
      const uint8_t q0 =
          static_cast<uint8_t>(std::min(15, static_cast<int>(static_cast<int8_t>(x0 + 0.5f))));
      const uint8_t q1 =
          static_cast<uint8_t>(std::min(15, static_cast<int>(static_cast<int8_t>(x1 + 0.5f))));
      y[i].qs[j] = static_cast<uint8_t>(q0 | (q1 << 4));
    }
  }
}

// Packs 32 5-bit quants: low nibbles as Q4, the 5th bits into qh.
inline void PackQ5(const uint8_t* q, uint8_t* qs, uint8_t* qh_bytes) {
  uint32_t qh = 0;
  for (int j = 0; j < kQK / 2; ++j) {
    qs[j] = static_cast<uint8_t>((q[j] & 0x0F) | ((q[j + kQK / 2] & 0x0F) << 4));
    qh |= ((q[j] & 0x10u) >> 4) << j;
    qh |= ((q[j + kQK / 2] & 0x10u) >> 4) << (j + 16);
  }
  std::memcpy(qh_bytes, &qh, 4);
}

void Q5_0Quantize(const float* x, void* dst, int64_t n) {
  BlockQ5_0* y = static_cast<BlockQ5_0*>(dst);
  for (int64_t i = 0; i < n / kQK; ++i, x += kQK) {
    const float d = SignedMax(x, kQK) / -16.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[i].d = Fp32ToFp16(d);
    uint8_t q[kQK];
    for (int j = 0; j < kQK; ++j) {
      q[j] = static_cast<uint8_t>(
          std::min(31, static_cast<int>(static_cast<int8_t>(x[j] * id + 16.5f))));
    }
    PackQ5(q, y[i].qs, y[i].qh);
  }
}

void Q5_1Quantize(const float* x, void* dst, int64_t n) {
  BlockQ5_1* y = static_cast<BlockQ5_1*>(dst);
  for (int64_t i = 0; i < n / kQK; ++i, x += kQK) {
    float min, max;
    MinMax(x, kQK, &min, &max);
    const float d = (max - min) / 31.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[i].d = Fp32ToFp16(d);
    y[i].m = Fp32ToFp16(min);
    uint8_t q[kQK];
    for (int j = 0; j < kQK; ++j) q[j] = static_cast<uint8_t>((x[j] - min) * id + 0.5f);
    PackQ5(q, y[i].qs, y[i].qh);
  }
}

// Best scale (and minimum) for n values on the grid 0..nmax, searching
// nstep+1 candidate scales around the min-max one, minimising the weighted
// squared (or absolute, use_mad) error. Returns the scale; *the_min gets -min.
float MakeQkx2Quants(int n, int nmax, const float* x, const float* weights, uint8_t* L,
                     float* the_min, uint8_t* Laux, float rmin, float rdelta, int nstep,
                     bool use_mad) {
  float min = x[0], max = x[0];
  float sum_w = weights[0];
  float sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
    const float w = weights[i];
    sum_w += w;
    sum_x += w * x[i];
  }
  if (min > 0) min = 0;
  if (max == min) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    *the_min = -min;
    return 0.0f;
  }
  float iscale = nmax / (max - min);
  float scale = 1 / iscale;
  float best_error = 0;
  for (int i = 0; i < n; ++i) {
    const int l = NearestInt(iscale * (x[i] - min));
    L[i] = static_cast<uint8_t>(std::max(0, std::min(nmax, l)));
    float diff = scale * L[i] + min - x[i];
    diff = use_mad ? std::fabs(diff) : diff * diff;
    best_error += weights[i] * diff;
  }
  if (nstep < 1) {
    *the_min = -min;
    return scale;
  }
  for (int is = 0; is <= nstep; ++is) {
    iscale = (rmin + rdelta * is + nmax) / (max - min);
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; ++i) {
      int l = NearestInt(iscale * (x[i] - min));
      l = std::max(0, std::min(nmax, l));
      Laux[i] = static_cast<uint8_t>(l);
      const float w = weights[i];
      sum_l += w * l;
      sum_l2 += w * l * l;
      sum_xl += w * l * x[i];
    }
    const float D = sum_w * sum_l2 - sum_l * sum_l;
    if (D > 0) {
      float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
      float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
      if (this_min > 0) {
        this_min = 0;
        this_scale = sum_xl / sum_l2;
      }
      float cur_error = 0;
      for (int i = 0; i < n; ++i) {
        float diff = this_scale * Laux[i] + this_min - x[i];
        diff = use_mad ? std::fabs(diff) : diff * diff;
        cur_error += weights[i] * diff;
      }
      if (cur_error < best_error) {
        for (int i = 0; i < n; ++i) L[i] = Laux[i];
        best_error = cur_error;
        scale = this_scale;
        min = this_min;
      }
    }
  }
  *the_min = -min;
  return scale;
}

// Symmetric quants -nmax..nmax-1 with an x^2-weighted scale search (Q6_K).
float MakeQxQuants(int n, int nmax, const float* x, int8_t* L) {
  const float max = SignedMax(x, n);
  if (std::fabs(max) < kGroupMaxEps) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    return 0.0f;
  }
  float iscale = -nmax / max;
  float sumlx = 0, suml2 = 0;
  for (int i = 0; i < n; ++i) {
    int l = NearestInt(iscale * x[i]);
    l = std::max(-nmax, std::min(nmax - 1, l));
    L[i] = static_cast<int8_t>(l + nmax);
    const float w = x[i] * x[i];
    sumlx += w * x[i] * l;
    suml2 += w * l * l;
  }
  float scale = suml2 != 0.0f ? sumlx / suml2 : 0.0f;
  float best = scale * sumlx;
  for (int is = -9; is <= 9; ++is) {
    if (is == 0) continue;
    iscale = -(nmax + 0.1f * is) / max;
    sumlx = suml2 = 0;
    for (int i = 0; i < n; ++i) {
      int l = NearestInt(iscale * x[i]);
      l = std::max(-nmax, std::min(nmax - 1, l));
      const float w = x[i] * x[i];
      sumlx += w * x[i] * l;
      suml2 += w * l * l;
    }
    if (suml2 > 0 && sumlx * sumlx > best * suml2) {
      for (int i = 0; i < n; ++i) {
        const int l = NearestInt(iscale * x[i]);
        L[i] = static_cast<int8_t>(nmax + std::max(-nmax, std::min(nmax - 1, l)));
      }
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  return scale;
}

// Symmetric quants with iterative x^2-weighted refinement (Q3_K).
float MakeQ3Quants(int n, int nmax, const float* x, int8_t* L) {
  const float max = SignedMax(x, n);
  if (std::fabs(max) < kGroupMaxEps) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    return 0.0f;
  }
  const float iscale = -nmax / max;
  float sumlx = 0, suml2 = 0;
  for (int i = 0; i < n; ++i) {
    int l = NearestInt(iscale * x[i]);
    l = std::max(-nmax, std::min(nmax - 1, l));
    L[i] = static_cast<int8_t>(l);
    const float w = x[i] * x[i];
    sumlx += w * x[i] * l;
    suml2 += w * l * l;
  }
  for (int itry = 0; itry < 5; ++itry) {
    int n_changed = 0;
    for (int i = 0; i < n; ++i) {
      const float w = x[i] * x[i];
      float slx = sumlx - w * x[i] * L[i];
      if (slx > 0) {
        float sl2 = suml2 - w * L[i] * L[i];
        int new_l = NearestInt(x[i] * sl2 / slx);
        new_l = std::max(-nmax, std::min(nmax - 1, new_l));
        if (new_l != L[i]) {
          slx += w * x[i] * new_l;
          sl2 += w * new_l * new_l;
          if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
            L[i] = static_cast<int8_t>(new_l);
            sumlx = slx;
            suml2 = sl2;
            ++n_changed;
          }
        }
      }
    }
    if (!n_changed) break;
  }
  for (int i = 0; i < n; ++i) L[i] = static_cast<int8_t>(L[i] + nmax);
  return sumlx / suml2;
}

// Packs 2-bit quants (0..3) of a 256 block in the Q2_K/Q3_K order.
inline void Pack2Bit(const uint8_t* L, uint8_t* qs) {
  for (int j = 0; j < kQK_K; j += 128) {
    for (int l = 0; l < 32; ++l) {
      qs[j / 4 + l] = static_cast<uint8_t>(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) |
                                           (L[j + l + 96] << 6));
    }
  }
}

void Q2_KQuantize(const float* x, void* dst, int64_t n) {
  BlockQ2_K* y = static_cast<BlockQ2_K*>(dst);
  uint8_t L[kQK_K], Laux[16];
  float weights[16], mins[kQK_K / 16], scales[kQK_K / 16];
  const float q4scale = 15.0f;
  for (int64_t i = 0; i < n / kQK_K; ++i, x += kQK_K) {
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < kQK_K / 16; ++j) {
      for (int l = 0; l < 16; ++l) weights[l] = std::fabs(x[16 * j + l]);
      scales[j] = MakeQkx2Quants(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], Laux, -0.5f,
                                 0.1f, 15, true);
      max_scale = std::max(max_scale, scales[j]);
      max_min = std::max(max_min, mins[j]);
    }
    if (max_scale > 0) {
      const float iscale = q4scale / max_scale;
      for (int j = 0; j < kQK_K / 16; ++j)
        y[i].scales[j] = static_cast<uint8_t>(NearestInt(iscale * scales[j]));
      y[i].d = Fp32ToFp16(max_scale / q4scale);
    } else {
      for (int j = 0; j < kQK_K / 16; ++j) y[i].scales[j] = 0;
      y[i].d = Fp32ToFp16(0.0f);
    }
    if (max_min > 0) {
      const float iscale = q4scale / max_min;
      for (int j = 0; j < kQK_K / 16; ++j) {
        y[i].scales[j] = static_cast<uint8_t>(y[i].scales[j] | (NearestInt(iscale * mins[j]) << 4));
      }
      y[i].dmin = Fp32ToFp16(max_min / q4scale);
    } else {
      y[i].dmin = Fp32ToFp16(0.0f);
    }
    for (int j = 0; j < kQK_K / 16; ++j) {
      const float d = Fp16ToFp32(y[i].d) * (y[i].scales[j] & 0xF);
      if (d == 0.0f) continue;
      const float dm = Fp16ToFp32(y[i].dmin) * (y[i].scales[j] >> 4);
      for (int ii = 0; ii < 16; ++ii) {
        const int l = NearestInt((x[16 * j + ii] + dm) / d);
        L[16 * j + ii] = static_cast<uint8_t>(std::max(0, std::min(3, l)));
      }
    }
    Pack2Bit(L, y[i].qs);
  }
}

void Q3_KQuantize(const float* x, void* dst, int64_t n) {
  BlockQ3_K* y = static_cast<BlockQ3_K*>(dst);
  int8_t L[kQK_K];
  float scales[kQK_K / 16];
  for (int64_t i = 0; i < n / kQK_K; ++i, x += kQK_K) {
    for (int j = 0; j < kQK_K / 16; ++j) scales[j] = MakeQ3Quants(16, 4, x + 16 * j, L + 16 * j);
    const float max_scale = SignedMax(scales, kQK_K / 16);
    std::memset(y[i].scales, 0, 12);
    if (max_scale != 0.0f) {
      const float iscale = -32.0f / max_scale;
      for (int j = 0; j < kQK_K / 16; ++j) {
        int l = NearestInt(iscale * scales[j]);
        l = std::max(-32, std::min(31, l)) + 32;
        if (j < 8) {
          y[i].scales[j] = static_cast<uint8_t>(l & 0xF);
        } else {
          y[i].scales[j - 8] = static_cast<uint8_t>(y[i].scales[j - 8] | ((l & 0xF) << 4));
        }
        l >>= 4;
        y[i].scales[j % 4 + 8] =
            static_cast<uint8_t>(y[i].scales[j % 4 + 8] | (l << (2 * (j / 4))));
      }
      y[i].d = Fp32ToFp16(1 / iscale);
    } else {
      y[i].d = Fp32ToFp16(0.0f);
    }
    for (int j = 0; j < kQK_K / 16; ++j) {
      const float d = Fp16ToFp32(y[i].d) * GetScaleQ3K(y[i].scales, j);
      if (d == 0.0f) continue;
      for (int ii = 0; ii < 16; ++ii) {
        const int l = NearestInt(x[16 * j + ii] / d);
        L[16 * j + ii] = static_cast<int8_t>(std::max(-4, std::min(3, l)) + 4);
      }
    }
    // The high bit of weight j goes to bit j/32 of hmask byte j%32.
    std::memset(y[i].hmask, 0, kQK_K / 8);
    uint8_t U[kQK_K];
    for (int j = 0; j < kQK_K; ++j) {
      int l = L[j];
      if (l > 3) {
        y[i].hmask[j % 32] = static_cast<uint8_t>(y[i].hmask[j % 32] | (1 << (j / 32)));
        l -= 4;
      }
      U[j] = static_cast<uint8_t>(l);
    }
    Pack2Bit(U, y[i].qs);
  }
}

// Q4_K and Q5_K: eight 32-weight sub-blocks with (scale, min) searched by
// MakeQkx2Quants, quantised to 6 bits against the block maxima.
template <int kNmax>
void QuantizeKScaleMin(const float* x, uint8_t* scales_out, uint16_t* d_out, uint16_t* dmin_out,
                       uint8_t* L) {
  uint8_t Laux[32];
  float weights[32], mins[kQK_K / 32], scales[kQK_K / 32];
  float max_scale = 0, max_min = 0;
  for (int j = 0; j < kQK_K / 32; ++j) {
    float sum_x2 = 0;
    for (int l = 0; l < 32; ++l) sum_x2 += x[32 * j + l] * x[32 * j + l];
    const float av_x = std::sqrt(sum_x2 / 32);
    for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(x[32 * j + l]);
    scales[j] = kNmax == 15 ? MakeQkx2Quants(32, 15, x + 32 * j, weights, L + 32 * j, &mins[j],
                                             Laux, -1.0f, 0.1f, 20, false)
                            : MakeQkx2Quants(32, 31, x + 32 * j, weights, L + 32 * j, &mins[j],
                                             Laux, -0.5f, 0.1f, 15, false);
    max_scale = std::max(max_scale, scales[j]);
    max_min = std::max(max_min, mins[j]);
  }
  const float inv_scale = max_scale > 0 ? 63.0f / max_scale : 0.0f;
  const float inv_min = max_min > 0 ? 63.0f / max_min : 0.0f;
  std::memset(scales_out, 0, 12);
  for (int j = 0; j < kQK_K / 32; ++j) {
    const uint8_t ls = static_cast<uint8_t>(std::min(63, NearestInt(inv_scale * scales[j])));
    const uint8_t lm = static_cast<uint8_t>(std::min(63, NearestInt(inv_min * mins[j])));
    if (j < 4) {
      scales_out[j] = ls;
      scales_out[j + 4] = lm;
    } else {
      scales_out[j + 4] = static_cast<uint8_t>((ls & 0xF) | ((lm & 0xF) << 4));
      scales_out[j - 4] = static_cast<uint8_t>(scales_out[j - 4] | ((ls >> 4) << 6));
      scales_out[j] = static_cast<uint8_t>(scales_out[j] | ((lm >> 4) << 6));
    }
  }
  *d_out = Fp32ToFp16(max_scale / 63.0f);
  *dmin_out = Fp32ToFp16(max_min / 63.0f);
  for (int j = 0; j < kQK_K / 32; ++j) {
    uint8_t sc, m;
    GetScaleMinK4(j, scales_out, &sc, &m);
    const float d = Fp16ToFp32(*d_out) * sc;
    if (d == 0.0f) continue;
    const float dm = Fp16ToFp32(*dmin_out) * m;
    for (int ii = 0; ii < 32; ++ii) {
      const int l = NearestInt((x[32 * j + ii] + dm) / d);
      L[32 * j + ii] = static_cast<uint8_t>(std::max(0, std::min(kNmax, l)));
    }
  }
}

void Q4_KQuantize(const float* x, void* dst, int64_t n) {
  BlockQ4_K* y = static_cast<BlockQ4_K*>(dst);
  uint8_t L[kQK_K];
  for (int64_t i = 0; i < n / kQK_K; ++i, x += kQK_K) {
    QuantizeKScaleMin<15>(x, y[i].scales, &y[i].d, &y[i].dmin, L);
    for (int g = 0; g < 4; ++g) {
      for (int l = 0; l < 32; ++l)
        y[i].qs[32 * g + l] = static_cast<uint8_t>(L[64 * g + l] | (L[64 * g + l + 32] << 4));
    }
  }
}

void Q5_KQuantize(const float* x, void* dst, int64_t n) {
  BlockQ5_K* y = static_cast<BlockQ5_K*>(dst);
  uint8_t L[kQK_K];
  for (int64_t i = 0; i < n / kQK_K; ++i, x += kQK_K) {
    QuantizeKScaleMin<31>(x, y[i].scales, &y[i].d, &y[i].dmin, L);
    std::memset(y[i].qh, 0, kQK_K / 8);
    for (int g = 0; g < 4; ++g) {
      for (int l = 0; l < 32; ++l) {
        const int lo = L[64 * g + l], hi = L[64 * g + l + 32];
        if (lo > 15) y[i].qh[l] = static_cast<uint8_t>(y[i].qh[l] | (1 << (2 * g)));
        if (hi > 15) y[i].qh[l] = static_cast<uint8_t>(y[i].qh[l] | (1 << (2 * g + 1)));
        y[i].qs[32 * g + l] = static_cast<uint8_t>((lo & 0xF) | ((hi & 0xF) << 4));
      }
    }
  }
}

void Q6_KQuantize(const float* x, void* dst, int64_t n) {
  BlockQ6_K* y = static_cast<BlockQ6_K*>(dst);
  int8_t L[kQK_K];
  float scales[kQK_K / 16];
  for (int64_t i = 0; i < n / kQK_K; ++i, x += kQK_K) {
    for (int ib = 0; ib < kQK_K / 16; ++ib)
      scales[ib] = MakeQxQuants(16, 32, x + 16 * ib, L + 16 * ib);
    const float max_scale = SignedMax(scales, kQK_K / 16);
    if (std::fabs(max_scale) < kGroupMaxEps) {
      std::memset(&y[i], 0, sizeof y[i]);
      continue;
    }
    const float iscale = -128.0f / max_scale;
    y[i].d = Fp32ToFp16(1 / iscale);
    for (int ib = 0; ib < kQK_K / 16; ++ib) {
      y[i].scales[ib] = static_cast<int8_t>(std::min(127, NearestInt(iscale * scales[ib])));
    }
    for (int j = 0; j < kQK_K / 16; ++j) {
      const float d = Fp16ToFp32(y[i].d) * y[i].scales[j];
      if (d == 0.0f) continue;
      for (int ii = 0; ii < 16; ++ii) {
        const int l = NearestInt(x[16 * j + ii] / d);
        L[16 * j + ii] = static_cast<int8_t>(std::max(-32, std::min(31, l)) + 32);
      }
    }
    for (int half = 0; half < 2; ++half) {
      const int8_t* q = L + 128 * half;
      uint8_t* ql = y[i].ql + 64 * half;
      uint8_t* qh = y[i].qh + 32 * half;
      for (int l = 0; l < 32; ++l) {
        ql[l] = static_cast<uint8_t>((q[l] & 0xF) | ((q[l + 64] & 0xF) << 4));
        ql[l + 32] = static_cast<uint8_t>((q[l + 32] & 0xF) | ((q[l + 96] & 0xF) << 4));
        qh[l] = static_cast<uint8_t>((q[l] >> 4) | ((q[l + 32] >> 4) << 2) |
                                     ((q[l + 64] >> 4) << 4) | ((q[l + 96] >> 4) << 6));
      }
    }
  }
}

constexpr TypeOps kOps[] = {
    {TensorType::kF32, TensorType::kF32, F32ToFloat, F32FromFloat, F32VecDot, F32FromFloat},
    {TensorType::kF16, TensorType::kF16, Half16ToFloat<Fp16ToFp32>, Half16FromFloat<Fp32ToFp16>,
     Half16VecDot<Fp16ToFp32>, Half16FromFloat<Fp32ToFp16>},
    {TensorType::kBF16, TensorType::kBF16, Half16ToFloat<Bf16ToFp32>, Half16FromFloat<Fp32ToBf16>,
     Half16VecDot<Bf16ToFp32>, Half16FromFloat<Fp32ToBf16>},
    {TensorType::kQ4_0, TensorType::kQ8_0, Q4_0ToFloat, nullptr, Q4_0VecDot, Q4_0Quantize},
    {TensorType::kQ4_1, TensorType::kQ8_1, Q4_1ToFloat, nullptr, Q4_1VecDot, Q4_1Quantize},
    {TensorType::kQ5_0, TensorType::kQ8_0, Q5_0ToFloat, nullptr, Q5_0VecDot, Q5_0Quantize},
    {TensorType::kQ5_1, TensorType::kQ8_1, Q5_1ToFloat, nullptr, Q5_1VecDot, Q5_1Quantize},
    {TensorType::kQ8_0, TensorType::kQ8_0, Q8_0ToFloat, Q8_0FromFloat, Q8_0VecDot, Q8_0Quantize},
    {TensorType::kQ8_1, TensorType::kQ8_1, Q8_1ToFloat, Q8_1FromFloat, nullptr, nullptr},
    {TensorType::kQ2_K, TensorType::kQ8_K, KToFloat<BlockQ2_K, DecodeQ2_K>, nullptr,
     KVecDot<BlockQ2_K, DecodeQ2_K>, Q2_KQuantize},
    {TensorType::kQ3_K, TensorType::kQ8_K, KToFloat<BlockQ3_K, DecodeQ3_K>, nullptr,
     KVecDot<BlockQ3_K, DecodeQ3_K>, Q3_KQuantize},
    {TensorType::kQ4_K, TensorType::kQ8_K, KToFloat<BlockQ4_K, DecodeQ4_K>, nullptr,
     KVecDot<BlockQ4_K, DecodeQ4_K>, Q4_KQuantize},
    {TensorType::kQ5_K, TensorType::kQ8_K, KToFloat<BlockQ5_K, DecodeQ5_K>, nullptr,
     KVecDot<BlockQ5_K, DecodeQ5_K>, Q5_KQuantize},
    {TensorType::kQ6_K, TensorType::kQ8_K, KToFloat<BlockQ6_K, DecodeQ6_K>, nullptr,
     KVecDot<BlockQ6_K, DecodeQ6_K>, Q6_KQuantize},
    {TensorType::kQ8_K, TensorType::kQ8_K, Q8_KToFloat, Q8_KFromFloat, nullptr, nullptr},
};

}  // namespace

void GetScaleMinK4(int j, const uint8_t* q, uint8_t* scale, uint8_t* min) {
  if (j < 4) {
    *scale = q[j] & 63;
    *min = q[j + 4] & 63;
  } else {
    *scale = static_cast<uint8_t>((q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4));
    *min = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

int GetScaleQ3K(const uint8_t* scales, int s) {
  const int low = s < 8 ? (scales[s] & 0x0F) : (scales[s - 8] >> 4);
  const int high = (scales[8 + s % 4] >> (2 * (s / 4))) & 3;
  return (low | (high << 4)) - 32;
}

namespace internal {
VecDotFn Avx2VecDot(TensorType type);  // quants_avx2.cc
ToFloatFn Avx2ToFloat(TensorType type);
FromFloatFn Avx2FromFloat(TensorType type);
VecDotRowsFn Avx2VecDotRows(TensorType type);  // run-time (activation) conversions only
VecDotNFn Avx2VecDotN(TensorType type);
void Avx2GemmF32(int64_t n_rows, int64_t n_tok, int64_t k, const float* w, const float* a_packed,
                 float* y, int64_t y_stride);
void Avx2Attention(const float* q, int64_t q_stride, int64_t n_tok, int64_t n_head,
                   const int64_t* first, const int64_t* n, const float* k, const float* v,
                   int64_t stride, int64_t head_dim, float scale, float* scores,
                   int64_t scores_stride, float* out);
RepackedGemmFn Avx512RepackedGemm(TensorType type);  // quants_avx512.cc
RepackedGemmFn Avx2RepackedGemm(TensorType type);    // quants_avx2_repacked.cc
}  // namespace internal

void PackGemmActivations(int64_t n_tok, int64_t k, const float* a, float* packed) {
  for (int64_t t0 = 0; t0 < n_tok; t0 += kGemmTokenTile) {
    float* group = packed + t0 * k;
    for (int64_t j = 0; j < kGemmTokenTile; ++j) {
      const int64_t t = t0 + j;
      if (t < n_tok) {
        const float* row = a + t * k;
        for (int64_t i = 0; i < k; ++i) group[i * kGemmTokenTile + j] = row[i];
      } else {
        for (int64_t i = 0; i < k; ++i) group[i * kGemmTokenTile + j] = 0.0f;
      }
    }
  }
}

GemmF32Fn GetGemmF32(Isa isa) { return isa >= Isa::kAvx2 ? internal::Avx2GemmF32 : nullptr; }

namespace {
void AttentionReference(const float* q_all, int64_t q_stride, int64_t n_tok, int64_t n_head,
                        const int64_t* firsts, const int64_t* ns, const float* k, const float* v,
                        int64_t stride, int64_t head_dim, float scale, float* scores_all,
                        int64_t scores_stride, float* out_all) {
  for (int64_t t = 0; t < n_tok; ++t) {
    const int64_t first = firsts[t], n = ns[t];
    for (int64_t h = 0; h < n_head; ++h) {
      const float* q = q_all + t * q_stride + h * head_dim;
      float* scores = scores_all + (t * n_head + h) * scores_stride;
      float* out = out_all + t * q_stride + h * head_dim;
      float max = -INFINITY;
      for (int64_t j = first; j < n; ++j) {
        scores[j] = F32VecDot(head_dim, k + j * stride, q) * scale;
        max = std::max(max, scores[j]);
      }
      double sum = 0.0;
      for (int64_t j = first; j < n; ++j) {
        scores[j] = std::exp(scores[j] - max);
        sum += scores[j];
      }
      const float inv = static_cast<float>(1.0 / sum);
      std::fill(out, out + head_dim, 0.0f);
      for (int64_t j = first; j < n; ++j) {
        const float p = scores[j] * inv;
        const float* vj = v + j * stride;
        for (int64_t d = 0; d < head_dim; ++d) out[d] += p * vj[d];
      }
    }
  }
}
}  // namespace

AttentionFn GetAttention(Isa isa) {
  return isa >= Isa::kAvx2 ? internal::Avx2Attention : AttentionReference;
}

const TypeOps* GetOpsFor(TensorType type, Isa isa) {
  static const std::array<std::vector<TypeOps>, 3> kTables = [] {
    std::array<std::vector<TypeOps>, 3> tables;
    for (int level = 0; level < 3; ++level) {
      tables[level].assign(std::begin(kOps), std::end(kOps));
      if (level < static_cast<int>(Isa::kAvx2)) continue;
      for (TypeOps& ops : tables[level]) {
        if (ToFloatFn fast = internal::Avx2ToFloat(ops.type)) ops.to_float = fast;
        if (FromFloatFn fast = internal::Avx2FromFloat(ops.type)) ops.from_float = fast;
        if (ops.vec_dot == nullptr) continue;
        if (VecDotFn fast = internal::Avx2VecDot(ops.type)) ops.vec_dot = fast;
        if (VecDotNFn fast = internal::Avx2VecDotN(ops.type)) ops.vec_dot_n = fast;
        if (VecDotRowsFn fast = internal::Avx2VecDotRows(ops.type)) ops.vec_dot_rows = fast;
        ops.gemm_repacked = internal::Avx2RepackedGemm(ops.type);
        if (level >= static_cast<int>(Isa::kAvx512) && HasAvx512Vnni()) {
          ops.gemm_repacked = internal::Avx512RepackedGemm(ops.type);
        }
      }
    }
    return tables;
  }();
  for (const TypeOps& ops : kTables[static_cast<int>(isa)]) {
    if (ops.type == type) return &ops;
  }
  return nullptr;
}

const TypeOps* GetReferenceOps(TensorType type) {
  for (const TypeOps& ops : kOps) {
    if (ops.type == type) return &ops;
  }
  return nullptr;
}

const char* SupportedWeightTypesList() {
  return "F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K";
}

}  // namespace tcobench
