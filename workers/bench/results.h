// Filling a variant's result rows: latency summaries from the samples,
// runs merged, the energy section from a meter reading (used by the engine's
// and the endpoints' measurements alike).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tcobench/v1/types.pb.h"
#include "workers/energy/energy_meter.h"

namespace tcobench {

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
// kept.
void MergeRun(const v1::VariantResult& run, uint64_t seed, v1::VariantResult* into);

// The energy section from a meter's reading over the window (`meter` null:
// not measured, `why_none` says why), per output token and per request.
void FillEnergy(const EnergyMeter* meter, const absl::StatusOr<EnergyReading>& reading, const std::string& note,
                int64_t output_tokens, int64_t requests, const std::string& why_none, v1::Energy* e);

}  // namespace tcobench
