#include "workers/loadgen/runtime.h"

#include <algorithm>

namespace tcobench {
namespace {

class NullRuntime final : public Runtime {
 public:
  NullRuntime(int n_seq, int32_t vocab) : n_seq_(n_seq), vocab_(vocab) {}
  int max_sequences() const override { return n_seq_; }
  int32_t vocab_size() const override { return vocab_; }
  absl::StatusOr<int32_t> Prefill(int, std::span<const int32_t>) override { return 0; }
  absl::Status Step(std::span<const int>, std::span<const int32_t>,
                    std::span<int32_t> next) override {
    std::fill(next.begin(), next.end(), 0);
    return absl::OkStatus();
  }

 private:
  int n_seq_;
  int32_t vocab_;
};

}  // namespace

std::unique_ptr<Runtime> MakeNullRuntime(int n_seq, int32_t vocab_size) {
  return std::make_unique<NullRuntime>(n_seq, vocab_size);
}

}  // namespace tcobench
