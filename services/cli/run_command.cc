// tcobench spec validate / tcobench run: comparison specs and local runs.
#include <unistd.h>

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "services/analysis/cost_model.h"
#include "services/analysis/report_render.h"
#include "common/spec/spec.h"
#include "common/base/flags.h"
#include "services/cli/commands.h"
#include "workers/bench/comparison.h"
#include "workers/bench/system_info.h"

namespace tcobench::cli {
namespace {

const CommandSpec kValidateSpec = {
    "tcobench spec validate SPEC.json [--format table|json]",
    "Checks a comparison spec without running it: the JSON against the schema\n"
    "(unknown fields are errors) and every rule a runnable spec follows. Prints\n"
    "the spec with defaults filled in (--format json) or a one-line summary.\n"
    "Exit 0 when valid, 2 with a message naming the field otherwise.",
    {kFormatFlag},
    1,
    1};

std::vector<FlagSpec> RunFlags() {
  std::vector<FlagSpec> flags = LocalRunFlags();
  flags.insert(flags.begin(), {"local", "", false, "", "run here, with the embedded engine"});
  flags.push_back({"output", "o", true, "FILE", "write the full result here (JSON)"});
  flags.push_back({"format", "", true, "FORMAT", "table (default) or json (the result on stdout)"});
  flags.push_back({"coordinator", "", true, "ADDR",
                   "without --local: the coordinator (default $TCOBENCH_COORDINATOR, else 127.0.0.1:7700)"});
  return flags;
}

const CommandSpec kRunSpec = {
    "tcobench run SPEC.json [--local] [--model-root DIR] [--data-root DIR] [--cache-dir DIR]\n"
    "    [--output results.json] [--threads N] [--device auto|cpu|cuda:N] [--repetitions N]\n"
    "    [--energy auto|rapl|nvml|model|none]\n"
    "    [--cpu-tdp-watts W] [--cost-per-hour USD] [--endpoint NAME=URL]... [--endpoint-key-file NAME=FILE]...\n"
    "    [--endpoint-energy NAME=QUERY]... [--prometheus URL] [--llama-lib PATH]\n"
    "    [--format table|json] [--coordinator ADDR]",
    "Runs a comparison on this machine: makes quantized variants (once, into the\n"
    "cache), measures every variant with the spec's scenario (latency, throughput,\n"
    "energy, memory), runs its accuracy suites, and prints one summary row per\n"
    "variant. --output writes the full result (spec, manifest, raw samples) as\n"
    "JSON. Progress goes to stderr. Without --local the spec is submitted to the\n"
    "coordinator, which runs it on its workers; the command waits and prints the\n"
    "same summary.",
    RunFlags(),
    1,
    1};

}  // namespace

std::vector<FlagSpec> LocalRunFlags() {
  std::vector<FlagSpec> flags = {
      {"model-root", "", true, "DIR", "where variant models resolve (default .)"},
      {"data-root", "", true, "DIR", "where text files resolve (default .)"},
      {"cache-dir", "", true, "DIR",
       "where quantized variants are made (default $XDG_CACHE_HOME/tcobench, else ~/.cache/tcobench)"},
      {"threads", "t", true, "N", "engine threads when a variant does not say (default: all CPUs)"},
      {"device", "", true, "DEV",
       "auto (default: cuda:0 when the targets ask for class gpu, else the CPU), cpu, cuda or cuda:N "
       "(builds with TCOBENCH_CUDA)"},
      {"repetitions", "", true, "N",
       "runs of each variant, interleaved (A B A B ...); overrides workload.repetitions"},
      {"energy", "", true, "SOURCE",
       "auto (default: NVML on a GPU; RAPL, else the CPU model), rapl, nvml, model, none"},
      {"cpu-tdp-watts", "", true, "W", "power of this machine's CPUs for the model estimate"},
      {"cost-per-hour", "", true, "USD", "this machine's price per hour, for the cost report"}};
  for (FlagSpec& f : EndpointFlagSpecs()) flags.push_back(std::move(f));
  flags.push_back(LlamaLibFlagSpec());
  return flags;
}

absl::StatusOr<v1::ComparisonResult> RunLocalFromArgs(const Args& args, v1::ComparisonSpec spec) {
  LocalRunOptions o;
  o.model_root = args.Get("model-root", ".");
  o.data_root = args.Get("data-root", ".");
  o.cache_dir = args.Has("cache-dir") ? std::filesystem::path(args.Get("cache-dir")) : DefaultCacheDir();
  o.energy = args.Get("energy", "auto");
  o.device = args.Get("device", "auto");
  absl::StatusOr<int64_t> threads = args.GetInt("threads", 0, 0, 1024);
  if (!threads.ok()) return threads.status();
  o.threads = static_cast<int>(*threads);
  if (args.Has("repetitions")) {
    absl::StatusOr<int64_t> reps = args.GetInt("repetitions", 1, 1, 100);
    if (!reps.ok()) return reps.status();
    spec.mutable_workload()->set_repetitions(static_cast<int32_t>(*reps));
  }
  absl::StatusOr<double> tdp = args.GetDouble("cpu-tdp-watts", 0);
  if (!tdp.ok()) return tdp.status();
  if (*tdp < 0) return absl::InvalidArgumentError("--cpu-tdp-watts must be positive");
  o.cpu_tdp_watts = *tdp;
  absl::StatusOr<double> price = args.GetDouble("cost-per-hour", 0);
  if (!price.ok()) return price.status();
  if (*price < 0) return absl::InvalidArgumentError("--cost-per-hour must not be negative");
  o.cost_per_hour_usd = *price;
  if (absl::Status s = ParseEndpointArgs(args, &o.endpoints); !s.ok()) return s;
  // The libllama is checked before anything runs: a bad one is a usage error.
  bool llamacpp = args.Has("llama-lib");
  for (const v1::Variant& v : spec.variants()) llamacpp |= v.runtime() == "llamacpp";
  if (llamacpp) {
    absl::StatusOr<LlamaCppBuild> build = OpenLlamaLibArg(args, &o.llama_lib);
    if (!build.ok()) return build.status();
  }
  const bool tty = isatty(fileno(stderr));
  std::string last_stage;
  o.progress = [tty, &last_stage](const std::string& line) {
    if (tty) {
      std::fprintf(stderr, "\r\033[K%s", line.c_str());
      return;
    }
    // To a log: a line when a stage starts and when it ends ("... 50/50"),
    // not every count in between.
    const size_t space = line.rfind(' ');
    const std::string tail = space == std::string::npos ? "" : line.substr(space + 1);
    const size_t slash = tail.find('/');
    const bool counter = slash != std::string::npos && slash > 0 &&
                         tail.find_first_not_of("0123456789/") == std::string::npos;
    const std::string stage = counter ? line.substr(0, space) : line;
    const bool last = counter && tail.substr(0, slash) == tail.substr(slash + 1);
    if (stage != last_stage || last) std::fprintf(stderr, "%s\n", line.c_str());
    last_stage = stage;
  };
  absl::StatusOr<v1::ComparisonResult> result = RunComparisonLocal(spec, o);
  if (tty) std::fputs("\r\033[K", stderr);
  return result;
}

absl::StatusOr<v1::ComparisonSpec> LoadSpec(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFileText(path);
  if (!text.ok()) return text.status();
  absl::StatusOr<v1::ComparisonSpec> spec = ParseSpecJson(*text);
  if (!spec.ok()) return absl::InvalidArgumentError(absl::StrCat(path, ": ", spec.status().message()));
  if (absl::Status s = ValidateSpec(*spec); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", s.message()));
  }
  return spec;
}

void PrintSummary(const v1::ComparisonResult& r) {
  std::string text = RenderSummaryText(r);
  if (absl::StatusOr<v1::CostReport> cost = ComputeCostReport(r); cost.ok()) text += RenderCostText(*cost);
  std::fputs(text.c_str(), stdout);
}

int RunSpecValidate(const std::vector<std::string>& argv) {
  Args args;
  if (auto rc = ParseCommand(kValidateSpec, argv, &args)) return *rc;
  const std::string format = args.Get("format", "table");
  if (format != "table" && format != "json") {
    return ReportError(absl::InvalidArgumentError("--format must be table or json"));
  }
  absl::StatusOr<v1::ComparisonSpec> spec = LoadSpec(args.positional()[0]);
  if (!spec.ok()) return ReportError(spec.status());
  if (format == "json") {
    std::printf("%s\n", ToJson(WithDefaults(*spec)).c_str());
  } else {
    std::printf("%s: valid — \"%s\", %d variants (baseline %s), %s\n", args.positional()[0].c_str(),
                spec->name().c_str(), spec->variants_size(), spec->baseline().c_str(),
                ScenarioName(spec->workload().scenario()).c_str());
  }
  return kExitOk;
}

int RunRun(const std::vector<std::string>& argv) {
  Args args;
  if (auto rc = ParseCommand(kRunSpec, argv, &args)) return *rc;
  const std::string format = args.Get("format", "table");
  if (format != "table" && format != "json") {
    return ReportError(absl::InvalidArgumentError("--format must be table or json"));
  }
  if (!args.Has("local")) {
    if (args.Has("repetitions")) {
      return ReportError(absl::InvalidArgumentError(
          "--repetitions applies to --local runs; for the coordinator set workload.repetitions in the spec"));
    }
    // Through the coordinator: submit, wait, print the same summary.
    std::vector<std::string> submit = {args.positional()[0], "--wait", "--quiet-id"};
    for (const char* flag : {"coordinator", "tls-ca", "tls-cert", "tls-key", "token-file"}) {
      if (!args.Has(flag)) continue;
      submit.push_back(absl::StrCat("--", flag));
      submit.push_back(args.Get(flag));
    }
    if (args.Has("output")) {
      submit.push_back("--output");
      submit.push_back(args.Get("output"));
    }
    if (format == "json") {
      submit.push_back("--format");
      submit.push_back("json");
    }
    return RunSubmit(submit);
  }
  absl::StatusOr<v1::ComparisonSpec> spec = LoadSpec(args.positional()[0]);
  if (!spec.ok()) return ReportError(spec.status());
  absl::StatusOr<v1::ComparisonResult> result = RunLocalFromArgs(args, *spec);
  if (!result.ok()) return ReportError(result.status());
  const std::string json = ToJson(*result);
  if (args.Has("output")) {
    if (absl::Status s = WriteFileAtomically(args.Get("output"), json + "\n", "--output"); !s.ok()) {
      return ReportError(s);
    }
  }
  if (format == "json") {
    std::printf("%s\n", json.c_str());
  } else {
    PrintSummary(*result);
    if (args.Has("output")) std::printf("full result: %s\n", args.Get("output").c_str());
  }
  return kExitOk;
}

}  // namespace tcobench::cli
