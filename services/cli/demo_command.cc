// tcobench demo: the whole service on this machine in one command.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/base/clock.h"
#include "common/base/flags.h"
#include "services/cli/commands.h"
#include "workers/engine/synth.h"

extern char** environ;

namespace tcobench::cli {
namespace {

namespace fs = std::filesystem;

const CommandSpec kDemo = {
    "tcobench demo [--keep DIR]",
    "Runs the service end to end on this machine: starts a coordinator and two\n"
    "workers on loopback that present different hardware classes (AVX-512 with 2\n"
    "threads, AVX2 with 1 thread; on a CPU without AVX-512 the first runs the best\n"
    "level it has, and says so), synthesizes a small model, submits an F16 vs Q8_0\n"
    "vs Q4_K_M comparison across both workers, shows progress, prints the report\n"
    "and shuts everything down. Everything it makes goes to a temporary folder,\n"
    "removed afterwards unless --keep names one.",
    {{"keep", "", true, "DIR", "work in DIR and keep it (logs, model, database, report)"}},
    0,
    0};

// Text for the perplexity and KL divergence suites (the demo needs no data).
constexpr char kDemoText[] =
    "The little robot woke up early and looked out of the window. The sun was bright and the "
    "garden was full of flowers. It wanted to help the old gardener, so it took a small basket "
    "and walked down the path. On the way it met a cat that was sitting on the fence. The cat "
    "asked where the robot was going, and the robot said it was going to pick apples for the "
    "gardener. The cat laughed and said that apples grow on trees, not on flowers. The robot "
    "thought about this for a long time. Then it looked up and saw the apple tree at the end of "
    "the garden. It thanked the cat, filled the basket with red apples and carried them home. "
    "The gardener smiled when he saw the basket, and that evening they all ate apple pie together. "
    "Every morning after that, the robot and the cat walked through the garden side by side, "
    "counting the flowers, watching the birds and waiting for the apples to grow again.\n";

class Child {
 public:
  Child(const fs::path& binary, const std::vector<std::string>& args, const std::vector<std::string>& env,
        const fs::path& log)
      : log_(log) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    std::vector<std::string> argv_s = {binary.string()};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<std::string> env_s;
    for (char** e = environ; *e != nullptr; ++e) {
      if (std::string(*e).rfind("TCOBENCH_ISA=", 0) != 0) env_s.push_back(*e);
    }
    env_s.insert(env_s.end(), env.begin(), env.end());
    std::vector<char*> envp;
    for (std::string& e : env_s) envp.push_back(e.data());
    envp.push_back(nullptr);
    if (posix_spawn(&pid_, binary.c_str(), &actions, nullptr, argv.data(), envp.data()) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
  }
  ~Child() { Stop(); }
  bool started() const { return pid_ > 0; }
  // SIGTERM, then SIGKILL after 10 s; returns the exit code.
  int Stop() {
    if (pid_ <= 0) return exit_code_;
    kill(pid_, SIGTERM);
    int status = 0;
    for (int i = 0; i < 100; ++i) {
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    kill(pid_, SIGKILL);
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return exit_code_ = -1;
  }
  std::string Log() const {
    std::ifstream in(log_);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

 private:
  fs::path log_;
  pid_t pid_ = -1;
  int exit_code_ = -1;
};

fs::path SelfDir() {
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path(".") : self.parent_path();
}

}  // namespace

int RunDemo(const std::vector<std::string>& argv) {
  Args args;
  if (auto rc = ParseCommand(kDemo, argv, &args)) return *rc;
  const auto t0 = std::chrono::steady_clock::now();
  const bool keep = args.Has("keep");
  fs::path dir;
  if (keep) {
    dir = args.Get("keep");
  } else {
    std::string tmpl = (fs::temp_directory_path() / "tcobench-demo-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) return ReportError(absl::InternalError("cannot make a temporary folder"));
    dir = tmpl;
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  const fs::path bin = SelfDir();
  for (const char* b : {"tcobench-coordinator", "tcobench-worker"}) {
    if (!fs::exists(bin / b)) {
      return ReportError(absl::NotFoundError(absl::StrCat(b, " not found next to tcobench in ", bin.string())));
    }
  }
  auto cleanup = [&] {
    if (!keep) fs::remove_all(dir, ec);
  };

  std::printf("tcobench demo: working in %s\n", dir.c_str());
  std::printf("1/4 synthesizing a small model (ktiny: 256-dim, 4 layers, F16)\n");
  std::fflush(stdout);
  SynthOptions so;
  so.type = TensorType::kF16;
  if (absl::Status s = SynthesizeModel(*FindSynthShape("ktiny"), so, dir / "ktiny-F16.gguf"); !s.ok()) {
    cleanup();
    return ReportError(s);
  }
  std::ofstream(dir / "demo.txt") << kDemoText << kDemoText;

  std::printf("2/4 starting a coordinator and two workers on loopback\n");
  std::fflush(stdout);
  Child coordinator(bin / "tcobench-coordinator",
                    {"--listen", "127.0.0.1:0", "--data-dir", (dir / "coordinator").string(), "--lease-seconds", "10",
                     "--metrics-listen", "none"},
                    {}, dir / "coordinator.log");
  std::string addr;
  for (int i = 0; i < 100 && coordinator.started() && addr.empty(); ++i) {
    const std::string log = coordinator.Log();
    const size_t at = log.find("listening on ");
    if (at != std::string::npos) addr = log.substr(at + 13, log.find(' ', at + 13) - at - 13);
    if (addr.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (addr.empty()) {
    const std::string log = coordinator.Log();
    cleanup();
    return ReportError(absl::InternalError(absl::StrCat("the coordinator did not start: ", log)));
  }
  auto worker = [&](const std::string& name, const std::string& isa, const std::string& threads,
                    const std::string& price) {
    return std::make_unique<Child>(
        bin / "tcobench-worker",
        std::vector<std::string>{"--coordinator", addr, "--name", name, "--model-root", dir.string(),
                                 "--cache-dir", (dir / "cache").string(), "--labels", "demo=" + name, "--threads",
                                 threads, "--energy", "model", "--lock-file", (dir / "measure.lock").string(),
                                 "--cost-per-hour", price, "--metrics-listen", "none"},
        std::vector<std::string>{"TCOBENCH_ISA=" + isa}, dir / (name + ".log"));
  };
  // Illustrative prices: two vCPUs and one, at cloud on-demand rates.
  auto big = worker("avx512-2t", "avx512", "2", "0.10");
  auto small = worker("avx2-1t", "avx2", "1", "0.05");
  std::printf("    coordinator %s; workers avx512-2t (TCOBENCH_ISA=avx512, 2 threads) and avx2-1t "
              "(TCOBENCH_ISA=avx2, 1 thread)\n", addr.c_str());

  const std::string spec = R"({
  "name": "demo: ktiny F16 vs Q8_0 vs Q4_K_M on two hardware classes",
  "baseline": "f16",
  "variants": [
    {"name": "f16", "model": "ktiny-F16.gguf"},
    {"name": "q8_0", "model": "ktiny-F16.gguf", "quantize": "Q8_0"},
    {"name": "q4_k_m", "model": "ktiny-F16.gguf", "quantize": "Q4_K_M"}
  ],
  "workload": {"scenario": "SINGLE_STREAM", "promptTokens": 64, "outputTokens": 32,
               "warmupRuns": 2, "measuredRuns": 20, "minDurationSeconds": 1},
  "accuracy": {"perplexity": {"text": "demo.txt", "ctx": 64}, "klDivergence": true},
  "hardware": [
    {"name": "avx512-2t", "selector": {"class": "cpu", "labels": {"demo": "avx512-2t"}}},
    {"name": "avx2-1t", "selector": {"class": "cpu", "labels": {"demo": "avx2-1t"}}}
  ],
  "cost": {"energyUsdPerKwh": 0.15, "pue": 1.2, "gridGramsCo2PerKwh": 400,
           "slo": {"tpotP99Seconds": 0.05},
           "load": {"tokensPerDay": 5000000}}
})";
  std::ofstream(dir / "demo-spec.json") << spec;
  std::printf("3/4 submitting %s (3 variants x 2 hardware targets = 6 jobs)\n", (dir / "demo-spec.json").c_str());
  std::fflush(stdout);
  const int rc = RunSubmit({(dir / "demo-spec.json").string(), "--wait", "--coordinator", addr, "--output",
                            (dir / "report.json").string()});
  std::printf("4/4 shutting down\n");
  const int big_rc = big->Stop(), small_rc = small->Stop(), coord_rc = coordinator.Stop();
  if (rc != kExitOk) {
    std::fprintf(stderr, "tcobench demo: the comparison did not succeed; logs in %s\n", dir.c_str());
    if (!keep) {
      std::fprintf(stderr, "--- worker avx512-2t\n%s--- worker avx2-1t\n%s", big->Log().c_str(), small->Log().c_str());
    }
    cleanup();
    return kExitFailed;
  }
  std::printf("done in %.0f s (workers exited %d and %d, coordinator %d)%s\n", SecondsSince(t0),
              big_rc, small_rc, coord_rc,
              keep ? absl::StrCat("; everything is in ", dir.string()).c_str() : "");
  cleanup();
  return kExitOk;
}

}  // namespace tcobench::cli
