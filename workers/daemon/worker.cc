#include "workers/daemon/worker.h"

#include "workers/engine/cuda/cuda_backend.h"

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/strings/match.h"
#include "common/base/build_info.h"
#include "common/base/mutex.h"
#include "common/spec/spec.h"
#include "absl/strings/str_cat.h"
#include "tcobench/v1/coordinator.grpc.pb.h"
#include "workers/bench/system_info.h"
#include "workers/energy/energy_meter.h"
#include "workers/engine/isa.h"

namespace tcobench {
namespace {

namespace fs = std::filesystem;

absl::Status FromGrpc(const grpc::Status& s, const char* what) {
  if (s.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), absl::StrCat(what, ": ", s.error_message()));
}

absl::Status Confined(const std::string& rel, const fs::path& root, const std::string& field) {
  const fs::path p(rel);
  if (p.is_absolute()) return absl::InvalidArgumentError(absl::StrCat(field, ": '", rel, "' is absolute; paths are relative to the root"));
  for (const fs::path& part : p) {
    if (part == "..") return absl::InvalidArgumentError(absl::StrCat(field, ": '", rel, "' leaves the root (..)"));
  }
  std::error_code ec;
  const fs::path croot = fs::weakly_canonical(root, ec);
  const fs::path full = fs::weakly_canonical(root / p, ec);
  const std::string r = croot.string(), f = full.string();
  if (ec || f.compare(0, r.size(), r) != 0 || (f.size() > r.size() && f[r.size()] != '/')) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": '", rel, "' resolves outside the root (a symlink?)"));
  }
  return absl::OkStatus();
}

// Heartbeats on its own thread while a job runs (and between jobs).
class Heartbeater {
 public:
  Heartbeater(v1::CoordinatorService::Stub* stub, std::string worker_id, double interval)
      : stub_(stub), worker_id_(std::move(worker_id)), interval_(interval),
        thread_([this] { Loop(); }) {}
  ~Heartbeater() {
    {
      MutexLock lock(&mu_);
      done_ = true;
    }
    cv_.SignalAll();
    thread_.join();
  }
  void SetLease(const std::string& lease) {
    MutexLock lock(&mu_);
    lease_ = lease;
    cancel_ = false;
  }
  bool cancelled() const { return cancel_.load(); }

 private:
  void Loop() {
    const auto interval = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::chrono::duration<double>(interval_));
    while (true) {
      v1::HeartbeatRequest req;
      {
        MutexLock lock(&mu_);
        const auto deadline = std::chrono::steady_clock::now() + interval;
        while (!done_ && cv_.WaitUntil(&mu_, deadline)) {
        }
        if (done_) return;
        req.set_worker_id(worker_id_);
        req.set_lease_id(lease_);
      }
      v1::HeartbeatResponse resp;
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
      const grpc::Status s = stub_->Heartbeat(&ctx, req, &resp);
      if ((s.ok() && resp.cancel_job()) || s.error_code() == grpc::StatusCode::FAILED_PRECONDITION) {
        cancel_ = true;  // cancelled or lease lost: stop the job
      }
    }
  }
  v1::CoordinatorService::Stub* stub_;
  const std::string worker_id_;
  const double interval_;
  Mutex mu_;
  CondVar cv_;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  std::string lease_ ABSL_GUARDED_BY(mu_);
  std::atomic<bool> cancel_{false};
  std::thread thread_;
};

bool Retryable(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kFailedPrecondition:
      return false;  // the spec or the files are wrong: another attempt fails the same way
    default:
      return true;
  }
}

}  // namespace

v1::WorkerInventory LocalInventory(const WorkerOptions& o) {
  v1::WorkerInventory inv;
  inv.set_name(o.name);
  for (const auto& [k, v] : o.labels) (*inv.mutable_labels())[k] = v;
  inv.set_cpu_model(CpuModelName());
  inv.set_cpu_cores(CpuCount());
  inv.set_isa(IsaName(ActiveIsa()));
  inv.set_memory_bytes(MemoryBytes());
  const GpuInventory gpus = ProbeGpus(o.run.nvml_library);
  for (const std::string& g : gpus.names) inv.add_gpus(g);
  inv.set_gpu_driver(gpus.driver);
  // GPUs the engine can run on: a CUDA build that sees the chosen device.
  const absl::StatusOr<int> gpu_index = CudaDeviceIndex(o.gpu_device);
  for (const CudaDeviceInfo& d : ListCudaDevices()) {
    if (gpu_index.ok() && d.index == *gpu_index && CudaBackendBuilt()) {
      inv.set_gpu_runtime(true);
      inv.set_gpu_device(o.gpu_device);
    }
  }
  inv.set_threads(o.run.threads > 0 ? o.run.threads : CpuCount());
  inv.set_cost_per_hour_usd(o.run.cost_per_hour_usd);
  for (const auto& [name, target] : o.run.endpoints) inv.add_endpoints(name);  // names only, never URLs
  inv.add_runtimes("engine");
  if (o.llama_cpp.has_value()) {
    inv.add_runtimes("llamacpp");
    inv.set_llama_cpp_build(o.llama_cpp->Describe());
    inv.set_llama_cpp_gpu(o.llama_cpp->gpu_offload);
  }
  if (!o.run.endpoints.empty()) inv.add_runtimes("openai");
  inv.set_version(absl::StrCat(VersionString(), " (", BuildCommitId(), ")"));
  inv.set_hostname(HostName());
  return inv;
}

absl::Status CheckPathsConfined(const v1::ComparisonSpec& spec, const fs::path& model_root,
                                const fs::path& data_root) {
  for (int i = 0; i < spec.variants_size(); ++i) {
    // An endpoint variant names no model; its tokenizer GGUF is a model file.
    for (const auto& [field, rel] : {std::pair{".model", &spec.variants(i).model()},
                                     std::pair{".tokenizer", &spec.variants(i).tokenizer()}}) {
      if (rel->empty()) continue;
      if (absl::Status s = Confined(*rel, model_root, absl::StrCat("variants[", i, "]", field)); !s.ok()) return s;
    }
  }
  const auto& a = spec.accuracy();
  if (a.has_perplexity()) {
    if (absl::Status s = Confined(a.perplexity().text(), data_root, "accuracy.perplexity.text"); !s.ok()) return s;
  }
  for (int i = 0; i < a.choice_size(); ++i) {
    if (absl::Status s = Confined(a.choice(i).file(), data_root, absl::StrCat("accuracy.choice[", i, "].file"));
        !s.ok()) {
      return s;
    }
  }
  for (const auto& [field, rel] : {std::pair{"workload.promptText", &spec.workload().prompt_text()},
                                   std::pair{"workload.requestsFile", &spec.workload().requests_file()}}) {
    if (rel->empty()) continue;
    if (absl::Status s = Confined(*rel, data_root, field); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status CheckTextSizes(const v1::ComparisonSpec& spec, const fs::path& data_root, int64_t max_bytes) {
  std::vector<std::pair<std::string, std::string>> texts;  // field, path
  if (!spec.workload().prompt_text().empty()) texts.emplace_back("workload.promptText", spec.workload().prompt_text());
  if (!spec.workload().requests_file().empty()) {
    texts.emplace_back("workload.requestsFile", spec.workload().requests_file());
  }
  if (spec.accuracy().has_perplexity()) texts.emplace_back("accuracy.perplexity.text", spec.accuracy().perplexity().text());
  for (int i = 0; i < spec.accuracy().choice_size(); ++i) {
    texts.emplace_back(absl::StrCat("accuracy.choice[", i, "].file"), spec.accuracy().choice(i).file());
  }
  for (const auto& [field, rel] : texts) {
    std::error_code ec;
    const auto size = fs::file_size(data_root / rel, ec);
    if (!ec && static_cast<int64_t>(size) > max_bytes) {
      return absl::InvalidArgumentError(absl::StrCat(field, ": '", rel, "' is ", size, " bytes, at most ", max_bytes,
                                                     " (worker --max-text-bytes)"));
    }
  }
  return absl::OkStatus();
}

absl::Status RunWorker(const WorkerOptions& o, const std::atomic<bool>& stop) {
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = MakeChannel(o.coordinator);
  if (!channel.ok()) return channel.status();
  auto stub = v1::CoordinatorService::NewStub(*channel);
  auto log = [&](const std::string& line) {
    if (o.run.progress) o.run.progress(line);
  };
  // Register, retrying while the coordinator is not up yet.
  v1::RegisterWorkerResponse reg;
  for (int attempt = 0;; ++attempt) {
    v1::RegisterWorkerRequest req;
    *req.mutable_inventory() = LocalInventory(o);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    const grpc::Status s = stub->RegisterWorker(&ctx, req, &reg);
    if (s.ok()) break;
    if (stop) return absl::OkStatus();
    if (s.error_code() != grpc::StatusCode::UNAVAILABLE && s.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED) {
      return FromGrpc(s, "RegisterWorker");
    }
    if (attempt == 0) log(absl::StrCat("waiting for the coordinator at ", o.coordinator.address));
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  log(absl::StrCat("registered as ", reg.worker_id(), " with ", o.coordinator.address));
  if (o.metrics != nullptr) o.metrics->SetRegistered(true);
  Heartbeater heart(stub.get(), reg.worker_id(), reg.heartbeat_interval_seconds());
  int jobs = 0;
  while (!stop && (o.max_jobs == 0 || jobs < o.max_jobs)) {
    v1::AcquireJobRequest areq;
    areq.set_worker_id(reg.worker_id());
    v1::AcquireJobResponse job;
    grpc::ClientContext actx;
    actx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    const grpc::Status as = stub->AcquireJob(&actx, areq, &job);
    if (as.ok() && job.drain()) {
      log("drained by the coordinator: no more jobs, stopping");
      break;
    }
    if (!as.ok() || !job.has_job()) {
      if (!as.ok() && as.error_code() != grpc::StatusCode::UNAVAILABLE) log(FromGrpc(as, "AcquireJob").ToString());
      std::this_thread::sleep_for(std::chrono::duration<double>(o.idle_poll_seconds));
      continue;
    }
    ++jobs;
    heart.SetLease(job.lease_id());
    log(absl::StrCat("job ", job.job_id(), ": ", job.variant(), " on ", job.hardware()));
    LocalRunOptions run = o.run;
    run.measure_only = job.variant() == kAllVariantsJob ? std::string() : job.variant();
    // A job's spec keeps only its own target: a gpu-class one runs on this
    // worker's GPU, any other on the CPU.
    const bool gpu_job = job.spec().hardware_size() > 0 &&
                         job.spec().hardware(0).selector().class_() == "gpu";
    run.device = gpu_job ? o.gpu_device : "cpu";
    auto last_report = std::chrono::steady_clock::now() - std::chrono::seconds(10);
    std::string last_stage;
    run.progress = [&](const std::string& line) {
      log(line);
      // Every new stage goes to the coordinator; counters ("chunk 3/40") at
      // most every 250 ms.
      const std::string stage = line.substr(0, line.find_last_of(' '));
      const bool counter = line.find('/') != std::string::npos && stage == last_stage;
      if (counter && std::chrono::steady_clock::now() - last_report < std::chrono::milliseconds(250)) return;
      last_stage = stage;
      last_report = std::chrono::steady_clock::now();
      v1::ReportProgressRequest p;
      p.set_worker_id(reg.worker_id());
      p.set_lease_id(job.lease_id());
      p.set_stage(line);
      v1::ReportProgressResponse pr;
      grpc::ClientContext pctx;
      pctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
      (void)stub->ReportProgress(&pctx, p, &pr);
    };
    run.should_stop = [&] { return stop.load() || heart.cancelled(); };
    if (o.metrics != nullptr) {
      o.metrics->SetPhase("preparing");
      run.on_phase = [&](const char* phase) { o.metrics->SetPhase(phase); };
    }
    absl::Status paths = CheckPathsConfined(job.spec(), o.run.model_root, o.run.data_root);
    if (paths.ok()) paths = CheckTextSizes(job.spec(), o.run.data_root, o.max_text_bytes);
    absl::StatusOr<v1::ComparisonResult> result =
        paths.ok() ? RunComparisonLocal(job.spec(), run) : absl::StatusOr<v1::ComparisonResult>(paths);
    if (result.ok()) {
      v1::CompleteJobRequest c;
      c.set_worker_id(reg.worker_id());
      c.set_lease_id(job.lease_id());
      *c.mutable_result() = std::move(*result);
      const char* outcome = "refused";  // until the coordinator takes the result
      // Retried while the coordinator is unreachable: a repeat under the
      // same lease is acknowledged without storing anything twice.
      for (int attempt = 0; attempt < 60; ++attempt) {
        v1::CompleteJobResponse cr;
        grpc::ClientContext cctx;
        cctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
        const grpc::Status cs = stub->CompleteJob(&cctx, c, &cr);
        if (cs.ok()) {
          log(absl::StrCat("job ", job.job_id(), ": done"));
          outcome = "succeeded";
          break;
        }
        if (cs.error_code() != grpc::StatusCode::UNAVAILABLE) {
          log(FromGrpc(cs, "CompleteJob").ToString());
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
      }
      if (o.metrics != nullptr) o.metrics->JobFinished(outcome, &c.result());
    } else {
      const bool handed_back = result.status().code() == absl::StatusCode::kCancelled;
      v1::FailJobRequest f;
      f.set_worker_id(reg.worker_id());
      f.set_lease_id(job.lease_id());
      f.set_reason(handed_back ? (stop ? "worker stopping: job handed back" : "cancelled")
                               : std::string(result.status().message()));
      f.set_retryable(handed_back || Retryable(result.status()));
      v1::FailJobResponse fr;
      grpc::ClientContext fctx;
      fctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
      (void)stub->FailJob(&fctx, f, &fr);
      log(absl::StrCat("job ", job.job_id(), ": ", f.reason()));
      if (o.metrics != nullptr) o.metrics->JobFinished(handed_back ? "handed_back" : "failed", nullptr);
    }
    if (o.metrics != nullptr) o.metrics->SetPhase("idle");
    heart.SetLease("");
  }
  return absl::OkStatus();
}

}  // namespace tcobench
