#include "workers/engine/gguf_writer.h"

#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace tcobench {
namespace {

class Buffer {
 public:
  void Bytes(const void* p, size_t n) {
    if (n == 0) return;
    const size_t at = out_.size();
    out_.resize(at + n);
    std::memcpy(out_.data() + at, p, n);
  }
  void U32(uint32_t v) { Bytes(&v, 4); }
  void U64(uint64_t v) { Bytes(&v, 8); }
  void Str(const std::string& s) {
    U64(s.size());
    Bytes(s.data(), s.size());
  }
  void Pad(uint64_t alignment) {
    while (out_.size() % alignment != 0) out_.push_back(0);
  }
  void Scalar(const GgufValue& v) {
    switch (v.type) {
      case GgufValueType::kUint8:
      case GgufValueType::kBool: {
        uint8_t x = static_cast<uint8_t>(v.u);
        Bytes(&x, 1);
        break;
      }
      case GgufValueType::kInt8: {
        int8_t x = static_cast<int8_t>(v.i);
        Bytes(&x, 1);
        break;
      }
      case GgufValueType::kUint16: {
        uint16_t x = static_cast<uint16_t>(v.u);
        Bytes(&x, 2);
        break;
      }
      case GgufValueType::kInt16: {
        int16_t x = static_cast<int16_t>(v.i);
        Bytes(&x, 2);
        break;
      }
      case GgufValueType::kUint32:
        U32(static_cast<uint32_t>(v.u));
        break;
      case GgufValueType::kInt32: {
        int32_t x = static_cast<int32_t>(v.i);
        Bytes(&x, 4);
        break;
      }
      case GgufValueType::kFloat32: {
        float x = static_cast<float>(v.f);
        Bytes(&x, 4);
        break;
      }
      case GgufValueType::kUint64:
        U64(v.u);
        break;
      case GgufValueType::kInt64:
        Bytes(&v.i, 8);
        break;
      case GgufValueType::kFloat64:
        Bytes(&v.f, 8);
        break;
      case GgufValueType::kString:
        Str(v.str);
        break;
      case GgufValueType::kArray:
        Array(v);
        break;
    }
  }
  void Array(const GgufValue& v) {
    U32(static_cast<uint32_t>(v.elem_type));
    U64(v.count);
    if (v.elem_type == GgufValueType::kString) {
      for (const std::string& s : v.strings) Str(s);
    } else if (v.elem_type == GgufValueType::kArray) {
      for (const GgufValue& item : v.items) Array(item);
    } else {
      Bytes(v.raw.data(), v.raw.size());
    }
  }
  std::vector<uint8_t>& bytes() { return out_; }

 private:
  std::vector<uint8_t> out_;
};

}  // namespace

void GgufWriter::SetValue(const std::string& key, GgufValue value) {
  for (GgufKv& kv : kv_) {
    if (kv.key == key) {
      kv.value = std::move(value);
      return;
    }
  }
  kv_.push_back({key, std::move(value)});
}

absl::Status GgufWriter::AddTensor(const std::string& name, TensorType type,
                                   std::vector<int64_t> ne, std::span<const uint8_t> data) {
  if (ne.empty() || ne.size() > 4) {
    return absl::InvalidArgumentError(absl::StrCat("tensor '", name, "': 1 to 4 dimensions"));
  }
  const TypeGeometry g = Geometry(type);
  int64_t n = 1;
  for (int64_t d : ne) n *= d;
  if (ne[0] % g.block_size != 0) {
    return absl::InvalidArgumentError(absl::StrCat("tensor '", name, "': row of ", ne[0],
                                                   " is not a multiple of ", g.name, "'s block ",
                                                   g.block_size));
  }
  if (static_cast<int64_t>(data.size()) != n / g.block_size * g.type_size) {
    return absl::InvalidArgumentError(absl::StrCat("tensor '", name, "': ", data.size(),
                                                   " bytes given, ", n / g.block_size * g.type_size,
                                                   " expected"));
  }
  tensors_.push_back({name, type, std::move(ne), std::vector<uint8_t>(data.begin(), data.end())});
  return absl::OkStatus();
}

absl::Status GgufWriter::Write(const std::filesystem::path& path) const {
  Buffer b;
  b.Bytes("GGUF", 4);
  b.U32(3);
  b.U64(tensors_.size());
  const bool has_alignment_key = alignment_ != 32;
  b.U64(kv_.size() + (has_alignment_key ? 1 : 0));
  if (has_alignment_key) {
    b.Str("general.alignment");
    b.U32(static_cast<uint32_t>(GgufValueType::kUint32));
    b.U32(static_cast<uint32_t>(alignment_));
  }
  for (const GgufKv& kv : kv_) {
    if (kv.key == "general.alignment") continue;
    b.Str(kv.key);
    b.U32(static_cast<uint32_t>(kv.value.type));
    b.Scalar(kv.value);
  }
  uint64_t offset = 0;
  for (const Tensor& t : tensors_) {
    b.Str(t.name);
    b.U32(static_cast<uint32_t>(t.ne.size()));
    for (int64_t d : t.ne) b.U64(static_cast<uint64_t>(d));
    b.U32(static_cast<uint32_t>(t.type));
    b.U64(offset);
    offset += (t.data.size() + alignment_ - 1) / alignment_ * alignment_;
  }
  b.Pad(alignment_);
  const std::string tmp = path.string() + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "wb");
  if (f == nullptr) {
    return absl::PermissionDeniedError(
        absl::StrCat(path.string(), ": cannot create: ", std::strerror(errno)));
  }
  bool ok = std::fwrite(b.bytes().data(), 1, b.bytes().size(), f) == b.bytes().size();
  static const uint8_t kZeros[64] = {};
  for (const Tensor& t : tensors_) {
    if (!ok) break;
    ok = std::fwrite(t.data.data(), 1, t.data.size(), f) == t.data.size();
    size_t pad = (alignment_ - t.data.size() % alignment_) % alignment_;
    while (ok && pad > 0) {
      const size_t n = pad < sizeof kZeros ? pad : sizeof kZeros;
      ok = std::fwrite(kZeros, 1, n, f) == n;
      pad -= n;
    }
  }
  ok = (std::fclose(f) == 0) && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return absl::UnavailableError(
        absl::StrCat(path.string(), ": write failed: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace tcobench
