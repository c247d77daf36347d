// libFuzzer target: the strict proto-JSON parsing every file tcobench reads
// goes through (specs, cost inputs, gate policies), and the checks a parsed
// spec then meets, must turn any byte string into a value or a clean error.
#include <cstddef>
#include <cstdint>
#include <string>

#include "services/analysis/cost_model.h"
#include "services/analysis/gate.h"
#include "common/spec/spec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string json(reinterpret_cast<const char*>(data), size);
  size_t sum = 0;
  auto spec = tcobench::ParseSpecJson(json);
  if (spec.ok()) {
    sum += tcobench::CheckSpecLimits(*spec, tcobench::SpecLimits{}).ok();
    if (tcobench::ValidateSpec(*spec).ok()) sum += tcobench::ToJson(tcobench::WithDefaults(*spec)).size();
  }
  auto cost = tcobench::ParseCostJson(json);
  if (cost.ok()) sum += tcobench::ValidateCost(*cost).ok();
  auto policy = tcobench::ParseGatePolicyJson(json);
  if (policy.ok()) {
    auto full = tcobench::GatePolicyWithDefaults(*policy);
    if (full.ok()) sum += full->metrics_size();
  }
  return sum == static_cast<size_t>(-1) ? 1 : 0;
}
