#include "workers/engine/llama_model.h"

#include <cmath>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "workers/engine/cpu_backend.h"
#include "workers/engine/quants.h"
#include "common/base/status_macros.h"

namespace tcobench {
namespace {

constexpr char kSupportedArchitectures[] = "llama";

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

  absl::StatusOr<WeightMatrix> Matrix(const std::string& name, int64_t n_in, int64_t n_out) {
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
  if (*arch != "llama") {
    return absl::InvalidArgumentError(
        absl::StrCat(f.name(), ": architecture '", *arch,
                     "' is not supported; supported: ", kSupportedArchitectures));
  }
  LlamaHParams& hp = m->hparams_;
  hp.architecture = *arch;
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
                     ") are not supported; supported: dense llama models"));
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
  if (f.Find(p + "rope.scaling.type") != nullptr) {
    TCOBENCH_ASSIGN_OR_RETURN(const std::string scaling, f.GetString(p + "rope.scaling.type"));
    if (scaling == "linear") {
      TCOBENCH_ASSIGN_OR_RETURN(const double factor,
                                load.OptionalFloat(p + "rope.scaling.factor", 1.0));
      if (!(factor > 0.0)) {
        return absl::InvalidArgumentError(
            absl::StrCat(f.name(), ": rope.scaling.factor must be positive"));
      }
      hp.rope_freq_scale = static_cast<float>(1.0 / factor);
    } else if (scaling != "none") {
      return absl::InvalidArgumentError(absl::StrCat(
          f.name(), ": rope scaling '", scaling, "' is not supported; supported: none, linear"));
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
                            load.Matrix("token_embd.weight", hp.n_embd, hp.n_vocab));
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
  if (f.FindTensor("output.weight") != nullptr) {
    TCOBENCH_ASSIGN_OR_RETURN(m->output_, load.Matrix("output.weight", hp.n_embd, hp.n_vocab));
  } else {
    m->output_ = m->token_embd_;  // tied embeddings
  }
  m->layers_.resize(hp.n_layer);
  for (int64_t i = 0; i < hp.n_layer; ++i) {
    LlamaLayer& l = m->layers_[i];
    const std::string b = absl::StrCat("blk.", i, ".");
    TCOBENCH_ASSIGN_OR_RETURN(l.attn_norm, load.PlacedVector(b + "attn_norm.weight", hp.n_embd));
    TCOBENCH_ASSIGN_OR_RETURN(l.ffn_norm, load.PlacedVector(b + "ffn_norm.weight", hp.n_embd));
    TCOBENCH_ASSIGN_OR_RETURN(l.wq, load.Matrix(b + "attn_q.weight", hp.n_embd, q_dim));
    TCOBENCH_ASSIGN_OR_RETURN(l.wk, load.Matrix(b + "attn_k.weight", hp.n_embd, kv_dim));
    TCOBENCH_ASSIGN_OR_RETURN(l.wv, load.Matrix(b + "attn_v.weight", hp.n_embd, kv_dim));
    TCOBENCH_ASSIGN_OR_RETURN(l.wo, load.Matrix(b + "attn_output.weight", q_dim, hp.n_embd));
    TCOBENCH_ASSIGN_OR_RETURN(l.w_gate, load.Matrix(b + "ffn_gate.weight", hp.n_embd, hp.n_ff));
    TCOBENCH_ASSIGN_OR_RETURN(l.w_up, load.Matrix(b + "ffn_up.weight", hp.n_embd, hp.n_ff));
    TCOBENCH_ASSIGN_OR_RETURN(l.w_down, load.Matrix(b + "ffn_down.weight", hp.n_ff, hp.n_embd));
  }
  return m;
}

}  // namespace tcobench
