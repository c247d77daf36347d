#include "workers/engine/backend.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "workers/engine/cpu_backend.h"
#include "workers/engine/cuda/cuda_backend.h"

namespace tcobench {

absl::StatusOr<int> CudaDeviceIndex(const std::string& device) {
  if (device == "cuda") return 0;
  if (!absl::StartsWith(device, "cuda:")) {
    return absl::InvalidArgumentError(
        absl::StrCat("device '", device, "' is unknown; devices: cpu, cuda, cuda:N"));
  }
  int index = -1;
  if (!absl::SimpleAtoi(device.substr(5), &index) || index < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("device '", device, "': the GPU index must be a number, as in cuda:0"));
  }
  return index;
}

absl::StatusOr<std::unique_ptr<Backend>> MakeBackend(const std::string& device, ThreadPool* pool) {
  if (device.empty() || device == "cpu") return MakeCpuBackend(pool);
  absl::StatusOr<int> index = CudaDeviceIndex(device);
  if (!index.ok()) return index.status();
  return MakeCudaBackend(*index);
}

}  // namespace tcobench
