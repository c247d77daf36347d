#include "workers/bench/engine_runtime.h"

#include <algorithm>
#include <vector>

#include "workers/engine/session.h"

namespace tcobench {
namespace {

int32_t Argmax(const float* logits, int32_t n) {
  return static_cast<int32_t>(std::max_element(logits, logits + n) - logits);
}

class EngineRuntime final : public Runtime {
 public:
  EngineRuntime(const LlamaModel& model, std::unique_ptr<Session> session, int n_seq)
      : model_(model), session_(std::move(session)), n_seq_(n_seq) {
    logits_.reserve(static_cast<size_t>(n_seq) * static_cast<size_t>(vocab_size()));
  }

  int max_sequences() const override { return n_seq_; }
  int32_t vocab_size() const override { return static_cast<int32_t>(model_.hparams().n_vocab); }

  absl::StatusOr<int32_t> Prefill(int seq, std::span<const int32_t> prompt) override {
    session_->ResetSequence(seq);
    if (absl::Status s = session_->Prefill(seq, prompt, LogitsMode::kLast, &logits_); !s.ok()) {
      return s;
    }
    return Argmax(logits_.data(), vocab_size());
  }

  absl::Status Step(std::span<const int> seqs, std::span<const int32_t> last,
                    std::span<int32_t> next) override {
    if (absl::Status s = session_->DecodeBatch(last, seqs, &logits_); !s.ok()) return s;
    for (size_t i = 0; i < seqs.size(); ++i) {
      next[i] = Argmax(logits_.data() + i * static_cast<size_t>(vocab_size()), vocab_size());
    }
    return absl::OkStatus();
  }

 private:
  const LlamaModel& model_;
  std::unique_ptr<Session> session_;
  int n_seq_;
  std::vector<float> logits_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Runtime>> MakeEngineRuntime(const LlamaModel& model, int n_seq,
                                                           int64_t n_ctx) {
  SessionOptions options;
  options.n_seq = n_seq;
  options.n_ctx = n_ctx;
  auto session = Session::Create(model, options);
  if (!session.ok()) return session.status();
  return std::unique_ptr<Runtime>(new EngineRuntime(model, std::move(*session), n_seq));
}

}  // namespace tcobench
