#include "workers/engine/session.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/base/status_macros.h"

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
  if (n_ctx > model.backend().MaxContext()) {
    return absl::InvalidArgumentError(absl::StrCat("context of ", n_ctx, " tokens exceeds the ",
                                                   model.backend().name(), " backend's limit of ",
                                                   model.backend().MaxContext()));
  }
  std::unique_ptr<Session> s(new Session(model));
  s->n_ctx_ = n_ctx;
  s->n_past_.assign(static_cast<size_t>(options.n_seq), 0);
  const size_t cache = static_cast<size_t>(options.n_seq * hp.n_layer * n_ctx * hp.n_head_kv *
                                           hp.head_dim) *
                       sizeof(float);
  Backend* be = &model.backend();
  TCOBENCH_ASSIGN_OR_RETURN(s->k_cache_, BackendBuffer::Make(be, cache));
  TCOBENCH_ASSIGN_OR_RETURN(s->v_cache_, BackendBuffer::Make(be, cache));
  s->steps_ = be->NewStepCache();
  return s;
}

KvLayer Session::KvCache(int64_t layer) const {
  const LlamaHParams& hp = model_.hparams();
  KvLayer kv;
  kv.kv_dim = hp.n_head_kv * hp.head_dim;
  kv.seq_stride = hp.n_layer * n_ctx_ * kv.kv_dim;
  kv.n_ctx = n_ctx_;
  kv.k = k_cache_.as() + layer * n_ctx_ * kv.kv_dim;
  kv.v = v_cache_.as() + layer * n_ctx_ * kv.kv_dim;
  kv.scratch = attn_scratch_.as();
  kv.scratch_bytes = static_cast<int64_t>(attn_scratch_.bytes());
  return kv;
}

absl::Status Session::Reserve(int64_t n) {
  if (n <= capacity_) return absl::OkStatus();
  const LlamaHParams& hp = model_.hparams();
  const int64_t q_dim = hp.n_head * hp.head_dim;
  const int64_t kv_dim = hp.n_head_kv * hp.head_dim;
  steps_ = backend_.NewStepCache();  // recordings point at the old buffers
  capacity_ = 0;
  const size_t f = sizeof(float);
  Backend* be = &backend_;
  TCOBENCH_ASSIGN_OR_RETURN(x_, BackendBuffer::Make(be, n * hp.n_embd * f));
  TCOBENCH_ASSIGN_OR_RETURN(xb_, BackendBuffer::Make(be, n * hp.n_embd * f));
  TCOBENCH_ASSIGN_OR_RETURN(q_, BackendBuffer::Make(be, n * q_dim * f));
  TCOBENCH_ASSIGN_OR_RETURN(k_, BackendBuffer::Make(be, n * kv_dim * f));
  TCOBENCH_ASSIGN_OR_RETURN(v_, BackendBuffer::Make(be, n * kv_dim * f));
  TCOBENCH_ASSIGN_OR_RETURN(attn_, BackendBuffer::Make(be, n * q_dim * f));
  TCOBENCH_ASSIGN_OR_RETURN(gate_, BackendBuffer::Make(be, n * hp.n_ff * f));
  TCOBENCH_ASSIGN_OR_RETURN(up_, BackendBuffer::Make(be, n * hp.n_ff * f));
  TCOBENCH_ASSIGN_OR_RETURN(logits_, BackendBuffer::Make(be, n * hp.n_vocab * f));
  TCOBENCH_ASSIGN_OR_RETURN(inputs_, BackendBuffer::Make(be, 3 * n * sizeof(int32_t)));
  attn_scratch_.Reset();
  if (const int64_t bytes = be->AttentionScratchBytes(n, hp.n_head, hp.head_dim, n_ctx_); bytes > 0) {
    TCOBENCH_ASSIGN_OR_RETURN(attn_scratch_, BackendBuffer::Make(be, static_cast<size_t>(bytes)));
  }
  inputs_host_.assign(static_cast<size_t>(3 * n), 0);
  capacity_ = n;
  return absl::OkStatus();
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
  TCOBENCH_RETURN_IF_ERROR(Reserve(n));
  // One upload of the step's inputs: token ids, sequences, positions.
  int32_t* host = inputs_host_.data();
  for (int64_t t = 0; t < n; ++t) {
    host[t] = tokens[t];
    host[capacity_ + t] = seq[t];
    host[2 * capacity_ + t] = static_cast<int32_t>(pos[t]);
  }
  backend_.Upload(inputs_.as<void>(), host, inputs_host_.size() * sizeof(int32_t));
  StepInputs in;
  in.tokens = inputs_.as<int32_t>();
  in.seq = in.tokens + capacity_;
  in.pos = in.tokens + 2 * capacity_;
  in.n_tokens = n;
  const uint64_t key = static_cast<uint64_t>(n) << 32 | static_cast<uint64_t>(first_row);
  backend_.RunStep(n <= kMaxRecordedTokens ? steps_.get() : nullptr, key,
                   [&] { Forward(in, first_row); });
  for (int64_t t = 0; t < n; ++t) n_past_[seq[t]] = std::max(n_past_[seq[t]], pos[t] + 1);
  const int64_t rows = n - first_row;
  logits->resize(static_cast<size_t>(rows * hp.n_vocab));
  backend_.Download(logits->data(), logits_.as<void>(), logits->size() * sizeof(float));
  return absl::OkStatus();
}

void Session::Forward(const StepInputs& in, int64_t first_row) {
  const LlamaHParams& hp = model_.hparams();
  Backend& be = backend_;
  const int64_t n = in.n_tokens;
  const int64_t d = hp.n_embd;
  float* x = x_.as();
  float* xb = xb_.as();
  float* q = q_.as();
  float* k = k_.as();
  float* v = v_.as();
  be.GetRows(model_.token_embd(), in.tokens, n, x);
  if (hp.embd_scale != 1.0f) be.Scale(x, n * d, hp.embd_scale);
  RopeArgs rope;
  rope.head_dim = hp.head_dim;
  rope.n_rot = hp.n_rot;
  rope.freq_factors = model_.RopeFactorsFor(n_ctx_);
  rope.neox = hp.rope_neox;
  rope.attn_factor = hp.rope_attn_factor;
  float* block_out = xb;  // a block's output, when it is normalized before the residual add
  for (int64_t il = 0; il < hp.n_layer; ++il) {
    const LlamaLayer& L = model_.layers()[il];
    const KvLayer kv = KvCache(il);
    const bool swa = !hp.swa_layer.empty() && hp.swa_layer[il];
    rope.freq_base = swa ? hp.rope_freq_base_swa : hp.rope_freq_base;
    rope.freq_scale = swa ? hp.rope_freq_scale_swa : hp.rope_freq_scale;
    // Attention block.
    be.RmsNorm(x, L.attn_norm, n, d, hp.rms_eps, xb);
    be.MatMulSameInput({{&L.wq, q}, {&L.wk, k}, {&L.wv, v}}, xb, n);
    if (L.bq != nullptr) be.AddBias(q, L.bq, n, hp.n_head * hp.head_dim);
    if (L.bk != nullptr) be.AddBias(k, L.bk, n, hp.n_head_kv * hp.head_dim);
    if (L.bv != nullptr) be.AddBias(v, L.bv, n, hp.n_head_kv * hp.head_dim);
    if (L.q_norm != nullptr) {
      be.RmsNorm(q, L.q_norm, n * hp.n_head, hp.head_dim, hp.rms_eps, q);
      be.RmsNorm(k, L.k_norm, n * hp.n_head_kv, hp.head_dim, hp.rms_eps, k);
    }
    be.RopeAndStore(q, k, v, in, hp.n_head, hp.n_head_kv, rope, kv);
    be.Attention(q, in, kv, hp.n_head, hp.n_head_kv, hp.head_dim, hp.attn_scale, attn_.as(),
                 swa ? hp.n_swa : 0);
    if (L.attn_post_norm != nullptr) {
      be.MatMul(L.wo, attn_.as(), n, block_out);
      be.RmsNormAdd(block_out, L.attn_post_norm, n, d, hp.rms_eps, x);
    } else {
      be.MatMul(L.wo, attn_.as(), n, x, /*accumulate=*/true);
    }
    // Feed-forward block.
    be.RmsNorm(x, L.ffn_norm, n, d, hp.rms_eps, xb);
    be.MatMulGlu(L.w_gate, L.w_up, xb, n, gate_.as(), up_.as(), hp.ffn_act);
    if (L.ffn_post_norm != nullptr) {
      be.MatMul(L.w_down, gate_.as(), n, block_out);
      be.RmsNormAdd(block_out, L.ffn_post_norm, n, d, hp.rms_eps, x);
    } else {
      be.MatMul(L.w_down, gate_.as(), n, x, /*accumulate=*/true);
    }
  }
  // Only the rows whose logits are wanted go through the final norm and output.
  const int64_t rows = n - first_row;
  be.RmsNorm(x + first_row * d, model_.output_norm(), rows, d, hp.rms_eps, xb);
  be.MatMul(model_.output(), xb, rows, logits_.as());
  if (model_.output_bias() != nullptr) be.AddBias(logits_.as(), model_.output_bias(), rows, hp.n_vocab);
  if (hp.final_softcap > 0.0f) be.SoftCap(logits_.as(), rows * hp.n_vocab, hp.final_softcap);
}

}  // namespace tcobench
