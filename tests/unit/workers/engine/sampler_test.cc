#define BOOST_TEST_MODULE sampler
#include "workers/engine/sampler.h"

#include <map>

#include "tests/test_support.h"

namespace tcobench::testing {
namespace {

BOOST_AUTO_TEST_CASE(greedy_takes_lowest_index_among_maxima) {
  Sampler s(SamplerOptions{0.0f, 40, 0.95f, 1});
  const std::vector<float> logits = {0.5f, 2.0f, -1.0f, 2.0f};
  BOOST_TEST(s.Sample(logits) == 1);
  BOOST_TEST(Argmax(logits) == 1);
}

BOOST_AUTO_TEST_CASE(same_seed_same_tokens_and_distribution_follows_softmax) {
  const std::vector<float> logits = {1.0f, 2.0f, 0.0f, -5.0f};
  Sampler a(SamplerOptions{1.0f, 0, 1.0f, 42}), b(SamplerOptions{1.0f, 0, 1.0f, 42});
  std::map<int, int> counts;
  const int n = 20000;
  for (int i = 0; i < n; ++i) {
    const int32_t x = a.Sample(logits);
    BOOST_REQUIRE(x == b.Sample(logits));
    ++counts[x];
  }
  double z = 0;
  for (float l : logits) z += std::exp(l);
  for (int k = 0; k < 3; ++k) {
    const double p = std::exp(logits[k]) / z;
    BOOST_TEST(std::fabs(counts[k] / double(n) - p) < 0.015,
               "token " << k << " frequency " << counts[k] / double(n) << " vs " << p);
  }
}

BOOST_AUTO_TEST_CASE(top_k_and_top_p_cut_the_tail) {
  const std::vector<float> logits = {3.0f, 2.9f, 0.0f, -1.0f};
  Sampler k1(SamplerOptions{5.0f, 1, 1.0f, 3});
  Sampler p(SamplerOptions{1.0f, 0, 0.5f, 3});
  for (int i = 0; i < 500; ++i) {
    BOOST_REQUIRE(k1.Sample(logits) == 0);
    BOOST_REQUIRE(p.Sample(logits) <= 1);
  }
}

}  // namespace
}  // namespace tcobench::testing
