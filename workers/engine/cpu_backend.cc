#include "workers/engine/cpu_backend.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <sys/mman.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"

#include "workers/engine/fp16.h"
#include "workers/engine/quants.h"
#include "workers/engine/repack.h"

namespace tcobench {
namespace {

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(ThreadPool* pool) : pool_(pool) {}

  std::string name() const override { return "cpu"; }

  absl::StatusOr<const void*> PlaceWeights(const void* host, size_t) override { return host; }

  absl::StatusOr<void*> Alloc(size_t bytes) override {
    void* p = nullptr;
    if (posix_memalign(&p, 64, std::max<size_t>(bytes, 64)) != 0) {
      return absl::ResourceExhaustedError(absl::StrCat("cannot allocate ", bytes, " bytes"));
    }
    std::memset(p, 0, bytes);
    return p;
  }
  void Free(void* p) override { std::free(p); }
  void Upload(void* dst, const void* host, size_t bytes) override {
    if (bytes > 0) std::memcpy(dst, host, bytes);
  }
  void Download(void* host, const void* src, size_t bytes) override {
    if (bytes > 0) std::memcpy(host, src, bytes);
  }

  void MatMul(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y,
              bool accumulate) override {
    if (!accumulate) {
      MatMulSameInput({{&w, y}}, x, n_tokens);
      return;
    }
    const size_t n = static_cast<size_t>(n_tokens * w.n_out);
    if (accumulate_.size() < n) accumulate_.resize(n);
    MatMulSameInput({{&w, accumulate_.data()}}, x, n_tokens);
    for (size_t i = 0; i < n; ++i) y[i] += accumulate_[i];
  }

  void MatMulSameInput(std::initializer_list<std::pair<const WeightMatrix*, float*>> products,
                       const float* x, int64_t n_tokens) override {
    const GemmF32Fn gemm = n_tokens >= kGemmMinTokens ? GetGemmF32(ActiveIsa()) : nullptr;
    // Products sharing the activation format share one conversion of x,
    // made with every form those products read.
    bool prepared = false;
    TensorType prepared_type = TensorType::kF32;
    for (const auto& [w, y] : products) {
      const TypeOps* ops = GetOps(w->type);
      if (ops == nullptr || ops->vec_dot == nullptr) std::abort();  // the model checked types
      if (!prepared || prepared_type != ops->vec_dot_type) {
        InputForms forms;
        for (const auto& [other, unused] : products) {
          const TypeOps* o = GetOps(other->type);
          if (o->vec_dot_type == ops->vec_dot_type) forms.Add(*other, *o, gemm != nullptr);
        }
        PrepareInput(ops->vec_dot_type, x, n_tokens, w->n_in, forms);
        prepared = true;
        prepared_type = ops->vec_dot_type;
      }
      if (w->repacked) {
        MatMulRepacked(*w, ops, n_tokens, y);
      } else if (gemm != nullptr) {
        MatMulGemm(*w, ops, gemm, n_tokens, y);
      } else {
        MatMulDot(*w, ops, x, n_tokens, y);
      }
    }
  }

  // Repacks w into memory of its own where this level has a kernel for its
  // type, group by group, returning the file's pages as it goes (each
  // chunk's source pages are dropped once repacked), so resident memory
  // stays near the file's size rather than twice it. The new memory asks
  // for huge pages (fewer TLB misses while streaming weights). Fused views
  // must fall on group boundaries; GetRows still works (row by row).
  absl::Status PrepareMatrix(WeightMatrix* w, int64_t view_rows) override {
    const TypeOps* ops = GetOps(w->type);
    if (ops == nullptr || ops->gemm_repacked == nullptr || !RepackEnabled() ||
        w->n_out % kRepackRows != 0 || view_rows % kRepackRows != 0) {
      return absl::OkStatus();
    }
    const int64_t group_bytes = kRepackRows * RowBytes(w->type, w->n_in);
    const int64_t n_groups = w->n_out / kRepackRows;
    const size_t bytes = static_cast<size_t>(group_bytes * n_groups);
    absl::StatusOr<uint8_t*> dst = MapWeights(bytes);
    if (!dst.ok()) return dst.status();
    const uint8_t* src = static_cast<const uint8_t*>(w->data);
    const int64_t chunk_groups = std::max<int64_t>(1, (int64_t{8} << 20) / group_bytes);
    for (int64_t c0 = 0; c0 < n_groups; c0 += chunk_groups) {
      const int64_t c1 = std::min(n_groups, c0 + chunk_groups);
      pool_->ParallelFor(c1 - c0, 1, [&](int64_t b, int64_t e) {
        for (int64_t g = c0 + b; g < c0 + e; ++g) {
          RepackGroup(w->type, w->n_in, src + g * group_bytes, *dst + g * group_bytes);
        }
      });
      ReleasePages(src + c0 * group_bytes, (c1 - c0) * group_bytes);
    }
    w->data = *dst;
    w->repacked = true;
    // GetRows of a repacked matrix (a tied embedding) unpacks a row here.
    if (row_buffer_.size() < static_cast<size_t>(group_bytes / kRepackRows)) {
      row_buffer_.resize(static_cast<size_t>(group_bytes / kRepackRows));
    }
    return absl::OkStatus();
  }

  ~CpuBackend() override {
    for (const auto& [p, n] : mappings_) munmap(p, n);
  }

  void MatMulGlu(const WeightMatrix& gate, const WeightMatrix& up, const float* x, int64_t n_tokens,
                 float* out, float* up_scratch, GluActivation act) override {
    MatMulSameInput({{&gate, out}, {&up, up_scratch}}, x, n_tokens);
    const int64_t n = n_tokens * gate.n_out;
    if (act == GluActivation::kGeluTanh) {
      for (int64_t i = 0; i < n; ++i) out[i] = GeluTanhAsReference(out[i]) * up_scratch[i];
      return;
    }
    for (int64_t i = 0; i < n; ++i) {
      const float g = out[i];
      out[i] = (g / (1.0f + std::exp(-g))) * up_scratch[i];
    }
  }

  void RmsNormAdd(const float* x, const float* weight, int64_t n_tokens, int64_t n, float eps,
                  float* y) override {
    NormRows</*kAdd=*/true>(x, weight, n_tokens, n, eps, y);
  }

  void AddBias(float* y, const float* bias, int64_t n_tokens, int64_t n) override {
    for (int64_t t = 0; t < n_tokens; ++t) {
      float* yr = y + t * n;
      for (int64_t i = 0; i < n; ++i) yr[i] += bias[i];
    }
  }

  void Scale(float* y, int64_t count, float s) override {
    for (int64_t i = 0; i < count; ++i) y[i] *= s;
  }

  void SoftCap(float* y, int64_t count, float cap) override {
    for (int64_t i = 0; i < count; ++i) y[i] = std::tanh(y[i] * (1.0f / cap)) * cap;
  }

  void GetRows(const WeightMatrix& w, const int32_t* tokens, int64_t n_tokens, float* y) override {
    const TypeOps* ops = GetOps(w.type);
    const int64_t row_bytes = RowBytes(w.type, w.n_in);
    const uint8_t* data = static_cast<const uint8_t*>(w.data);
    for (int64_t t = 0; t < n_tokens; ++t) {
      const uint8_t* row = data + tokens[t] * row_bytes;
      if (w.repacked) {  // a tied embedding: the row back out of its group (buffer sized at load)
        UnpackRow(w.type, w.n_in, data + tokens[t] / kRepackRows * kRepackRows * row_bytes,
                  tokens[t] % kRepackRows, row_buffer_.data());
        row = row_buffer_.data();
      }
      ops->to_float(row, y + t * w.n_in, w.n_in);
    }
  }

  void RmsNorm(const float* x, const float* weight, int64_t n_tokens, int64_t n, float eps,
               float* y) override {
    NormRows</*kAdd=*/false>(x, weight, n_tokens, n, eps, y);
  }

  void RopeAndStore(float* q, float* k, const float* v, const StepInputs& in, int64_t n_head,
                    int64_t n_head_kv, const RopeArgs& rope, const KvLayer& kv) override {
    Rope(q, in, n_head, rope);
    Rope(k, in, n_head_kv, rope);
    for (int64_t t = 0; t < in.n_tokens; ++t) {
      const int64_t at = in.seq[t] * kv.seq_stride + int64_t{in.pos[t]} * kv.kv_dim;
      std::memcpy(kv.k + at, k + t * kv.kv_dim, sizeof(float) * kv.kv_dim);
      std::memcpy(kv.v + at, v + t * kv.kv_dim, sizeof(float) * kv.kv_dim);
    }
  }

  void Attention(const float* q_all, const StepInputs& in, const KvLayer& kv, int64_t n_head,
                 int64_t n_head_kv, int64_t head_dim, float scale, float* out_all,
                 int64_t window) override {
    const int64_t q_stride = n_head * head_dim;
    const int64_t kv_stride = kv.kv_dim;
    const int64_t group = n_head / n_head_kv;
    int64_t longest = 0;
    for (int64_t t = 0; t < in.n_tokens; ++t) longest = std::max<int64_t>(longest, in.pos[t] + 1);
    const AttentionFn attention = GetAttention(ActiveIsa());
    // A job is the query heads that share a KV head, of up to
    // kAttentionBatch / group consecutive tokens (so K and V are read once
    // for all of them: several tokens of a prefill where the group is
    // small), split further while there would be fewer than four jobs per
    // thread (decode of a model with few KV heads).
    const int64_t n_threads = pool_->n_threads();
    const int64_t block = std::max<int64_t>(1, kAttentionBatch / group);
    const int64_t n_blocks = (in.n_tokens + block - 1) / block;
    const int64_t splits = std::clamp<int64_t>(
        (4 * n_threads + n_blocks * n_head_kv - 1) / (n_blocks * n_head_kv), 1, group);
    const int64_t per_job = (group + splits - 1) / splits;
    const int64_t jobs_per_kv_head = (group + per_job - 1) / per_job;
    // The rows of scores of a job per thread (block * group <=
    // max(group, kAttentionBatch) rows), sized here for every thread at once
    // (a thread's first chunk must not allocate: it may come inside a
    // measured window) and kept between calls; sized for a whole group, so a
    // decode step after a prefill never grows it.
    const int64_t rows = std::max(group, kAttentionBatch);
    const size_t need = static_cast<size_t>(n_threads * rows * longest);
    if (scores_.size() < need) scores_.resize(need);
    pool_->ParallelFor(n_blocks * n_head_kv * jobs_per_kv_head, 1, [&](int64_t b, int64_t e) {
      float* scores = scores_.data() + ThreadPool::CurrentThreadIndex() * rows * longest;
      for (int64_t job = b; job < e; ++job) {
        const int64_t t_begin = job / (n_head_kv * jobs_per_kv_head) * block;
        const int64_t t_end = std::min(in.n_tokens, t_begin + block);
        const int64_t kvh = job / jobs_per_kv_head % n_head_kv;
        const int64_t h0 = kvh * group + job % jobs_per_kv_head * per_job;
        const int64_t n_q = std::min(per_job, (kvh + 1) * group - h0);
        // The block's tokens, a run of one sequence at a time.
        for (int64_t t = t_begin; t < t_end;) {
          int64_t first[kAttentionBatch], n[kAttentionBatch];
          int64_t run = 0;
          for (; t + run < t_end && in.seq[t + run] == in.seq[t]; ++run) {
            n[run] = in.pos[t + run] + 1;
            first[run] = window > 0 ? std::max<int64_t>(0, n[run] - window) : 0;
          }
          const int64_t kv_offset = in.seq[t] * kv.seq_stride + kvh * head_dim;
          const int64_t q_offset = t * q_stride + h0 * head_dim;
          attention(q_all + q_offset, q_stride, run, n_q, first, n, kv.k + kv_offset,
                    kv.v + kv_offset, kv_stride, head_dim, scale, scores, longest,
                    out_all + q_offset);
          t += run;
        }
      }
    });
  }

 private:
  // y = norm(x) * weight per row of n, or y += it.
  template <bool kAdd>
  static void NormRows(const float* x, const float* weight, int64_t n_tokens, int64_t n, float eps,
                       float* y) {
    for (int64_t t = 0; t < n_tokens; ++t) {
      const float* xr = x + t * n;
      float* yr = y + t * n;
      const float scale = RmsScale(xr, n, eps);
      for (int64_t i = 0; i < n; ++i) {
        const float r = (xr[i] * scale) * weight[i];
        yr[i] = kAdd ? yr[i] + r : r;
      }
    }
  }

  // 1 / sqrt(mean(x^2) + eps) over a row of n.
  static float RmsScale(const float* x, int64_t n, float eps) {
    double sum = 0.0;  // the reference accumulates squares in double
    for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i] * x[i]);
    const float mean = static_cast<float>(sum / static_cast<double>(n));
    return 1.0f / std::sqrt(mean + eps);
  }

  // GELU (tanh approximation) as the reference's CPU code computes it: the
  // input rounded to half precision, the result looked up in a half table
  // (so rounded to half too), saturated beyond +-10.
  static float GeluTanhAsReference(float x) {
    if (x <= -10.0f) return 0.0f;
    if (x >= 10.0f) return x;
    const float h = Fp16ToFp32(Fp32ToFp16(x));
    const float g = 0.5f * h * (1.0f + std::tanh(0.79788456080286535588f * h *
                                                 (1.0f + 0.044715f * h * h)));
    return Fp16ToFp32(Fp32ToFp16(g));
  }

  // RoPE in place over rows of n_heads heads (pairs as RopeArgs says).
  void Rope(float* x, const StepInputs& in, int64_t n_heads, const RopeArgs& r) {
    const int64_t n_rot = r.n_rot;
    const float theta_scale = std::pow(r.freq_base, -2.0f / static_cast<float>(n_rot));
    rope_cache_.resize(static_cast<size_t>(n_rot));  // kept between calls: no allocation per layer
    float* cache = rope_cache_.data();
    for (int64_t t = 0; t < in.n_tokens; ++t) {
      // The angles as the reference computes them: theta_i = p * theta_scale^i,
      // by repeated float multiplication.
      float theta = static_cast<float>(in.pos[t]);
      for (int64_t i0 = 0; i0 < n_rot; i0 += 2) {
        const float ff = r.freq_factors != nullptr ? r.freq_factors[i0 / 2] : 1.0f;
        const float angle = r.freq_scale * (theta / ff);
        cache[i0] = std::cos(angle) * r.attn_factor;
        cache[i0 + 1] = std::sin(angle) * r.attn_factor;
        theta *= theta_scale;
      }
      // Pair i0/2 is (i0, i0 + 1) in the normal layout, (i0/2, i0/2 + n_rot/2) in NeoX's.
      const int64_t stride = r.neox ? n_rot / 2 : 1;
      for (int64_t h = 0; h < n_heads; ++h) {
        float* v = x + (t * n_heads + h) * r.head_dim;
        for (int64_t i0 = 0; i0 < n_rot; i0 += 2) {
          const float c = cache[i0], s = cache[i0 + 1];
          const int64_t a = r.neox ? i0 / 2 : i0;
          const float x0 = v[a], x1 = v[a + stride];
          v[a] = x0 * c - x1 * s;
          v[a + stride] = x0 * s + x1 * c;
        }
      }
    }
  }

  // Batches of at least this many tokens take the matrix-matrix path: it
  // dequantizes every weight once per call, which only pays off when many
  // tokens share it (a -b 8 decode step is faster on the dot-product path).
  static constexpr int64_t kGemmMinTokens = 16;
  static constexpr int64_t kGemmRowBlock = 48;

  // The forms of the activations the products of one call read.
  struct InputForms {
    bool rows = false;     // rows in the vec_dot_type (dot products, int8 kernels)
    bool rounded = false;  // floats rounded as that type rounds them
    bool packed = false;   // rounded floats packed for the float tile kernel
    bool q8_stats = false;  // Q8_0 rows' scales as float and quant sums (int8 kernels)
    void Add(const WeightMatrix& w, const TypeOps& ops, bool gemm) {
      if (w.repacked) {
        if (ops.vec_dot_type == TensorType::kF16) {
          rounded = packed = true;
        } else {
          rows = true;
          q8_stats = q8_stats || ops.vec_dot_type == TensorType::kQ8_0;
        }
      } else if (gemm) {
        rounded = packed = true;
      } else {
        rows = true;
      }
    }
  };

  // Converts the activations once into the weight type's companion format,
  // as the reference does before its dot products. For the float tile
  // kernel they are then rounded back to float exactly as that format rounds
  // them and packed, so products equal the dot-product path's; only the
  // order of the float sums differs.
  void PrepareInput(TensorType vec_dot_type, const float* x, int64_t n_tokens, int64_t k,
                    const InputForms& forms) {
    const TypeOps* act = GetOps(vec_dot_type);
    const float* rounded = x;
    if (vec_dot_type != TensorType::kF32) {
      const int64_t act_row_bytes = RowBytes(vec_dot_type, k);
      act_buffer_.resize(static_cast<size_t>(act_row_bytes * n_tokens));
      if (forms.rounded) act_f32_.resize(static_cast<size_t>(n_tokens * k));
      const int64_t n_blocks = k / kQK;
      if (forms.q8_stats) {
        act_d_.resize(static_cast<size_t>(n_tokens * n_blocks));
        act_sums_.resize(static_cast<size_t>(n_tokens * n_blocks));
      }
      pool_->ParallelFor(n_tokens, 1, [&](int64_t b, int64_t e) {
        for (int64_t t = b; t < e; ++t) {
          uint8_t* q = act_buffer_.data() + t * act_row_bytes;
          act->from_float(x + t * k, q, k);
          if (forms.rounded) act->to_float(q, act_f32_.data() + t * k, k);
          if (forms.q8_stats) {
            Q8_0ActStats(q, n_blocks, act_d_.data() + t * n_blocks, act_sums_.data() + t * n_blocks);
          }
        }
      });
      if (forms.rounded) rounded = act_f32_.data();
    }
    if (forms.packed) {
      act_packed_.resize(static_cast<size_t>(PackedGemmSize(n_tokens, k)));
      PackGemmActivations(n_tokens, k, rounded, act_packed_.data());
    }
  }

  // Weights in the interleaved layout: the level's kernel per group of rows,
  // for every token at once (decode, batches and prefill alike).
  // Reads the activations PrepareInput made.
  void MatMulRepacked(const WeightMatrix& w, const TypeOps* ops, int64_t n_tokens, float* y) {
    RepackedActs acts;
    if (ops->vec_dot_type == TensorType::kF16) {
      acts.rows = reinterpret_cast<const uint8_t*>(act_f32_.data());
      acts.row_bytes = w.n_in * static_cast<int64_t>(sizeof(float));
      acts.packed = act_packed_.data();
    } else {
      acts.rows = act_buffer_.data();
      acts.row_bytes = RowBytes(ops->vec_dot_type, w.n_in);
      acts.d = act_d_.data();
      acts.sums = act_sums_.data();
    }
    const int64_t group_bytes = kRepackRows * RowBytes(w.type, w.n_in);
    const int64_t n_groups = w.n_out / kRepackRows;
    const int64_t scratch_bytes = (RepackedScratchBytes(n_tokens) + 63) / 64 * 64;
    const size_t need = static_cast<size_t>(pool_->n_threads() * scratch_bytes + 64);
    if (repack_scratch_.size() < need) repack_scratch_.resize(need);  // see Attention
    uint8_t* scratch_base = reinterpret_cast<uint8_t*>(
        (reinterpret_cast<uintptr_t>(repack_scratch_.data()) + 63) & ~uintptr_t{63});
    const uint8_t* wdata = static_cast<const uint8_t*>(w.data);
    const RepackedGemmFn gemm = ops->gemm_repacked;
    const int64_t grain = std::max<int64_t>(1, n_groups / (4 * pool_->n_threads()));
    pool_->ParallelFor(n_groups, grain, [&](int64_t b, int64_t e) {
      void* scratch = scratch_base + ThreadPool::CurrentThreadIndex() * scratch_bytes;
      gemm(w.n_in, wdata + b * group_bytes, e - b, acts, n_tokens, y + b * kRepackRows, w.n_out,
           scratch);
    });
  }

  // Anonymous memory for repacked weights, huge pages requested for the
  // whole 2 MiB pages inside it (not the tail: a partly used huge page would
  // count in full).
  absl::StatusOr<uint8_t*> MapWeights(size_t bytes) {
    constexpr size_t kHuge = size_t{2} << 20;
    const size_t mapped = bytes + kHuge;
    void* p = mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
      return absl::ResourceExhaustedError(absl::StrCat("cannot map ", bytes, " bytes for weights"));
    }
    mappings_.emplace_back(p, mapped);
    uint8_t* aligned = reinterpret_cast<uint8_t*>(
        (reinterpret_cast<uintptr_t>(p) + kHuge - 1) & ~uintptr_t{kHuge - 1});
    if (bytes >= kHuge) madvise(aligned, bytes / kHuge * kHuge, MADV_HUGEPAGE);
    return aligned;
  }

  // Drops the whole pages inside [p, p + n) of the model file's private,
  // unwritten mapping: they leave resident memory, and would read back from
  // the file if touched again (they are not).
  static void ReleasePages(const uint8_t* p, int64_t n) {
    const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
    const uintptr_t begin = (reinterpret_cast<uintptr_t>(p) + page - 1) & ~(page - 1);
    const uintptr_t end = (reinterpret_cast<uintptr_t>(p) + static_cast<uintptr_t>(n)) & ~(page - 1);
    if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
  }

  // Whether to repack at load ($TCOBENCH_REPACK=0 keeps the GGUF rows, for
  // side-by-side measurements).
  static bool RepackEnabled() {
    static const bool enabled = [] {
      const char* env = std::getenv("TCOBENCH_REPACK");
      return env == nullptr || std::string(env) != "0";
    }();
    return enabled;
  }

  // Decode and small batches: dot products on the converted activations,
  // parallel over output rows, each weight row read once per call and dotted
  // with every token's activations while it is in cache.
  void MatMulDot(const WeightMatrix& w, const TypeOps* ops, const float* x, int64_t n_tokens,
                 float* y) {
    const int64_t act_row_bytes = RowBytes(ops->vec_dot_type, w.n_in);
    const uint8_t* adata = ops->vec_dot_type == TensorType::kF32
                               ? reinterpret_cast<const uint8_t*>(x)
                               : act_buffer_.data();
    const int64_t w_row_bytes = RowBytes(w.type, w.n_in);
    const uint8_t* wdata = static_cast<const uint8_t*>(w.data);
    const VecDotFn dot = ops->vec_dot;
    const VecDotNFn dot_n = n_tokens > 1 ? ops->vec_dot_n : nullptr;
    const VecDotRowsFn dot_rows = n_tokens == 1 ? ops->vec_dot_rows : nullptr;
    // Long contiguous runs of rows per chunk keep each thread's reads one
    // stream the hardware prefetcher follows; four chunks per thread still
    // even out a slower core.
    const int64_t grain = std::max<int64_t>(16, w.n_out / (4 * pool_->n_threads()) / 16 * 16);
    pool_->ParallelFor(w.n_out, grain, [&](int64_t b, int64_t e) {
      float part[kMaxVecDotN];
      if (dot_rows != nullptr) {  // one token: rows in fours
        for (; b + kVecDotRows <= e; b += kVecDotRows) {
          dot_rows(w.n_in, wdata + b * w_row_bytes, w_row_bytes, adata, y + b);
        }
      }
      for (int64_t o = b; o < e; ++o) {
        const uint8_t* row = wdata + o * w_row_bytes;
        if (dot_n != nullptr) {
          for (int64_t t0 = 0; t0 < n_tokens; t0 += kMaxVecDotN) {
            const int n_act = static_cast<int>(std::min<int64_t>(kMaxVecDotN, n_tokens - t0));
            dot_n(w.n_in, row, adata + t0 * act_row_bytes, act_row_bytes, n_act, part);
            for (int k = 0; k < n_act; ++k) y[(t0 + k) * w.n_out + o] = part[k];
          }
          continue;
        }
        for (int64_t t = 0; t < n_tokens; ++t) {
          y[t * w.n_out + o] = dot(w.n_in, row, adata + t * act_row_bytes);
        }
      }
    });
  }

  // Prefill: each block of weight rows is dequantized once and multiplied
  // with the packed activations by the register-tiled float kernel.
  void MatMulGemm(const WeightMatrix& w, const TypeOps* ops, GemmF32Fn gemm, int64_t n_tokens,
                  float* y) {
    const int64_t k = w.n_in;
    const int64_t w_row_bytes = RowBytes(w.type, k);
    const uint8_t* wdata = static_cast<const uint8_t*>(w.data);
    const int64_t n_blocks = (w.n_out + kGemmRowBlock - 1) / kGemmRowBlock;
    // A block of dequantized rows per pool thread, sized here for all of them
    // (see Attention) and kept between calls.
    const int64_t block_floats = kGemmRowBlock * k;
    const size_t need = static_cast<size_t>(pool_->n_threads() * block_floats);
    if (gemm_rows_.size() < need) gemm_rows_.resize(need);
    pool_->ParallelFor(n_blocks, 1, [&](int64_t b, int64_t e) {
      float* rows = gemm_rows_.data() + ThreadPool::CurrentThreadIndex() * block_floats;
      for (int64_t blk = b; blk < e; ++blk) {
        const int64_t r0 = blk * kGemmRowBlock;
        const int64_t nr = std::min(kGemmRowBlock, w.n_out - r0);
        for (int64_t r = 0; r < nr; ++r)
          ops->to_float(wdata + (r0 + r) * w_row_bytes, rows + r * k, k);
        gemm(nr, n_tokens, k, rows, act_packed_.data(), y + r0, w.n_out);
      }
    });
  }

  ThreadPool* pool_;
  std::vector<uint8_t> act_buffer_;
  std::vector<float> act_f32_;
  std::vector<float> act_packed_;
  std::vector<float> rope_cache_;
  std::vector<float> accumulate_;  // MatMul with accumulate: the product before it is added
  std::vector<float> scores_;     // attention: a job's rows per pool thread
  std::vector<float> gemm_rows_;  // prefill: a block of weight rows per pool thread
  std::vector<float> act_d_;      // Q8_0 activations' scales as float (int8 kernels)
  std::vector<int32_t> act_sums_;  // and their quant sums per block
  std::vector<uint8_t> repack_scratch_;  // repacked kernels: a tile and sums per pool thread
  std::vector<std::pair<void*, size_t>> mappings_;  // repacked weights (MapWeights)
  std::vector<uint8_t> row_buffer_;  // GetRows: one row of a repacked matrix
};

}  // namespace

std::unique_ptr<Backend> MakeCpuBackend(ThreadPool* pool) {
  return std::make_unique<CpuBackend>(pool);
}

}  // namespace tcobench
