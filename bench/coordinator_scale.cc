// Coordinator scale benchmark: many simulated workers against one real
// tcobench-coordinator process on loopback. Every worker registers and
// heartbeats every second; a pool of them leases and completes tiny jobs (no
// model work: a null runtime's result) until all are done. Prints the
// coordinator's CPU and memory and the latency percentiles of AcquireJob,
// CompleteJob and Heartbeat as the clients saw them.
//
//   build/bin/coordinator_scale [--workers 1000] [--jobs 10000] [--acquirers 32] [--rate JOBS_PER_S]
//                               [--pin 1] [--metrics 1]
//
// --pin 1 runs the coordinator on CPU 1 and the simulated clients on CPU 0,
// so the client's own CPU use does not inflate the coordinator's latency.
//
// Without --rate the acquirers run flat out (latency is then mostly queueing
// behind each other); with it, jobs are leased at that steady rate.
//
// --metrics 1 serves the coordinator's Prometheus metrics (RPC interceptor,
// store-event counters) on a free loopback port, to measure what they cost.
#include <grpcpp/grpcpp.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tcobench/v1/coordinator.grpc.pb.h"

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;
using tcobench::v1::CoordinatorService;
namespace v1 = tcobench::v1;

struct Latencies {
  std::mutex mu;
  std::vector<double> values;
  void Add(double v) {
    std::lock_guard<std::mutex> lock(mu);
    values.push_back(v);
  }
  void Print(const char* name) {
    std::sort(values.begin(), values.end());
    auto q = [&](double p) { return values.empty() ? 0.0 : values[static_cast<size_t>(p * (values.size() - 1))]; };
    std::printf("%-12s n=%-7zu p50 %7.3f ms   p99 %7.3f ms   max %7.3f ms\n", name, values.size(), q(0.5) * 1e3,
                q(0.99) * 1e3, values.empty() ? 0.0 : values.back() * 1e3);
  }
};

double Since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// utime + stime of a process, in seconds.
double CpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(in)), {});
  const size_t close = s.rfind(')');
  std::vector<std::string> f;
  std::string cur;
  for (size_t i = close + 2; i < s.size(); ++i) {
    if (s[i] == ' ') {
      f.push_back(cur);
      cur.clear();
    } else {
      cur += s[i];
    }
  }
  return (std::stod(f[11]) + std::stod(f[12])) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

long PeakRssKiB(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  }
  return 0;
}

int Arg(int argc, char** argv, const char* name, int fallback) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string(argv[i]) == name) return std::atoi(argv[i + 1]);
  }
  return fallback;
}

}  // namespace

int main(int argc, char** argv) {
  const int n_workers = Arg(argc, argv, "--workers", 1000);
  const int n_jobs = Arg(argc, argv, "--jobs", 10000);
  const int n_acquirers = Arg(argc, argv, "--acquirers", 32);
  const int rate = Arg(argc, argv, "--rate", 0);
  const bool pin = Arg(argc, argv, "--pin", 0) != 0;
  const bool with_metrics = Arg(argc, argv, "--metrics", 0) != 0;
  const int variants_per = 100;
  namespace fs = std::filesystem;
  const fs::path bin = fs::read_symlink("/proc/self/exe").parent_path();
  const fs::path dir = fs::temp_directory_path() / ("tcobench-scale-" + std::to_string(getpid()));
  fs::create_directories(dir);
  const int port = 20000 + getpid() % 20000;
  const std::string addr = "127.0.0.1:" + std::to_string(port);
  const std::string log = (dir / "coordinator.log").string();
  // No request-rate or variant limits: this measures the coordinator itself.
  std::vector<std::string> args = {(bin / "tcobench-coordinator").string(), "--listen", addr, "--data-dir",
                                   (dir / "data").string(), "--metrics-listen",
                                   with_metrics ? "127.0.0.1:0" : "none",
                                   "--max-requests-per-second", "0", "--max-variants", "1000"};
  std::vector<char*> cargs;
  for (auto& a : args) cargs.push_back(a.data());
  cargs.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = 0;
  if (posix_spawn(&pid, cargs[0], &fa, nullptr, cargs.data(), environ) != 0) {
    std::fprintf(stderr, "cannot start %s\n", cargs[0]);
    return 1;
  }
  if (pin) {
    cpu_set_t server, client;
    CPU_ZERO(&server);
    CPU_ZERO(&client);
    CPU_SET(1, &server);
    CPU_SET(0, &client);
    sched_setaffinity(pid, sizeof server, &server);  // its threads start after this
    sched_setaffinity(0, sizeof client, &client);
  }
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int i = 0; i < 8; ++i) {
    grpc::ChannelArguments ca;
    ca.SetInt("grpc.channel_id", i);  // distinct connections
    channels.push_back(grpc::CreateCustomChannel(addr, grpc::InsecureChannelCredentials(), ca));
  }
  if (!channels[0]->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(10))) {
    std::fprintf(stderr, "coordinator did not come up\n");
    kill(pid, SIGKILL);
    return 1;
  }
  std::vector<std::unique_ptr<CoordinatorService::Stub>> stubs;
  for (auto& c : channels) stubs.push_back(CoordinatorService::NewStub(c));

  // Register the workers.
  std::vector<std::string> ids(static_cast<size_t>(n_workers));
  for (int i = 0; i < n_workers; ++i) {
    v1::RegisterWorkerRequest req;
    req.mutable_inventory()->set_name("sim-" + std::to_string(i));
    req.mutable_inventory()->set_isa("avx2");
    req.mutable_inventory()->set_memory_bytes(int64_t{8} << 30);
    v1::RegisterWorkerResponse resp;
    grpc::ClientContext ctx;
    if (!stubs[i % 8]->RegisterWorker(&ctx, req, &resp).ok()) return 1;
    ids[static_cast<size_t>(i)] = resp.worker_id();
  }
  // Submit the jobs: comparisons of `variants_per` variants on one target.
  Latencies submit, acquire, complete, heartbeat;
  int submitted = 0;
  while (submitted < n_jobs) {
    v1::SubmitComparisonRequest req;
    auto* spec = req.mutable_spec();
    spec->set_name("scale");
    spec->set_baseline("v0");
    const int n = std::min(variants_per, n_jobs - submitted);
    for (int v = 0; v < n; ++v) {
      auto* var = spec->add_variants();
      std::string name = "v";  // not "v" + to_string(v): GCC 12's false -Wrestrict
      name += std::to_string(v);
      var->set_name(name);
      var->set_model("m.gguf");
    }
    spec->mutable_workload()->set_scenario(v1::Workload::SINGLE_STREAM);
    spec->mutable_workload()->mutable_prompt_tokens()->set_number_value(8);
    spec->mutable_workload()->mutable_output_tokens()->set_number_value(8);
    spec->mutable_workload()->set_measured_runs(1);
    v1::SubmitComparisonResponse resp;
    grpc::ClientContext ctx;
    const auto t = Clock::now();
    if (!stubs[0]->SubmitComparison(&ctx, req, &resp).ok()) return 1;
    submit.Add(Since(t));
    submitted += n;
  }
  const double cpu0 = CpuSeconds(pid);
  const auto start = Clock::now();
  std::atomic<bool> done{false};
  std::atomic<int> completed{0};
  std::atomic<long> ticket{0};
  // Heartbeats: every worker once a second, spread over 16 threads.
  std::vector<std::thread> threads;
  for (int h = 0; h < 16; ++h) {
    threads.emplace_back([&, h] {
      while (!done) {
        const auto round = Clock::now();
        for (int i = h; i < n_workers && !done; i += 16) {
          v1::HeartbeatRequest req;
          req.set_worker_id(ids[static_cast<size_t>(i)]);
          v1::HeartbeatResponse resp;
          grpc::ClientContext ctx;
          const auto t = Clock::now();
          (void)stubs[static_cast<size_t>(i % 8)]->Heartbeat(&ctx, req, &resp);
          heartbeat.Add(Since(t));
        }
        std::this_thread::sleep_until(round + std::chrono::seconds(1));
      }
    });
  }
  // Acquirers: lease and complete at once (the null runtime's result).
  for (int a = 0; a < n_acquirers; ++a) {
    threads.emplace_back([&, a] {
      int w = a;
      while (!done) {
        const std::string& id = ids[static_cast<size_t>(w % n_workers)];
        w += n_acquirers;
        if (rate > 0) {
          const long k = ticket++;
          std::this_thread::sleep_until(start + std::chrono::duration_cast<Clock::duration>(
                                                    std::chrono::duration<double>(static_cast<double>(k) / rate)));
          if (done) break;
        }
        v1::AcquireJobRequest req;
        req.set_worker_id(id);
        v1::AcquireJobResponse job;
        grpc::ClientContext ctx;
        auto t = Clock::now();
        if (!stubs[static_cast<size_t>(a % 8)]->AcquireJob(&ctx, req, &job).ok()) continue;
        acquire.Add(Since(t));
        if (!job.has_job()) {
          if (completed >= n_jobs) done = true;
          continue;
        }
        v1::CompleteJobRequest c;
        c.set_worker_id(id);
        c.set_lease_id(job.lease_id());
        c.mutable_result()->add_results()->set_variant(job.variant());
        v1::CompleteJobResponse cr;
        grpc::ClientContext cctx;
        t = Clock::now();
        if (stubs[static_cast<size_t>(a % 8)]->CompleteJob(&cctx, c, &cr).ok()) {
          complete.Add(Since(t));
          if (++completed >= n_jobs) done = true;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  const double wall = Since(start);
  const double cpu = CpuSeconds(pid) - cpu0;
  const long rss = PeakRssKiB(pid);
  kill(pid, SIGTERM);
  waitpid(pid, nullptr, 0);
  fs::remove_all(dir);
  std::printf("coordinator scale: %d workers heartbeating every second, %d jobs by %d acquirers%s\n", n_workers,
              n_jobs, n_acquirers, (rate > 0 ? " at " + std::to_string(rate) + " jobs/s" : std::string(" flat out")).c_str());
  if (pin) std::printf("coordinator pinned to CPU 1, clients to CPU 0\n");
  std::printf("jobs completed %d in %.1f s (%.0f jobs/s)\n", completed.load(), wall, completed / wall);
  std::printf("coordinator CPU %.2f cores (%.1f CPU-s over %.1f s), peak RSS %.1f MiB\n", cpu / wall, cpu, wall,
              rss / 1024.0);
  submit.Print("Submit");
  acquire.Print("AcquireJob");
  complete.Print("CompleteJob");
  heartbeat.Print("Heartbeat");
  return 0;
}
