#include "workers/bench/model_bench.h"

#include "common/base/statistics.h"

#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "common/base/clock.h"
#include "common/base/status_macros.h"
#include "workers/bench/system_info.h"
#include "workers/energy/energy_meter.h"
#include "workers/engine/cuda/cuda_backend.h"
#include "workers/engine/isa.h"
#include "workers/engine/llama_model.h"
#include "workers/engine/rng.h"
#include "workers/engine/session.h"

namespace tcobench {

absl::StatusOr<ModelBenchResult> RunModelBench(const std::filesystem::path& path,
                                               const ModelBenchOptions& o) {
  if (o.n_prompt < 0 || o.n_gen < 0 || o.n_depth < 0 || o.reps < 1 || o.threads < 1 || o.batch < 1) {
    return absl::InvalidArgumentError("-p, -n and -d must be >= 0; -r, -t and -b >= 1");
  }
  if (o.batch > Session::kMaxSequences) {
    return absl::InvalidArgumentError(absl::StrCat("-b ", o.batch, ": at most ",
                                                   Session::kMaxSequences,
                                                   " sequences can be decoded together"));
  }
  auto stage = [&](const std::string& s) {
    if (o.progress) o.progress(s);
  };
  ModelBenchResult r;
  r.model_path = path.string();
  r.cpu = CpuModelName();
  r.isa = IsaName(ActiveIsa());
  r.build_commit = BuildCommit();
  r.threads = o.threads;
  r.batch = o.batch;
  r.reps = o.reps;
  r.n_prompt = o.n_prompt;
  r.n_gen = o.n_gen;
  r.n_depth = o.n_depth;
  stage("loading");
  const auto t_load = std::chrono::steady_clock::now();
  TCOBENCH_ASSIGN_OR_RETURN(std::unique_ptr<LlamaModel> model,
                            LlamaModel::Open(path, ModelOptions{o.threads, /*populate=*/true,
                                                                o.device}));
  r.device = model->backend().name();
  r.device_description = model->backend().device_description();
  r.load_seconds = SecondsSince(t_load);
  const GgufFile& f = model->gguf();
  r.file_bytes = static_cast<int64_t>(f.file_size());
  for (const GgufTensorInfo& t : f.tensors()) {
    r.model_bytes += t.n_bytes;
    r.n_params += t.n_elements;
  }
  r.architecture = model->hparams().architecture;
  const LlamaHParams& hp = model->hparams();
  const int64_t n_ctx = std::max<int64_t>(1, o.n_depth + std::max(o.n_prompt, o.n_gen));
  TCOBENCH_ASSIGN_OR_RETURN(std::unique_ptr<Session> session,
                            Session::Create(*model, SessionOptions{n_ctx, o.batch}));
  r.kv_cache_bytes = session->kv_cache_bytes();
  std::vector<int> seqs(static_cast<size_t>(o.batch));
  for (int s = 0; s < o.batch; ++s) seqs[s] = s;
  Rng rng(o.seed);
  auto random_tokens = [&](int64_t n) {
    std::vector<int32_t> ids(static_cast<size_t>(n));
    for (int32_t& id : ids)
      id = static_cast<int32_t>(rng.Next() % static_cast<uint64_t>(hp.n_vocab));
    return ids;
  };
  std::vector<float> logits;
  // -d: every sequence's context, filled once (in pieces, so the step's
  // buffers stay small); each test starts from it, cut back to its length.
  if (o.n_depth > 0) {
    stage(absl::StrCat("filling ", o.n_depth, " tokens of context"));
    constexpr int64_t kPiece = 512;
    for (const int s : seqs) {
      const std::vector<int32_t> ids = random_tokens(o.n_depth);
      for (int64_t i = 0; i < o.n_depth; i += kPiece) {
        const std::span<const int32_t> piece(ids.data() + i,
                                             static_cast<size_t>(std::min(kPiece, o.n_depth - i)));
        TCOBENCH_RETURN_IF_ERROR(session->Prefill(s, piece, LogitsMode::kLast, &logits));
      }
    }
  }
  auto rewind = [&] {
    for (const int s : seqs) session->Truncate(o.n_depth, s);
  };
  // Energy: the GPU's counters when the model runs there, else RAPL.
  std::unique_ptr<EnergyMeter> meter;
  if (o.measure_energy) {
    absl::StatusOr<std::unique_ptr<EnergyMeter>> m =
        r.device == "cpu" ? OpenRaplMeter() : OpenNvmlMeter();
    if (m.ok()) {
      meter = std::move(*m);
      r.energy_source = meter->source();
    } else {
      r.energy_note = std::string(m.status().message());
    }
  }
  double prefill_joules = 0, decode_joules = 0;
  int64_t prefill_tokens = 0, decode_tokens = 0;
  // Starts a window on the meter (when there is one and this run counts).
  auto start_energy = [&](bool counts) -> absl::Status {
    if (meter == nullptr || !counts) return absl::OkStatus();
    return meter->Start();
  };
  auto stop_energy = [&](bool counts, double* joules) -> absl::Status {
    if (meter == nullptr || !counts) return absl::OkStatus();
    TCOBENCH_ASSIGN_OR_RETURN(EnergyReading e, meter->Stop());
    *joules += e.joules;
    r.energy_note = e.detail;
    return absl::OkStatus();
  };
  // One warm-up run of each test is excluded from every statistic: it pays for
  // page faults, cache warm-up and the scratch buffers' first allocation.
  for (int rep = -1; rep < o.reps; ++rep) {
    if (o.n_prompt > 0) {
      stage(rep < 0 ? "warm-up prefill" : absl::StrCat("prefill ", rep + 1, "/", o.reps));
      const std::vector<int32_t> ids = random_tokens(o.n_prompt);
      rewind();
      TCOBENCH_RETURN_IF_ERROR(start_energy(rep >= 0));
      const auto t0 = std::chrono::steady_clock::now();
      TCOBENCH_RETURN_IF_ERROR(session->Prefill(ids, LogitsMode::kLast, &logits));
      const double s = SecondsSince(t0);
      TCOBENCH_RETURN_IF_ERROR(stop_energy(rep >= 0, &prefill_joules));
      if (rep >= 0) {
        r.prefill_samples.push_back(static_cast<double>(o.n_prompt) / s);
        prefill_tokens += o.n_prompt;
      }
    }
    if (o.n_gen > 0) {
      stage(rep < 0 ? "warm-up decode" : absl::StrCat("decode ", rep + 1, "/", o.reps));
      // -b sequences, each decoding n_gen tokens after its -d of context,
      // one step of all of them per pass.
      const std::vector<int32_t> ids = random_tokens(o.n_gen * o.batch);
      rewind();
      TCOBENCH_RETURN_IF_ERROR(start_energy(rep >= 0));
      const auto t0 = std::chrono::steady_clock::now();
      for (int64_t step = 0; step < o.n_gen; ++step) {
        const std::span<const int32_t> step_ids(ids.data() + step * o.batch,
                                                static_cast<size_t>(o.batch));
        TCOBENCH_RETURN_IF_ERROR(session->DecodeBatch(step_ids, seqs, &logits));
      }
      const double s = SecondsSince(t0);
      TCOBENCH_RETURN_IF_ERROR(stop_energy(rep >= 0, &decode_joules));
      if (rep >= 0) {
        r.decode_samples.push_back(static_cast<double>(o.n_gen * o.batch) / s);
        decode_tokens += o.n_gen * o.batch;
      }
    }
  }
  r.prefill_tokens_per_second = Quantile(r.prefill_samples, 0.5);
  r.decode_tokens_per_second = Quantile(r.decode_samples, 0.5);
  if (prefill_tokens > 0) r.prefill_joules_per_token = prefill_joules / prefill_tokens;
  if (decode_tokens > 0) r.decode_joules_per_token = decode_joules / decode_tokens;
  r.peak_rss_bytes = PeakRssBytes();
  session.reset();
  model.reset();
  if (o.measure_bandwidth && r.device != "cpu") {
    stage("GPU read bandwidth");
    TCOBENCH_ASSIGN_OR_RETURN(const int index, CudaDeviceIndex(r.device));
    TCOBENCH_ASSIGN_OR_RETURN(const double bw, MeasureCudaReadBandwidth(index));
    r.bandwidth.bytes_per_second = bw;
    r.bandwidth.samples = {bw};
    r.decode_bandwidth_fraction =
        static_cast<double>(r.model_bytes) * r.decode_tokens_per_second / o.batch / bw;
  } else if (o.measure_bandwidth) {
    stage("read bandwidth");
    r.bandwidth = MeasureReadBandwidth();
    if (r.bandwidth.bytes_per_second > 0) {
      r.decode_bandwidth_fraction = static_cast<double>(r.model_bytes) *
                                    r.decode_tokens_per_second / o.batch /
                                    r.bandwidth.bytes_per_second;
    }
  }
  return r;
}

}  // namespace tcobench
