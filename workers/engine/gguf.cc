#include "workers/engine/gguf.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <limits>
#include <unordered_set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "common/base/status_macros.h"

namespace tcobench {

const char* GgufValueTypeName(GgufValueType type) {
  switch (type) {
    case GgufValueType::kUint8:
      return "u8";
    case GgufValueType::kInt8:
      return "i8";
    case GgufValueType::kUint16:
      return "u16";
    case GgufValueType::kInt16:
      return "i16";
    case GgufValueType::kUint32:
      return "u32";
    case GgufValueType::kInt32:
      return "i32";
    case GgufValueType::kFloat32:
      return "f32";
    case GgufValueType::kBool:
      return "bool";
    case GgufValueType::kString:
      return "str";
    case GgufValueType::kArray:
      return "arr";
    case GgufValueType::kUint64:
      return "u64";
    case GgufValueType::kInt64:
      return "i64";
    case GgufValueType::kFloat64:
      return "f64";
  }
  return "?";
}

int GgufScalarSize(GgufValueType type) {
  switch (type) {
    case GgufValueType::kUint8:
    case GgufValueType::kInt8:
    case GgufValueType::kBool:
      return 1;
    case GgufValueType::kUint16:
    case GgufValueType::kInt16:
      return 2;
    case GgufValueType::kUint32:
    case GgufValueType::kInt32:
    case GgufValueType::kFloat32:
      return 4;
    case GgufValueType::kUint64:
    case GgufValueType::kInt64:
    case GgufValueType::kFloat64:
      return 8;
    case GgufValueType::kString:
    case GgufValueType::kArray:
      return 0;
  }
  return 0;
}

namespace {

bool IsKnownValueType(uint32_t t) { return t <= static_cast<uint32_t>(GgufValueType::kFloat64); }

// Decodes one little-endian scalar of `type` at p into the value's fields.
void DecodeScalar(GgufValueType type, const uint8_t* p, GgufValue* v) {
  v->type = type;
  switch (type) {
    case GgufValueType::kUint8:
      v->u = p[0];
      break;
    case GgufValueType::kBool:
      v->u = p[0] != 0;
      break;
    case GgufValueType::kInt8:
      v->i = static_cast<int8_t>(p[0]);
      break;
    case GgufValueType::kUint16: {
      uint16_t x;
      std::memcpy(&x, p, 2);
      v->u = x;
      break;
    }
    case GgufValueType::kInt16: {
      int16_t x;
      std::memcpy(&x, p, 2);
      v->i = x;
      break;
    }
    case GgufValueType::kUint32: {
      uint32_t x;
      std::memcpy(&x, p, 4);
      v->u = x;
      break;
    }
    case GgufValueType::kInt32: {
      int32_t x;
      std::memcpy(&x, p, 4);
      v->i = x;
      break;
    }
    case GgufValueType::kFloat32: {
      float x;
      std::memcpy(&x, p, 4);
      v->f = x;
      break;
    }
    case GgufValueType::kUint64: {
      uint64_t x;
      std::memcpy(&x, p, 8);
      v->u = x;
      break;
    }
    case GgufValueType::kInt64: {
      int64_t x;
      std::memcpy(&x, p, 8);
      v->i = x;
      break;
    }
    case GgufValueType::kFloat64: {
      double x;
      std::memcpy(&x, p, 8);
      v->f = x;
      break;
    }
    case GgufValueType::kString:
    case GgufValueType::kArray:
      break;
  }
}

bool IsUnsigned(GgufValueType t) {
  return t == GgufValueType::kUint8 || t == GgufValueType::kUint16 || t == GgufValueType::kUint32 ||
         t == GgufValueType::kUint64 || t == GgufValueType::kBool;
}

}  // namespace

bool GgufValue::is_integer() const {
  return IsUnsigned(type) || type == GgufValueType::kInt8 || type == GgufValueType::kInt16 ||
         type == GgufValueType::kInt32 || type == GgufValueType::kInt64;
}

double GgufValue::NumberAt(uint64_t k) const {
  GgufValue e;
  DecodeScalar(elem_type, raw.data() + k * GgufScalarSize(elem_type), &e);
  if (e.is_float()) return e.f;
  return IsUnsigned(elem_type) ? static_cast<double>(e.u) : static_cast<double>(e.i);
}

int64_t GgufValue::IntegerAt(uint64_t k) const {
  GgufValue e;
  DecodeScalar(elem_type, raw.data() + k * GgufScalarSize(elem_type), &e);
  if (e.is_float()) return static_cast<int64_t>(e.f);
  return IsUnsigned(elem_type) ? static_cast<int64_t>(e.u) : e.i;
}

namespace {

GgufValue Typed(GgufValueType type) {
  GgufValue v;
  v.type = type;
  return v;
}

template <typename T>
GgufValue NumericArray(GgufValueType elem_type, const std::vector<T>& x) {
  GgufValue v = Typed(GgufValueType::kArray);
  v.elem_type = elem_type;
  v.count = x.size();
  v.raw.resize(x.size() * sizeof(T));
  if (!x.empty()) std::memcpy(v.raw.data(), x.data(), v.raw.size());
  return v;
}

}  // namespace

GgufValue GgufValue::String(std::string s) {
  GgufValue v = Typed(GgufValueType::kString);
  v.str = std::move(s);
  return v;
}
GgufValue GgufValue::Uint32(uint32_t x) {
  GgufValue v = Typed(GgufValueType::kUint32);
  v.u = x;
  return v;
}
GgufValue GgufValue::Int32(int32_t x) {
  GgufValue v = Typed(GgufValueType::kInt32);
  v.i = x;
  return v;
}
GgufValue GgufValue::Float32(float x) {
  GgufValue v = Typed(GgufValueType::kFloat32);
  v.f = x;
  return v;
}
GgufValue GgufValue::Bool(bool x) {
  GgufValue v = Typed(GgufValueType::kBool);
  v.u = x;
  return v;
}
GgufValue GgufValue::StringArray(std::vector<std::string> s) {
  GgufValue v = Typed(GgufValueType::kArray);
  v.elem_type = GgufValueType::kString;
  v.count = s.size();
  v.strings = std::move(s);
  return v;
}
GgufValue GgufValue::Float32Array(const std::vector<float>& x) {
  return NumericArray(GgufValueType::kFloat32, x);
}
GgufValue GgufValue::Int32Array(const std::vector<int32_t>& x) {
  return NumericArray(GgufValueType::kInt32, x);
}

// Sequential, bounds-checked reader over the file bytes.
class GgufParser {
 public:
  GgufParser(GgufFile* file, const GgufLimits& limits)
      : file_(file), bytes_(file->bytes_), limits_(limits) {}

  absl::Status Run() {
    TCOBENCH_RETURN_IF_ERROR(Need(4, "the 'GGUF' magic"));
    if (std::memcmp(bytes_.data(), "GGUF", 4) != 0) {
      return Error(0, "not a GGUF file (the first 4 bytes are not 'GGUF')");
    }
    pos_ = 4;
    uint32_t version;
    TCOBENCH_RETURN_IF_ERROR(ReadU32(&version, "the format version"));
    if (version != 2 && version != 3) {
      return Error(4, absl::StrCat("unsupported GGUF version ", version, " (supported: 2 and 3)"));
    }
    file_->version_ = version;
    uint64_t n_tensors, n_kv;
    TCOBENCH_RETURN_IF_ERROR(ReadU64(&n_tensors, "the tensor count"));
    TCOBENCH_RETURN_IF_ERROR(ReadU64(&n_kv, "the metadata count"));
    // Each KV takes at least 12 bytes (key length + value type), each tensor
    // info at least 28 (name length, n_dims, one dim, type, offset).
    if (n_kv > limits_.max_kv || n_kv > Remaining() / 12) {
      return Error(16, absl::StrCat("metadata count ", n_kv, " is impossible for a file of ",
                                    bytes_.size(), " bytes"));
    }
    if (n_tensors > limits_.max_tensors || n_tensors > Remaining() / 28) {
      return Error(8, absl::StrCat("tensor count ", n_tensors, " is impossible for a file of ",
                                   bytes_.size(), " bytes"));
    }
    std::unordered_set<std::string> keys;
    file_->kv_.reserve(n_kv);
    for (uint64_t k = 0; k < n_kv; ++k) {
      const uint64_t at = pos_;
      GgufKv kv;
      TCOBENCH_RETURN_IF_ERROR(ReadString(&kv.key, limits_.max_string_bytes, "a metadata key"));
      if (!keys.insert(kv.key).second) {
        return Error(at, absl::StrCat("duplicate metadata key '", kv.key, "'"));
      }
      uint32_t type;
      const uint64_t type_at = pos_;
      TCOBENCH_RETURN_IF_ERROR(ReadU32(&type, "a metadata value type"));
      if (!IsKnownValueType(type)) {
        return Error(type_at,
                     absl::StrCat("metadata key '", kv.key, "' has unknown value type ", type));
      }
      TCOBENCH_RETURN_IF_ERROR(ReadValue(static_cast<GgufValueType>(type), 0, &kv.value, kv.key));
      file_->kv_.push_back(std::move(kv));
    }
    TCOBENCH_RETURN_IF_ERROR(ReadAlignment());
    TCOBENCH_RETURN_IF_ERROR(ReadTensorInfos(n_tensors));
    return absl::OkStatus();
  }

 private:
  uint64_t Remaining() const { return bytes_.size() - pos_; }

  absl::Status Error(uint64_t offset, absl::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: invalid GGUF at byte %d: %s", file_->name_, offset, what));
  }

  absl::Status Need(uint64_t n, absl::string_view what) const {
    if (n > Remaining()) {
      return Error(pos_, absl::StrCat("file ends while reading ", what, " (needs ", n, " bytes, ",
                                      Remaining(), " left)"));
    }
    return absl::OkStatus();
  }

  absl::Status ReadU32(uint32_t* v, absl::string_view what) {
    TCOBENCH_RETURN_IF_ERROR(Need(4, what));
    std::memcpy(v, bytes_.data() + pos_, 4);
    pos_ += 4;
    return absl::OkStatus();
  }
  absl::Status ReadU64(uint64_t* v, absl::string_view what) {
    TCOBENCH_RETURN_IF_ERROR(Need(8, what));
    std::memcpy(v, bytes_.data() + pos_, 8);
    pos_ += 8;
    return absl::OkStatus();
  }
  absl::Status ReadString(std::string* s, uint64_t max_bytes, absl::string_view what) {
    const uint64_t at = pos_;
    uint64_t len;
    TCOBENCH_RETURN_IF_ERROR(ReadU64(&len, what));
    if (len > max_bytes) {
      return Error(at, absl::StrCat(what, " is ", len, " bytes long (limit ", max_bytes, ")"));
    }
    TCOBENCH_RETURN_IF_ERROR(Need(len, what));
    s->assign(reinterpret_cast<const char*>(bytes_.data() + pos_), len);
    pos_ += len;
    return absl::OkStatus();
  }

  absl::Status ReadValue(GgufValueType type, int depth, GgufValue* v, const std::string& key) {
    v->type = type;
    if (type == GgufValueType::kString) {
      return ReadString(&v->str, limits_.max_string_bytes,
                        absl::StrCat("the value of '", key, "'"));
    }
    if (type != GgufValueType::kArray) {
      const int size = GgufScalarSize(type);
      TCOBENCH_RETURN_IF_ERROR(Need(size, absl::StrCat("the value of '", key, "'")));
      DecodeScalar(type, bytes_.data() + pos_, v);
      pos_ += size;
      return absl::OkStatus();
    }
    const uint64_t at = pos_;
    if (depth >= limits_.max_array_depth) {
      return Error(at, absl::StrCat("metadata '", key, "' nests arrays deeper than ",
                                    limits_.max_array_depth));
    }
    uint32_t elem;
    TCOBENCH_RETURN_IF_ERROR(ReadU32(&elem, absl::StrCat("the array type of '", key, "'")));
    if (!IsKnownValueType(elem)) {
      return Error(at, absl::StrCat("array '", key, "' has unknown element type ", elem));
    }
    v->elem_type = static_cast<GgufValueType>(elem);
    uint64_t count;
    const uint64_t count_at = pos_;
    TCOBENCH_RETURN_IF_ERROR(ReadU64(&count, absl::StrCat("the array length of '", key, "'")));
    const int elem_size = GgufScalarSize(v->elem_type);
    // Strings take at least 8 bytes each, nested arrays at least 12.
    const uint64_t min_elem_bytes = elem_size > 0                            ? elem_size
                                    : v->elem_type == GgufValueType::kString ? 8
                                                                             : 12;
    if (count > limits_.max_array_elements || count > Remaining() / min_elem_bytes) {
      return Error(count_at, absl::StrCat("array '", key, "' claims ", count, " elements of type ",
                                          GgufValueTypeName(v->elem_type), ", more than the ",
                                          Remaining(), " bytes left can hold"));
    }
    if (elem_size == 0) {
      // Strings and nested arrays expand in memory: bound their total count.
      if (count > object_budget_) {
        return Error(count_at, absl::StrCat("array '", key, "' has ", count,
                                            " elements, past the file's limit on string and "
                                            "nested-array elements"));
      }
      object_budget_ -= count;
    }
    v->count = count;
    if (elem_size > 0) {
      v->raw.assign(bytes_.data() + pos_, bytes_.data() + pos_ + count * elem_size);
      pos_ += count * elem_size;
    } else if (v->elem_type == GgufValueType::kString) {
      v->strings.resize(count);
      for (uint64_t k = 0; k < count; ++k) {
        TCOBENCH_RETURN_IF_ERROR(ReadString(&v->strings[k], limits_.max_string_bytes,
                                            absl::StrCat("element ", k, " of '", key, "'")));
      }
    } else {
      v->items.resize(count);
      for (uint64_t k = 0; k < count; ++k) {
        TCOBENCH_RETURN_IF_ERROR(ReadValue(GgufValueType::kArray, depth + 1, &v->items[k], key));
      }
    }
    return absl::OkStatus();
  }

  absl::Status ReadAlignment() {
    const GgufValue* a = file_->Find("general.alignment");
    if (a == nullptr) return absl::OkStatus();
    if (!a->is_integer() ||
        (a->type != GgufValueType::kUint32 && a->type != GgufValueType::kUint64 &&
         a->type != GgufValueType::kInt32)) {
      return Error(pos_, absl::StrCat("general.alignment has type ", GgufValueTypeName(a->type),
                                      ", expected u32"));
    }
    const uint64_t value = a->type == GgufValueType::kInt32 ? static_cast<uint64_t>(a->i) : a->u;
    if (value == 0 || (value & (value - 1)) != 0 || value > (1u << 20)) {
      return Error(pos_, absl::StrCat("general.alignment ", value,
                                      " is not a power of two between 1 and 1048576"));
    }
    file_->alignment_ = value;
    return absl::OkStatus();
  }

  absl::Status ReadTensorInfos(uint64_t n_tensors) {
    std::unordered_set<std::string> names;
    file_->tensors_.reserve(n_tensors);
    std::vector<uint64_t> info_offsets;
    for (uint64_t t = 0; t < n_tensors; ++t) {
      const uint64_t at = pos_;
      GgufTensorInfo info;
      TCOBENCH_RETURN_IF_ERROR(
          ReadString(&info.name, limits_.max_name_bytes, absl::StrCat("the name of tensor ", t)));
      if (!names.insert(info.name).second) {
        return Error(at, absl::StrCat("duplicate tensor name '", info.name, "'"));
      }
      uint32_t n_dims;
      const uint64_t dims_at = pos_;
      TCOBENCH_RETURN_IF_ERROR(ReadU32(&n_dims, "a tensor's dimension count"));
      if (n_dims < 1 || n_dims > 4) {
        return Error(dims_at, absl::StrCat("tensor '", info.name, "' has ", n_dims,
                                           " dimensions (1 to 4 are valid)"));
      }
      info.n_dims = static_cast<int>(n_dims);
      int64_t n_elements = 1;
      for (uint32_t d = 0; d < n_dims; ++d) {
        const uint64_t dim_at = pos_;
        uint64_t dim;
        TCOBENCH_RETURN_IF_ERROR(ReadU64(&dim, "a tensor dimension"));
        if (dim == 0 || dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
            __builtin_mul_overflow(n_elements, static_cast<int64_t>(dim), &n_elements)) {
          return Error(dim_at, absl::StrCat("tensor '", info.name, "' dimension ", d, " is ", dim,
                                            ", which is zero or overflows the element count"));
        }
        info.ne[d] = static_cast<int64_t>(dim);
      }
      info.n_elements = n_elements;
      const uint64_t type_at = pos_;
      TCOBENCH_RETURN_IF_ERROR(ReadU32(&info.type_id, "a tensor type"));
      const std::optional<TypeGeometry> g = GetTypeGeometry(info.type_id);
      if (!g) {
        return Error(type_at,
                     absl::StrCat("tensor '", info.name, "' has unknown type id ", info.type_id));
      }
      info.type = static_cast<TensorType>(info.type_id);
      if (info.ne[0] % g->block_size != 0) {
        return Error(
            type_at,
            absl::StrCat("tensor '", info.name, "' of type ", g->name, " has rows of ", info.ne[0],
                         " elements, not a multiple of its block size ", g->block_size));
      }
      if (__builtin_mul_overflow(n_elements / g->block_size, g->type_size, &info.n_bytes)) {
        return Error(type_at, absl::StrCat("tensor '", info.name, "' byte size overflows"));
      }
      info_offsets.push_back(pos_);
      TCOBENCH_RETURN_IF_ERROR(ReadU64(&info.offset, "a tensor data offset"));
      file_->tensors_.push_back(std::move(info));
    }
    const uint64_t align = file_->alignment_;
    uint64_t data = (pos_ + align - 1) / align * align;
    if (n_tensors > 0 && data > bytes_.size()) {
      return Error(pos_, absl::StrCat("tensor data section would start at byte ", data,
                                      ", past the end of the file (", bytes_.size(), " bytes)"));
    }
    file_->data_offset_ = data;
    const uint64_t data_bytes = data <= bytes_.size() ? bytes_.size() - data : 0;
    for (size_t t = 0; t < file_->tensors_.size(); ++t) {
      const GgufTensorInfo& info = file_->tensors_[t];
      if (info.offset % align != 0) {
        return Error(info_offsets[t],
                     absl::StrCat("tensor '", info.name, "' data offset ", info.offset,
                                  " is not a multiple of the alignment ", align));
      }
      if (info.offset > data_bytes ||
          static_cast<uint64_t>(info.n_bytes) > data_bytes - info.offset) {
        return Error(
            info_offsets[t],
            absl::StrCat("tensor '", info.name, "' data (", info.n_bytes, " bytes at data offset ",
                         info.offset, ") runs past the end of the file: the data section has ",
                         data_bytes, " bytes"));
      }
    }
    return absl::OkStatus();
  }

  GgufFile* file_;
  std::span<const uint8_t> bytes_;
  GgufLimits limits_;
  uint64_t pos_ = 0;
  uint64_t object_budget_ = 1ull << 24;
};

absl::StatusOr<std::unique_ptr<GgufFile>> GgufFile::Parse(std::span<const uint8_t> bytes,
                                                          std::string name,
                                                          const GgufLimits& limits) {
  std::unique_ptr<GgufFile> file(new GgufFile());
  file->name_ = std::move(name);
  file->bytes_ = bytes;
  GgufParser parser(file.get(), limits);
  TCOBENCH_RETURN_IF_ERROR(parser.Run());
  return file;
}

absl::StatusOr<std::unique_ptr<GgufFile>> GgufFile::Open(const std::filesystem::path& path,
                                                         const GgufLimits& limits, bool populate) {
  const std::string name = path.string();
  const int fd = ::open(name.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    const std::string msg = absl::StrCat(name, ": cannot open: ", std::strerror(err));
    return err == ENOENT ? absl::NotFoundError(msg) : absl::InvalidArgumentError(msg);
  }
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return absl::InvalidArgumentError(absl::StrCat(name, ": not a regular file"));
  }
  const size_t size = static_cast<size_t>(st.st_size);
  void* map = nullptr;
  if (size > 0) {
    map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE | (populate ? MAP_POPULATE : 0), fd, 0);
    if (map == MAP_FAILED) {
      const int err = errno;
      ::close(fd);
      return absl::InvalidArgumentError(absl::StrCat(name, ": cannot map: ", std::strerror(err)));
    }
  }
  ::close(fd);
  std::unique_ptr<GgufFile> file(new GgufFile());
  file->name_ = name;
  file->mapping_ = map;
  file->mapping_size_ = size;
  file->bytes_ = std::span<const uint8_t>(static_cast<const uint8_t*>(map), size);
  GgufParser parser(file.get(), limits);
  TCOBENCH_RETURN_IF_ERROR(parser.Run());
  return file;
}

GgufFile::~GgufFile() {
  if (mapping_ != nullptr) ::munmap(mapping_, mapping_size_);
}

const GgufValue* GgufFile::Find(absl::string_view key) const {
  for (const GgufKv& kv : kv_) {
    if (kv.key == key) return &kv.value;
  }
  return nullptr;
}

const GgufTensorInfo* GgufFile::FindTensor(absl::string_view name) const {
  for (const GgufTensorInfo& t : tensors_) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

absl::StatusOr<uint64_t> GgufFile::GetUint(absl::string_view key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr)
    return absl::NotFoundError(absl::StrCat(name_, ": metadata '", key, "' is missing"));
  if (IsUnsigned(v->type) && v->type != GgufValueType::kBool) return v->u;
  if (v->is_integer() && v->i >= 0) return static_cast<uint64_t>(v->i);
  return absl::InvalidArgumentError(absl::StrCat(name_, ": metadata '", key, "' has type ",
                                                 GgufValueTypeName(v->type),
                                                 ", expected a non-negative integer"));
}

absl::StatusOr<double> GgufFile::GetFloat(absl::string_view key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr)
    return absl::NotFoundError(absl::StrCat(name_, ": metadata '", key, "' is missing"));
  if (v->is_float()) return v->f;
  if (v->is_integer() && v->type != GgufValueType::kBool) {
    return IsUnsigned(v->type) ? static_cast<double>(v->u) : static_cast<double>(v->i);
  }
  return absl::InvalidArgumentError(absl::StrCat(name_, ": metadata '", key, "' has type ",
                                                 GgufValueTypeName(v->type),
                                                 ", expected a number"));
}

absl::StatusOr<std::string> GgufFile::GetString(absl::string_view key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr)
    return absl::NotFoundError(absl::StrCat(name_, ": metadata '", key, "' is missing"));
  if (v->type != GgufValueType::kString) {
    return absl::InvalidArgumentError(absl::StrCat(name_, ": metadata '", key, "' has type ",
                                                   GgufValueTypeName(v->type), ", expected str"));
  }
  return v->str;
}

absl::StatusOr<bool> GgufFile::GetBool(absl::string_view key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr)
    return absl::NotFoundError(absl::StrCat(name_, ": metadata '", key, "' is missing"));
  if (v->type != GgufValueType::kBool) {
    return absl::InvalidArgumentError(absl::StrCat(name_, ": metadata '", key, "' has type ",
                                                   GgufValueTypeName(v->type), ", expected bool"));
  }
  return v->u != 0;
}

}  // namespace tcobench
