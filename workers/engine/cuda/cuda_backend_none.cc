// The CUDA backend's stand-in for builds without CUDA (TCOBENCH_CUDA=OFF).
#include "absl/strings/str_cat.h"
#include "workers/engine/cuda/cuda_backend.h"

namespace tcobench {

absl::StatusOr<std::unique_ptr<Backend>> MakeCudaBackend(int index) {
  return absl::UnimplementedError(absl::StrCat(
      "device cuda:", index,
      ": this build has no CUDA backend; configure with -DTCOBENCH_CUDA=ON (docs/cuda.md)"));
}

bool CudaBackendBuilt() { return false; }

std::vector<CudaDeviceInfo> ListCudaDevices() { return {}; }

absl::StatusOr<double> MeasureCudaReadBandwidth(int index) {
  return absl::UnimplementedError(
      absl::StrCat("device cuda:", index, ": this build has no CUDA backend"));
}

}  // namespace tcobench
