// tcobench model bench: llama-bench-style speed figures with the machine's
// read bandwidth and the run's provenance.
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/base/flags.h"
#include "services/cli/commands.h"
#include "services/cli/json_writer.h"
#include "workers/bench/model_bench.h"

namespace tcobench::cli {
namespace {

const CommandSpec kBenchSpec = {
    "tcobench model bench FILE [-p 128] [-n 32] [-d 0] [-r 5] [-t 2] [-b 1] [--device DEV] [--no-bandwidth] "
    "[--format table|json]",
    "Measures prefill (one batch of -p tokens) and decode (-n single-token steps\n"
    "from an empty cache, or after -d tokens of context) speed, as the median of\n"
    "-r runs after one warm-up, then the machine's read bandwidth (2 threads,\n"
    "1 GiB buffer, median of 5), so decode\n"
    "can be stated as a fraction of the memory limit: model bytes x tokens/s /\n"
    "bandwidth. TCOBENCH_ISA=scalar|avx2|avx512 lowers the kernel level. On a GPU\n"
    "(--device cuda:N) the bandwidth is the GPU's (a kernel reading 2 GiB) and the\n"
    "energy per token comes from NVML's energy counter; on the CPU from RAPL where\n"
    "readable.",
    {{"n-prompt", "p", true, "N", "prefill tokens (default 128; 0 skips)"},
     {"n-gen", "n", true, "N", "decode steps (default 32; 0 skips)"},
     {"n-depth", "d", true, "N",
      "tokens already in the context when each test starts (default 0; llama-bench's -d)"},
     {"repetitions", "r", true, "N", "measured repetitions (default 5)"},
     {"threads", "t", true, "N", "threads (default 2)"},
     {"batch", "b", true, "N", "concurrent sequences decoded together (default 1)"},
     kDeviceFlag,
     {"no-bandwidth", "", false, "", "skip the read-bandwidth measurement"},
     kFormatFlag},
    1,
    1};

void SamplesJson(JsonWriter& j, const std::vector<double>& v) {
  j.BeginArray();
  for (double x : v) j.Double(x);
  j.EndArray();
}

}  // namespace

int RunModelBench(const std::vector<std::string>& argv) {
  Args args;
  if (auto rc = ParseCommand(kBenchSpec, argv, &args)) return *rc;
  const std::string format = args.Get("format", "table");
  if (format != "table" && format != "json")
    return ReportError(absl::InvalidArgumentError("--format must be table or json"));
  ModelBenchOptions o;
  absl::StatusOr<int64_t> p = args.GetInt("n-prompt", 128, 0, 1 << 16),
                          n = args.GetInt("n-gen", 32, 0, 1 << 16),
                          d = args.GetInt("n-depth", 0, 0, 1 << 20),
                          r = args.GetInt("repetitions", 5, 1, 1000),
                          t = args.GetInt("threads", 2, 1, 1024),
                          b = args.GetInt("batch", 1, 1, 16);
  for (const absl::Status& s : {p.status(), n.status(), d.status(), r.status(), t.status(), b.status()}) {
    if (!s.ok()) return ReportError(s);
  }
  o.n_prompt = *p;
  o.n_gen = *n;
  o.n_depth = *d;
  o.reps = static_cast<int>(*r);
  o.threads = static_cast<int>(*t);
  o.batch = static_cast<int>(*b);
  o.measure_bandwidth = !args.Has("no-bandwidth");
  o.device = args.Get("device", "cpu");
  if (isatty(STDERR_FILENO)) {
    o.progress = [](const std::string& stage) { std::fprintf(stderr, "\r%-40s", stage.c_str()); };
  }
  absl::StatusOr<ModelBenchResult> res = tcobench::RunModelBench(args.positional()[0], o);
  if (isatty(STDERR_FILENO)) std::fputs("\r                                        \r", stderr);
  if (!res.ok()) return ReportError(res.status());
  const ModelBenchResult& x = *res;
  auto spread = [](const std::vector<double>& v) {
    if (v.empty()) return 0.0;
    return *std::max_element(v.begin(), v.end()) - *std::min_element(v.begin(), v.end());
  };
  if (format == "json") {
    JsonWriter j;
    j.BeginObject();
    j.Key("model").String(x.model_path);
    j.Key("architecture").String(x.architecture);
    j.Key("model_bytes").Int(x.model_bytes);
    j.Key("file_bytes").Int(x.file_bytes);
    j.Key("n_params").Int(x.n_params);
    j.Key("isa").String(x.isa);
    j.Key("device").String(x.device);
    j.Key("device_description").String(x.device_description);
    j.Key("energy_source").String(x.energy_source);
    j.Key("energy_note").String(x.energy_note);
    j.Key("prefill_joules_per_token").Double(x.prefill_joules_per_token);
    j.Key("decode_joules_per_token").Double(x.decode_joules_per_token);
    j.Key("threads").Int(x.threads);
    j.Key("batch").Int(x.batch);
    j.Key("n_prompt").Int(x.n_prompt);
    j.Key("n_gen").Int(x.n_gen);
    j.Key("n_depth").Int(x.n_depth);
    j.Key("repetitions").Int(x.reps);
    j.Key("load_seconds").Double(x.load_seconds);
    j.Key("prefill_tokens_per_second").Double(x.prefill_tokens_per_second);
    j.Key("prefill_samples");
    SamplesJson(j, x.prefill_samples);
    j.Key("decode_tokens_per_second").Double(x.decode_tokens_per_second);
    j.Key("decode_samples");
    SamplesJson(j, x.decode_samples);
    j.Key("read_bandwidth_bytes_per_second").Double(x.bandwidth.bytes_per_second);
    j.Key("decode_bandwidth_fraction").Double(x.decode_bandwidth_fraction);
    j.Key("peak_rss_bytes").Int(x.peak_rss_bytes);
    j.Key("kv_cache_bytes").Int(x.kv_cache_bytes);
    j.Key("cpu").String(x.cpu);
    j.Key("build_commit").String(x.build_commit);
    j.Key("read_bandwidth_samples");
    SamplesJson(j, x.bandwidth.samples);
    j.EndObject();
    std::fputs(j.str().c_str(), stdout);
    return kExitOk;
  }
  std::printf("model        %s (%s, %.2f GiB tensor data, %.2f B params)\n", x.model_path.c_str(),
              x.architecture.c_str(), x.model_bytes / 1073741824.0, x.n_params / 1e9);
  std::printf("machine      %s; isa %s; %d threads; build %s\n", x.cpu.c_str(), x.isa.c_str(),
              x.threads, x.build_commit.c_str());
  if (!x.device_description.empty()) {
    std::printf("device       %s: %s\n", x.device.c_str(), x.device_description.c_str());
  }
  std::printf("load         %.3f s (%.3f s/GB)\n", x.load_seconds,
              x.load_seconds / (x.file_bytes / 1e9));
  const bool energy = !x.energy_source.empty();
  const std::string at = x.n_depth > 0 ? absl::StrCat(" @ d", x.n_depth) : "";
  const std::string pp = absl::StrCat("pp", x.n_prompt, at), tg = absl::StrCat("tg", x.n_gen, at);
  const int w = static_cast<int>(std::max<size_t>(10, std::max(pp.size(), tg.size())));
  std::printf("%-*s %12s %12s %8s%s\n", w, "test", "tokens/s", "spread", "runs",
              energy ? absl::StrCat("  J/token (", x.energy_source, ")").c_str() : "");
  auto joules = [&](double j) { return energy ? absl::StrFormat("  %.4f", j) : std::string(); };
  if (x.n_prompt > 0) {
    std::printf("%-*s %12.2f %12.2f %8zu%s\n", w, pp.c_str(), x.prefill_tokens_per_second,
                spread(x.prefill_samples), x.prefill_samples.size(),
                joules(x.prefill_joules_per_token).c_str());
  }
  if (x.n_gen > 0) {
    std::printf("%-*s %12.2f %12.2f %8zu%s\n", w, tg.c_str(), x.decode_tokens_per_second,
                spread(x.decode_samples), x.decode_samples.size(),
                joules(x.decode_joules_per_token).c_str());
  }
  if (!energy && !x.energy_note.empty()) std::printf("energy       not measured: %s\n", x.energy_note.c_str());
  std::printf("peak RSS     %.1f MiB (file %.1f MiB + KV cache %.1f MiB)\n",
              x.peak_rss_bytes / 1048576.0, x.file_bytes / 1048576.0, x.kv_cache_bytes / 1048576.0);
  if (x.bandwidth.bytes_per_second > 0) {
    std::printf("bandwidth    %.2f GB/s read (%s); decode at %.1f%% of that limit\n",
                x.bandwidth.bytes_per_second / 1e9,
                x.device == "cpu" ? "2 threads, 1 GiB" : "GPU kernel, 2 GiB",
                100 * x.decode_bandwidth_fraction);
  }
  return kExitOk;
}

}  // namespace tcobench::cli
