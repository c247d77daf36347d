#include "workers/engine/quants.h"

#include <cmath>
#include <cstring>

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

constexpr TypeOps kOps[] = {
    {TensorType::kF32, TensorType::kF32, F32ToFloat, F32FromFloat, F32VecDot},
    {TensorType::kF16, TensorType::kF16, Half16ToFloat<Fp16ToFp32>, Half16FromFloat<Fp32ToFp16>,
     Half16VecDot<Fp16ToFp32>},
    {TensorType::kBF16, TensorType::kBF16, Half16ToFloat<Bf16ToFp32>, Half16FromFloat<Fp32ToBf16>,
     Half16VecDot<Bf16ToFp32>},
    {TensorType::kQ4_0, TensorType::kQ8_0, Q4_0ToFloat, nullptr, Q4_0VecDot},
    {TensorType::kQ4_1, TensorType::kQ8_1, Q4_1ToFloat, nullptr, Q4_1VecDot},
    {TensorType::kQ5_0, TensorType::kQ8_0, Q5_0ToFloat, nullptr, Q5_0VecDot},
    {TensorType::kQ5_1, TensorType::kQ8_1, Q5_1ToFloat, nullptr, Q5_1VecDot},
    {TensorType::kQ8_0, TensorType::kQ8_0, Q8_0ToFloat, Q8_0FromFloat, Q8_0VecDot},
    {TensorType::kQ8_1, TensorType::kQ8_1, Q8_1ToFloat, Q8_1FromFloat, nullptr},
    {TensorType::kQ2_K, TensorType::kQ8_K, KToFloat<BlockQ2_K, DecodeQ2_K>, nullptr,
     KVecDot<BlockQ2_K, DecodeQ2_K>},
    {TensorType::kQ3_K, TensorType::kQ8_K, KToFloat<BlockQ3_K, DecodeQ3_K>, nullptr,
     KVecDot<BlockQ3_K, DecodeQ3_K>},
    {TensorType::kQ4_K, TensorType::kQ8_K, KToFloat<BlockQ4_K, DecodeQ4_K>, nullptr,
     KVecDot<BlockQ4_K, DecodeQ4_K>},
    {TensorType::kQ5_K, TensorType::kQ8_K, KToFloat<BlockQ5_K, DecodeQ5_K>, nullptr,
     KVecDot<BlockQ5_K, DecodeQ5_K>},
    {TensorType::kQ6_K, TensorType::kQ8_K, KToFloat<BlockQ6_K, DecodeQ6_K>, nullptr,
     KVecDot<BlockQ6_K, DecodeQ6_K>},
    {TensorType::kQ8_K, TensorType::kQ8_K, Q8_KToFloat, Q8_KFromFloat, nullptr},
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
