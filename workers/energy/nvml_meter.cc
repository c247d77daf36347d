// NVML through dlopen: no NVIDIA headers are packaged, so the few functions
// used are declared here with the types of NVML's public API.
#include <dlfcn.h>

#include <chrono>
#include "common/base/mutex.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/base/clock.h"
#include "workers/energy/energy_meter.h"
#include "workers/energy/poller.h"

namespace tcobench {
namespace {

using NvmlReturn = int;  // nvmlReturn_t
using NvmlDevice = void*;  // nvmlDevice_t (an opaque pointer)
constexpr NvmlReturn kNvmlSuccess = 0;
constexpr NvmlReturn kNvmlNotSupported = 3;

struct NvmlApi {
  void* handle = nullptr;
  NvmlReturn (*init)() = nullptr;                                 // nvmlInit_v2
  NvmlReturn (*shutdown)() = nullptr;                             // nvmlShutdown
  NvmlReturn (*device_count)(unsigned int*) = nullptr;            // nvmlDeviceGetCount_v2
  NvmlReturn (*device_by_index)(unsigned int, NvmlDevice*) = nullptr;  // nvmlDeviceGetHandleByIndex_v2
  NvmlReturn (*total_energy)(NvmlDevice, unsigned long long*) = nullptr;  // millijoules
  NvmlReturn (*power_usage)(NvmlDevice, unsigned int*) = nullptr;         // milliwatts
  NvmlReturn (*device_name)(NvmlDevice, char*, unsigned int) = nullptr;
  NvmlReturn (*driver_version)(char*, unsigned int) = nullptr;
  // nvmlDeviceGetMemoryInfo: total, free, used bytes (nvmlMemory_t).
  NvmlReturn (*memory_info)(NvmlDevice, unsigned long long*) = nullptr;
  const char* (*error_string)(NvmlReturn) = nullptr;

  std::string Error(NvmlReturn r) const {
    return error_string != nullptr ? std::string(error_string(r)) : absl::StrCat("NVML error ", r);
  }
  ~NvmlApi() {
    if (shutdown != nullptr) shutdown();
    if (handle != nullptr) dlclose(handle);
  }
};

absl::StatusOr<std::unique_ptr<NvmlApi>> LoadNvml(const std::string& library) {
  auto api = std::make_unique<NvmlApi>();
  api->handle = dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (api->handle == nullptr) {
    const char* err = dlerror();
    return absl::NotFoundError(absl::StrCat("NVML not available: cannot load ", library, ": ",
                                            err != nullptr ? err : "unknown error"));
  }
  auto sym = [&](const char* name, auto* fn) {
    *fn = reinterpret_cast<std::remove_pointer_t<decltype(fn)>>(dlsym(api->handle, name));
    return *fn != nullptr;
  };
  NvmlReturn (*init)() = nullptr;
  if (!sym("nvmlInit_v2", &init) || !sym("nvmlDeviceGetCount_v2", &api->device_count) ||
      !sym("nvmlDeviceGetHandleByIndex_v2", &api->device_by_index) ||
      !sym("nvmlDeviceGetPowerUsage", &api->power_usage)) {
    return absl::NotFoundError(absl::StrCat(library, " lacks the NVML functions needed"));
  }
  sym("nvmlShutdown", &api->shutdown);
  sym("nvmlDeviceGetTotalEnergyConsumption", &api->total_energy);
  sym("nvmlDeviceGetName", &api->device_name);
  sym("nvmlSystemGetDriverVersion", &api->driver_version);
  sym("nvmlDeviceGetMemoryInfo", &api->memory_info);
  sym("nvmlErrorString", &api->error_string);
  auto shutdown = api->shutdown;
  api->shutdown = nullptr;  // only once init succeeded
  if (NvmlReturn r = init(); r != kNvmlSuccess) {
    return absl::UnavailableError(absl::StrCat("nvmlInit failed: ", api->Error(r)));
  }
  api->shutdown = shutdown;
  return api;
}

struct Gpu {
  NvmlDevice device = nullptr;
  std::string name;
  bool has_counter = false;
  unsigned long long start_mj = 0;
  // Power integration (GPUs without the energy counter).
  double joules = 0;
  double last_watts = 0;
  std::chrono::steady_clock::time_point last_time;
};

class NvmlMeter final : public EnergyMeter {
 public:
  NvmlMeter(std::unique_ptr<NvmlApi> api, std::vector<Gpu> gpus, double poll_seconds)
      : api_(std::move(api)), gpus_(std::move(gpus)), poll_seconds_(poll_seconds) {}
  ~NvmlMeter() override { poller_.Stop(); }

  std::string source() const override { return "nvml"; }

  absl::Status Start() override {
    poller_.Stop();
    MutexLock lock(&mu_);
    status_ = absl::OkStatus();
    start_ = std::chrono::steady_clock::now();
    bool sampling = false;
    for (Gpu& g : gpus_) {
      g.joules = 0;
      if (g.has_counter) {
        if (NvmlReturn r = api_->total_energy(g.device, &g.start_mj); r != kNvmlSuccess) {
          return absl::UnavailableError(
              absl::StrCat("NVML energy counter of ", g.name, ": ", api_->Error(r)));
        }
      } else {
        unsigned int mw = 0;
        if (NvmlReturn r = api_->power_usage(g.device, &mw); r != kNvmlSuccess) {
          return absl::UnavailableError(absl::StrCat("NVML power of ", g.name, ": ", api_->Error(r)));
        }
        g.last_watts = mw * 1e-3;
        g.last_time = start_;
        sampling = true;
      }
    }
    if (sampling) poller_.Start(poll_seconds_, [this] { SamplePower(); });
    return absl::OkStatus();
  }

  absl::StatusOr<EnergyReading> Stop() override {
    poller_.Stop();
    SamplePower();
    MutexLock lock(&mu_);
    if (!status_.ok()) return status_;
    EnergyReading r;
    r.source = "nvml";
    r.seconds = SecondsSince(start_);
    std::vector<std::string> parts;
    bool any_sampled = false;
    for (Gpu& g : gpus_) {
      double joules = g.joules;
      if (g.has_counter) {
        unsigned long long now = 0;
        if (NvmlReturn e = api_->total_energy(g.device, &now); e != kNvmlSuccess) {
          return absl::UnavailableError(
              absl::StrCat("NVML energy counter of ", g.name, ": ", api_->Error(e)));
        }
        joules = static_cast<double>(now - g.start_mj) * 1e-3;
      } else {
        any_sampled = true;
      }
      r.joules += joules;
      parts.push_back(absl::StrCat(g.name, g.has_counter ? " (energy counter) " : " (power sampled) ",
                                   joules, " J"));
    }
    // NVIDIA states board power readings within +-5%; sampled power between
    // readings adds the integration error.
    r.uncertainty_fraction = any_sampled ? 0.10 : 0.05;
    r.detail = absl::StrCat("NVML: ", absl::StrJoin(parts, ", "));
    return r;
  }

 private:
  void SamplePower() {
    MutexLock lock(&mu_);
    const auto now = std::chrono::steady_clock::now();
    for (Gpu& g : gpus_) {
      if (g.has_counter) continue;
      unsigned int mw = 0;
      if (NvmlReturn r = api_->power_usage(g.device, &mw); r != kNvmlSuccess) {
        status_ = absl::UnavailableError(absl::StrCat("NVML power of ", g.name, ": ", api_->Error(r)));
        continue;
      }
      const double watts = mw * 1e-3;
      const double dt = std::chrono::duration<double>(now - g.last_time).count();
      g.joules += 0.5 * (watts + g.last_watts) * dt;
      g.last_watts = watts;
      g.last_time = now;
    }
  }

  const std::unique_ptr<NvmlApi> api_;
  Mutex mu_;  // the poller's thread samples while a measurement runs
  std::vector<Gpu> gpus_ ABSL_GUARDED_BY(mu_);
  const double poll_seconds_;
  absl::Status status_ ABSL_GUARDED_BY(mu_);
  std::chrono::steady_clock::time_point start_ ABSL_GUARDED_BY(mu_);
  Poller poller_;
};

absl::StatusOr<std::vector<Gpu>> ListGpus(const NvmlApi& api) {
  unsigned int count = 0;
  if (NvmlReturn r = api.device_count(&count); r != kNvmlSuccess) {
    return absl::UnavailableError(absl::StrCat("NVML device count: ", api.Error(r)));
  }
  if (count == 0) return absl::NotFoundError("NVML reports no GPUs");
  std::vector<Gpu> gpus;
  for (unsigned int i = 0; i < count; ++i) {
    Gpu g;
    if (NvmlReturn r = api.device_by_index(i, &g.device); r != kNvmlSuccess) {
      return absl::UnavailableError(absl::StrCat("NVML GPU ", i, ": ", api.Error(r)));
    }
    char name[96] = {0};
    if (api.device_name != nullptr && api.device_name(g.device, name, sizeof name) == kNvmlSuccess) {
      g.name = absl::StrCat("GPU ", i, " ", name);
    } else {
      g.name = absl::StrCat("GPU ", i);
    }
    unsigned long long mj = 0;
    if (api.total_energy != nullptr) {
      const NvmlReturn r = api.total_energy(g.device, &mj);
      if (r != kNvmlSuccess && r != kNvmlNotSupported) {
        return absl::PermissionDeniedError(
            absl::StrCat("NVML energy counter of ", g.name, ": ", api.Error(r)));
      }
      g.has_counter = r == kNvmlSuccess;
    }
    gpus.push_back(std::move(g));
  }
  return gpus;
}

}  // namespace

absl::StatusOr<std::unique_ptr<EnergyMeter>> OpenNvmlMeter(const std::string& library,
                                                           double poll_seconds) {
  auto api = LoadNvml(library);
  if (!api.ok()) return api.status();
  auto gpus = ListGpus(**api);
  if (!gpus.ok()) return gpus.status();
  return std::unique_ptr<EnergyMeter>(
      new NvmlMeter(std::move(*api), std::move(*gpus), poll_seconds));
}

GpuInventory ProbeGpus(const std::string& library) {
  GpuInventory inv;
  auto api = LoadNvml(library);
  if (!api.ok()) return inv;
  auto gpus = ListGpus(**api);
  if (gpus.ok()) {
    for (const Gpu& g : *gpus) {
      unsigned long long memory[3] = {0, 0, 0};  // nvmlMemory_t: total, free, used
      int64_t total = 0;
      if ((*api)->memory_info != nullptr && (*api)->memory_info(g.device, memory) == kNvmlSuccess) {
        total = static_cast<int64_t>(memory[0]);
      }
      inv.names.push_back(total > 0 ? absl::StrFormat("%s, %.1f GiB", g.name, total / 1073741824.0)
                                    : g.name);
      inv.memory_bytes.push_back(total);
    }
  }
  char version[96] = {0};
  if ((*api)->driver_version != nullptr &&
      (*api)->driver_version(version, sizeof version) == kNvmlSuccess) {
    inv.driver = version;
  }
  return inv;
}

}  // namespace tcobench
