// The CPU backend: reference kernels from quants.h, parallel over a thread
// pool owned by the caller (one per model).
#pragma once

#include <memory>
#include <vector>

#include "workers/engine/backend.h"
#include "workers/engine/thread_pool.h"

namespace tcobench {

std::unique_ptr<Backend> MakeCpuBackend(ThreadPool* pool);

}  // namespace tcobench
