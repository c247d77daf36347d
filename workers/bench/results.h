// Filling a variant's result rows: latency summaries from the samples,
// runs merged, the energy section from a meter reading (used by the engine's
// and the endpoints' measurements alike).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <filesystem>

#include "absl/status/statusor.h"
#include "tcobench/v1/types.pb.h"
#include "workers/engine/evaluators.h"
#include "workers/bench/interference.h"
#include "workers/energy/energy_meter.h"

namespace tcobench {

// The tasks of the spec's accuracy.choice[index] (HellaSwag's text format or
// ARC's JSON, under the data root), the first `limit` of them; errors name
// the field.
absl::StatusOr<std::vector<ChoiceTask>> LoadChoiceTasks(const v1::Accuracy::Choice& c, int index,
                                                        const std::filesystem::path& data_root);

// A distribution's summary with a bootstrap interval of its median.
void FillSummary(const std::vector<double>& values, uint64_t seed, v1::Summary* out);

// The latency summaries and the throughput's interval from the samples
// (all runs'): a bootstrap over the requests of output tokens over their
// end-to-end time, relative to its value, scales the window's throughput;
// with several runs, a bootstrap of the runs' mean widens it where the runs
// disagree more than the requests do.
void SummarizeSamples(uint64_t seed, v1::VariantResult* out);

// Adds one run of a point to the point's result so far: samples and runs
// appended, throughput and energy over all windows, the worst interference
// kept; an endpoint's load section summed over the runs (rates over all
// windows, ITL the worst run's) and its SLO judged again.
void MergeRun(const v1::VariantResult& run, uint64_t seed, v1::VariantResult* into);

// An endpoint point met the SLO: no request failed, and the p99 TTFT and
// TPOT are within the bounds its load section records (0: no bound).
void JudgeEndpointSlo(v1::VariantResult* r);

// What is read around a measured window: the energy meter (may be null)
// and the interference monitor. Open() right before the window, Close()
// right after (both outside the timed region).
class MeasuredWindow {
 public:
  explicit MeasuredWindow(EnergyMeter* meter, double foreign_cpu_threshold = kForeignCpuThreshold)
      : meter_(meter), interference_monitor_({}, foreign_cpu_threshold) {}
  void Open();
  void Close();
  const absl::StatusOr<EnergyReading>& reading() const { return reading_; }
  const v1::Interference& interference() const { return interference_; }

 private:
  EnergyMeter* meter_;
  InterferenceMonitor interference_monitor_;
  absl::Status meter_start_;
  absl::StatusOr<EnergyReading> reading_ = absl::UnavailableError("the window was not measured");
  v1::Interference interference_;
};

// The energy section from a meter's reading over the window (`meter` null:
// not measured, `why_none` says why), per output token and per request.
void FillEnergy(const EnergyMeter* meter, const absl::StatusOr<EnergyReading>& reading, const std::string& note,
                int64_t output_tokens, int64_t requests, const std::string& why_none, v1::Energy* e);

}  // namespace tcobench
