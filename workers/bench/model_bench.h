// `tcobench model bench`: prefill and decode speed of a GGUF model on the
// embedded engine, the way llama-bench measures them (pp: one batch of -p
// tokens; tg: -n single-token decode steps, from an empty cache or after
// -d tokens of context), with the machine's read bandwidth measured in the
// same run.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "workers/bench/bandwidth.h"

namespace tcobench {

struct ModelBenchOptions {
  int64_t n_prompt = 128;  // -p: prefill batch; 0 skips prefill
  int64_t n_gen = 32;      // -n: decode steps; 0 skips decode
  int64_t n_depth = 0;     // -d: tokens in each sequence's cache when a test starts
  int reps = 5;            // -r: measured repetitions (after one warm-up)
  int threads = 2;         // -t
  int batch = 1;           // -b: concurrent sequences decoded together
  uint64_t seed = 1;       // token ids are random, from this seed
  bool measure_bandwidth = true;
  std::string device = "cpu";  // cpu, cuda, cuda:N
  bool measure_energy = true;  // NVML on a GPU, RAPL on the CPU, where readable
  std::function<void(const std::string& stage)> progress;  // may be empty
};

struct ModelBenchResult {
  std::string model_path, cpu, isa, build_commit, architecture;
  int threads = 0, batch = 0, reps = 0;
  int64_t n_prompt = 0, n_gen = 0, n_depth = 0;
  int64_t model_bytes = 0;  // tensor data
  int64_t file_bytes = 0;
  int64_t n_params = 0;
  int64_t kv_cache_bytes = 0;            // all sessions' KV caches
  double load_seconds = 0;               // open + map + fault the weights in from the page cache
  std::vector<double> prefill_samples;   // tokens/s of each measured run
  std::vector<double> decode_samples;    // tokens/s (all sequences together) of each run
  double prefill_tokens_per_second = 0;  // medians
  double decode_tokens_per_second = 0;
  int64_t peak_rss_bytes = 0;  // measured before the bandwidth buffer is allocated
  BandwidthResult bandwidth;             // the CPU's, or the GPU's read bandwidth
  std::string device;                    // cpu, cuda:N
  std::string device_description;        // GPU, memory, driver, runtime ("" on the CPU)
  // Energy over the measured runs, per token (0 when no meter was readable).
  std::string energy_source;  // "nvml", "rapl" or "" (none)
  std::string energy_note;    // why there is none, or the meter's detail
  double prefill_joules_per_token = 0;
  double decode_joules_per_token = 0;
  double decode_bandwidth_fraction = 0;  // model_bytes * decode tok/s / bandwidth (batch 1 meaning)
};

absl::StatusOr<ModelBenchResult> RunModelBench(const std::filesystem::path& model,
                                               const ModelBenchOptions& options);

}  // namespace tcobench
