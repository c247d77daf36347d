#include "workers/engine/sampler.h"

#include <algorithm>
#include <cmath>

namespace tcobench {

int32_t Argmax(std::span<const float> values) {
  int32_t best = 0;
  for (size_t i = 1; i < values.size(); ++i) {
    if (values[i] > values[best]) best = static_cast<int32_t>(i);
  }
  return best;
}

int32_t Sampler::Sample(std::span<const float> logits) {
  if (options_.temperature <= 0.0f) return Argmax(logits);
  candidates_.resize(logits.size());
  for (size_t i = 0; i < logits.size(); ++i)
    candidates_[i] = {static_cast<int32_t>(i), logits[i], 0.0};
  auto higher = [](const Candidate& a, const Candidate& b) {
    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
  };
  size_t keep = candidates_.size();
  if (options_.top_k > 0 && static_cast<size_t>(options_.top_k) < keep) {
    keep = static_cast<size_t>(options_.top_k);
    std::partial_sort(candidates_.begin(), candidates_.begin() + keep, candidates_.end(), higher);
  } else {
    std::sort(candidates_.begin(), candidates_.end(), higher);
  }
  candidates_.resize(keep);
  const double max = candidates_[0].logit;
  double sum = 0.0;
  for (Candidate& c : candidates_) {
    c.p = std::exp((c.logit - max) / options_.temperature);
    sum += c.p;
  }
  for (Candidate& c : candidates_) c.p /= sum;
  if (options_.top_p < 1.0f) {
    double cumulative = 0.0;
    size_t n = 0;
    while (n < candidates_.size()) {
      cumulative += candidates_[n++].p;
      if (cumulative >= options_.top_p) break;
    }
    candidates_.resize(n);
    for (Candidate& c : candidates_) c.p /= cumulative;
  }
  const double u = rng_.Uniform();
  double acc = 0.0;
  for (const Candidate& c : candidates_) {
    acc += c.p;
    if (u < acc) return c.id;
  }
  return candidates_.back().id;
}

}  // namespace tcobench
