// GGUF reader (format versions 2 and 3). A GGUF file is untrusted input:
// every count, length, dimension, type and offset is checked against the
// bytes that exist and sane limits before it is used; a bad file yields an
// InvalidArgument status naming the file, the problem and the byte offset.
//
// A GgufFile owns its read-only mapping; tensor data pointers stay valid for
// the object's lifetime. Thread-safe after construction (read-only).
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"
#include "workers/engine/tensor_type.h"

namespace tcobench {

enum class GgufValueType : uint32_t {
  kUint8 = 0,
  kInt8 = 1,
  kUint16 = 2,
  kInt16 = 3,
  kUint32 = 4,
  kInt32 = 5,
  kFloat32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kUint64 = 10,
  kInt64 = 11,
  kFloat64 = 12,
};

const char* GgufValueTypeName(GgufValueType type);
// Bytes of one scalar of `type` on disk; 0 for string and array.
int GgufScalarSize(GgufValueType type);

// One metadata value. Scalars keep their exact type; numeric arrays keep their
// little-endian element bytes (compact: a 128K-entry score table stays 512 KiB).
struct GgufValue {
  GgufValueType type = GgufValueType::kUint8;
  uint64_t u = 0;  // unsigned scalars and bool
  int64_t i = 0;   // signed scalars
  double f = 0;    // float scalars
  std::string str;
  // Arrays.
  GgufValueType elem_type = GgufValueType::kUint8;
  uint64_t count = 0;
  std::vector<uint8_t> raw;          // numeric/bool elements
  std::vector<std::string> strings;  // string elements
  std::vector<GgufValue> items;      // nested array elements

  bool is_integer() const;
  bool is_float() const {
    return type == GgufValueType::kFloat32 || type == GgufValueType::kFloat64;
  }
  // Numeric element k of a numeric array, converted.
  double NumberAt(uint64_t k) const;
  int64_t IntegerAt(uint64_t k) const;

  static GgufValue String(std::string s);
  static GgufValue Uint32(uint32_t v);
  static GgufValue Int32(int32_t v);
  static GgufValue Float32(float v);
  static GgufValue Bool(bool v);
  static GgufValue StringArray(std::vector<std::string> v);
  static GgufValue Float32Array(const std::vector<float>& v);
  static GgufValue Int32Array(const std::vector<int32_t>& v);
};

struct GgufKv {
  std::string key;
  GgufValue value;
};

struct GgufTensorInfo {
  std::string name;
  uint32_t type_id = 0;  // raw ggml type id (always a known one)
  TensorType type = TensorType::kF32;
  int n_dims = 0;
  std::array<int64_t, 4> ne = {1, 1, 1, 1};  // ne[0] is the innermost (row) length
  uint64_t offset = 0;                       // relative to the start of the tensor data section
  int64_t n_elements = 0;
  int64_t n_bytes = 0;
};

struct GgufLimits {
  uint64_t max_string_bytes = 64ull << 20;   // one metadata string or tensor name
  uint64_t max_array_elements = 1ull << 28;  // one metadata array
  uint64_t max_tensors = 1ull << 20;
  uint64_t max_kv = 1ull << 20;
  int max_array_depth = 8;
  uint64_t max_name_bytes = 256;  // tensor names
};

class GgufFile {
 public:
  // Maps `path` read-only and parses it. With `populate`, every page is read
  // in while mapping (MAP_POPULATE) instead of on first use.
  static absl::StatusOr<std::unique_ptr<GgufFile>> Open(const std::filesystem::path& path,
                                                        const GgufLimits& limits = {},
                                                        bool populate = false);
  // Parses bytes the caller keeps alive for the object's lifetime; `name` is
  // used in error messages (the fuzz target and tests use this).
  static absl::StatusOr<std::unique_ptr<GgufFile>> Parse(std::span<const uint8_t> bytes,
                                                         std::string name,
                                                         const GgufLimits& limits = {});
  ~GgufFile();
  GgufFile(const GgufFile&) = delete;
  GgufFile& operator=(const GgufFile&) = delete;

  const std::string& name() const { return name_; }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }
  uint64_t file_size() const { return bytes_.size(); }

  const std::vector<GgufKv>& metadata() const { return kv_; }
  const GgufValue* Find(absl::string_view key) const;
  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  const GgufTensorInfo* FindTensor(absl::string_view name) const;
  const uint8_t* TensorData(const GgufTensorInfo& info) const {
    return bytes_.data() + data_offset_ + info.offset;
  }

  // Typed lookups: NotFound when absent, InvalidArgument when the stored type
  // cannot represent the request (a negative count, a string for a number).
  absl::StatusOr<uint64_t> GetUint(absl::string_view key) const;
  absl::StatusOr<double> GetFloat(absl::string_view key) const;
  absl::StatusOr<std::string> GetString(absl::string_view key) const;
  absl::StatusOr<bool> GetBool(absl::string_view key) const;

 private:
  GgufFile() = default;
  friend class GgufParser;

  std::string name_;
  std::span<const uint8_t> bytes_;
  void* mapping_ = nullptr;
  size_t mapping_size_ = 0;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::vector<GgufKv> kv_;
  std::vector<GgufTensorInfo> tensors_;
};

}  // namespace tcobench
