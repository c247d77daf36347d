// Writes GGUF v3 files: metadata, tensor infos, then aligned tensor data.
// Not thread-safe; one writer per output file.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "workers/engine/gguf.h"

namespace tcobench {

class GgufWriter {
 public:
  explicit GgufWriter(uint64_t alignment = 32) : alignment_(alignment) {}

  // Sets (or replaces) a metadata value; keys keep their first-set order.
  void SetValue(const std::string& key, GgufValue value);
  // Adds a tensor; `data` must hold exactly the tensor's bytes and is copied.
  absl::Status AddTensor(const std::string& name, TensorType type, std::vector<int64_t> ne,
                         std::span<const uint8_t> data);
  // Writes the file atomically (a temporary beside it, then rename).
  absl::Status Write(const std::filesystem::path& path) const;

 private:
  struct Tensor {
    std::string name;
    TensorType type;
    std::vector<int64_t> ne;
    std::vector<uint8_t> data;
  };
  uint64_t alignment_;
  std::vector<GgufKv> kv_;
  std::vector<Tensor> tensors_;
};

}  // namespace tcobench
