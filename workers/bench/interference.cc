#include "workers/bench/interference.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace tcobench {
namespace {

namespace fs = std::filesystem;

double TickSeconds() {
  const long hz = ::sysconf(_SC_CLK_TCK);
  return hz > 0 ? 1.0 / static_cast<double>(hz) : 0.01;
}

// The aggregate "cpu" line: user nice system idle iowait irq softirq steal
// (guest time is inside user). Busy is all but idle and iowait.
bool ReadProcStat(const fs::path& path, double* busy, double* total) {
  std::ifstream in(path);
  std::string label;
  if (!(in >> label) || label != "cpu") return false;
  std::vector<double> f;
  double v;
  for (int i = 0; i < 8 && in >> v; ++i) f.push_back(v);
  if (f.size() < 4) return false;
  f.resize(8, 0);
  const double tick = TickSeconds();
  *total = 0;
  for (double x : f) *total += x * tick;
  *busy = *total - (f[3] + f[4]) * tick;
  return true;
}

int64_t ReadInt(const fs::path& path) {
  std::ifstream in(path);
  int64_t v = -1;
  if (!(in >> v)) return -1;
  return v;
}

// CPU directories cpu0, cpu1, ... under the sysfs root.
std::vector<fs::path> CpuDirs(const fs::path& root) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(root, ec)) {
    const std::string name = e.path().filename().string();
    if (name.size() > 3 && name.rfind("cpu", 0) == 0 &&
        std::all_of(name.begin() + 3, name.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      out.push_back(e.path());
    }
  }
  return out;
}

// Core and package thermal throttle events over all CPUs; -1 when no CPU
// exposes them (most VMs).
int64_t ThrottleEvents(const fs::path& root) {
  int64_t sum = -1;
  for (const fs::path& cpu : CpuDirs(root)) {
    for (const char* f : {"thermal_throttle/core_throttle_count", "thermal_throttle/package_throttle_count"}) {
      const int64_t v = ReadInt(cpu / f);
      if (v >= 0) sum = std::max<int64_t>(sum, 0) + v;
    }
  }
  return sum;
}

}  // namespace

InterferenceMonitor::InterferenceMonitor(InterferenceSources sources, double foreign_cpu_threshold)
    : sources_(std::move(sources)), foreign_cpu_threshold_(foreign_cpu_threshold) {}

InterferenceMonitor::Snapshot InterferenceMonitor::Take() const {
  Snapshot s;
  ReadProcStat(sources_.proc_stat, &s.busy_seconds, &s.total_seconds);
  rusage ru{};
  if (::getrusage(RUSAGE_SELF, &ru) == 0) {
    s.own_seconds = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                    static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
    s.involuntary_switches = ru.ru_nivcsw;
  }
  s.throttle_events = ThrottleEvents(sources_.cpu_sysfs);
  s.wall_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  return s;
}

void InterferenceMonitor::Start() { start_ = Take(); }

v1::Interference InterferenceMonitor::Stop() {
  const Snapshot end = Take();
  v1::Interference i;
  const double window = end.wall_seconds - start_.wall_seconds;
  const int cpus = static_cast<int>(std::max(1L, ::sysconf(_SC_NPROCESSORS_ONLN)));
  i.set_window_seconds(window);
  i.set_cpus(cpus);
  i.set_own_cpu_seconds(end.own_seconds - start_.own_seconds);
  i.set_busy_cpu_seconds(end.busy_seconds - start_.busy_seconds);
  const double foreign = std::max(0.0, i.busy_cpu_seconds() - i.own_cpu_seconds());
  i.set_foreign_cpu_fraction(window > 0 ? std::min(1.0, foreign / (window * cpus)) : 0);
  i.set_involuntary_context_switches(end.involuntary_switches - start_.involuntary_switches);
  i.set_thermal_throttle_events(end.throttle_events >= 0 && start_.throttle_events >= 0
                                    ? end.throttle_events - start_.throttle_events
                                    : -1);
  double lo = 0, hi = 0;
  for (const fs::path& cpu : CpuDirs(sources_.cpu_sysfs)) {
    const int64_t khz = ReadInt(cpu / "cpufreq/scaling_cur_freq");
    if (khz <= 0) continue;
    const double mhz = static_cast<double>(khz) / 1000;
    lo = lo == 0 ? mhz : std::min(lo, mhz);
    hi = std::max(hi, mhz);
  }
  i.set_cpu_mhz_min(lo);
  i.set_cpu_mhz_max(hi);
  i.set_gpu_foreign_utilization(-1);
  JudgeInterference(&i, foreign_cpu_threshold_);
  return i;
}

void JudgeInterference(v1::Interference* i, double threshold) {
  i->set_foreign_cpu_threshold(threshold);
  std::vector<std::string> why;
  // /proc/stat counts in clock ticks: two ticks of slack so that a short
  // window is not condemned by rounding.
  const double capacity = i->window_seconds() * std::max(1, i->cpus());
  const double foreign_seconds = i->foreign_cpu_fraction() * capacity;
  if (capacity > 0 && foreign_seconds - 2 * TickSeconds() > threshold * capacity) {
    why.push_back(absl::StrFormat("other processes used %.0f%% of the CPUs (threshold %.0f%%)",
                                  100 * i->foreign_cpu_fraction(), 100 * threshold));
  }
  if (i->thermal_throttle_events() > 0) {
    why.push_back(absl::StrCat("thermal throttling (", i->thermal_throttle_events(), " events)"));
  }
  if (i->gpu_foreign_utilization() > threshold) {
    why.push_back(absl::StrFormat("other processes used the GPU %.0f%% of the time", 100 * i->gpu_foreign_utilization()));
  }
  i->set_contaminated(!why.empty());
  i->set_reason(absl::StrJoin(why, "; "));
}

void KeepWorstInterference(const v1::Interference& window, v1::Interference* into) {
  const bool empty = into->window_seconds() == 0 && !into->contaminated();
  if (empty || (window.contaminated() && !into->contaminated()) ||
      (window.contaminated() == into->contaminated() &&
       window.foreign_cpu_fraction() > into->foreign_cpu_fraction())) {
    *into = window;
  }
}

}  // namespace tcobench
