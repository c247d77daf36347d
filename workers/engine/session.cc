#include "workers/engine/session.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace tcobench {

absl::StatusOr<std::unique_ptr<Session>> Session::Create(const LlamaModel& model,
                                                         const SessionOptions& options) {
  const LlamaHParams& hp = model.hparams();
  int64_t n_ctx = options.n_ctx > 0 ? options.n_ctx : std::min<int64_t>(hp.n_ctx_train, 4096);
  if (n_ctx > (1 << 20)) {
    return absl::InvalidArgumentError(absl::StrCat("context of ", n_ctx, " tokens is too large"));
  }
  std::unique_ptr<Session> s(new Session(model));
  s->n_ctx_ = n_ctx;
  const size_t cache = static_cast<size_t>(hp.n_layer * n_ctx * hp.n_head_kv * hp.head_dim);
  s->k_cache_.assign(cache, 0.0f);
  s->v_cache_.assign(cache, 0.0f);
  return s;
}

absl::Status Session::Prefill(std::span<const int32_t> tokens, LogitsMode mode,
                              std::vector<float>* logits) {
  const LlamaHParams& hp = model_.hparams();
  const int64_t n = static_cast<int64_t>(tokens.size());
  if (n == 0) return absl::InvalidArgumentError("no tokens to evaluate");
  if (n_past_ + n > n_ctx_) {
    return absl::OutOfRangeError(absl::StrCat("context full: ", n_past_, " + ", n,
                                              " tokens exceed the context of ", n_ctx_));
  }
  for (int64_t t = 0; t < n; ++t) {
    if (tokens[t] < 0 || tokens[t] >= hp.n_vocab) {
      return absl::InvalidArgumentError(absl::StrCat("token id ", tokens[t], " at index ", t,
                                                     " is outside the vocabulary (0..",
                                                     hp.n_vocab - 1, ")"));
    }
  }
  Backend& be = model_.backend();
  const int64_t d = hp.n_embd;
  const int64_t q_dim = hp.n_head * hp.head_dim;
  const int64_t kv_dim = hp.n_head_kv * hp.head_dim;
  auto fit = [](std::vector<float>& v, int64_t size) {
    if (static_cast<int64_t>(v.size()) < size) v.resize(static_cast<size_t>(size));
  };
  fit(x_, n * d);
  fit(xb_, n * d);
  fit(q_, n * q_dim);
  fit(k_, n * kv_dim);
  fit(v_, n * kv_dim);
  fit(attn_, n * q_dim);
  fit(proj_, n * d);
  fit(gate_, n * hp.n_ff);
  fit(up_, n * hp.n_ff);

  for (int64_t t = 0; t < n; ++t) be.GetRow(model_.token_embd(), tokens[t], x_.data() + t * d);

  const float kq_scale = 1.0f / std::sqrt(static_cast<float>(hp.head_dim));
  for (int64_t il = 0; il < hp.n_layer; ++il) {
    const LlamaLayer& L = model_.layers()[il];
    // Attention block.
    be.RmsNorm(x_.data(), L.attn_norm.data(), n, d, hp.rms_eps, xb_.data());
    be.MatMul(L.wq, xb_.data(), n, q_.data());
    be.MatMul(L.wk, xb_.data(), n, k_.data());
    be.MatMul(L.wv, xb_.data(), n, v_.data());
    be.Rope(q_.data(), n, hp.n_head, hp.head_dim, hp.n_rot, n_past_, hp.rope_freq_base,
            hp.rope_freq_scale);
    be.Rope(k_.data(), n, hp.n_head_kv, hp.head_dim, hp.n_rot, n_past_, hp.rope_freq_base,
            hp.rope_freq_scale);
    float* k_layer = k_cache_.data() + il * n_ctx_ * kv_dim;
    float* v_layer = v_cache_.data() + il * n_ctx_ * kv_dim;
    std::memcpy(k_layer + n_past_ * kv_dim, k_.data(), sizeof(float) * n * kv_dim);
    std::memcpy(v_layer + n_past_ * kv_dim, v_.data(), sizeof(float) * n * kv_dim);
    AttentionArgs args;
    args.q = q_.data();
    args.k_cache = k_layer;
    args.v_cache = v_layer;
    args.out = attn_.data();
    args.n_tokens = n;
    args.n_past = n_past_;
    args.n_head = hp.n_head;
    args.n_head_kv = hp.n_head_kv;
    args.head_dim = hp.head_dim;
    args.scale = kq_scale;
    be.Attention(args);
    be.MatMul(L.wo, attn_.data(), n, proj_.data());
    be.Add(x_.data(), proj_.data(), n * d);
    // Feed-forward block.
    be.RmsNorm(x_.data(), L.ffn_norm.data(), n, d, hp.rms_eps, xb_.data());
    be.MatMul(L.w_gate, xb_.data(), n, gate_.data());
    be.MatMul(L.w_up, xb_.data(), n, up_.data());
    be.SwiGlu(gate_.data(), up_.data(), n * hp.n_ff, gate_.data());
    be.MatMul(L.w_down, gate_.data(), n, proj_.data());
    be.Add(x_.data(), proj_.data(), n * d);
  }
  n_past_ += n;

  // Only the rows whose logits are wanted go through the final norm and output.
  const int64_t first = mode == LogitsMode::kAll ? 0 : n - 1;
  const int64_t rows = n - first;
  be.RmsNorm(x_.data() + first * d, model_.output_norm().data(), rows, d, hp.rms_eps, xb_.data());
  logits->resize(static_cast<size_t>(rows * hp.n_vocab));
  be.MatMul(model_.output(), xb_.data(), rows, logits->data());
  return absl::OkStatus();
}

}  // namespace tcobench
