// The worker daemon's loop: dial out to the coordinator, register this
// machine's inventory, heartbeat, lease jobs, run them with the harness and
// report progress and results.
#pragma once

#include <atomic>
#include <optional>
#include <filesystem>
#include <map>
#include <string>

#include "absl/status/status.h"
#include "common/security/transport.h"
#include "tcobench/v1/coordinator.pb.h"
#include "workers/bench/comparison.h"
#include "workers/daemon/metrics.h"

namespace tcobench {

struct WorkerOptions {
  ClientOptions coordinator{"127.0.0.1:7700"};  // address, TLS, token
  std::string name;
  std::map<std::string, std::string> labels;
  LocalRunOptions run;              // roots, cache, threads, energy
  // The device jobs whose selector asks for class gpu run on (others run on
  // the CPU); the inventory offers GPUs only when this build can use them.
  std::string gpu_device = "cuda:0";
  double idle_poll_seconds = 0.5;   // between AcquireJob calls when there is nothing to do
  int max_jobs = 0;                 // exit after this many jobs (0: run until stopped)
  WorkerMetrics* metrics = nullptr; // may be null (no --metrics-listen)
  int64_t max_text_bytes = int64_t{256} << 20;  // each text a job reads
  // The libllama it opened (run.llama_lib), when it runs llamacpp variants.
  std::optional<LlamaCppBuild> llama_cpp;
};

// This machine as a worker presents it (ISA as TCOBENCH_ISA leaves it).
v1::WorkerInventory LocalInventory(const WorkerOptions& options);

// Checks that every model and text path of a job's spec stays inside its
// root: relative, no "..", and no symlink leading out.
absl::Status CheckPathsConfined(const v1::ComparisonSpec& spec, const std::filesystem::path& model_root,
                                const std::filesystem::path& data_root);

// Checks that every text a job reads (prompt text, perplexity text, task
// files) is at most `max_bytes`; the error names the field and the flag.
absl::Status CheckTextSizes(const v1::ComparisonSpec& spec, const std::filesystem::path& data_root,
                            int64_t max_bytes);

// Runs until `stop` is set (SIGTERM): a job in progress is handed back to
// the coordinator at its next phase boundary. Returns when stopped, or with
// an error when the coordinator cannot be reached at all.
absl::Status RunWorker(const WorkerOptions& options, const std::atomic<bool>& stop);

}  // namespace tcobench
