// A fixed pool of worker threads for data-parallel loops. Made once per model
// (never per call). ParallelFor is called from one thread at a time.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace tcobench {

class ThreadPool {
 public:
  // n_threads counts the calling thread: n_threads - 1 workers are started.
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int n_threads() const { return n_threads_; }

  // A non-owning reference to a callable fn(begin, end): unlike
  // std::function it never allocates, so the engine's hot path does not
  // either. Valid while the callable lives (ParallelFor's call).
  class RangeFn {
   public:
    template <typename F>
    RangeFn(const F& f)  // NOLINT: implicit, so lambdas pass straight in
        : obj_(&f), call_([](const void* o, int64_t b, int64_t e) { (*static_cast<const F*>(o))(b, e); }) {}
    void operator()(int64_t b, int64_t e) const { call_(obj_, b, e); }

   private:
    const void* obj_;
    void (*call_)(const void*, int64_t, int64_t);
  };

  // Runs fn(begin, end) over [0, n) split into chunks of at most `grain`
  // items, on all threads; returns when every chunk is done.
  void ParallelFor(int64_t n, int64_t grain, RangeFn fn);

  // Inside fn: which of the pool's threads runs this chunk, 0..n_threads-1
  // (0: the thread that called ParallelFor), for per-thread scratch space
  // sized up front instead of allocated on a thread's first chunk.
  static int CurrentThreadIndex();

 private:
  void WorkerLoop(int index);
  void RunChunks();

  const int n_threads_;
  std::vector<std::thread> workers_;
  // Workers and the caller first spin for a short while (kSpin) on the
  // atomics below, so that the back-to-back jobs of a decode step cost no
  // sleep and wake-up; past that they block on the condition variables.
  // mu_ guards no data of its own (the shared state is atomic): it pairs
  // each wait on a condition variable with the change that ends it, so no
  // wake-up is lost. It stays a std::mutex, not common/base/mutex.h: the
  // engine's hot path takes no dependency for an annotation with nothing
  // to annotate.
  std::mutex mu_;
  std::condition_variable start_cv_;
  std::condition_variable done_cv_;
  std::atomic<uint64_t> generation_{0};  // bumped under mu_ for each job
  std::atomic<int> busy_{0};             // workers still in the current job
  std::atomic<bool> stop_{false};        // set under mu_
  // The current job (written before generation_ is bumped).
  const RangeFn* fn_ = nullptr;
  int64_t n_ = 0;
  int64_t grain_ = 1;
  std::atomic<int64_t> next_{0};
};

}  // namespace tcobench
