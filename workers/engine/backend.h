// The seam between the llama model and the hardware. A backend owns its
// memory: the model places its weights with PlaceWeights, a session
// allocates its activations and KV cache with Alloc, and every operation
// below takes pointers into that memory (host memory for the CPU backend,
// device memory for CUDA). Host data crosses only through Upload and
// Download, once per step (token ids in, logits out), so a GPU backend
// never copies activations back and forth between operations.
//
// A step's operations may be recorded and replayed (RunStep): the CUDA
// backend captures a decode step as a CUDA graph. Operations therefore must
// not read host-side values that change between steps: positions, sequence
// numbers and token ids are read from backend memory.
//
// A backend is used by one session at a time (not thread-safe); it may use
// its own threads (or a device) inside each call.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "workers/engine/tensor_type.h"

namespace tcobench {

// A weight matrix: n_out rows of n_in elements of `type`, as stored in GGUF
// (ne[0] = n_in, ne[1] = n_out). `data` is backend memory (PlaceWeights);
// the backend owns it.
struct WeightMatrix {
  std::string name;
  TensorType type = TensorType::kF32;
  const void* data = nullptr;
  int64_t n_in = 0;
  int64_t n_out = 0;
  // The CPU backend's interleaved layout (repack.h) in place of GGUF rows:
  // set by PrepareMatrix, read only by the backend that set it.
  bool repacked = false;
};

// The per-token inputs of a step, in backend memory: token t belongs to
// sequence seq[t] at position pos[t] (it sees positions 0..pos[t] of its
// sequence's cache).
struct StepInputs {
  const int32_t* tokens = nullptr;
  const int32_t* seq = nullptr;
  const int32_t* pos = nullptr;
  int64_t n_tokens = 0;
};

// One layer's KV cache for every sequence: sequence s, position p starts at
// k + s * seq_stride + p * kv_dim (same for v). Float rows of kv_dim.
struct KvLayer {
  float* k = nullptr;
  float* v = nullptr;
  int64_t seq_stride = 0;  // floats between sequences
  int64_t kv_dim = 0;      // n_head_kv * head_dim
  int64_t n_ctx = 0;       // positions per sequence
  // Workspace for the backend's attention, shared by the layers (the bytes
  // AttentionScratchBytes asked for; null when it asked for none).
  float* scratch = nullptr;
  int64_t scratch_bytes = 0;
};

// Rotary position embedding settings. Pair i < n_rot/2 of each head turns by
// freq_scale * pos * freq_base^(-2i/n_rot) / freq_factors[i]; the "normal"
// (Llama) layout pairs adjacent dimensions (2i, 2i+1), the NeoX layout (Qwen,
// Gemma, Phi-3) pairs i with i + n_rot/2. Cosine and sine are multiplied by
// attn_factor (LongRoPE's magnitude scaling; 1 elsewhere).
struct RopeArgs {
  int64_t head_dim = 0;
  int64_t n_rot = 0;
  float freq_base = 10000.0f;
  float freq_scale = 1.0f;
  const float* freq_factors = nullptr;  // backend memory, n_rot/2 values, or null (all 1)
  bool neox = false;
  float attn_factor = 1.0f;
};

// The gated feed-forward's activation: silu (SwiGLU: Llama, Qwen, Phi-3) or
// GELU with the tanh approximation (GeGLU: Gemma).
enum class GluActivation { kSilu, kGeluTanh };

// A non-owning reference to a step's operations: unlike std::function it
// never allocates (a step may run inside a measured window). Valid while
// the callable lives (RunStep's call).
class StepOps {
 public:
  template <typename F>
  StepOps(const F& f)  // NOLINT: implicit, so lambdas pass straight in
      : obj_(&f), call_([](const void* o) { (*static_cast<const F*>(o))(); }) {}
  void operator()() const { call_(obj_); }

 private:
  const void* obj_;
  void (*call_)(const void*);
};

// Backend-specific recorded steps (CUDA graphs); owned by a session.
class StepCache {
 public:
  virtual ~StepCache() = default;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  // A line for manifests: the device's name, memory and driver ("" for the CPU).
  virtual std::string device_description() const { return ""; }

  // --- Memory -------------------------------------------------------------
  // Places `bytes` of weights from host memory that outlives the backend
  // (the mapped file); the CPU backend uses the host memory in place, a GPU
  // backend copies it once. Returns backend memory owned by the backend.
  virtual absl::StatusOr<const void*> PlaceWeights(const void* host, size_t bytes) = 0;
  // Zeroed backend memory of `bytes`, freed with Free (or with the backend).
  virtual absl::StatusOr<void*> Alloc(size_t bytes) = 0;
  virtual void Free(void* p) = 0;
  // Host -> backend memory. The host bytes may be reused once Upload returns.
  virtual void Upload(void* dst, const void* host, size_t bytes) = 0;
  // Backend -> host memory; waits for every operation issued before it.
  virtual void Download(void* host, const void* src, size_t bytes) = 0;
  // Whether this backend can multiply by `w` (its type and row length);
  // the error names what it supports.
  virtual absl::Status CheckMatrix(const WeightMatrix& w) const {
    (void)w;
    return absl::OkStatus();
  }
  // Lays out placed weights the way this backend multiplies fastest (the
  // CPU backend interleaves rows for its wide-ISA kernels, in place, so no
  // second copy is made). Views of the matrix may start at multiples of
  // `view_rows` rows (fused tensors split into q/k/v or gate/up); MatMul
  // and GetRows still work on it. A no-op by default.
  virtual absl::Status PrepareMatrix(WeightMatrix* w, int64_t view_rows) {
    (void)w;
    (void)view_rows;
    return absl::OkStatus();
  }
  // The longest context a session may ask for (attention's limits).
  virtual int64_t MaxContext() const { return int64_t{1} << 20; }

  // --- Steps --------------------------------------------------------------
  virtual std::unique_ptr<StepCache> NewStepCache() { return nullptr; }
  // Runs `ops` (only operations of this backend on memory that stays put).
  // With a cache, a backend may record them under `key` the first time and
  // replay the recording after; the caller keys every distinct shape and
  // clears the cache when it reallocates what the step touches.
  virtual void RunStep(StepCache* cache, uint64_t key, StepOps ops) {
    (void)cache;
    (void)key;
    ops();
  }

  // --- Operations (all pointers are backend memory) -----------------------
  // y(t, o) = sum_i w(o, i) * x(t, i) for t < n_tokens; x is (n_tokens, n_in).
  // With accumulate, y += instead of y =.
  virtual void MatMul(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y,
                      bool accumulate = false) = 0;
  // Several products of one input (q/k/v): ys[i] = ws[i] x. A backend may
  // convert x once for all of them, or run them as one launch.
  virtual void MatMulSameInput(std::initializer_list<std::pair<const WeightMatrix*, float*>> products,
                               const float* x, int64_t n_tokens) {
    for (const auto& [w, y] : products) MatMul(*w, x, n_tokens, y);
  }
  // out = act(gate x) * (up x): the feed-forward's first half. `up_scratch`
  // is (n_tokens, n_out) scratch a backend may use.
  virtual void MatMulGlu(const WeightMatrix& gate, const WeightMatrix& up, const float* x,
                         int64_t n_tokens, float* out, float* up_scratch,
                         GluActivation act = GluActivation::kSilu) = 0;
  // Rows tokens[t] of w as floats (embedding lookup) into y (n_tokens, n_in).
  virtual void GetRows(const WeightMatrix& w, const int32_t* tokens, int64_t n_tokens,
                       float* y) = 0;
  // y(t) = x(t) / sqrt(mean(x(t)^2) + eps) * weight, rows of n (x == y allowed).
  virtual void RmsNorm(const float* x, const float* weight, int64_t n_tokens, int64_t n, float eps,
                       float* y) = 0;
  // y(t) += x(t) / sqrt(mean(x(t)^2) + eps) * weight: a normalized branch
  // added to the residual stream (Gemma's post-attention and post-FFN norms).
  virtual void RmsNormAdd(const float* x, const float* weight, int64_t n_tokens, int64_t n,
                          float eps, float* y) = 0;
  // y(t, i) += bias(i) for rows of n (Qwen2's q/k/v biases, output biases).
  virtual void AddBias(float* y, const float* bias, int64_t n_tokens, int64_t n) = 0;
  // y(i) *= s (Gemma's embedding scale).
  virtual void Scale(float* y, int64_t count, float s) = 0;
  // y(i) = cap * tanh(y(i) / cap) (final-logit soft-capping).
  virtual void SoftCap(float* y, int64_t count, float cap) = 0;
  // Rotates q (n_tokens, n_head * head_dim) and k (n_tokens, kv_dim) in
  // place by each token's position, then stores k and v (n_tokens, kv_dim)
  // into the layer's cache at each token's sequence and position.
  virtual void RopeAndStore(float* q, float* k, const float* v, const StepInputs& in,
                            int64_t n_head, int64_t n_head_kv, const RopeArgs& rope,
                            const KvLayer& kv) = 0;
  // Grouped-query causal attention: out(t) over positions 0..pos[t] of
  // sequence seq[t]'s cache; q.k is multiplied by `scale` before the softmax.
  // With window > 0 (sliding-window layers) only the last `window` positions
  // are seen: pos[t] - window < p <= pos[t].
  virtual void Attention(const float* q, const StepInputs& in, const KvLayer& kv, int64_t n_head,
                         int64_t n_head_kv, int64_t head_dim, float scale, float* out,
                         int64_t window = 0) = 0;
  // Bytes of workspace Attention wants (KvLayer::scratch) for steps of up to
  // n_tokens over n_ctx positions; the session allocates it with the step's
  // activations, before any step is recorded.
  virtual int64_t AttentionScratchBytes(int64_t /*n_tokens*/, int64_t /*n_head*/,
                                        int64_t /*head_dim*/, int64_t /*n_ctx*/) const {
    return 0;
  }
};

// Opens the backend a device string names: "cpu" (the thread pool's), or
// "cuda" / "cuda:N" where the build has CUDA. Errors name what is wrong.
class ThreadPool;
absl::StatusOr<std::unique_ptr<Backend>> MakeBackend(const std::string& device, ThreadPool* pool);
// The GPU index of "cuda" (0) or "cuda:N"; an error for anything else.
absl::StatusOr<int> CudaDeviceIndex(const std::string& device);

// Backend memory with one owner (freed with the backend's Free).
class BackendBuffer {
 public:
  BackendBuffer() = default;
  BackendBuffer(Backend* backend, void* data, size_t bytes)
      : backend_(backend), data_(data), bytes_(bytes) {}
  BackendBuffer(BackendBuffer&& o) noexcept { *this = std::move(o); }
  BackendBuffer& operator=(BackendBuffer&& o) noexcept {
    if (this != &o) {
      Reset();
      backend_ = std::exchange(o.backend_, nullptr);
      data_ = std::exchange(o.data_, nullptr);
      bytes_ = std::exchange(o.bytes_, 0);
    }
    return *this;
  }
  BackendBuffer(const BackendBuffer&) = delete;
  BackendBuffer& operator=(const BackendBuffer&) = delete;
  ~BackendBuffer() { Reset(); }

  static absl::StatusOr<BackendBuffer> Make(Backend* backend, size_t bytes) {
    absl::StatusOr<void*> p = backend->Alloc(bytes);
    if (!p.ok()) return p.status();
    return BackendBuffer(backend, *p, bytes);
  }
  void Reset() {
    if (data_ != nullptr) backend_->Free(data_);
    data_ = nullptr;
    bytes_ = 0;
  }
  template <typename T = float>
  T* as() const {
    return static_cast<T*>(data_);
  }
  size_t bytes() const { return bytes_; }

 private:
  Backend* backend_ = nullptr;
  void* data_ = nullptr;
  size_t bytes_ = 0;
};

}  // namespace tcobench
