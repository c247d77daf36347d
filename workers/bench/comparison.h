// Runs a comparison spec on this machine (`tcobench run --local`): makes
// quantized variants into the cache, measures each variant with the spec's
// scenario, energy meter and accuracy suites, and returns the result with
// its manifest (docs/harness.md).
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/base/flags.h"
#include "tcobench/v1/types.pb.h"
#include "workers/llamacpp/llamacpp.h"

namespace tcobench {

// An OpenAI-compatible server this machine may call (--endpoint NAME=URL).
struct EndpointTarget {
  std::string url;      // base URL, e.g. http://127.0.0.1:8080/v1
  std::string api_key;  // from --endpoint-key-file NAME=FILE; "" for none
  // From --endpoint-energy NAME=QUERY with --prometheus URL: the energy of
  // the hardware behind the endpoint, read from that Prometheus ("" none).
  std::string energy_prometheus;
  std::string energy_query;  // "QUERY", "watts:QUERY" or "joules:QUERY"
};

// The endpoint flags of the worker and of `run --local` (--endpoint
// NAME=URL, --endpoint-key-file NAME=FILE, --endpoint-energy NAME=QUERY,
// --prometheus URL): their specs for --help, and their values parsed into
// `out`; errors name the bad value.
std::vector<FlagSpec> EndpointFlagSpecs();
absl::Status ParseEndpointArgs(const Args& args, std::map<std::string, EndpointTarget>* out);

// --llama-lib PATH, of the worker and of `run --local`: the libllama that
// variants with runtime "llamacpp" run on.
FlagSpec LlamaLibFlagSpec();
// Opens the libllama --llama-lib names (else this build's default) into
// *path and returns what it says about itself. An error (INVALID_ARGUMENT,
// naming the file and what is wrong) when it cannot be used.
absl::StatusOr<LlamaCppBuild> OpenLlamaLibArg(const Args& args, std::filesystem::path* path);

struct LocalRunOptions {
  std::filesystem::path model_root = ".";
  std::filesystem::path data_root = ".";
  std::filesystem::path cache_dir;  // required: where quantized variants are made
  int threads = 0;                  // engine threads when the variant does not say; 0: all CPUs
  // Where the engine runs: "auto" (the CPU, or cuda:0 when the targets'
  // selectors ask for class gpu), "cpu", "cuda" or "cuda:N".
  std::string device = "auto";
  std::string energy = "auto";      // auto (nvml on a GPU; rapl, else model), rapl, nvml, model, none
  double cpu_tdp_watts = 0;         // for the model estimate; 0: the CPU table
  std::filesystem::path powercap_root = "/sys/class/powercap";
  std::string nvml_library = "libnvidia-ml.so.1";
  std::function<void(const std::string& line)> progress;  // may be empty
  // The run's phase as it changes (may be empty): "preparing" (hashing,
  // quantizing), "loading", "waiting_for_lock", "measuring", "accuracy".
  std::function<void(const char* phase)> on_phase;
  // Checked between phases; true stops the run with a CANCELLED status.
  std::function<bool()> should_stop;
  // When set, only this variant is measured and evaluated; the others are
  // prepared (the baseline's file serves KL divergence). Workers run one
  // job (variant) at a time this way.
  std::string measure_only;
  // When set, the measured part of each variant runs under an exclusive
  // flock on this file, and preparing and accuracy under a shared one, so
  // workers on one host never measure at the same time nor beside another's
  // CPU-heavy work; the waits are recorded in the manifest.
  std::filesystem::path host_lock_file;
  // This machine's advertised price per hour, stamped on every result for
  // the cost model (0: none).
  double cost_per_hour_usd = 0;
  // The endpoints variants with runtime "openai" may name; a spec naming
  // another fails its variant with the names known.
  std::map<std::string, EndpointTarget> endpoints;
  // The libllama variants with runtime "llamacpp" run on (--llama-lib);
  // empty: the one of the llama.cpp folder this build was compiled against.
  std::filesystem::path llama_lib;
};

// The device a run of `spec` uses (LocalRunOptions::device resolved against
// the targets' selector classes); an error names a target the device
// cannot serve.
absl::StatusOr<std::string> ResolveDevice(const v1::ComparisonSpec& spec, const std::string& device);

// The default cache directory: $XDG_CACHE_HOME/tcobench, else ~/.cache/tcobench.
std::filesystem::path DefaultCacheDir();

absl::StatusOr<v1::ComparisonResult> RunComparisonLocal(const v1::ComparisonSpec& spec,
                                                        const LocalRunOptions& options);

}  // namespace tcobench
