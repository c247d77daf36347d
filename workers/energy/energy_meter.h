// Energy meters: one interface over NVIDIA's NVML, Linux powercap RAPL and a
// labelled CPU model estimate (docs/energy.md). A meter measures one window
// at a time: Start(), the work, Stop(). Every reading says where it came
// from and how uncertain it is; an estimate is never labelled a measurement.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace tcobench {

struct EnergyReading {
  std::string source;  // "nvml", "rapl", "model"
  double joules = 0;
  double seconds = 0;  // the window
  double uncertainty_fraction = 0;
  std::string detail;  // domains or devices read, or the estimate's inputs
};

class EnergyMeter {
 public:
  virtual ~EnergyMeter() = default;
  virtual std::string source() const = 0;
  // Begins a window (a meter that polls starts its poller here).
  virtual absl::Status Start() = 0;
  // Energy used since Start().
  virtual absl::StatusOr<EnergyReading> Stop() = 0;
};

// RAPL through powercap: every package zone (intel-rapl:N) plus its "dram"
// subzone where present, summed; counters polled every `poll_seconds` so
// wrap-arounds (at max_energy_range_uj) are counted. Fails with the reason
// (no zones, counters not readable) when unavailable.
absl::StatusOr<std::unique_ptr<EnergyMeter>> OpenRaplMeter(
    const std::filesystem::path& powercap_root = "/sys/class/powercap", double poll_seconds = 1.0);

// NVML, loaded with dlopen (nothing to link): every GPU's total-energy
// counter where the GPU has one, else its power sampled every
// `poll_seconds` and integrated (trapezoids). Fails with the reason when the
// library or a GPU is missing.
absl::StatusOr<std::unique_ptr<EnergyMeter>> OpenNvmlMeter(
    const std::string& library = "libnvidia-ml.so.1", double poll_seconds = 0.1);

// GPU names (with their memory, where NVML reports it) and the driver
// version through NVML, for inventories and manifests (empty when absent).
struct GpuInventory {
  std::vector<std::string> names;
  std::vector<int64_t> memory_bytes;  // per GPU; 0 when not reported
  std::string driver;
};
GpuInventory ProbeGpus(const std::string& library = "libnvidia-ml.so.1");

// The CPU estimate: E = TDP * (0.3 * wall * cores_used / cores_total
//                             + 0.7 * cpu_seconds / cores_total),
// TDP being the power of this machine's visible CPUs (see docs/energy.md).
struct CpuModelOptions {
  double tdp_watts = 0;        // of the visible CPUs; 0: from the CPU table
  std::string cpu_model;       // /proc/cpuinfo model name, for the table
  int cores_total = 0;         // visible CPUs; 0: detected
  int cores_used = 1;          // threads the run was given
  // Process CPU seconds so far; default: getrusage of this process.
  std::function<double()> cpu_seconds;
};
std::unique_ptr<EnergyMeter> MakeCpuModelMeter(const CpuModelOptions& options);

// Watts of `visible_cpus` logical CPUs of `cpu_model` from the table (TDP
// shared out per hardware thread), or 10 W per CPU when the model is not in
// it; `*known` says which.
double TableTdpWatts(const std::string& cpu_model, int visible_cpus, bool* known);

}  // namespace tcobench
