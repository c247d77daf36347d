#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/base/clock.h"
#include "workers/energy/energy_meter.h"

namespace tcobench {
namespace {

// Thermal design power and physical cores of common server CPUs, matched by
// a substring of /proc/cpuinfo's model name (vendor data sheets).
struct CpuTdp {
  const char* model;
  double tdp_watts;
  int cores;
};
constexpr CpuTdp kCpuTable[] = {
    {"EPYC 9654", 360, 96},         {"EPYC 9554", 360, 64},      {"EPYC 9454", 290, 48},
    {"EPYC 7763", 280, 64},         {"EPYC 7713", 225, 64},      {"EPYC 7B13", 240, 64},
    {"EPYC 7543", 225, 32},         {"EPYC 7R13", 225, 48},      {"EPYC 7742", 225, 64},
    {"EPYC 7571", 180, 32},         {"Platinum 8480", 350, 56},  {"Platinum 8380", 270, 40},
    {"Platinum 8375C", 300, 32},    {"Platinum 8259CL", 210, 24}, {"Platinum 8175M", 240, 24},
    {"Gold 6348", 235, 28},         {"Gold 6338", 205, 32},      {"Gold 6248", 150, 20},
};
constexpr double kUnknownWattsPerCpu = 10.0;
constexpr double kStaticShare = 0.3;  // of TDP drawn whatever the load

double ProcessCpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         1e-6 * static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

class CpuModelMeter final : public EnergyMeter {
 public:
  explicit CpuModelMeter(const CpuModelOptions& o) : o_(o) {
    if (o_.cores_total <= 0) o_.cores_total = std::max(1u, std::thread::hardware_concurrency());
    o_.cores_used = std::clamp(o_.cores_used, 1, o_.cores_total);
    table_known_ = true;
    if (o_.tdp_watts <= 0) o_.tdp_watts = TableTdpWatts(o_.cpu_model, o_.cores_total, &table_known_);
    if (!o_.cpu_seconds) o_.cpu_seconds = ProcessCpuSeconds;
  }

  std::string source() const override { return "model"; }

  absl::Status Start() override {
    start_ = std::chrono::steady_clock::now();
    cpu_start_ = o_.cpu_seconds();
    return absl::OkStatus();
  }

  absl::StatusOr<EnergyReading> Stop() override {
    EnergyReading r;
    r.source = "model";
    r.seconds = SecondsSince(start_);
    const double cpu = std::max(0.0, o_.cpu_seconds() - cpu_start_);
    const double total = static_cast<double>(o_.cores_total);
    r.joules = o_.tdp_watts * (kStaticShare * r.seconds * o_.cores_used / total +
                               (1.0 - kStaticShare) * cpu / total);
    r.uncertainty_fraction = 0.5;
    r.detail = absl::StrFormat(
        "estimate, not a measurement: TDP %.1f W (%s) x (0.3 x %.3f s x %d/%d cores + 0.7 x %.3f "
        "CPU-s / %d)",
        o_.tdp_watts,
        table_known_ ? "of the visible CPUs" : "10 W per CPU: CPU model not in the table",
        r.seconds, o_.cores_used, o_.cores_total, cpu, o_.cores_total);
    return r;
  }

 private:
  CpuModelOptions o_;
  bool table_known_ = false;
  std::chrono::steady_clock::time_point start_;
  double cpu_start_ = 0;
};

}  // namespace

double TableTdpWatts(const std::string& cpu_model, int visible_cpus, bool* known) {
  for (const CpuTdp& c : kCpuTable) {
    if (cpu_model.find(c.model) != std::string::npos) {
      *known = true;
      // Per hardware thread (two per core), times the CPUs this machine shows.
      return c.tdp_watts / (2.0 * c.cores) * visible_cpus;
    }
  }
  *known = false;
  return kUnknownWattsPerCpu * visible_cpus;
}

std::unique_ptr<EnergyMeter> MakeCpuModelMeter(const CpuModelOptions& options) {
  return std::make_unique<CpuModelMeter>(options);
}

}  // namespace tcobench
