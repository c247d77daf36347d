// Facts from ../shared/data/golden/QUANT.md used by several tests: the RMSE
// of llama-quantize's ktiny files against the F32 original, per file and per
// tensor type.
#pragma once

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "workers/engine/gguf.h"
#include "workers/engine/quants.h"

namespace tcobench::testing {

inline const std::map<std::string, std::map<std::string, double>>& ReferenceKtinyRmse() {
  static const std::map<std::string, std::map<std::string, double>> kRmse = {
      {"F16", {{"F16", 4.1421e-06}}},
      {"BF16", {{"BF16", 3.3156e-05}}},
      {"Q8_0", {{"Q8_0", 1.0691e-04}}},
      {"Q6_K", {{"Q6_K", 3.5487e-04}}},
      {"Q5_K_M", {{"Q6_K", 3.5534e-04}, {"Q5_K", 7.2165e-04}}},
      {"Q5_1", {{"Q6_K", 3.5516e-04}, {"Q5_1", 7.5618e-04}}},
      {"Q5_0", {{"Q6_K", 3.5516e-04}, {"Q5_0", 8.5290e-04}}},
      {"Q4_K_M", {{"Q6_K", 3.5534e-04}, {"Q4_K", 1.4252e-03}}},
      {"Q4_1", {{"Q6_K", 3.5516e-04}, {"Q4_1", 1.5626e-03}}},
      {"Q4_0", {{"Q6_K", 3.5516e-04}, {"Q4_0", 1.7164e-03}}},
      {"Q3_K_M",
       {{"Q6_K", 3.5516e-04}, {"Q3_K", 3.0121e-03}, {"Q4_K", 1.4267e-03}, {"Q5_K", 7.2297e-04}}},
      {"Q2_K", {{"Q6_K", 3.5516e-04}, {"Q2_K", 5.9238e-03}, {"Q3_K", 3.0180e-03}}},
  };
  return kRmse;
}

// RMSE of every non-F32 tensor of `file` against the same tensor of the F32
// `base`, pooled per tensor type name.
inline std::map<std::string, double> RmsePerType(const GgufFile& file, const GgufFile& base) {
  std::map<std::string, std::pair<double, int64_t>> sq;
  for (const GgufTensorInfo& t : file.tensors()) {
    const GgufTensorInfo* orig = base.FindTensor(t.name);
    if (t.type == TensorType::kF32 || orig == nullptr) continue;
    std::vector<float> y(t.n_elements);
    GetReferenceOps(t.type)->to_float(file.TensorData(t), y.data(), t.n_elements);
    const float* x = reinterpret_cast<const float*>(base.TensorData(*orig));
    auto& acc = sq[TypeName(t.type)];
    for (int64_t i = 0; i < t.n_elements; ++i)
      acc.first += (double(y[i]) - x[i]) * (double(y[i]) - x[i]);
    acc.second += t.n_elements;
  }
  std::map<std::string, double> rmse;
  for (const auto& [type, acc] : sq) rmse[type] = std::sqrt(acc.first / acc.second);
  return rmse;
}

}  // namespace tcobench::testing
