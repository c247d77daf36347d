#include "workers/engine/llama_model.h"

#include <cmath>
#include <numeric>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "workers/engine/cpu_backend.h"
#include "workers/engine/quants.h"
#include "common/base/status_macros.h"

namespace tcobench {
namespace {

constexpr char kSupportedArchitectures[] = "llama, qwen2, qwen3, gemma3, phi3";

// What each architecture adds to the llama block (docs/engine.md). Every
// family may carry q/k/v biases and an output bias when its file has them.
struct Family {
  const char* name;
  bool neox;        // NeoX RoPE pairs
  bool qk_norm;     // attn_q_norm / attn_k_norm, required
  bool post_norms;  // attn_post_norm / ffn_post_norm, required
  bool gemma;       // embedding scale, GeGLU, sliding-window layers, soft-capping
  bool fused;       // attn_qkv and gate/up ffn_up may be fused; LongRoPE factors
};
constexpr Family kFamilies[] = {
    {"llama", false, false, false, false, false}, {"qwen2", true, false, false, false, false},
    {"qwen3", true, true, false, false, false},   {"gemma3", true, true, true, true, false},
    {"phi3", true, false, false, false, true},
};

std::string ShapeString(const GgufTensorInfo& t) {
  std::vector<int64_t> dims(t.ne.begin(), t.ne.begin() + t.n_dims);
  return absl::StrCat("[", absl::StrJoin(dims, ", "), "]");
}

class Loader {
 public:
  Loader(const GgufFile& file, Backend* backend, std::deque<std::vector<float>>* host_vectors)
      : file_(file), backend_(backend), host_vectors_(host_vectors) {}

  absl::StatusOr<uint64_t> RequiredUint(const std::string& key) {
    absl::StatusOr<uint64_t> v = file_.GetUint(key);
    if (!v.ok()) return absl::InvalidArgumentError(std::string(v.status().message()));
    return v;
  }
  absl::StatusOr<uint64_t> OptionalUint(const std::string& key, uint64_t fallback) {
    if (file_.Find(key) == nullptr) return fallback;
    return file_.GetUint(key);
  }
  absl::StatusOr<double> OptionalFloat(const std::string& key, double fallback) {
    if (file_.Find(key) == nullptr) return fallback;
    return file_.GetFloat(key);
  }

  // A tensor that must exist with exactly these dimensions (innermost first).
  absl::StatusOr<const GgufTensorInfo*> Tensor(const std::string& name, std::vector<int64_t> ne) {
    const GgufTensorInfo* t = file_.FindTensor(name);
    if (t == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(file_.name(), ": required tensor '", name, "' is missing"));
    }
    bool same = t->n_dims == static_cast<int>(ne.size());
    for (size_t d = 0; same && d < ne.size(); ++d) same = t->ne[d] == ne[d];
    if (!same) {
      return absl::InvalidArgumentError(absl::StrCat(file_.name(), ": tensor '", name,
                                                     "' has shape ", ShapeString(*t),
                                                     ", expected [", absl::StrJoin(ne, ", "), "]"));
    }
    return t;
  }

  // A weight matrix placed in backend memory and prepared for MatMul (and
  // GetRows). Views may start at multiples of `view_rows` (default: none
  // but the whole); 0 leaves it as stored (only its rows are read).
  absl::StatusOr<WeightMatrix> Matrix(const std::string& name, int64_t n_in, int64_t n_out,
                                      int64_t view_rows = -1) {
    TCOBENCH_ASSIGN_OR_RETURN(const GgufTensorInfo* t, Tensor(name, {n_in, n_out}));
    const TypeOps* ops = GetReferenceOps(t->type);
    if (ops == nullptr || ops->vec_dot == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          file_.name(), ": tensor '", name, "' has type ", TypeName(t->type),
          ", which the engine does not support; supported: ", SupportedWeightTypesList()));
    }
    WeightMatrix w{name, t->type, file_.TensorData(*t), n_in, n_out};
    if (absl::Status st = backend_->CheckMatrix(w); !st.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(file_.name(), ": ", st.message()));
    }
    TCOBENCH_ASSIGN_OR_RETURN(w.data, backend_->PlaceWeights(w.data, t->n_bytes));
    if (view_rows != 0) {
      TCOBENCH_RETURN_IF_ERROR(backend_->PrepareMatrix(&w, view_rows < 0 ? n_out : view_rows));
    }
    return w;
  }

  // A float vector placed in backend memory (the host copy is kept).
  absl::StatusOr<const float*> PlacedVector(const std::string& name, int64_t n,
                                            std::vector<float>* host = nullptr) {
    TCOBENCH_ASSIGN_OR_RETURN(std::vector<float> v, Vector(name, n));
    if (host != nullptr) *host = v;
    host_vectors_->push_back(std::move(v));
    const std::vector<float>& kept = host_vectors_->back();
    TCOBENCH_ASSIGN_OR_RETURN(const void* placed,
                              backend_->PlaceWeights(kept.data(), kept.size() * sizeof(float)));
    return static_cast<const float*>(placed);
  }

  // A placed vector, or null when the file has no tensor of that name.
  absl::StatusOr<const float*> OptionalVector(const std::string& name, int64_t n) {
    if (file_.FindTensor(name) == nullptr) return nullptr;
    return PlacedVector(name, n);
  }

  absl::StatusOr<std::vector<float>> Vector(const std::string& name, int64_t n) {
    TCOBENCH_ASSIGN_OR_RETURN(const GgufTensorInfo* t, Tensor(name, {n}));
    const TypeOps* ops = GetReferenceOps(t->type);
    if (ops == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(file_.name(), ": tensor '", name,
                                                     "' has type ", TypeName(t->type),
                                                     "; supported: ", SupportedWeightTypesList()));
    }
    std::vector<float> v(static_cast<size_t>(n));
    ops->to_float(file_.TensorData(*t), v.data(), n);
    return v;
  }

 private:
  const GgufFile& file_;
  Backend* backend_;
  std::deque<std::vector<float>>* host_vectors_;
};

// Rows [row0, row0 + rows) of w as a matrix of its own (fused tensors).
WeightMatrix RowView(const WeightMatrix& w, const char* part, int64_t row0, int64_t rows) {
  WeightMatrix v = w;
  v.name = absl::StrCat(w.name, "[", part, "]");
  v.data = static_cast<const uint8_t*>(w.data) + row0 * RowBytes(w.type, w.n_in);
  v.n_out = rows;
  return v;
}

absl::Status CheckPositive(const GgufFile& f, const char* what, int64_t v, int64_t max) {
  if (v <= 0 || v > max) {
    return absl::InvalidArgumentError(
        absl::StrCat(f.name(), ": ", what, " = ", v, " is out of range (1..", max, ")"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<LlamaModel>> LlamaModel::Open(const std::filesystem::path& path,
                                                             const ModelOptions& options) {
  std::unique_ptr<LlamaModel> m(new LlamaModel());
  TCOBENCH_ASSIGN_OR_RETURN(m->gguf_, GgufFile::Open(path, GgufLimits{}, options.populate));
  const GgufFile& f = *m->gguf_;
  absl::StatusOr<std::string> arch = f.GetString("general.architecture");
  if (!arch.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(f.name(), ": no general.architecture; supported: ", kSupportedArchitectures));
  }
  const Family* family = nullptr;
  for (const Family& fam : kFamilies) {
    if (*arch == fam.name) family = &fam;
  }
  if (family == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(f.name(), ": architecture '", *arch,
                     "' is not supported; supported: ", kSupportedArchitectures));
  }
  LlamaHParams& hp = m->hparams_;
  hp.architecture = *arch;
  hp.rope_neox = family->neox;
  int threads = options.n_threads;
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  m->pool_ = std::make_unique<ThreadPool>(threads);
  TCOBENCH_ASSIGN_OR_RETURN(m->backend_, MakeBackend(options.device, m->pool_.get()));
  Loader load(f, m->backend_.get(), &m->host_vectors_);
  const std::string p = *arch + ".";
  TCOBENCH_ASSIGN_OR_RETURN(const uint64_t expert_count, load.OptionalUint(p + "expert_count", 0));
  if (expert_count > 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(f.name(), ": mixture-of-experts models (", p, "expert_count = ", expert_count,
                     ") are not supported; supported: dense ", kSupportedArchitectures, " models"));
  }
  TCOBENCH_ASSIGN_OR_RETURN(hp.n_embd, load.RequiredUint(p + "embedding_length"));
  TCOBENCH_ASSIGN_OR_RETURN(hp.n_layer, load.RequiredUint(p + "block_count"));
  TCOBENCH_ASSIGN_OR_RETURN(hp.n_head, load.RequiredUint(p + "attention.head_count"));
  TCOBENCH_ASSIGN_OR_RETURN(hp.n_ff, load.RequiredUint(p + "feed_forward_length"));
  TCOBENCH_ASSIGN_OR_RETURN(hp.n_ctx_train, load.OptionalUint(p + "context_length", 2048));
  TCOBENCH_ASSIGN_OR_RETURN(hp.n_head_kv,
                            load.OptionalUint(p + "attention.head_count_kv", hp.n_head));
  TCOBENCH_RETURN_IF_ERROR(CheckPositive(f, "embedding_length", hp.n_embd, 1 << 20));
  TCOBENCH_RETURN_IF_ERROR(CheckPositive(f, "block_count", hp.n_layer, 4096));
  TCOBENCH_RETURN_IF_ERROR(CheckPositive(f, "attention.head_count", hp.n_head, 4096));
  TCOBENCH_RETURN_IF_ERROR(CheckPositive(f, "attention.head_count_kv", hp.n_head_kv, hp.n_head));
  TCOBENCH_RETURN_IF_ERROR(CheckPositive(f, "feed_forward_length", hp.n_ff, 1 << 22));
  TCOBENCH_RETURN_IF_ERROR(CheckPositive(f, "context_length", hp.n_ctx_train, 1 << 24));
  if (hp.n_head % hp.n_head_kv != 0) {
    return absl::InvalidArgumentError(absl::StrCat(f.name(), ": head_count ", hp.n_head,
                                                   " is not a multiple of head_count_kv ",
                                                   hp.n_head_kv));
  }
  TCOBENCH_ASSIGN_OR_RETURN(hp.head_dim,
                            load.OptionalUint(p + "attention.key_length", hp.n_embd / hp.n_head));
  TCOBENCH_ASSIGN_OR_RETURN(const uint64_t value_length,
                            load.OptionalUint(p + "attention.value_length", hp.head_dim));
  if (hp.head_dim <= 0 || static_cast<int64_t>(value_length) != hp.head_dim || hp.head_dim > 4096) {
    return absl::InvalidArgumentError(absl::StrCat(f.name(), ": unsupported head size (key ",
                                                   hp.head_dim, ", value ", value_length, ")"));
  }
  TCOBENCH_ASSIGN_OR_RETURN(hp.n_rot, load.OptionalUint(p + "rope.dimension_count", hp.head_dim));
  if (hp.n_rot <= 0 || hp.n_rot > hp.head_dim || hp.n_rot % 2 != 0) {
    return absl::InvalidArgumentError(absl::StrCat(f.name(), ": rope.dimension_count ", hp.n_rot,
                                                   " must be even and at most the head size ",
                                                   hp.head_dim));
  }
  TCOBENCH_ASSIGN_OR_RETURN(const double eps,
                            load.OptionalFloat(p + "attention.layer_norm_rms_epsilon", 1e-5));
  TCOBENCH_ASSIGN_OR_RETURN(const double base, load.OptionalFloat(p + "rope.freq_base", 10000.0));
  hp.rms_eps = static_cast<float>(eps);
  hp.rope_freq_base = static_cast<float>(base);
  if (!(hp.rms_eps > 0.0f) || !(hp.rope_freq_base > 0.0f)) {
    return absl::InvalidArgumentError(
        absl::StrCat(f.name(), ": rms epsilon and rope.freq_base must be positive"));
  }
  bool longrope = false;
  if (f.Find(p + "rope.scaling.type") != nullptr) {
    TCOBENCH_ASSIGN_OR_RETURN(const std::string scaling, f.GetString(p + "rope.scaling.type"));
    longrope = scaling == "longrope" && family->fused;
    if (longrope) {
      // The factor tensors below carry the scaling.
    } else if (scaling == "linear") {
      TCOBENCH_ASSIGN_OR_RETURN(const double factor,
                                load.OptionalFloat(p + "rope.scaling.factor", 1.0));
      if (!(factor > 0.0)) {
        return absl::InvalidArgumentError(
            absl::StrCat(f.name(), ": rope.scaling.factor must be positive"));
      }
      hp.rope_freq_scale = static_cast<float>(1.0 / factor);
    } else if (scaling != "none") {
      return absl::InvalidArgumentError(absl::StrCat(
          f.name(), ": rope scaling '", scaling, "' is not supported; supported: none, linear",
          family->fused ? ", longrope" : ""));
    }
  }
  TCOBENCH_ASSIGN_OR_RETURN(const double attn_factor,
                            load.OptionalFloat(p + "rope.scaling.attn_factor", 1.0));
  TCOBENCH_ASSIGN_OR_RETURN(hp.n_ctx_orig,
                            load.OptionalUint(p + "rope.scaling.original_context_length",
                                              hp.n_ctx_train));
  hp.rope_attn_factor = static_cast<float>(attn_factor);
  if (!(hp.rope_attn_factor > 0.0f)) {
    return absl::InvalidArgumentError(
        absl::StrCat(f.name(), ": rope.scaling.attn_factor must be positive"));
  }
  hp.attn_scale = 1.0f / std::sqrt(static_cast<float>(hp.head_dim));
  if (family->gemma) {
    // As the reference: Gemma 3 27B (62 layers) scales by the model width per head.
    if (hp.n_layer == 62) hp.attn_scale = 1.0f / std::sqrt(static_cast<float>(hp.n_embd / hp.n_head));
    hp.embd_scale = std::sqrt(static_cast<float>(hp.n_embd));
    hp.ffn_act = GluActivation::kGeluTanh;
    TCOBENCH_ASSIGN_OR_RETURN(const double cap, load.OptionalFloat(p + "final_logit_softcapping", 0));
    hp.final_softcap = static_cast<float>(cap);
    TCOBENCH_ASSIGN_OR_RETURN(hp.n_swa, load.OptionalUint(p + "attention.sliding_window", 0));
    hp.swa_layer.assign(static_cast<size_t>(hp.n_layer), false);
    if (hp.n_swa > 0) {
      TCOBENCH_RETURN_IF_ERROR(CheckPositive(f, "attention.sliding_window", hp.n_swa, 1 << 24));
      const std::string key = p + "attention.sliding_window_pattern";
      const GgufValue* pattern = f.Find(key);
      if (pattern != nullptr && pattern->type == GgufValueType::kArray) {
        // One flag per layer (true: sliding).
        if (pattern->elem_type == GgufValueType::kString ||
            pattern->elem_type == GgufValueType::kArray ||
            static_cast<int64_t>(pattern->count) != hp.n_layer) {
          return absl::InvalidArgumentError(absl::StrCat(
              f.name(), ": ", key, " must hold one flag per layer (", hp.n_layer, "); it holds ",
              pattern->count, " of type ", GgufValueTypeName(pattern->elem_type)));
        }
        for (int64_t il = 0; il < hp.n_layer; ++il) hp.swa_layer[il] = pattern->IntegerAt(il) != 0;
      } else {
        // Every n-th layer global, the others sliding (default 6: five local, one global).
        TCOBENCH_ASSIGN_OR_RETURN(const uint64_t n, load.OptionalUint(key, 6));
        for (int64_t il = 0; il < hp.n_layer; ++il) {
          hp.swa_layer[il] = n == 0 || il % static_cast<int64_t>(n) < static_cast<int64_t>(n) - 1;
        }
      }
      TCOBENCH_ASSIGN_OR_RETURN(const double base_swa,
                                load.OptionalFloat(p + "rope.freq_base_swa", 10000.0));
      hp.rope_freq_base_swa = static_cast<float>(base_swa);
      if (!(hp.rope_freq_base_swa > 0.0f)) {
        return absl::InvalidArgumentError(
            absl::StrCat(f.name(), ": rope.freq_base_swa must be positive"));
      }
    }
  }
  TCOBENCH_ASSIGN_OR_RETURN(m->tokenizer_, Tokenizer::FromGguf(f));
  hp.n_vocab = m->tokenizer_->n_vocab();
  TCOBENCH_ASSIGN_OR_RETURN(const uint64_t vocab_key,
                            load.OptionalUint(p + "vocab_size", hp.n_vocab));
  if (static_cast<int64_t>(vocab_key) != hp.n_vocab) {
    return absl::InvalidArgumentError(absl::StrCat(f.name(), ": ", p, "vocab_size ", vocab_key,
                                                   " differs from the tokenizer's ", hp.n_vocab,
                                                   " tokens"));
  }

  const int64_t q_dim = hp.n_head * hp.head_dim;
  const int64_t kv_dim = hp.n_head_kv * hp.head_dim;
  TCOBENCH_ASSIGN_OR_RETURN(m->token_embd_,
                            load.Matrix("token_embd.weight", hp.n_embd, hp.n_vocab,
                                        // prepared for MatMul only when it is also the output
                                        f.FindTensor("output.weight") != nullptr ? 0 : -1));
  TCOBENCH_ASSIGN_OR_RETURN(m->output_norm_, load.PlacedVector("output_norm.weight", hp.n_embd));
  if (f.FindTensor("rope_freqs.weight") != nullptr) {  // Llama 3.1+ frequency factors
    std::vector<float> factors;
    TCOBENCH_ASSIGN_OR_RETURN(m->rope_freq_factors_,
                              load.PlacedVector("rope_freqs.weight", hp.n_rot / 2, &factors));
    for (float v : factors) {
      if (!(v > 0.0f) || !std::isfinite(v)) {
        return absl::InvalidArgumentError(absl::StrCat(f.name(), ": rope_freqs.weight holds ", v,
                                                       "; frequency factors must be positive"));
      }
    }
  }
  if (family->fused) {  // LongRoPE frequency factors (Phi-3 128k, Phi-3.5)
    std::vector<float> check;
    for (const char* which : {"long", "short"}) {
      const std::string name = absl::StrCat("rope_factors_", which, ".weight");
      if (f.FindTensor(name) == nullptr) continue;
      TCOBENCH_ASSIGN_OR_RETURN(const float* placed, load.PlacedVector(name, hp.n_rot / 2, &check));
      for (float v : check) {
        if (!(v > 0.0f) || !std::isfinite(v)) {
          return absl::InvalidArgumentError(absl::StrCat(f.name(), ": ", name, " holds ", v,
                                                         "; frequency factors must be positive"));
        }
      }
      (which[0] == 'l' ? m->rope_factors_long_ : m->rope_factors_short_) = placed;
    }
  }
  if (longrope && m->rope_factors_long_ == nullptr && m->rope_factors_short_ == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        f.name(), ": rope scaling 'longrope' without rope_factors_long/short.weight tensors"));
  }
  if (f.FindTensor("output.weight") != nullptr) {
    TCOBENCH_ASSIGN_OR_RETURN(m->output_, load.Matrix("output.weight", hp.n_embd, hp.n_vocab));
  } else {
    m->output_ = m->token_embd_;  // tied embeddings
  }
  TCOBENCH_ASSIGN_OR_RETURN(m->output_bias_, load.OptionalVector("output.bias", hp.n_vocab));
  m->layers_.resize(hp.n_layer);
  for (int64_t i = 0; i < hp.n_layer; ++i) {
    LlamaLayer& l = m->layers_[i];
    const std::string b = absl::StrCat("blk.", i, ".");
    TCOBENCH_ASSIGN_OR_RETURN(l.attn_norm, load.PlacedVector(b + "attn_norm.weight", hp.n_embd));
    TCOBENCH_ASSIGN_OR_RETURN(l.ffn_norm, load.PlacedVector(b + "ffn_norm.weight", hp.n_embd));
    if (family->fused && f.FindTensor(b + "attn_qkv.weight") != nullptr) {
      TCOBENCH_ASSIGN_OR_RETURN(const WeightMatrix qkv,
                                load.Matrix(b + "attn_qkv.weight", hp.n_embd, q_dim + 2 * kv_dim,
                                            std::gcd(q_dim, kv_dim)));
      l.wq = RowView(qkv, "q", 0, q_dim);
      l.wk = RowView(qkv, "k", q_dim, kv_dim);
      l.wv = RowView(qkv, "v", q_dim + kv_dim, kv_dim);
      TCOBENCH_ASSIGN_OR_RETURN(const float* bias,
                                load.OptionalVector(b + "attn_qkv.bias", q_dim + 2 * kv_dim));
      if (bias != nullptr) {
        l.bq = bias;
        l.bk = bias + q_dim;
        l.bv = bias + q_dim + kv_dim;
      }
    } else {
      TCOBENCH_ASSIGN_OR_RETURN(l.wq, load.Matrix(b + "attn_q.weight", hp.n_embd, q_dim));
      TCOBENCH_ASSIGN_OR_RETURN(l.wk, load.Matrix(b + "attn_k.weight", hp.n_embd, kv_dim));
      TCOBENCH_ASSIGN_OR_RETURN(l.wv, load.Matrix(b + "attn_v.weight", hp.n_embd, kv_dim));
    }
    if (l.bq == nullptr) {
      TCOBENCH_ASSIGN_OR_RETURN(l.bq, load.OptionalVector(b + "attn_q.bias", q_dim));
      TCOBENCH_ASSIGN_OR_RETURN(l.bk, load.OptionalVector(b + "attn_k.bias", kv_dim));
      TCOBENCH_ASSIGN_OR_RETURN(l.bv, load.OptionalVector(b + "attn_v.bias", kv_dim));
    }
    TCOBENCH_ASSIGN_OR_RETURN(l.wo, load.Matrix(b + "attn_output.weight", q_dim, hp.n_embd));
    if (family->fused && f.FindTensor(b + "ffn_gate.weight") == nullptr) {
      // Gate and up in one tensor: gate rows first, then up rows.
      TCOBENCH_ASSIGN_OR_RETURN(const WeightMatrix gate_up,
                                load.Matrix(b + "ffn_up.weight", hp.n_embd, 2 * hp.n_ff, hp.n_ff));
      l.w_gate = RowView(gate_up, "gate", 0, hp.n_ff);
      l.w_up = RowView(gate_up, "up", hp.n_ff, hp.n_ff);
    } else {
      TCOBENCH_ASSIGN_OR_RETURN(l.w_gate, load.Matrix(b + "ffn_gate.weight", hp.n_embd, hp.n_ff));
      TCOBENCH_ASSIGN_OR_RETURN(l.w_up, load.Matrix(b + "ffn_up.weight", hp.n_embd, hp.n_ff));
    }
    TCOBENCH_ASSIGN_OR_RETURN(l.w_down, load.Matrix(b + "ffn_down.weight", hp.n_ff, hp.n_embd));
    if (family->qk_norm) {
      TCOBENCH_ASSIGN_OR_RETURN(l.q_norm, load.PlacedVector(b + "attn_q_norm.weight", hp.head_dim));
      TCOBENCH_ASSIGN_OR_RETURN(l.k_norm, load.PlacedVector(b + "attn_k_norm.weight", hp.head_dim));
    }
    if (family->post_norms) {
      TCOBENCH_ASSIGN_OR_RETURN(l.attn_post_norm,
                                load.PlacedVector(b + "post_attention_norm.weight", hp.n_embd));
      TCOBENCH_ASSIGN_OR_RETURN(l.ffn_post_norm,
                                load.PlacedVector(b + "post_ffw_norm.weight", hp.n_embd));
    }
  }
  return m;
}

const float* LlamaModel::RopeFactorsFor(int64_t n_ctx) const {
  if (rope_freq_factors_ != nullptr) return rope_freq_factors_;
  if (rope_factors_long_ != nullptr && n_ctx > hparams_.n_ctx_orig) return rope_factors_long_;
  return rope_factors_short_;
}

}  // namespace tcobench
