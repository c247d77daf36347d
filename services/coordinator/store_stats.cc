// The store's read models for the metrics (services/coordinator/metrics.h):
// counts by state, the newest succeeded comparisons and the newest tags.
#include <algorithm>
#include <map>

#include "common/base/status_macros.h"
#include "services/coordinator/sqlite.h"
#include "services/coordinator/store.h"
#include "services/coordinator/store_internal.h"

namespace tcobench {

using internal::Stmt;

absl::StatusOr<StoreStats> Store::Stats(double forget_lost_seconds) {
  MutexLock lock(&mu_);
  TCOBENCH_RETURN_IF_ERROR(FlushLocked(/*workers_too=*/true));
  StoreStats out;
  {
    Stmt q(db_, "SELECT state, COUNT(*) FROM comparisons GROUP BY state");
    while (q.Step()) out.comparisons[static_cast<v1::Comparison::State>(q.Int(0))] = q.Int(1);
    TCOBENCH_RETURN_IF_ERROR(q.status());
  }
  {
    Stmt q(db_, "SELECT state, COUNT(*) FROM jobs GROUP BY state");
    while (q.Step()) out.jobs[static_cast<v1::Job::State>(q.Int(0))] = q.Int(1);
    TCOBENCH_RETURN_IF_ERROR(q.status());
  }
  const double now = Now();
  {
    Stmt q(db_, "SELECT MIN(updated) FROM jobs WHERE state = ?");
    q.Bind(1, int64_t{v1::Job::QUEUED});
    if (q.Step() && q.Double(0) > 0)
      out.oldest_queued_job_seconds = std::max(0.0, now - q.Double(0));
    TCOBENCH_RETURN_IF_ERROR(q.status());
  }
  // The newest registration per name decides; ordered so that it comes last.
  std::map<std::string, v1::Worker::State> by_name;
  // Registrations silent past the window are gone, and so are the older
  // ones they replaced: only the recent ones are read.
  Stmt q(db_,
         "SELECT w.inventory, w.last_seen, "
         "EXISTS(SELECT 1 FROM jobs j WHERE j.worker_id = w.id AND j.state = ?) "
         "FROM workers w WHERE w.last_seen >= ? ORDER BY w.registered");
  q.Bind(1, int64_t{v1::Job::LEASED}).Bind(2, now - options_.lease_seconds - forget_lost_seconds);
  while (q.Step()) {
    v1::WorkerInventory inv;
    inv.ParseFromString(q.Blob(0));
    by_name[inv.name()] = now - q.Double(1) > options_.lease_seconds ? v1::Worker::LOST
                          : q.Int(2) != 0                            ? v1::Worker::BUSY
                                                                     : v1::Worker::IDLE;
  }
  TCOBENCH_RETURN_IF_ERROR(q.status());
  for (const auto& [name, state] : by_name) ++out.workers[state];
  return out;
}

absl::StatusOr<std::vector<std::string>> Store::RecentSucceeded(int limit) {
  MutexLock lock(&mu_);
  Stmt q(db_, "SELECT id FROM comparisons WHERE state = ? ORDER BY finished DESC LIMIT ?");
  q.Bind(1, int64_t{v1::Comparison::SUCCEEDED}).Bind(2, int64_t{limit});
  std::vector<std::string> out;
  while (q.Step()) out.push_back(q.Text(0));
  TCOBENCH_RETURN_IF_ERROR(q.status());
  return out;
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> Store::Tags(int limit) {
  MutexLock lock(&mu_);
  Stmt q(db_, "SELECT name, comparison_id FROM tags ORDER BY updated DESC LIMIT ?");
  q.Bind(1, int64_t{limit});
  std::vector<std::pair<std::string, std::string>> out;
  while (q.Step()) out.emplace_back(q.Text(0), q.Text(1));
  TCOBENCH_RETURN_IF_ERROR(q.status());
  return out;
}
}  // namespace tcobench
