#include "workers/engine/repack.h"

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <type_traits>

#include "workers/engine/fp16.h"
#include "workers/engine/quants.h"

namespace tcobench {
namespace {

constexpr int R = kRepackRows;

// Moves one row's bytes of one block between the GGUF layout (`row`) and the
// group layout (`grp`, the group's block), in the direction kToGroup says.
// The per-type maps below are each other's inverse by construction: one
// function describes where every byte goes.
template <bool kToGroup, size_t N = 4, uint8_t kFlip = 0>
inline void Move(uint8_t* grp, uint8_t* row) {
  using Word = std::conditional_t<N == 4, uint32_t, std::conditional_t<N == 2, uint16_t, uint8_t>>;
  static_assert(sizeof(Word) == N);
  constexpr Word kMask = static_cast<Word>(0x01010101u * kFlip);
  Word w;
  std::memcpy(&w, kToGroup ? row : grp, N);
  w ^= kMask;
  std::memcpy(kToGroup ? grp : row, &w, N);
}

template <bool kToGroup>
void MapF16(int r, uint8_t* grp, uint8_t* row) {
  Move<kToGroup, 2>(grp + 2 * r, row);
}

template <bool kToGroup>
void MapQ8_0(int r, uint8_t* grp, uint8_t* row) {
  Move<kToGroup, 2>(grp + 2 * r, row);
  for (int q = 0; q < 8; ++q) Move<kToGroup, 4, 0x80>(grp + 32 + 64 * q + 4 * r, row + 2 + 4 * q);
}

template <bool kToGroup>
void MapQ4_0(int r, uint8_t* grp, uint8_t* row) {
  Move<kToGroup, 2>(grp + 2 * r, row);
  for (int g = 0; g < 4; ++g) Move<kToGroup, 4>(grp + 32 + 64 * g + 4 * r, row + 2 + 4 * g);
}

template <bool kToGroup>
void MapQ5_0(int r, uint8_t* grp, uint8_t* row) {
  Move<kToGroup, 2>(grp + 2 * r, row);
  Move<kToGroup, 4>(grp + 32 + 4 * r, row + 2);  // qh: the row's 32 fifth bits
  for (int g = 0; g < 4; ++g) Move<kToGroup, 4>(grp + 96 + 64 * g + 4 * r, row + 6 + 4 * g);
}

template <bool kToGroup>
void MapQ4_K(int r, uint8_t* grp, uint8_t* row) {
  Move<kToGroup, 2>(grp + 2 * r, row);       // d
  Move<kToGroup, 2>(grp + 32 + 2 * r, row + 2);  // dmin
  for (int i = 0; i < 12; ++i) Move<kToGroup, 1>(grp + 64 + 16 * i + r, row + 4 + i);
  for (int c = 0; c < 32; ++c) Move<kToGroup, 4>(grp + 256 + 64 * c + 4 * r, row + 16 + 4 * c);
}

template <bool kToGroup>
void MapQ6_K(int r, uint8_t* grp, uint8_t* row) {
  constexpr size_t ql = offsetof(BlockQ6_K, ql), qh = offsetof(BlockQ6_K, qh);
  constexpr size_t sc = offsetof(BlockQ6_K, scales), d = offsetof(BlockQ6_K, d);
  Move<kToGroup, 2>(grp + 2 * r, row + d);
  for (int s = 0; s < 16; ++s) Move<kToGroup, 1>(grp + 32 + 16 * s + r, row + sc + s);
  for (int c = 0; c < 32; ++c) Move<kToGroup, 4>(grp + 288 + 64 * c + 4 * r, row + ql + 4 * c);
  for (int c = 0; c < 16; ++c) Move<kToGroup, 4>(grp + 2336 + 64 * c + 4 * r, row + qh + 4 * c);
}

template <void (*kMap)(int, uint8_t*, uint8_t*)>
void MapBlocks(TensorType type, int64_t n_in, uint8_t* grp, uint8_t* rows, int r0, int r1) {
  const TypeGeometry geo = Geometry(type);
  const int64_t block_bytes = geo.type_size;
  const int64_t n_blocks = n_in / geo.block_size;
  const int64_t row_bytes = block_bytes * n_blocks;
  for (int64_t b = 0; b < n_blocks; ++b) {
    for (int r = r0; r < r1; ++r) {
      kMap(r, grp + b * R * block_bytes, rows + (r - r0) * row_bytes + b * block_bytes);
    }
  }
}

// Rows r0 .. r1 - 1 of a group (`rows`: row r0's bytes, then the next).
template <bool kToGroup>
void MapGroup(TensorType type, int64_t n_in, uint8_t* grp, uint8_t* rows, int r0 = 0, int r1 = R) {
  switch (type) {
    case TensorType::kF16: return MapBlocks<MapF16<kToGroup>>(type, n_in, grp, rows, r0, r1);
    case TensorType::kQ8_0: return MapBlocks<MapQ8_0<kToGroup>>(type, n_in, grp, rows, r0, r1);
    case TensorType::kQ4_0: return MapBlocks<MapQ4_0<kToGroup>>(type, n_in, grp, rows, r0, r1);
    case TensorType::kQ5_0: return MapBlocks<MapQ5_0<kToGroup>>(type, n_in, grp, rows, r0, r1);
    case TensorType::kQ4_K: return MapBlocks<MapQ4_K<kToGroup>>(type, n_in, grp, rows, r0, r1);
    case TensorType::kQ6_K: return MapBlocks<MapQ6_K<kToGroup>>(type, n_in, grp, rows, r0, r1);
    default: std::abort();  // callers check HasRepackedLayout
  }
}

}  // namespace

bool HasRepackedLayout(TensorType type) {
  switch (type) {
    case TensorType::kF16:
    case TensorType::kQ8_0:
    case TensorType::kQ4_0:
    case TensorType::kQ5_0:
    case TensorType::kQ4_K:
    case TensorType::kQ6_K:
      return true;
    default:
      return false;
  }
}

void RepackGroup(TensorType type, int64_t n_in, const uint8_t* rows, uint8_t* group) {
  MapGroup<true>(type, n_in, group, const_cast<uint8_t*>(rows));
}

void UnpackGroup(TensorType type, int64_t n_in, const uint8_t* group, uint8_t* rows) {
  MapGroup<false>(type, n_in, const_cast<uint8_t*>(group), rows);
}

void UnpackRow(TensorType type, int64_t n_in, const uint8_t* group, int r, uint8_t* row) {
  MapGroup<false>(type, n_in, const_cast<uint8_t*>(group), row, r, r + 1);
}

void Q8_0ActStats(const uint8_t* row, int64_t n_blocks, float* d, int32_t* sums) {
  const BlockQ8_0* blocks = reinterpret_cast<const BlockQ8_0*>(row);
  for (int64_t i = 0; i < n_blocks; ++i) {
    int32_t sum = 0;
    for (int j = 0; j < kQK; ++j) sum += blocks[i].qs[j];
    d[i] = Fp16ToFp32(blocks[i].d);
    sums[i] = sum;
  }
}

int64_t RepackedScratchBytes(int64_t n_tok) {
  // The tile, then the per-token float sums of the group (16 per token).
  return kRepackTileBytes + n_tok * R * static_cast<int64_t>(sizeof(float));
}

}  // namespace tcobench
