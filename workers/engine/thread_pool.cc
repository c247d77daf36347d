#include "workers/engine/thread_pool.h"

#include <algorithm>
#include <chrono>

namespace tcobench {
namespace {

constexpr std::chrono::microseconds kSpin{200};

constexpr uint64_t kOpen = uint64_t{1} << 31;
constexpr uint64_t kActiveMask = kOpen - 1;
uint32_t Generation(uint64_t s) { return static_cast<uint32_t>(s >> 32); }
uint64_t Active(uint64_t s) { return s & kActiveMask; }

thread_local int t_thread_index = 0;  // set by each worker; 0 elsewhere

// Spins until done() or kSpin has passed; returns done(). It never yields
// the core: measured with CPU-bound processes competing (bench/contention.sh),
// a spinning thread that yields hands its core to a competitor for a whole
// time slice and the step waits for it.
template <typename Done>
bool SpinUntil(Done done) {
  const auto deadline = std::chrono::steady_clock::now() + kSpin;
  for (int i = 0;; ++i) {
    if (done()) return true;
    if ((i & 63) == 63 && std::chrono::steady_clock::now() > deadline) return done();
#if defined(__x86_64__)
    __builtin_ia32_pause();
#endif
  }
}

}  // namespace

ThreadPool::ThreadPool(int n_threads) : n_threads_(std::max(1, n_threads)) {
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { WorkerLoop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_.store(true);
  }
  start_cv_.notify_all();
  for (std::thread& t : workers_) t.join();
}

void ThreadPool::RunChunks() {
  for (;;) {
    const int64_t begin = next_.fetch_add(grain_);
    if (begin >= n_) return;
    (*fn_)(begin, std::min(n_, begin + grain_));
  }
}

int ThreadPool::CurrentThreadIndex() { return t_thread_index; }

void ThreadPool::WorkerLoop(int index) {
  t_thread_index = index;
  uint32_t seen = 0;
  for (;;) {
    auto ready = [&] { return stop_.load() || Generation(state_.load(std::memory_order_acquire)) != seen; };
    if (!SpinUntil(ready)) {
      std::unique_lock<std::mutex> lock(mu_);
      start_cv_.wait(lock, ready);
    }
    if (stop_.load()) return;
    uint64_t s = state_.load(std::memory_order_acquire);
    seen = Generation(s);
    bool joined = false;
    while ((s & kOpen) != 0 && Generation(s) == seen) {
      if (state_.compare_exchange_weak(s, s + 1, std::memory_order_acq_rel)) {
        joined = true;
        break;
      }
    }
    if (!joined) continue;  // closed already: the caller did it all
    RunChunks();
    // Sequentially consistent, with the caller's store of caller_waiting_
    // and its load of state_: one of the two sees the other's change.
    if (Active(state_.fetch_sub(1)) == 1 && caller_waiting_.load()) {
      std::lock_guard<std::mutex> lock(mu_);
      done_cv_.notify_one();
    }
  }
}

void ThreadPool::ParallelFor(int64_t n, int64_t grain, RangeFn fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  if (workers_.empty() || n <= grain) {
    for (int64_t b = 0; b < n; b += grain) fn(b, std::min(n, b + grain));
    return;
  }
  fn_ = &fn;
  n_ = n;
  grain_ = grain;
  next_.store(0);
  {
    std::lock_guard<std::mutex> lock(mu_);
    const uint64_t gen = Generation(state_.load()) + 1;
    state_.store((gen << 32) | kOpen, std::memory_order_release);
  }
  start_cv_.notify_all();
  RunChunks();
  // Close the job once no worker is inside it; a worker still running a
  // chunk it took is waited for, one that never joined is not.
  auto close = [&] {
    uint64_t s = state_.load();
    while (Active(s) == 0) {
      if (state_.compare_exchange_weak(s, s & ~kOpen, std::memory_order_acq_rel)) return true;
    }
    return false;
  };
  if (!SpinUntil(close)) {
    std::unique_lock<std::mutex> lock(mu_);
    caller_waiting_.store(true);
    done_cv_.wait(lock, close);
    caller_waiting_.store(false);
  }
}

}  // namespace tcobench
