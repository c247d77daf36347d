// Splitting a product's tokens into runs whose length is a template
// argument, for the register-blocked kernels (quants_avx512.cc,
// quants_avx2_repacked.cc). ISA-neutral: only plain templates, so including
// it into a kernel file shares no machine code with the rest of the program.
#pragma once

#include <cstdint>

namespace tcobench::internal {

// Calls f.template operator()<N>(t0) for the run of `rest` (< N + 1) tokens.
template <int N, typename F>
void RunRest(int64_t rest, int64_t t0, const F& f) {
  if constexpr (N > 0) {
    if (rest == N) {
      f.template operator()<N>(t0);
    } else {
      RunRest<N - 1>(rest, t0, f);
    }
  }
}

// Calls f.template operator()<NT>(t0) for runs of kMax tokens, then the rest.
template <int kMax, typename F>
void ForTokenRuns(int64_t n_tok, const F& f) {
  int64_t t0 = 0;
  for (; t0 + kMax <= n_tok; t0 += kMax) f.template operator()<kMax>(t0);
  RunRest<kMax - 1>(n_tok - t0, t0, f);
}

}  // namespace tcobench::internal
