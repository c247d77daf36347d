// A background thread that calls a function at a fixed interval until
// stopped (the meters' counter and power sampling).
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace tcobench {

class Poller {
 public:
  Poller() = default;
  ~Poller() { Stop(); }
  Poller(const Poller&) = delete;
  Poller& operator=(const Poller&) = delete;

  void Start(double interval_seconds, std::function<void()> tick) {
    Stop();
    stop_ = false;
    thread_ = std::thread([this, interval_seconds, tick = std::move(tick)] {
      const auto interval = std::chrono::duration<double>(interval_seconds);
      std::unique_lock<std::mutex> lock(mu_);
      while (!cv_.wait_for(lock, interval, [this] { return stop_; })) {
        lock.unlock();
        tick();
        lock.lock();
      }
    });
  }

  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = true;
  std::thread thread_;
};

}  // namespace tcobench
