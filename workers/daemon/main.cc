// tcobench-worker: runs benchmark jobs for a coordinator (which it dials).
#include <atomic>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <ctime>

#include "absl/strings/str_split.h"
#include "common/base/flags.h"
#include "common/security/connection_flags.h"
#include "common/metrics/metrics_server.h"
#include "workers/daemon/worker.h"
#include "workers/engine/backend.h"
#include "common/base/build_info.h"

namespace {

using tcobench::Args;
using tcobench::CommandSpec;

// The endpoint flags (--endpoint ... --prometheus), shared with `tcobench run --local`.
CommandSpec WithEndpointFlags(CommandSpec spec) {
  for (tcobench::FlagSpec& f : tcobench::EndpointFlagSpecs()) spec.flags.push_back(std::move(f));
  return spec;
}

const CommandSpec kSpec = WithEndpointFlags(tcobench::WithConnectionFlags({
    "tcobench-worker --coordinator ADDR --name NAME --model-root DIR [--data-root DIR]\n"
    "    [--cache-dir DIR] [--labels k=v,...] [--threads N] [--device cuda:N] [--cpu-tdp-watts W]\n"
    "    [--energy auto|rapl|nvml|model|none] [--cost-per-hour USD] [--lock-file FILE] [--max-jobs N]\n"
    "    [--endpoint NAME=URL]... [--endpoint-key-file NAME=FILE]... [--endpoint-energy NAME=QUERY]...\n"
    "    [--prometheus URL] [--llama-lib PATH]\n"
    "    [--metrics-listen ADDR] [--tls-ca FILE [--tls-cert FILE --tls-key FILE]] [--token-file FILE]",
    "Dials out to the coordinator, registers this machine (CPU, cores, ISA level,\n"
    "memory, GPUs, labels, threads), heartbeats, leases jobs whose hardware\n"
    "selector it matches, runs them with the harness and reports progress and\n"
    "the full result. Models resolve inside --model-root only (no absolute paths,\n"
    "no '..', no symlinks out), texts inside --data-root. Workers on one host\n"
    "take the --lock-file lock around measurements, so they never measure at the\n"
    "same time. TCOBENCH_ISA and --threads let one machine present several\n"
    "hardware classes. Prometheus metrics (docs/metrics.md) are served on\n"
    "--metrics-listen at /metrics. TLS to the coordinator with --tls-ca (mutual TLS\n"
    "with --tls-cert/--tls-key); the bearer token from --token-file or $TCOBENCH_TOKEN.\n"
    "SIGTERM hands the current job back and exits cleanly; so does a drain (tcobench drain).\n"
    "--endpoint NAME=URL names an OpenAI-compatible server next to this worker; the\n"
    "worker advertises the names (never the URLs) and takes jobs of variants with\n"
    "runtime 'openai' that name them (docs/endpoints.md). --llama-lib names the\n"
    "libllama.so that variants with runtime 'llamacpp' run on (docs/llamacpp.md);\n"
    "without it the one this build was compiled against is used when present.",
    {tcobench::kCoordinatorFlag,
     {"name", "", true, "NAME", "this worker's name (required)"},
     {"model-root", "", true, "DIR", "where job models resolve (required)"},
     {"data-root", "", true, "DIR", "where job texts resolve (default: the model root)"},
     {"cache-dir", "", true, "DIR", "quantized variants (default $XDG_CACHE_HOME/tcobench)"},
     {"labels", "", true, "K=V,...", "labels selectors can match"},
     {"threads", "t", true, "N", "engine threads (default: all CPUs)"},
     {"device", "", true, "DEV",
      "the GPU for jobs whose selector asks for class gpu (default cuda:0; offered only by "
      "builds with TCOBENCH_CUDA that find it)"},
     {"cpu-tdp-watts", "", true, "W", "CPU power for the energy estimate"},
     {"energy", "", true, "SOURCE", "auto (default), rapl, nvml, model, none"},
     {"cost-per-hour", "", true, "USD",
      "this machine's price per hour, for cost reports (a spec's cost.hardware overrides it)"},
     {"lock-file", "", true, "FILE", "host-wide measurement lock (default /tmp/tcobench-measure.lock)"},
     {"max-jobs", "", true, "N", "exit after N jobs (default: run until stopped)"},
     {"max-text-bytes", "", true, "N", "largest text a job may read (default 268435456)"},
     {"metrics-listen", "", true, "ADDR",
      "serve /metrics here (default 127.0.0.1:9471, skipped with a warning when taken; 'none': off)"},
     tcobench::LlamaLibFlagSpec(),
     {"version", "", false, "", "print the version and exit"}},
    0,
    0}));

std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop = true; }

int Usage(const std::string& message) {
  std::fprintf(stderr, "tcobench-worker: %s\n", message.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  // First: a SIGTERM during start-up stops the worker cleanly too.
  std::signal(SIGTERM, OnSignal);
  std::signal(SIGINT, OnSignal);
  Args parsed;
  if (auto rc = tcobench::ParseDaemonArgs(kSpec, argc, argv, "tcobench-worker", &parsed)) return *rc;
  const Args* args = &parsed;
  tcobench::WorkerOptions o;
  absl::StatusOr<tcobench::ClientOptions> connection = tcobench::ConnectionOptions(*args);
  if (!connection.ok()) return Usage(std::string(connection.status().message()));
  o.coordinator = std::move(*connection);
  o.name = args->Get("name");
  if (o.name.empty()) return Usage("--name is required");
  if (!args->Has("model-root")) return Usage("--model-root is required");
  o.run.model_root = args->Get("model-root");
  o.run.data_root = args->Get("data-root", o.run.model_root.string());
  o.run.cache_dir = args->Has("cache-dir") ? std::filesystem::path(args->Get("cache-dir")) : tcobench::DefaultCacheDir();
  o.run.energy = args->Get("energy", "auto");
  o.gpu_device = args->Get("device", "cuda:0");
  if (!tcobench::CudaDeviceIndex(o.gpu_device).ok()) {
    return Usage("--device must be cuda or cuda:N (CPU jobs always run on the CPU)");
  }
  o.run.host_lock_file = args->Get("lock-file", "/tmp/tcobench-measure.lock");
  auto threads = args->GetInt("threads", 0, 0, 1024);
  auto tdp = args->GetDouble("cpu-tdp-watts", 0);
  auto max_jobs = args->GetInt("max-jobs", 0, 0, 1 << 30);
  auto price = args->GetDouble("cost-per-hour", 0);
  auto max_text = args->GetInt("max-text-bytes", o.max_text_bytes, 1, int64_t{1} << 40);
  for (const absl::Status& s : {threads.status(), tdp.status(), max_jobs.status(), price.status(), max_text.status()}) {
    if (!s.ok()) return Usage(std::string(s.message()));
  }
  if (*price < 0 || !std::isfinite(*price)) return Usage("--cost-per-hour must not be negative");
  o.run.cost_per_hour_usd = *price;
  if (absl::Status s = tcobench::ParseEndpointArgs(*args, &o.run.endpoints); !s.ok()) {
    return Usage(std::string(s.message()));
  }
  // llama.cpp: a --llama-lib must open (else exit 2); without the flag the
  // build's own libllama is tried, and the runtime is offered when it opens.
  if (absl::StatusOr<tcobench::LlamaCppBuild> llama = tcobench::OpenLlamaLibArg(*args, &o.run.llama_lib); llama.ok()) {
    o.llama_cpp = *llama;
  } else if (args->Has("llama-lib")) {
    return Usage(std::string(llama.status().message()));
  } else if (tcobench::LlamaCppCompiledIn()) {
    std::fprintf(stderr, "tcobench-worker: the llama.cpp runtime is off: %s\n",
                 std::string(llama.status().message()).c_str());
  }
  o.run.threads = static_cast<int>(*threads);
  o.run.cpu_tdp_watts = *tdp;
  o.max_jobs = static_cast<int>(*max_jobs);
  o.max_text_bytes = *max_text;
  for (absl::string_view kv : absl::StrSplit(args->Get("labels"), ',', absl::SkipEmpty())) {
    const size_t eq = kv.find('=');
    if (eq == absl::string_view::npos || eq == 0) {
      return Usage("--labels: expected k=v pairs separated by commas");
    }
    o.labels[std::string(kv.substr(0, eq))] = std::string(kv.substr(eq + 1));
  }
  const std::string name = o.name;
  o.run.progress = [name](const std::string& line) {
    const std::time_t t = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char ts[16];
    std::strftime(ts, sizeof ts, "%H:%M:%S", &tm);
    std::fprintf(stderr, "%s %s: %s\n", ts, name.c_str(), line.c_str());
  };
  std::unique_ptr<tcobench::MetricsServer> metrics_server;
  if (absl::Status s = tcobench::StartMetricsForDaemon(
          "tcobench-worker", {args->Get("metrics-listen", "127.0.0.1:9471"), args->Has("metrics-listen")},
          &metrics_server);
      !s.ok()) {
    return Usage(std::string(s.message()));
  }
  std::unique_ptr<tcobench::WorkerMetrics> metrics;
  if (metrics_server != nullptr) {
    metrics = std::make_unique<tcobench::WorkerMetrics>(metrics_server->registry(), tcobench::LocalInventory(o));
    o.metrics = metrics.get();
  }
  const absl::Status s = tcobench::RunWorker(o, g_stop);
  if (!s.ok()) {
    std::fprintf(stderr, "tcobench-worker: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  std::fprintf(stderr, "tcobench-worker %s stopped\n", name.c_str());
  return 0;
}
