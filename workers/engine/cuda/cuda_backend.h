// The CUDA backend: weights, activations and KV caches in GPU memory,
// kernels that read the GGUF blocks as stored, and decode steps replayed
// as CUDA graphs. Built with -DTCOBENCH_CUDA=ON; without it MakeCudaBackend
// says so.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "workers/engine/backend.h"

namespace tcobench {

// Opens GPU `index` (as CUDA numbers them).
absl::StatusOr<std::unique_ptr<Backend>> MakeCudaBackend(int index);

// Whether this build has the CUDA backend.
bool CudaBackendBuilt();

// What the CUDA runtime sees, for inventories and manifests (empty without
// CUDA, a driver or a GPU).
struct CudaDeviceInfo {
  int index = 0;
  std::string name;
  int64_t memory_bytes = 0;
  int compute_major = 0, compute_minor = 0;
  int sm_clock_mhz = 0, memory_clock_mhz = 0;
  int driver_version = 0;   // as CUDA encodes it: 1000 * major + 10 * minor
  int runtime_version = 0;  // the runtime this build links
};
std::vector<CudaDeviceInfo> ListCudaDevices();

// GPU `index`'s read bandwidth in bytes/s: a kernel reading a 2 GiB buffer
// once, median of 5 timed runs after a warm-up (CUDA events).
absl::StatusOr<double> MeasureCudaReadBandwidth(int index);

}  // namespace tcobench
