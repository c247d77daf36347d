#include "workers/engine/session.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace tcobench {

absl::StatusOr<std::unique_ptr<Session>> Session::Create(const LlamaModel& model,
                                                         const SessionOptions& options) {
  const LlamaHParams& hp = model.hparams();
  const int64_t n_ctx = options.n_ctx > 0 ? options.n_ctx : std::min<int64_t>(hp.n_ctx_train, 4096);
  if (n_ctx > (1 << 20)) {
    return absl::InvalidArgumentError(absl::StrCat("context of ", n_ctx, " tokens is too large"));
  }
  if (options.n_seq < 1 || options.n_seq > kMaxSequences) {
    return absl::InvalidArgumentError(absl::StrCat(options.n_seq, " sequences requested; 1 to ",
                                                   kMaxSequences, " are supported"));
  }
  std::unique_ptr<Session> s(new Session(model));
  s->n_ctx_ = n_ctx;
  s->n_past_.assign(static_cast<size_t>(options.n_seq), 0);
  const size_t cache =
      static_cast<size_t>(options.n_seq * hp.n_layer * n_ctx * hp.n_head_kv * hp.head_dim);
  s->k_cache_.assign(cache, 0.0f);
  s->v_cache_.assign(cache, 0.0f);
  return s;
}

float* Session::KCache(int seq, int64_t layer) {
  const LlamaHParams& hp = model_.hparams();
  const int64_t kv_dim = hp.n_head_kv * hp.head_dim;
  return k_cache_.data() + ((seq * hp.n_layer + layer) * n_ctx_) * kv_dim;
}

float* Session::VCache(int seq, int64_t layer) {
  const LlamaHParams& hp = model_.hparams();
  const int64_t kv_dim = hp.n_head_kv * hp.head_dim;
  return v_cache_.data() + ((seq * hp.n_layer + layer) * n_ctx_) * kv_dim;
}

absl::Status Session::Prefill(int seq, std::span<const int32_t> tokens, LogitsMode mode,
                              std::vector<float>* logits) {
  const int64_t n = static_cast<int64_t>(tokens.size());
  if (n == 0) return absl::InvalidArgumentError("no tokens to evaluate");
  if (seq < 0 || seq >= n_seq()) {
    return absl::InvalidArgumentError(
        absl::StrCat("sequence ", seq, " does not exist (0..", n_seq() - 1, ")"));
  }
  if (n_past_[seq] + n > n_ctx_) {
    return absl::OutOfRangeError(absl::StrCat("context full: ", n_past_[seq], " + ", n,
                                              " tokens exceed the context of ", n_ctx_));
  }
  positions_.resize(static_cast<size_t>(n));
  seqs_.assign(static_cast<size_t>(n), seq);
  for (int64_t t = 0; t < n; ++t) positions_[t] = n_past_[seq] + t;
  return Eval(tokens.data(), seqs_.data(), positions_.data(), n,
              mode == LogitsMode::kAll ? 0 : n - 1, logits);
}

absl::Status Session::DecodeBatch(std::span<const int32_t> tokens, std::span<const int> seqs,
                                  std::vector<float>* logits) {
  const int64_t n = static_cast<int64_t>(tokens.size());
  if (n == 0 || seqs.size() != tokens.size()) {
    return absl::InvalidArgumentError("DecodeBatch needs one sequence number per token");
  }
  uint32_t seen = 0;  // a bit per sequence (at most kMaxSequences): no allocation per step
  static_assert(kMaxSequences <= 32);
  positions_.resize(static_cast<size_t>(n));
  for (int64_t t = 0; t < n; ++t) {
    const int s = seqs[t];
    if (s < 0 || s >= n_seq() || (seen >> s & 1u) != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("sequence ", s, " is out of range or repeated in the batch"));
    }
    seen |= 1u << s;
    if (n_past_[s] + 1 > n_ctx_) {
      return absl::OutOfRangeError(
          absl::StrCat("context of sequence ", s, " is full (", n_ctx_, " tokens)"));
    }
    positions_[t] = n_past_[s];
  }
  seqs_.assign(seqs.begin(), seqs.end());
  return Eval(tokens.data(), seqs_.data(), positions_.data(), n, 0, logits);
}

absl::Status Session::Eval(const int32_t* tokens, const int* seq, const int64_t* pos, int64_t n,
                           int64_t first_row, std::vector<float>* logits) {
  const LlamaHParams& hp = model_.hparams();
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
  visible_.resize(static_cast<size_t>(n));
  k_rows_.resize(static_cast<size_t>(n));
  v_rows_.resize(static_cast<size_t>(n));
  for (int64_t t = 0; t < n; ++t) visible_[t] = pos[t] + 1;

  for (int64_t t = 0; t < n; ++t) be.GetRow(model_.token_embd(), tokens[t], x_.data() + t * d);

  const float kq_scale = 1.0f / std::sqrt(static_cast<float>(hp.head_dim));
  for (int64_t il = 0; il < hp.n_layer; ++il) {
    const LlamaLayer& L = model_.layers()[il];
    // Attention block.
    be.RmsNorm(x_.data(), L.attn_norm.data(), n, d, hp.rms_eps, xb_.data());
    be.MatMulSameInput({{&L.wq, q_.data()}, {&L.wk, k_.data()}, {&L.wv, v_.data()}}, xb_.data(), n);
    const float* factors =
        model_.rope_freq_factors().empty() ? nullptr : model_.rope_freq_factors().data();
    be.Rope(q_.data(), n, hp.n_head, hp.head_dim, hp.n_rot, pos, hp.rope_freq_base,
            hp.rope_freq_scale, factors);
    be.Rope(k_.data(), n, hp.n_head_kv, hp.head_dim, hp.n_rot, pos, hp.rope_freq_base,
            hp.rope_freq_scale, factors);
    for (int64_t t = 0; t < n; ++t) {
      float* kc = KCache(seq[t], il);
      float* vc = VCache(seq[t], il);
      std::memcpy(kc + pos[t] * kv_dim, k_.data() + t * kv_dim, sizeof(float) * kv_dim);
      std::memcpy(vc + pos[t] * kv_dim, v_.data() + t * kv_dim, sizeof(float) * kv_dim);
      k_rows_[t] = kc;
      v_rows_[t] = vc;
    }
    AttentionArgs args;
    args.q = q_.data();
    args.k_cache = k_rows_.data();
    args.v_cache = v_rows_.data();
    args.n_visible = visible_.data();
    args.out = attn_.data();
    args.n_tokens = n;
    args.n_head = hp.n_head;
    args.n_head_kv = hp.n_head_kv;
    args.head_dim = hp.head_dim;
    args.scale = kq_scale;
    be.Attention(args);
    be.MatMul(L.wo, attn_.data(), n, proj_.data());
    be.Add(x_.data(), proj_.data(), n * d);
    // Feed-forward block.
    be.RmsNorm(x_.data(), L.ffn_norm.data(), n, d, hp.rms_eps, xb_.data());
    be.MatMulSameInput({{&L.w_gate, gate_.data()}, {&L.w_up, up_.data()}}, xb_.data(), n);
    be.SwiGlu(gate_.data(), up_.data(), n * hp.n_ff, gate_.data());
    be.MatMul(L.w_down, gate_.data(), n, proj_.data());
    be.Add(x_.data(), proj_.data(), n * d);
  }
  for (int64_t t = 0; t < n; ++t) n_past_[seq[t]] = std::max(n_past_[seq[t]], pos[t] + 1);

  // Only the rows whose logits are wanted go through the final norm and output.
  const int64_t rows = n - first_row;
  be.RmsNorm(x_.data() + first_row * d, model_.output_norm().data(), rows, d, hp.rms_eps,
             xb_.data());
  logits->resize(static_cast<size_t>(rows * hp.n_vocab));
  be.MatMul(model_.output(), xb_.data(), rows, logits->data());
  return absl::OkStatus();
}

}  // namespace tcobench
