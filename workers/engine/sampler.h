// Token sampling: greedy, or temperature with top-k and top-p, seeded so a
// run can be repeated exactly. Not thread-safe (holds its RNG state).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "workers/engine/rng.h"

namespace tcobench {

struct SamplerOptions {
  float temperature = 0.8f;  // <= 0: greedy (argmax, lowest id among ties)
  int top_k = 40;            // <= 0: no top-k cut
  float top_p = 0.95f;       // >= 1: no nucleus cut
  uint64_t seed = 0;
};

class Sampler {
 public:
  explicit Sampler(const SamplerOptions& options) : options_(options), rng_(options.seed) {}
  int32_t Sample(std::span<const float> logits);

 private:
  struct Candidate {
    int32_t id;
    float logit;
    double p;
  };
  SamplerOptions options_;
  Rng rng_;
  std::vector<Candidate> candidates_;
};

// Index of the largest value, the lowest index among equal maxima.
int32_t Argmax(std::span<const float> values);

}  // namespace tcobench
