#include "workers/engine/cuda/cuda_backend.h"

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/base/status_macros.h"
#include "workers/engine/cuda/cuda_kernels.h"
#include "workers/engine/tensor_type.h"

namespace tcobench {
namespace {

// A CUDA error inside an operation (whose signature cannot return one) is a
// device fault or a programming error: say what failed and stop.
void Check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) {
    std::fprintf(stderr, "tcobench: CUDA error in %s: %s\n", what, cudaGetErrorString(e));
    std::abort();
  }
}

absl::Status ToStatus(cudaError_t e, const std::string& what) {
  if (e == cudaSuccess) return absl::OkStatus();
  cudaGetLastError();  // clear it
  if (e == cudaErrorMemoryAllocation) {
    return absl::ResourceExhaustedError(absl::StrCat(what, ": out of GPU memory"));
  }
  return absl::UnavailableError(absl::StrCat(what, ": ", cudaGetErrorString(e)));
}

#define TCOBENCH_CUDA_RETURN(expr, what)                          \
  do {                                                            \
    if (absl::Status st_ = ToStatus((expr), (what)); !st_.ok()) { \
      return st_;                                                 \
    }                                                             \
  } while (0)

class CudaSteps final : public StepCache {
 public:
  ~CudaSteps() override {
    for (auto& [key, exec] : graphs) cudaGraphExecDestroy(exec);
  }
  std::unordered_map<uint64_t, cudaGraphExec_t> graphs;
};

cuda::Mat ToMat(const WeightMatrix& w) {
  cuda::Mat m;
  m.type = static_cast<int>(w.type);
  m.w = w.data;
  m.n_in = w.n_in;
  m.n_out = w.n_out;
  m.row_bytes = RowBytes(w.type, w.n_in);
  return m;
}

// Environment variable `name`'s value, one of `allowed` (the first when it
// is unset or empty); otherwise an error naming it, with `hint`.
absl::StatusOr<std::string> EnvChoice(const char* name, std::initializer_list<const char*> allowed,
                                      const char* hint) {
  const char* env = std::getenv(name);
  const std::string value = env != nullptr && *env != '\0' ? env : *allowed.begin();
  for (const char* a : allowed) {
    if (value == a) return value;
  }
  return absl::InvalidArgumentError(absl::StrCat(name, "='", value, "': use ", hint));
}

// The types cuda::TypeSupported takes, by name.
std::string SupportedList() {
  std::string list;
  for (uint32_t id = 0; id <= static_cast<uint32_t>(cuda::kBF16); ++id) {
    if (GetTypeGeometry(id).has_value() && cuda::TypeSupported(static_cast<int>(id))) {
      absl::StrAppend(&list, list.empty() ? "" : ", ", TypeName(static_cast<TensorType>(id)));
    }
  }
  return list;
}

class CudaBackend final : public Backend {
 public:
  // fuse_norm: hold norms back for the direct kernels to fuse (RmsNorm);
  // split_attention: decode attention split over the context (Attention).
  CudaBackend(int index, const cudaDeviceProp& prop, bool fuse_norm, bool split_attention)
      : index_(index), prop_(prop), fuse_norm_(fuse_norm), split_attention_(split_attention) {
    const char* env = std::getenv("TCOBENCH_CUDA_PROFILE");
    profile_ = env != nullptr && *env != '\0' && std::string(env) != "0";
  }

  ~CudaBackend() override {
    if (stream_ != nullptr) {
      FlushNorm();
      cudaStreamSynchronize(stream_);
    }
    if (profile_) PrintProfile();
    for (void* p : weights_) cudaFree(p);
    if (scratch_ != nullptr) cudaFree(scratch_);
    if (staging_ != nullptr) cudaFreeHost(staging_);
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
  }

  absl::Status Init() {
    TCOBENCH_CUDA_RETURN(cudaSetDevice(index_), "cudaSetDevice");
    TCOBENCH_CUDA_RETURN(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking),
                         "creating a stream");
    TCOBENCH_CUDA_RETURN(cuda::PrepareDirectMatVec(), "raising the direct kernels' shared memory");
    return absl::OkStatus();
  }

  std::string name() const override { return absl::StrCat("cuda:", index_); }

  std::string device_description() const override {
    int driver = 0, runtime = 0;
    cudaDriverGetVersion(&driver);
    cudaRuntimeGetVersion(&runtime);
    return absl::StrFormat("%s, %.1f GiB, compute %d.%d, %d SMs, CUDA driver %d.%d, runtime %d.%d",
                           prop_.name, prop_.totalGlobalMem / 1073741824.0, prop_.major,
                           prop_.minor, prop_.multiProcessorCount, driver / 1000,
                           driver % 1000 / 10, runtime / 1000, runtime % 1000 / 10);
  }

  absl::Status CheckMatrix(const WeightMatrix& w) const override {
    if (!cuda::TypeSupported(static_cast<int>(w.type))) {
      return absl::InvalidArgumentError(
          absl::StrCat("tensor '", w.name, "' has type ", TypeName(w.type),
                       ", which the CUDA backend does not support; supported: ", SupportedList()));
    }
    return absl::OkStatus();
  }

  int64_t MaxContext() const override { return 32768; }

  int64_t AttentionScratchBytes(int64_t n_tokens, int64_t n_head, int64_t head_dim,
                                int64_t n_ctx) const override {
    if (!split_attention_) return 0;
    return cuda::SplitScratchBytes(std::min<int64_t>(n_tokens, cuda::kMaxSplitTokens), n_head, head_dim,
                                   n_ctx);
  }

  absl::StatusOr<const void*> PlaceWeights(const void* host, size_t bytes) override {
    void* p = nullptr;
    TCOBENCH_CUDA_RETURN(cudaMalloc(&p, std::max<size_t>(bytes, 16)), "placing weights");
    weights_.push_back(p);
    TCOBENCH_CUDA_RETURN(cudaMemcpy(p, host, bytes, cudaMemcpyHostToDevice), "copying weights");
    return static_cast<const void*>(p);
  }

  absl::StatusOr<void*> Alloc(size_t bytes) override {
    FlushNorm();
    void* p = nullptr;
    TCOBENCH_CUDA_RETURN(cudaMalloc(&p, std::max<size_t>(bytes, 16)),
                         absl::StrCat("allocating ", bytes, " bytes on ", name()));
    TCOBENCH_CUDA_RETURN(cudaMemset(p, 0, bytes), "clearing memory");
    return p;
  }

  void Free(void* p) override {
    FlushNorm();
    cudaStreamSynchronize(stream_);
    cudaFree(p);
  }

  void Upload(void* dst, const void* host, size_t bytes) override {
    FlushNorm();
    Check(cudaStreamSynchronize(stream_), "Upload");  // the staging buffer is free
    Stage(bytes);
    std::memcpy(staging_, host, bytes);
    Check(cudaMemcpyAsync(dst, staging_, bytes, cudaMemcpyHostToDevice, stream_), "Upload");
  }

  void Download(void* host, const void* src, size_t bytes) override {
    FlushNorm();
    Check(cudaStreamSynchronize(stream_), "a step's kernels");
    if (profile_) CollectProfile();
    Stage(bytes);
    Check(cudaMemcpyAsync(staging_, src, bytes, cudaMemcpyDeviceToHost, stream_), "Download");
    Check(cudaStreamSynchronize(stream_), "Download");
    std::memcpy(host, staging_, bytes);
  }

  std::unique_ptr<StepCache> NewStepCache() override { return std::make_unique<CudaSteps>(); }

  void RunStep(StepCache* cache, uint64_t key, StepOps ops) override {
    auto* steps = static_cast<CudaSteps*>(cache);
    if (steps == nullptr || profile_) {  // profiling times each operation: no graphs
      ops();
      FlushNorm();
      Check(cudaGetLastError(), "launching a step's kernels");
      return;
    }
    auto it = steps->graphs.find(key);
    if (it == steps->graphs.end()) {
      cudaGraph_t graph = nullptr;
      Check(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal), "recording a step");
      capturing_ = true;
      ops();
      FlushNorm();
      capturing_ = false;
      Check(cudaStreamEndCapture(stream_, &graph), "recording a step");
      cudaGraphExec_t exec = nullptr;
      Check(cudaGraphInstantiate(&exec, graph, 0), "instantiating a step's graph");
      cudaGraphDestroy(graph);
      it = steps->graphs.emplace(key, exec).first;
    }
    Check(cudaGraphLaunch(it->second, stream_), "replaying a step");
  }

  void MatMul(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y,
              bool accumulate) override {
    const cuda::Mat m = ToMat(w);
    const std::optional<cuda::Norm> norm = TakeNorm(x, n_tokens, w.n_in);
    void* scratch = Scratch(cuda::MatMulScratchBytes(static_cast<int>(n_tokens), w.n_in));
    Timed timed(this, n_tokens > cuda::kMaxMatVecTokens ? "matmul (matrix-matrix)"
                      : norm ? "rms norm + matmul (matrix-vector)"
                             : "matmul (matrix-vector)");
    cuda::MatMul(m, x, static_cast<int>(n_tokens), y,
                 accumulate ? cuda::Epilogue::kAccumulate : cuda::Epilogue::kStore, scratch, stream_,
                 norm ? &*norm : nullptr);
  }

  void MatMulSameInput(std::initializer_list<std::pair<const WeightMatrix*, float*>> products,
                       const float* x, int64_t n_tokens) override {
    const bool one_launch = n_tokens <= cuda::kMaxMatVecTokens && products.size() <= 3 &&
                            SameTypeAndInput(products);
    if (!one_launch) {  // the first product takes a held-back norm
      for (const auto& [w, y] : products) MatMul(*w, x, n_tokens, y, false);
      return;
    }
    const std::optional<cuda::Norm> norm = TakeNorm(x, n_tokens, products.begin()->first->n_in);
    Timed timed(this, norm ? "rms norm + q/k/v matrix-vector" : "q/k/v matrix-vector");
    cuda::Mat mats[3];
    float* ys[3];
    int n = 0;
    for (const auto& [w, y] : products) {
      mats[n] = ToMat(*w);
      ys[n++] = y;
    }
    cuda::MatVecMulti(mats, ys, n, x, static_cast<int>(n_tokens), stream_, norm ? &*norm : nullptr);
  }

  void MatMulGlu(const WeightMatrix& gate, const WeightMatrix& up, const float* x,
                 int64_t n_tokens, float* out, float* up_scratch, GluActivation act) override {
    const bool gelu = act == GluActivation::kGeluTanh;
    if (!gelu && n_tokens <= cuda::kMaxMatVecTokens && gate.type == up.type &&
        gate.n_in == up.n_in && gate.n_out == up.n_out) {
      const std::optional<cuda::Norm> norm = TakeNorm(x, n_tokens, gate.n_in);
      Timed timed(this, norm ? "rms norm + gate/up/swiglu matrix-vector" : "gate/up/swiglu matrix-vector");
      cuda::MatVecSwiGlu(ToMat(gate), ToMat(up), x, static_cast<int>(n_tokens), out, stream_,
                         norm ? &*norm : nullptr);
      return;
    }
    MatMul(gate, x, n_tokens, out, false);  // takes a held-back norm
    MatMul(up, x, n_tokens, up_scratch, false);
    FlushNorm();
    Timed timed(this, gelu ? "geglu" : "swiglu");
    cuda::Glu(out, up_scratch, n_tokens * gate.n_out, out, gelu, stream_);
  }

  void GetRows(const WeightMatrix& w, const int32_t* tokens, int64_t n_tokens, float* y) override {
    FlushNorm();
    Timed timed(this, "get rows");
    cuda::GetRows(ToMat(w), tokens, static_cast<int>(n_tokens), y, stream_);
  }

  void RmsNorm(const float* x, const float* weight, int64_t n_tokens, int64_t n, float eps,
               float* y) override {
    FlushNorm();
    if (fuse_norm_ && x != y && n_tokens <= cuda::kMaxDirectTokens) {
      cuda::Norm norm;  // held back for the product that reads y
      norm.x = x;
      norm.weight = weight;
      norm.eps = eps;
      norm.y = y;
      norm.rows = static_cast<int>(n_tokens);
      norm.n = n;
      pending_norm_ = norm;
      return;
    }
    Timed timed(this, "rms norm");
    cuda::RmsNorm(x, weight, static_cast<int>(n_tokens), n, eps, y, stream_);
  }

  void RmsNormAdd(const float* x, const float* weight, int64_t n_tokens, int64_t n, float eps,
                  float* y) override {
    FlushNorm();
    Timed timed(this, "rms norm + residual");
    cuda::RmsNormAdd(x, weight, static_cast<int>(n_tokens), n, eps, y, stream_);
  }

  void AddBias(float* y, const float* bias, int64_t n_tokens, int64_t n) override {
    FlushNorm();
    Timed timed(this, "bias");
    cuda::AddBias(y, bias, static_cast<int>(n_tokens), n, stream_);
  }

  void Scale(float* y, int64_t count, float s) override {
    FlushNorm();
    Timed timed(this, "scale");
    cuda::Scale(y, count, s, stream_);
  }

  void SoftCap(float* y, int64_t count, float cap) override {
    FlushNorm();
    Timed timed(this, "soft-cap");
    cuda::SoftCap(y, count, cap, stream_);
  }

  void RopeAndStore(float* q, float* k, const float* v, const StepInputs& in, int64_t n_head,
                    int64_t n_head_kv, const RopeArgs& rope, const KvLayer& kv) override {
    FlushNorm();
    cuda::RopeStore a;
    a.q = q;
    a.k = k;
    a.v = v;
    a.seq = in.seq;
    a.pos = in.pos;
    a.n_tokens = static_cast<int>(in.n_tokens);
    a.n_head = static_cast<int>(n_head);
    a.n_head_kv = static_cast<int>(n_head_kv);
    a.head_dim = static_cast<int>(rope.head_dim);
    a.n_rot = static_cast<int>(rope.n_rot);
    // As the CPU backend computes it, so the angles agree.
    a.theta_scale = std::pow(rope.freq_base, -2.0f / static_cast<float>(rope.n_rot));
    a.freq_scale = rope.freq_scale;
    a.freq_factors = rope.freq_factors;
    a.neox = rope.neox;
    a.attn_factor = rope.attn_factor;
    a.k_cache = kv.k;
    a.v_cache = kv.v;
    a.seq_stride = kv.seq_stride;
    Timed timed(this, "rope + kv store");
    cuda::RopeAndStore(a, stream_);
  }

  void Attention(const float* q, const StepInputs& in, const KvLayer& kv, int64_t n_head,
                 int64_t n_head_kv, int64_t head_dim, float scale, float* out,
                 int64_t window) override {
    FlushNorm();
    cuda::AttentionLaunch a;
    a.q = q;
    a.k_cache = kv.k;
    a.v_cache = kv.v;
    a.seq = in.seq;
    a.pos = in.pos;
    a.out = out;
    a.n_tokens = static_cast<int>(in.n_tokens);
    a.n_head = static_cast<int>(n_head);
    a.n_head_kv = static_cast<int>(n_head_kv);
    a.head_dim = static_cast<int>(head_dim);
    a.seq_stride = kv.seq_stride;
    a.n_ctx = kv.n_ctx;
    a.scale = scale;
    a.window = static_cast<int>(window);
    if (split_attention_ && kv.scratch != nullptr && a.n_tokens <= cuda::kMaxSplitTokens &&
        cuda::SplitScratchBytes(a.n_tokens, n_head, head_dim, kv.n_ctx) <= kv.scratch_bytes) {
      a.split = kv.scratch;
      a.n_splits = cuda::SplitCount(kv.n_ctx);
    }
    const int64_t shared = cuda::AttentionSharedBytes(kv.n_ctx, a.head_dim);
    if (shared > attention_shared_) {  // never inside a recording: prefill comes first
      Check(cuda::PrepareAttention(shared), "raising attention's shared memory");
      attention_shared_ = shared;
    }
    Timed timed(this, a.split != nullptr ? "attention (split)" : "attention");
    cuda::Attention(a, stream_);
  }

 private:
  // TCOBENCH_CUDA_PROFILE=1: each operation timed with CUDA events (steps
  // run op by op, not as graphs), summed per operation and printed to
  // stderr when the backend closes.
  class Timed {
   public:
    Timed(CudaBackend* b, const char* op) : b_(b->profile_ ? b : nullptr), op_(op) {
      if (b_ != nullptr) start_ = b_->Event();
    }
    ~Timed() {
      if (b_ == nullptr) return;
      cudaEvent_t stop = b_->Event();
      b_->pending_.push_back({op_, start_, stop});
    }

   private:
    CudaBackend* b_;
    const char* op_;
    cudaEvent_t start_ = nullptr;
  };
  struct PendingOp {
    const char* op;
    cudaEvent_t start, stop;
  };
  cudaEvent_t Event() {
    cudaEvent_t e = nullptr;
    if (free_events_.empty()) {
      Check(cudaEventCreate(&e), "profiling");
    } else {
      e = free_events_.back();
      free_events_.pop_back();
    }
    Check(cudaEventRecord(e, stream_), "profiling");
    return e;
  }
  void CollectProfile() {
    for (const PendingOp& p : pending_) {
      float ms = 0;
      cudaEventElapsedTime(&ms, p.start, p.stop);
      auto& [calls, total] = profile_ms_[p.op];
      ++calls;
      total += ms;
      free_events_.push_back(p.start);
      free_events_.push_back(p.stop);
    }
    pending_.clear();
  }
  void PrintProfile() {
    CollectProfile();
    double all = 0;
    for (const auto& [op, v] : profile_ms_) all += v.second;
    std::fprintf(stderr, "tcobench CUDA profile (%s): %.3f ms in operations\n", name().c_str(), all);
    for (const auto& [op, v] : profile_ms_) {
      std::fprintf(stderr, "  %-32s %8lld calls %10.3f ms %5.1f%% %9.2f us/call\n", op.c_str(),
                   static_cast<long long>(v.first), v.second, 100.0 * v.second / all,
                   1000.0 * v.second / v.first);
    }
    for (cudaEvent_t e : free_events_) cudaEventDestroy(e);
  }

  // RmsNorm holds a norm back (with the direct kernels on) for the product
  // that reads its output, which fuses it: TakeNorm hands it to a product of
  // input x (n_tokens rows of n_in), or runs it when it is not that
  // product's input. Every other operation runs it first (FlushNorm): an
  // operation added to Backend must call FlushNorm before it touches the
  // stream or memory, or it could run before a norm it depends on.
  void FlushNorm() {
    if (!pending_norm_) return;
    const cuda::Norm norm = *pending_norm_;
    pending_norm_.reset();
    Timed timed(this, "rms norm");
    cuda::RmsNorm(norm.x, norm.weight, norm.rows, norm.n, norm.eps, norm.y, stream_);
  }
  std::optional<cuda::Norm> TakeNorm(const float* x, int64_t n_tokens, int64_t n_in) {
    if (pending_norm_ && pending_norm_->y == x && pending_norm_->rows == n_tokens &&
        pending_norm_->n == n_in) {
      const cuda::Norm norm = *pending_norm_;
      pending_norm_.reset();
      return norm;
    }
    FlushNorm();
    return std::nullopt;
  }

  static bool SameTypeAndInput(
      std::initializer_list<std::pair<const WeightMatrix*, float*>> products) {
    const WeightMatrix* first = products.begin()->first;
    for (const auto& [w, y] : products) {
      if (w->type != first->type || w->n_in != first->n_in) return false;
    }
    return true;
  }

  void Stage(size_t bytes) {
    if (bytes <= staging_bytes_) return;
    if (staging_ != nullptr) cudaFreeHost(staging_);
    staging_ = nullptr;
    Check(cudaMallocHost(&staging_, bytes), "allocating pinned host memory");
    staging_bytes_ = bytes;
  }

  // Device scratch for the matrix-matrix path (not used by recorded steps,
  // whose batches take the matrix-vector kernels).
  void* Scratch(int64_t bytes) {
    if (bytes <= 0) return nullptr;
    if (static_cast<size_t>(bytes) > scratch_bytes_) {
      if (capturing_) {
        std::fprintf(stderr, "tcobench: CUDA scratch grown while recording a step\n");
        std::abort();
      }
      Check(cudaStreamSynchronize(stream_), "growing scratch");
      if (scratch_ != nullptr) cudaFree(scratch_);
      scratch_ = nullptr;
      Check(cudaMalloc(&scratch_, bytes), "allocating scratch");
      scratch_bytes_ = static_cast<size_t>(bytes);
    }
    return scratch_;
  }

  const int index_;
  const cudaDeviceProp prop_;
  const bool fuse_norm_;
  const bool split_attention_;
  cudaStream_t stream_ = nullptr;
  std::vector<void*> weights_;
  void* staging_ = nullptr;  // pinned host memory for uploads and downloads
  size_t staging_bytes_ = 0;
  void* scratch_ = nullptr;
  size_t scratch_bytes_ = 0;
  int64_t attention_shared_ = 48 * 1024;  // the default dynamic limit
  bool capturing_ = false;
  std::optional<cuda::Norm> pending_norm_;
  bool profile_ = false;
  std::vector<PendingOp> pending_;
  std::vector<cudaEvent_t> free_events_;
  std::map<std::string, std::pair<int64_t, double>> profile_ms_;  // calls, milliseconds
};

}  // namespace

absl::StatusOr<std::unique_ptr<Backend>> MakeCudaBackend(int index) {
  // The kernel switches (docs/cuda.md), checked before the GPU so that a
  // typo is named on any machine; the first value listed is the default.
  // TCOBENCH_CUDA_MATVEC: decode products on the staged kernels, the direct
  // ones with RMS norms fused in, or direct-unfused (the norms as kernels of
  // their own, to tell the two apart).
  TCOBENCH_ASSIGN_OR_RETURN(const std::string kernels,
                            EnvChoice("TCOBENCH_CUDA_MATVEC", {"staged", "direct", "direct-unfused"},
                                      "staged (the default), direct or direct-unfused"));
  // TCOBENCH_CUDA_ATTENTION: decode attention as a block per token and head,
  // or split over the context (cuda/attention.cuh).
  TCOBENCH_ASSIGN_OR_RETURN(
      const std::string attention,
      EnvChoice("TCOBENCH_CUDA_ATTENTION", {"block", "split"}, "block (the default) or split"));
  // TCOBENCH_CUDA_PDL=1: programmatic dependent launch (cuda_kernels.h).
  TCOBENCH_ASSIGN_OR_RETURN(const std::string pdl,
                            EnvChoice("TCOBENCH_CUDA_PDL", {"0", "1"}, "1 (on) or 0 (off, the default)"));
  int count = 0;
  if (cudaError_t e = cudaGetDeviceCount(&count); e != cudaSuccess) {
    cudaGetLastError();
    return absl::UnavailableError(
        absl::StrCat("device cuda:", index, ": no usable NVIDIA GPU (", cudaGetErrorString(e), ")"));
  }
  if (index >= count) {
    return absl::InvalidArgumentError(absl::StrCat("device cuda:", index, ": this machine has ",
                                                   count, " GPU", count == 1 ? "" : "s",
                                                   count > 0 ? absl::StrCat(" (cuda:0..cuda:", count - 1, ")") : ""));
  }
  cudaDeviceProp prop{};
  TCOBENCH_CUDA_RETURN(cudaGetDeviceProperties(&prop, index), "reading the GPU's properties");
  if (prop.major < 7) {
    return absl::FailedPreconditionError(
        absl::StrCat("device cuda:", index, " (", prop.name, ") has compute capability ",
                     prop.major, ".", prop.minor, "; the CUDA backend needs 7.0 or newer"));
  }
  if (pdl == "1" && prop.major < 9) {
    return absl::FailedPreconditionError(absl::StrCat(
        "TCOBENCH_CUDA_PDL=1: device cuda:", index, " (", prop.name, ") has compute capability ",
        prop.major, ".", prop.minor, "; programmatic dependent launch needs 9.0 or newer"));
  }
  cuda::UseDirectMatVec(kernels != "staged");
  cuda::UsePdl(pdl == "1");
  auto backend = std::make_unique<CudaBackend>(index, prop, kernels == "direct", attention == "split");
  if (absl::Status st = backend->Init(); !st.ok()) return st;
  return backend;
}

bool CudaBackendBuilt() { return true; }

absl::StatusOr<double> MeasureCudaReadBandwidth(int index) {
  TCOBENCH_CUDA_RETURN(cudaSetDevice(index), "cudaSetDevice");
  constexpr int64_t kBytes = int64_t{2} << 30;
  void* data = nullptr;
  float* sums = nullptr;
  cudaEvent_t start = nullptr, stop = nullptr;
  auto release = [&] {
    if (data != nullptr) cudaFree(data);
    if (sums != nullptr) cudaFree(sums);
    if (start != nullptr) cudaEventDestroy(start);
    if (stop != nullptr) cudaEventDestroy(stop);
  };
  cudaError_t e = cudaMalloc(&data, kBytes);
  if (e == cudaSuccess) e = cudaMalloc(reinterpret_cast<void**>(&sums), 1024 * sizeof(float));
  if (e == cudaSuccess) e = cudaMemset(data, 1, kBytes);
  if (e == cudaSuccess) e = cudaEventCreate(&start);
  if (e == cudaSuccess) e = cudaEventCreate(&stop);
  std::vector<double> samples;
  for (int rep = -1; e == cudaSuccess && rep < 5; ++rep) {
    cudaEventRecord(start);
    cuda::ReadAll(data, kBytes, sums, nullptr);
    cudaEventRecord(stop);
    e = cudaEventSynchronize(stop);
    float ms = 0;
    if (e == cudaSuccess) e = cudaEventElapsedTime(&ms, start, stop);
    if (e == cudaSuccess && rep >= 0) samples.push_back(kBytes / (ms * 1e-3));
  }
  release();
  TCOBENCH_CUDA_RETURN(e, "measuring GPU read bandwidth");
  std::sort(samples.begin(), samples.end());
  return samples[samples.size() / 2];
}

std::vector<CudaDeviceInfo> ListCudaDevices() {
  std::vector<CudaDeviceInfo> out;
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();
    return out;
  }
  int driver = 0, runtime = 0;
  cudaDriverGetVersion(&driver);
  cudaRuntimeGetVersion(&runtime);
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, i) != cudaSuccess) continue;
    CudaDeviceInfo d;
    d.index = i;
    d.name = prop.name;
    d.memory_bytes = static_cast<int64_t>(prop.totalGlobalMem);
    d.compute_major = prop.major;
    d.compute_minor = prop.minor;
    int clock = 0;
    if (cudaDeviceGetAttribute(&clock, cudaDevAttrClockRate, i) == cudaSuccess) d.sm_clock_mhz = clock / 1000;
    if (cudaDeviceGetAttribute(&clock, cudaDevAttrMemoryClockRate, i) == cudaSuccess) {
      d.memory_clock_mhz = clock / 1000;
    }
    d.driver_version = driver;
    d.runtime_version = runtime;
    out.push_back(d);
  }
  return out;
}

}  // namespace tcobench
