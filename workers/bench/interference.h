// What else used the machine while a window was measured: CPU time of other
// processes (system-wide busy time from /proc/stat less this process's own
// from getrusage, hypervisor steal included), this process's involuntary
// context switches, CPU clocks and thermal throttling where readable
// (docs/harness.md, "Interference"). Start() and Stop() read a handful of
// small files; call them just outside the timed region.
#pragma once

#include <cstdint>
#include <filesystem>

#include "tcobench/v1/types.pb.h"

namespace tcobench {

// Other processes' share of the machine's CPU time above which a window is
// contaminated: 10% (e.g. one busy core of a 2-core machine is 50%).
inline constexpr double kForeignCpuThreshold = 0.10;
// For a run against an endpoint: its server may be one of the other
// processes, so their CPU share is recorded but never contaminates.
inline constexpr double kForeignCpuNotJudged = 1.0;

// Where the counters are read; tests point these at fixture trees.
struct InterferenceSources {
  std::filesystem::path proc_stat = "/proc/stat";
  std::filesystem::path cpu_sysfs = "/sys/devices/system/cpu";
};

class InterferenceMonitor {
 public:
  explicit InterferenceMonitor(InterferenceSources sources = {},
                               double foreign_cpu_threshold = kForeignCpuThreshold);
  void Start();
  // The window since Start(), judged (see JudgeInterference).
  v1::Interference Stop();

 private:
  struct Snapshot {
    double busy_seconds = 0, total_seconds = 0;  // /proc/stat, all CPUs
    double own_seconds = 0;                      // getrusage(RUSAGE_SELF)
    int64_t involuntary_switches = 0;
    int64_t throttle_events = -1;                // -1: unreadable
    double wall_seconds = 0;                     // steady clock
  };
  Snapshot Take() const;

  InterferenceSources sources_;
  double foreign_cpu_threshold_;
  Snapshot start_;
};

// Sets contaminated and reason from the counters: other processes used more
// than `foreign_cpu_threshold` of the CPUs (less two clock ticks of
// accounting granularity), or the CPUs were throttled for heat.
void JudgeInterference(v1::Interference* i, double foreign_cpu_threshold = kForeignCpuThreshold);

// The worse of two windows' interference (a result with several runs keeps
// the worst); `into` is empty the first time.
void KeepWorstInterference(const v1::Interference& window, v1::Interference* into);

}  // namespace tcobench
