#include "services/coordinator/store.h"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <random>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/spec/spec.h"

namespace tcobench {
namespace {

namespace fs = std::filesystem;

// Schema versions: each entry upgrades the database by one version, in one
// transaction. Append, never edit.
const char* const kMigrations[] = {
    // 1: comparisons, jobs, workers.
    R"(CREATE TABLE comparisons(
         id TEXT PRIMARY KEY, spec BLOB NOT NULL, state INTEGER NOT NULL,
         created REAL NOT NULL, finished REAL, error TEXT NOT NULL DEFAULT '');
       CREATE TABLE jobs(
         id TEXT PRIMARY KEY,
         comparison_id TEXT NOT NULL REFERENCES comparisons(id) ON DELETE CASCADE,
         seq INTEGER NOT NULL, variant TEXT NOT NULL, hardware TEXT NOT NULL,
         state INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
         worker_id TEXT NOT NULL DEFAULT '', lease_id TEXT NOT NULL DEFAULT '',
         lease_deadline REAL NOT NULL DEFAULT 0, errors TEXT NOT NULL DEFAULT '',
         stage TEXT NOT NULL DEFAULT '', fraction REAL NOT NULL DEFAULT 0,
         updated REAL NOT NULL, result BLOB);
       CREATE INDEX jobs_by_state ON jobs(state);
       CREATE INDEX jobs_by_comparison ON jobs(comparison_id, seq);
       CREATE TABLE workers(
         id TEXT PRIMARY KEY, inventory BLOB NOT NULL, registered REAL NOT NULL,
         last_seen REAL NOT NULL);
       CREATE TABLE leases(
         id TEXT PRIMARY KEY, job_id TEXT NOT NULL, worker_id TEXT NOT NULL,
         granted REAL NOT NULL);)",
    // 2: completions, progress and heartbeats find their job by lease.
    R"(CREATE INDEX jobs_by_lease ON jobs(lease_id);)",
    // 3: tags (names that move between comparisons) and release-gate verdicts.
    R"(CREATE TABLE tags(
         name TEXT PRIMARY KEY,
         comparison_id TEXT NOT NULL REFERENCES comparisons(id) ON DELETE CASCADE,
         updated REAL NOT NULL);
       CREATE INDEX tags_by_comparison ON tags(comparison_id);
       CREATE TABLE gate_verdicts(
         id TEXT PRIMARY KEY, baseline_id TEXT NOT NULL, candidate_id TEXT NOT NULL,
         overall INTEGER NOT NULL, verdict BLOB NOT NULL, created REAL NOT NULL);
       CREATE INDEX gate_verdicts_by_candidate ON gate_verdicts(candidate_id, created);)",
    // 4: who submitted each comparison; drained workers.
    R"(ALTER TABLE comparisons ADD COLUMN owner TEXT NOT NULL DEFAULT '';
       ALTER TABLE workers ADD COLUMN draining INTEGER NOT NULL DEFAULT 0;)",
};

constexpr char kErrorSeparator = '\x1f';

double SystemNow() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string IsoTime(double seconds) {
  if (seconds <= 0) return "";
  const std::time_t t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string NewId(const char* prefix) {
  static std::mutex mu;
  static std::mt19937_64 rng(std::random_device{}() ^
                             static_cast<uint64_t>(SystemNow() * 1e6));
  std::lock_guard<std::mutex> lock(mu);
  return absl::StrCat(prefix, absl::Hex(rng(), absl::kZeroPad16));
}

// A database error as a status: the disk full, read-only or failing is
// UNAVAILABLE (the coordinator refuses new work and keeps what it has; try
// again when the disk is back), anything else INTERNAL.
absl::Status DatabaseError(int rc, const std::string& message) {
  switch (rc & 0xff) {  // the primary code of an extended one
    case SQLITE_FULL:
    case SQLITE_READONLY:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return absl::UnavailableError(absl::StrCat("the coordinator cannot write its store (", message,
                                                 "): nothing was changed; retry when its disk is back"));
    default:
      return absl::InternalError(absl::StrCat("database: ", message));
  }
}

// A prepared statement: bind by position (1-based), step, read columns.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) : db_(db) {
    rc_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr);
  }
  ~Stmt() { sqlite3_finalize(stmt_); }
  Stmt& Bind(int i, const std::string& v) {
    sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& BindBlob(int i, const std::string& v) {
    sqlite3_bind_blob(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& Bind(int i, double v) {
    sqlite3_bind_double(stmt_, i, v);
    return *this;
  }
  Stmt& Bind(int i, int64_t v) {
    sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  // true: a row is ready; false: done. Errors go to status().
  bool Step() {
    if (rc_ != SQLITE_OK && rc_ != SQLITE_ROW && rc_ != SQLITE_DONE) return false;
    rc_ = sqlite3_step(stmt_);
    return rc_ == SQLITE_ROW;
  }
  absl::Status Run() {
    Step();
    return status();
  }
  absl::Status status() const {
    if (rc_ == SQLITE_OK || rc_ == SQLITE_ROW || rc_ == SQLITE_DONE) return absl::OkStatus();
    return DatabaseError(rc_, sqlite3_errmsg(db_));
  }
  std::string Text(int i) const {
    const unsigned char* p = sqlite3_column_text(stmt_, i);
    return p == nullptr ? "" : std::string(reinterpret_cast<const char*>(p),
                                           static_cast<size_t>(sqlite3_column_bytes(stmt_, i)));
  }
  std::string Blob(int i) const {
    const void* p = sqlite3_column_blob(stmt_, i);
    return p == nullptr ? "" : std::string(static_cast<const char*>(p),
                                           static_cast<size_t>(sqlite3_column_bytes(stmt_, i)));
  }
  double Double(int i) const { return sqlite3_column_double(stmt_, i); }
  int64_t Int(int i) const { return sqlite3_column_int64(stmt_, i); }
  bool IsNull(int i) const { return sqlite3_column_type(stmt_, i) == SQLITE_NULL; }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  int rc_ = SQLITE_OK;
};

bool Terminal(v1::Job::State s) {
  return s == v1::Job::SUCCEEDED || s == v1::Job::FAILED || s == v1::Job::CANCELLED;
}
bool Terminal(v1::Comparison::State s) {
  return s == v1::Comparison::SUCCEEDED || s == v1::Comparison::FAILED ||
         s == v1::Comparison::CANCELLED;
}

int IsaRank(const std::string& isa) {
  if (isa == "avx512") return 2;
  if (isa == "avx2") return 1;
  return 0;
}

// The spec a job runs: its variant (and the baseline, for KL divergence) on
// its hardware target.
v1::ComparisonSpec JobSpec(const v1::ComparisonSpec& spec, const std::string& variant,
                           const std::string& hardware) {
  v1::ComparisonSpec out = spec;
  out.clear_variants();
  for (const v1::Variant& v : spec.variants()) {
    if (v.name() == variant || v.name() == spec.baseline()) *out.add_variants() = v;
  }
  out.clear_hardware();
  for (const v1::Hardware& h : spec.hardware()) {
    if (h.name() == hardware) *out.add_hardware() = h;
  }
  return out;
}

}  // namespace

// Why a lease is not a job's current one: it was granted once (expired and
// re-queued, or its comparison deleted) or never.
absl::Status Store::StaleLeaseLocked(const std::string& worker_id, const std::string& lease_id) {
  Stmt q(db_, "SELECT job_id FROM leases WHERE id = ? AND worker_id = ?");
  q.Bind(1, lease_id).Bind(2, worker_id);
  if (q.Step()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "lease ", lease_id, " of job ", q.Text(0), " has expired: the job was re-queued or removed"));
  }
  return absl::NotFoundError(absl::StrCat("no lease '", lease_id, "' held by worker '", worker_id, "'"));
}

bool SelectorMatches(const v1::Hardware::Selector& s, const v1::WorkerInventory& w, std::string* why) {
  // Every worker has a CPU; "gpu" needs one that reported GPUs.
  if (s.class_() == "gpu" && w.gpus().empty()) {
    *why = "class gpu (worker has no GPU)";
    return false;
  }
  if (!s.isa().empty() && IsaRank(w.isa()) < IsaRank(s.isa())) {
    *why = absl::StrCat("isa ", s.isa(), " (worker runs ", w.isa(), ")");
    return false;
  }
  if (s.min_memory_bytes() > 0 && w.memory_bytes() < s.min_memory_bytes()) {
    *why = absl::StrCat("memory ", s.min_memory_bytes(), " bytes (worker has ", w.memory_bytes(), ")");
    return false;
  }
  for (const auto& [k, v] : s.labels()) {
    auto it = w.labels().find(k);
    if (it == w.labels().end() || it->second != v) {
      *why = absl::StrCat("label ", k, "=", v);
      return false;
    }
  }
  return true;
}

Store::Store(sqlite3* db, StoreOptions options) : db_(db), options_(std::move(options)) {
  if (!options_.now) options_.now = SystemNow;
}

Store::~Store() {
  sqlite3_close(checkpoint_db_);
  sqlite3_close(db_);
}

absl::Status Store::Checkpoint() {
  std::lock_guard<std::mutex> lock(checkpoint_mu_);
  int log = 0, done = 0;
  const int rc = sqlite3_wal_checkpoint_v2(checkpoint_db_, nullptr, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
  if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
    return absl::InternalError(absl::StrCat("checkpoint: ", sqlite3_errmsg(checkpoint_db_)));
  }
  return absl::OkStatus();
}

absl::Status Store::Exec(const std::string& sql) {
  char* err = nullptr;
  if (const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err); rc != SQLITE_OK) {
    const std::string msg = err != nullptr ? err : "unknown error";
    sqlite3_free(err);
    return DatabaseError(rc, msg);
  }
  return absl::OkStatus();
}

absl::Status Store::Commit() {
  absl::Status s = Exec("COMMIT");
  if (!s.ok()) (void)Exec("ROLLBACK");  // a failed COMMIT (disk full) leaves the transaction open
  return s;
}

absl::StatusOr<std::unique_ptr<Store>> Store::Open(const fs::path& data_dir, StoreOptions options) {
  std::error_code ec;
  fs::create_directories(data_dir, ec);
  if (ec) return absl::PermissionDeniedError(absl::StrCat("--data-dir ", data_dir.string(), ": ", ec.message()));
  const fs::path file = data_dir / "coordinator.db";
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      nullptr) != SQLITE_OK) {
    const std::string msg = db != nullptr ? sqlite3_errmsg(db) : "cannot open";
    sqlite3_close(db);
    return absl::UnavailableError(absl::StrCat(file.string(), ": ", msg));
  }
  std::unique_ptr<Store> store(new Store(db, std::move(options)));
  sqlite3_busy_timeout(db, 5000);
  for (const char* pragma : {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL",
                             "PRAGMA foreign_keys=ON",
                             // Checkpoints run from Checkpoint() on their own connection,
                             // never inside a request (they were its latency tail).
                             "PRAGMA wal_autocheckpoint=0"}) {
    if (absl::Status s = store->Exec(pragma); !s.ok()) return s;
  }
  if (absl::Status s = store->Exec("CREATE TABLE IF NOT EXISTS schema_version(version INTEGER NOT NULL)");
      !s.ok()) {
    return s;
  }
  int64_t version = 0;
  {
    Stmt q(db, "SELECT version FROM schema_version");
    if (q.Step()) version = q.Int(0);
  }
  const int64_t latest = static_cast<int64_t>(std::size(kMigrations));
  if (version > latest) {
    return absl::FailedPreconditionError(absl::StrCat(
        file.string(), " has schema version ", version, ", newer than this coordinator's ", latest));
  }
  for (int64_t v = version; v < latest; ++v) {
    if (absl::Status s = store->Exec("BEGIN IMMEDIATE"); !s.ok()) return s;
    absl::Status s = store->Exec(kMigrations[v]);
    if (s.ok()) s = store->Exec(absl::StrCat("DELETE FROM schema_version; INSERT INTO schema_version VALUES(", v + 1, ")"));
    if (!s.ok()) {
      (void)store->Exec("ROLLBACK");
      return absl::InternalError(absl::StrCat("migrating ", file.string(), " to version ", v + 1, ": ", s.message()));
    }
    if (absl::Status c = store->Exec("COMMIT"); !c.ok()) return c;
  }
  {
    Stmt q(db, "SELECT id FROM workers");
    while (q.Step()) store->known_workers_.insert(q.Text(0));
  }
  if (sqlite3_open_v2(file.c_str(), &store->checkpoint_db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX,
                      nullptr) != SQLITE_OK) {
    return absl::UnavailableError(absl::StrCat(file.string(), ": cannot open a second connection"));
  }
  sqlite3_busy_timeout(store->checkpoint_db_, 1000);
  // After a restart, running jobs' workers get one lease period to reach us
  // again before their leases count as expired.
  if (absl::Status s = Stmt(db, "UPDATE jobs SET lease_deadline = MAX(lease_deadline, ?) WHERE state = ?")
                           .Bind(1, store->Now() + store->options_.lease_seconds)
                           .Bind(2, int64_t{v1::Job::LEASED}).Run();
      !s.ok()) {
    return s;
  }
  return store;
}

void Store::Changed() {
  ++version_;
  changed_.notify_all();
}

absl::StatusOr<std::string> Store::Submit(const v1::ComparisonSpec& raw, const std::string& owner) {
  if (absl::Status s = CheckSpecLimits(raw, options_.limits); !s.ok()) return s;
  if (absl::Status s = ValidateSpec(raw); !s.ok()) return s;
  const v1::ComparisonSpec spec = WithDefaults(raw);
  std::lock_guard<std::mutex> lock(mu_);
  const std::string id = NewId("cmp-");
  const double now = Now();
  if (absl::Status s = Exec("BEGIN IMMEDIATE"); !s.ok()) return s;
  absl::Status s = Stmt(db_, "INSERT INTO comparisons(id, spec, state, created, owner) VALUES(?,?,?,?,?)")
                       .Bind(1, id).BindBlob(2, spec.SerializeAsString())
                       .Bind(3, int64_t{v1::Comparison::QUEUED}).Bind(4, now).Bind(5, owner).Run();
  int64_t seq = 0;
  for (const v1::Variant& v : spec.variants()) {
    for (const v1::Hardware& h : spec.hardware()) {
      if (!s.ok()) break;
      s = Stmt(db_, "INSERT INTO jobs(id, comparison_id, seq, variant, hardware, state, updated) "
                    "VALUES(?,?,?,?,?,?,?)")
              .Bind(1, NewId("job-")).Bind(2, id).Bind(3, seq++).Bind(4, v.name()).Bind(5, h.name())
              .Bind(6, int64_t{v1::Job::QUEUED}).Bind(7, now).Run();
    }
  }
  if (!s.ok()) {
    (void)Exec("ROLLBACK");
    return s;
  }
  if (absl::Status c = Commit(); !c.ok()) return c;
  Emit(StoreEvent::kSubmitted);
  Changed();
  return id;
}

// The comparison a reference names: its id, or a tag on it (tags never have
// an id's form, so the two cannot both match).
#define TCOBENCH_BY_REF "(id = ?1 OR id IN (SELECT comparison_id FROM tags WHERE name = ?1))"

namespace {
absl::Status NoSuchRef(const std::string& ref) {
  return absl::NotFoundError(absl::StrCat("no comparison or tag '", ref, "'"));
}
}  // namespace

absl::StatusOr<std::string> Store::ResolveLocked(const std::string& ref) {
  Stmt q(db_, "SELECT id FROM comparisons WHERE " TCOBENCH_BY_REF);
  q.Bind(1, ref);
  if (q.Step()) return q.Text(0);
  if (!q.status().ok()) return q.status();
  return NoSuchRef(ref);
}

absl::StatusOr<v1::Comparison> Store::LoadLocked(const std::string& ref) {
  v1::Comparison c;
  {
    Stmt q(db_, "SELECT id, spec, state, created, finished, error, owner FROM comparisons WHERE " TCOBENCH_BY_REF);
    q.Bind(1, ref);
    if (!q.Step()) {
      if (!q.status().ok()) return q.status();
      return NoSuchRef(ref);
    }
    c.set_id(q.Text(0));
    if (!c.mutable_spec()->ParseFromString(q.Blob(1))) return absl::DataLossError("stored spec unreadable");
    c.set_state(static_cast<v1::Comparison::State>(q.Int(2)));
    c.set_created_time(IsoTime(q.Double(3)));
    if (!q.IsNull(4)) c.set_finished_time(IsoTime(q.Double(4)));
    c.set_error(q.Text(5));
    c.set_owner(q.Text(6));
  }
#undef TCOBENCH_BY_REF
  const std::string& id = c.id();
  {
    Stmt q(db_, "SELECT name FROM tags WHERE comparison_id = ? ORDER BY name");
    q.Bind(1, id);
    while (q.Step()) c.add_tags(q.Text(0));
    if (!q.status().ok()) return q.status();
  }
  Stmt q(db_, "SELECT id, variant, hardware, state, attempts, worker_id, errors, stage, fraction, "
              "updated FROM jobs WHERE comparison_id = ? ORDER BY seq");
  q.Bind(1, id);
  while (q.Step()) {
    v1::Job* j = c.add_jobs();
    j->set_id(q.Text(0));
    j->set_comparison_id(id);
    j->set_variant(q.Text(1));
    j->set_hardware(q.Text(2));
    j->set_state(static_cast<v1::Job::State>(q.Int(3)));
    j->set_attempts(static_cast<int32_t>(q.Int(4)));
    j->set_worker_id(q.Text(5));
    const std::string errors = q.Text(6);
    if (!errors.empty()) {
      for (absl::string_view e : absl::StrSplit(errors, kErrorSeparator)) j->add_attempt_errors(std::string(e));
    }
    j->set_stage(q.Text(7));
    j->set_fraction_done(q.Double(8));
    j->set_updated_time(IsoTime(q.Double(9)));
  }
  if (!q.status().ok()) return q.status();
  return c;
}

absl::StatusOr<std::shared_ptr<const v1::ComparisonSpec>> Store::SpecLocked(const std::string& id) {
  auto it = specs_.find(id);
  if (it != specs_.end()) return it->second;
  Stmt q(db_, "SELECT spec FROM comparisons WHERE id = ?");
  q.Bind(1, id);
  if (!q.Step()) return absl::NotFoundError(absl::StrCat("no comparison '", id, "'"));
  auto spec = std::make_shared<v1::ComparisonSpec>();
  if (!spec->ParseFromString(q.Blob(0))) return absl::DataLossError("stored spec unreadable");
  if (specs_.size() > 4096) specs_.clear();  // a bounded cache of immutable specs
  specs_.emplace(id, spec);
  return std::shared_ptr<const v1::ComparisonSpec>(spec);
}

absl::StatusOr<v1::Comparison> Store::Get(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  return LoadLocked(id);
}

absl::StatusOr<std::vector<v1::Comparison>> Store::List(int limit) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> ids;
  {
    Stmt q(db_, "SELECT id FROM comparisons ORDER BY created DESC, id LIMIT ?");
    q.Bind(1, int64_t{limit > 0 ? limit : 100});
    while (q.Step()) ids.push_back(q.Text(0));
    if (!q.status().ok()) return q.status();
  }
  std::vector<v1::Comparison> out;
  for (const std::string& id : ids) {
    auto c = LoadLocked(id);
    if (!c.ok()) return c.status();
    out.push_back(std::move(*c));
  }
  return out;
}

absl::StatusOr<v1::Comparison> Store::WaitForChange(const std::string& id, const std::string& seen,
                                                    double timeout_seconds) {
  std::unique_lock<std::mutex> lock(mu_);
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                            std::chrono::duration<double>(timeout_seconds));
  while (true) {
    auto c = LoadLocked(id);
    if (!c.ok() || c->SerializeAsString() != seen) return c;
    const uint64_t v = version_;
    if (!changed_.wait_until(lock, deadline, [&] { return version_ != v; })) {
      return LoadLocked(id);
    }
  }
}

absl::Status Store::UpdateComparisonStateLocked(const std::string& id) {
  // Counts per job state (an index lookup), not the whole comparison.
  int64_t current = 0;
  {
    Stmt q(db_, "SELECT state FROM comparisons WHERE id = ?");
    q.Bind(1, id);
    if (!q.Step()) return q.status();
    current = q.Int(0);
  }
  if (Terminal(static_cast<v1::Comparison::State>(current))) return absl::OkStatus();
  int64_t total = 0, terminal = 0, failed = 0, queued = 0;
  {
    Stmt q(db_, "SELECT state, COUNT(*) FROM jobs WHERE comparison_id = ? GROUP BY state");
    q.Bind(1, id);
    while (q.Step()) {
      const auto st = static_cast<v1::Job::State>(q.Int(0));
      total += q.Int(1);
      if (Terminal(st)) terminal += q.Int(1);
      if (st == v1::Job::FAILED) failed += q.Int(1);
      if (st == v1::Job::QUEUED) queued += q.Int(1);
    }
    if (!q.status().ok()) return q.status();
  }
  const bool all_done = terminal == total;
  v1::Comparison::State state = queued == total ? v1::Comparison::QUEUED : v1::Comparison::RUNNING;
  if (all_done) state = failed > 0 ? v1::Comparison::FAILED : v1::Comparison::SUCCEEDED;
  if (state == current) return absl::OkStatus();
  std::string error;
  if (all_done && failed > 0) {
    std::vector<std::string> failures;
    Stmt q(db_, "SELECT variant, hardware, errors FROM jobs WHERE comparison_id = ? AND state = ? ORDER BY seq");
    q.Bind(1, id).Bind(2, int64_t{v1::Job::FAILED});
    while (q.Step()) {
      const std::string errors = q.Text(2);
      const size_t last = errors.rfind(kErrorSeparator);
      failures.push_back(absl::StrCat(q.Text(0), "@", q.Text(1), ": ",
                                      errors.empty() ? "failed" : errors.substr(last == std::string::npos ? 0 : last + 1)));
    }
    error = absl::StrJoin(failures, "; ");
  }
  Stmt u(db_, "UPDATE comparisons SET state = ?, finished = ?, error = ? WHERE id = ?");
  u.Bind(1, int64_t{state});
  if (all_done) u.Bind(2, Now());
  u.Bind(3, error).Bind(4, id);
  return u.Run();
}

absl::StatusOr<v1::Comparison> Store::Cancel(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto c = LoadLocked(id);
  if (!c.ok()) return c.status();
  if (Terminal(c->state())) return c;  // nothing to stop
  const double now = Now();
  absl::Status s = Stmt(db_, "UPDATE jobs SET state = ?, updated = ? WHERE comparison_id = ? AND state IN (?, ?)")
                       .Bind(1, int64_t{v1::Job::CANCELLED}).Bind(2, now).Bind(3, c->id())
                       .Bind(4, int64_t{v1::Job::QUEUED}).Bind(5, int64_t{v1::Job::LEASED}).Run();
  if (s.ok()) {
    Emit(StoreEvent::kJobCancelled, "", sqlite3_changes(db_));
    s = Stmt(db_, "UPDATE comparisons SET state = ?, finished = ? WHERE id = ?")
            .Bind(1, int64_t{v1::Comparison::CANCELLED}).Bind(2, now).Bind(3, c->id()).Run();
  }
  if (!s.ok()) return s;
  Changed();
  return LoadLocked(c->id());
}

absl::Status Store::Delete(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto c = LoadLocked(id);
  if (!c.ok()) return c.status();
  absl::Status s = Stmt(db_, "DELETE FROM comparisons WHERE id = ?").Bind(1, c->id()).Run();
  specs_.erase(c->id());
  if (s.ok()) Changed();
  return s;
}

absl::StatusOr<v1::GetReportResponse> Store::Report(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto c = LoadLocked(id);
  if (!c.ok()) return c.status();
  v1::GetReportResponse out;
  *out.mutable_comparison() = *c;
  v1::ComparisonResult* r = out.mutable_result();
  *r->mutable_spec() = c->spec();
  Stmt q(db_, "SELECT result, variant FROM jobs WHERE comparison_id = ? AND state = ? ORDER BY seq");
  q.Bind(1, c->id()).Bind(2, int64_t{v1::Job::SUCCEEDED});
  bool first = true;
  while (q.Step()) {
    v1::ComparisonResult part;
    if (!part.ParseFromString(q.Blob(0))) return absl::DataLossError("stored result unreadable");
    if (first) *r->mutable_manifest() = part.manifest();
    first = false;
    *r->add_job_manifests() = part.manifest();
    for (const v1::VariantResult& v : part.results()) {
      if (v.variant() == q.Text(1)) *r->add_results() = v;  // not the baseline run for KLD
    }
  }
  if (!q.status().ok()) return q.status();
  return out;
}

absl::StatusOr<std::vector<v1::Worker>> Store::Workers() {
  std::lock_guard<std::mutex> lock(mu_);
  if (absl::Status s = FlushLocked(/*workers_too=*/true); !s.ok()) return s;
  std::vector<v1::Worker> out;
  Stmt q(db_, "SELECT w.id, w.inventory, w.last_seen, "
              "(SELECT j.id FROM jobs j WHERE j.worker_id = w.id AND j.state = ? LIMIT 1), w.draining "
              "FROM workers w ORDER BY w.registered");
  q.Bind(1, int64_t{v1::Job::LEASED});
  const double now = Now();
  while (q.Step()) {
    v1::Worker w;
    w.set_id(q.Text(0));
    w.mutable_inventory()->ParseFromString(q.Blob(1));
    w.set_last_seen_time(IsoTime(q.Double(2)));
    w.set_job_id(q.Text(3));
    w.set_draining(q.Int(4) != 0);
    w.set_state(now - q.Double(2) > options_.lease_seconds ? v1::Worker::LOST
                : w.job_id().empty()                      ? v1::Worker::IDLE
                                                          : v1::Worker::BUSY);
    out.push_back(std::move(w));
  }
  if (!q.status().ok()) return q.status();
  return out;
}

absl::StatusOr<v1::Worker> Store::Drain(const std::string& ref) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    // An id, else the newest registration under that name.
    std::string id;
    {
      Stmt q(db_, "SELECT id, inventory FROM workers ORDER BY registered DESC");
      while (q.Step() && id.empty()) {
        v1::WorkerInventory inv;
        inv.ParseFromString(q.Blob(1));
        if (q.Text(0) == ref || inv.name() == ref) id = q.Text(0);
      }
      if (!q.status().ok()) return q.status();
    }
    if (id.empty()) return absl::NotFoundError(absl::StrCat("no worker '", ref, "'"));
    if (absl::Status s = Stmt(db_, "UPDATE workers SET draining = 1 WHERE id = ?").Bind(1, id).Run(); !s.ok()) {
      return s;
    }
    Changed();
  }
  absl::StatusOr<std::vector<v1::Worker>> all = Workers();
  if (!all.ok()) return all.status();
  for (v1::Worker& w : *all) {
    if (w.draining() && (w.id() == ref || w.inventory().name() == ref)) return std::move(w);
  }
  return absl::NotFoundError(absl::StrCat("no worker '", ref, "'"));
}

absl::StatusOr<std::string> Store::OwnerOf(const std::string& ref) {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt q(db_, "SELECT owner FROM comparisons WHERE id = ?1 OR id IN (SELECT comparison_id FROM tags WHERE name = ?1)");
  q.Bind(1, ref);
  if (q.Step()) return q.Text(0);
  if (!q.status().ok()) return q.status();
  return NoSuchRef(ref);
}

absl::StatusOr<StoreStats> Store::Stats(double forget_lost_seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  if (absl::Status s = FlushLocked(/*workers_too=*/true); !s.ok()) return s;
  StoreStats out;
  {
    Stmt q(db_, "SELECT state, COUNT(*) FROM comparisons GROUP BY state");
    while (q.Step()) out.comparisons[static_cast<v1::Comparison::State>(q.Int(0))] = q.Int(1);
    if (!q.status().ok()) return q.status();
  }
  {
    Stmt q(db_, "SELECT state, COUNT(*) FROM jobs GROUP BY state");
    while (q.Step()) out.jobs[static_cast<v1::Job::State>(q.Int(0))] = q.Int(1);
    if (!q.status().ok()) return q.status();
  }
  const double now = Now();
  {
    Stmt q(db_, "SELECT MIN(updated) FROM jobs WHERE state = ?");
    q.Bind(1, int64_t{v1::Job::QUEUED});
    if (q.Step() && q.Double(0) > 0) out.oldest_queued_job_seconds = std::max(0.0, now - q.Double(0));
    if (!q.status().ok()) return q.status();
  }
  // The newest registration per name decides; ordered so that it comes last.
  std::map<std::string, v1::Worker::State> by_name;
  // Registrations silent past the window are gone, and so are the older
  // ones they replaced: only the recent ones are read.
  Stmt q(db_, "SELECT w.inventory, w.last_seen, "
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
  if (!q.status().ok()) return q.status();
  for (const auto& [name, state] : by_name) ++out.workers[state];
  return out;
}

absl::StatusOr<std::vector<std::string>> Store::RecentSucceeded(int limit) {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt q(db_, "SELECT id FROM comparisons WHERE state = ? ORDER BY finished DESC LIMIT ?");
  q.Bind(1, int64_t{v1::Comparison::SUCCEEDED}).Bind(2, int64_t{limit});
  std::vector<std::string> out;
  while (q.Step()) out.push_back(q.Text(0));
  if (!q.status().ok()) return q.status();
  return out;
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> Store::Tags(int limit) {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt q(db_, "SELECT name, comparison_id FROM tags ORDER BY updated DESC LIMIT ?");
  q.Bind(1, int64_t{limit});
  std::vector<std::pair<std::string, std::string>> out;
  while (q.Step()) out.emplace_back(q.Text(0), q.Text(1));
  if (!q.status().ok()) return q.status();
  return out;
}

absl::StatusOr<v1::RegisterWorkerResponse> Store::Register(const v1::WorkerInventory& inventory) {
  if (inventory.name().empty()) return absl::InvalidArgumentError("inventory.name: missing");
  std::lock_guard<std::mutex> lock(mu_);
  const std::string id = NewId("wrk-");
  const double now = Now();
  absl::Status s = Stmt(db_, "INSERT INTO workers(id, inventory, registered, last_seen) VALUES(?,?,?,?)")
                       .Bind(1, id).BindBlob(2, inventory.SerializeAsString()).Bind(3, now).Bind(4, now).Run();
  if (!s.ok()) return s;
  known_workers_.insert(id);
  v1::RegisterWorkerResponse r;
  r.set_worker_id(id);
  r.set_heartbeat_interval_seconds(options_.heartbeat_seconds);
  r.set_lease_seconds(options_.lease_seconds);
  return r;
}

absl::StatusOr<v1::HeartbeatResponse> Store::Heartbeat(const std::string& worker_id,
                                                       const std::string& lease_id) {
  std::lock_guard<std::mutex> lock(mu_);
  const double now = Now();
  // Heartbeats touch memory only (the most frequent call); ExpireLeases
  // writes them to the database a few times a second.
  if (known_workers_.count(worker_id) == 0) {
    return absl::NotFoundError(absl::StrCat("no worker '", worker_id, "': register again"));
  }
  last_seen_[worker_id] = now;
  v1::HeartbeatResponse r;
  if (lease_id.empty()) return r;
  Stmt q(db_, "SELECT state, lease_deadline FROM jobs WHERE lease_id = ? AND worker_id = ?");
  q.Bind(1, lease_id).Bind(2, worker_id);
  if (!q.Step()) {
    r.set_cancel_job(true);  // unknown lease: the job is gone (deleted)
    return r;
  }
  const auto state = static_cast<v1::Job::State>(q.Int(0));
  if (state == v1::Job::CANCELLED) {
    r.set_cancel_job(true);
    return r;
  }
  if (state != v1::Job::LEASED || DeadlineLocked(lease_id, q.Double(1)) < now) {
    return absl::FailedPreconditionError(absl::StrCat("lease ", lease_id, " has expired"));
  }
  const double deadline = now + options_.lease_seconds;
  lease_deadlines_[lease_id] = deadline;
  r.set_lease_deadline_time(IsoTime(deadline));
  return r;
}

double Store::DeadlineLocked(const std::string& lease_id, double stored) const {
  auto it = lease_deadlines_.find(lease_id);
  return it == lease_deadlines_.end() ? stored : std::max(stored, it->second);
}

absl::Status Store::FlushLocked(bool workers_too) {
  // Worker last-seen times matter only to `workers` listings: they are
  // written every few seconds, not with every lease sweep (a thousand rows
  // would hold the lock for milliseconds several times a second).
  const bool write_workers = workers_too || Now() - last_worker_flush_ >= 5.0;
  if ((last_seen_.empty() || !write_workers) && lease_deadlines_.empty()) return absl::OkStatus();
  if (absl::Status s = Exec("BEGIN IMMEDIATE"); !s.ok()) return s;
  absl::Status s;
  if (write_workers) {
    for (const auto& [worker, t] : last_seen_) {
      if (s.ok()) s = Stmt(db_, "UPDATE workers SET last_seen = ? WHERE id = ?").Bind(1, t).Bind(2, worker).Run();
    }
  }
  for (const auto& [lease, d] : lease_deadlines_) {
    if (s.ok()) {
      s = Stmt(db_, "UPDATE jobs SET lease_deadline = MAX(lease_deadline, ?) WHERE lease_id = ? AND state = ?")
              .Bind(1, d).Bind(2, lease).Bind(3, int64_t{v1::Job::LEASED}).Run();
    }
  }
  if (!s.ok()) {
    (void)Exec("ROLLBACK");
    return s;
  }
  if (write_workers) {
    last_seen_.clear();
    last_worker_flush_ = Now();
  }
  lease_deadlines_.clear();
  return Commit();
}

// One transaction per call: one commit instead of one per statement.
absl::StatusOr<v1::AcquireJobResponse> Store::Acquire(const std::string& worker_id) {
  std::lock_guard<std::mutex> lock(mu_);
  if (absl::Status s = Exec("BEGIN IMMEDIATE"); !s.ok()) return s;
  auto r = AcquireLocked(worker_id);
  if (absl::Status s = r.ok() ? Commit() : Exec("ROLLBACK"); !s.ok() && r.ok()) return s;
  if (r.ok() && r->has_job()) Emit(StoreEvent::kLeaseGranted);
  return r;
}

absl::StatusOr<v1::AcquireJobResponse> Store::AcquireLocked(const std::string& worker_id) {
  auto known = inventories_.find(worker_id);
  if (known == inventories_.end()) {
    Stmt w(db_, "SELECT inventory FROM workers WHERE id = ?");
    w.Bind(1, worker_id);
    if (!w.Step()) return absl::NotFoundError(absl::StrCat("no worker '", worker_id, "': register again"));
    v1::WorkerInventory parsed;
    parsed.ParseFromString(w.Blob(0));
    known = inventories_.emplace(worker_id, std::move(parsed)).first;
  }
  const v1::WorkerInventory& inv = known->second;
  const double now = Now();
  last_seen_[worker_id] = now;
  v1::AcquireJobResponse r;
  {
    // Drained: no job, ever again. At its limit: no job now.
    Stmt d(db_, "SELECT draining, (SELECT COUNT(*) FROM jobs WHERE worker_id = ?1 AND state = ?2) "
                "FROM workers WHERE id = ?1");
    d.Bind(1, worker_id).Bind(2, int64_t{v1::Job::LEASED});
    if (d.Step()) {
      if (d.Int(0) != 0) {
        r.set_drain(true);
        return r;
      }
      if (d.Int(1) >= options_.max_jobs_per_worker) return r;
    }
    if (!d.status().ok()) return d.status();
  }
  // Jobs in the order they were submitted (rowid), through the state index.
  Stmt q(db_, "SELECT id, variant, hardware, attempts, comparison_id FROM jobs "
              "WHERE state = ? ORDER BY rowid");
  q.Bind(1, int64_t{v1::Job::QUEUED});
  while (q.Step()) {
    auto spec_or = SpecLocked(q.Text(4));
    if (!spec_or.ok()) return spec_or.status();
    const v1::ComparisonSpec& spec = **spec_or;
    const std::string hardware = q.Text(2);
    const v1::Hardware* hw = nullptr;
    for (const v1::Hardware& h : spec.hardware()) {
      if (h.name() == hardware) hw = &h;
    }
    std::string why;
    if (hw == nullptr || !SelectorMatches(hw->selector(), inv, &why)) continue;
    const std::string job_id = q.Text(0), lease = NewId("lease-"), cmp = q.Text(4);
    const double deadline = now + options_.lease_seconds;
    absl::Status s = Stmt(db_, "UPDATE jobs SET state = ?, attempts = attempts + 1, worker_id = ?, "
                               "lease_id = ?, lease_deadline = ?, stage = 'leased', fraction = 0, "
                               "updated = ? WHERE id = ?")
                         .Bind(1, int64_t{v1::Job::LEASED}).Bind(2, worker_id).Bind(3, lease)
                         .Bind(4, deadline).Bind(5, now).Bind(6, job_id).Run();
    if (s.ok()) {
      s = Stmt(db_, "INSERT INTO leases(id, job_id, worker_id, granted) VALUES(?,?,?,?)")
              .Bind(1, lease).Bind(2, job_id).Bind(3, worker_id).Bind(4, now).Run();
    }
    if (!s.ok()) return s;
    // A lease never ends a comparison: at most it starts it running.
    if (absl::Status u = Stmt(db_, "UPDATE comparisons SET state = ? WHERE id = ? AND state = ?")
                             .Bind(1, int64_t{v1::Comparison::RUNNING}).Bind(2, cmp)
                             .Bind(3, int64_t{v1::Comparison::QUEUED}).Run();
        !u.ok()) {
      return u;
    }
    r.set_has_job(true);
    r.set_job_id(job_id);
    r.set_lease_id(lease);
    r.set_variant(q.Text(1));
    r.set_hardware(hardware);
    r.set_lease_seconds(options_.lease_seconds);
    *r.mutable_spec() = JobSpec(spec, q.Text(1), hardware);
    Changed();
    return r;
  }
  if (!q.status().ok()) return q.status();
  return r;
}

absl::StatusOr<bool> Store::Progress(const std::string& worker_id, const std::string& lease_id,
                                     const std::string& stage, double fraction) {
  std::lock_guard<std::mutex> lock(mu_);
  const double now = Now();
  Stmt q(db_, "SELECT state, lease_deadline FROM jobs WHERE lease_id = ? AND worker_id = ?");
  q.Bind(1, lease_id).Bind(2, worker_id);
  if (!q.Step()) return StaleLeaseLocked(worker_id, lease_id);
  const auto state = static_cast<v1::Job::State>(q.Int(0));
  if (state == v1::Job::CANCELLED) return true;
  if (state != v1::Job::LEASED || DeadlineLocked(lease_id, q.Double(1)) < now) {
    return absl::FailedPreconditionError(absl::StrCat("lease ", lease_id, " has expired"));
  }
  last_seen_[worker_id] = now;
  lease_deadlines_[lease_id] = now + options_.lease_seconds;
  absl::Status s = Stmt(db_, "UPDATE jobs SET stage = ?, fraction = ?, updated = ? WHERE lease_id = ?")
                       .Bind(1, stage).Bind(2, std::clamp(fraction, 0.0, 1.0)).Bind(3, now)
                       .Bind(4, lease_id).Run();
  if (!s.ok()) return s;
  Changed();
  return false;
}

absl::Status Store::Complete(const std::string& worker_id, const std::string& lease_id,
                             const v1::ComparisonResult& result) {
  std::lock_guard<std::mutex> lock(mu_);
  if (absl::Status s = Exec("BEGIN IMMEDIATE"); !s.ok()) return s;
  const absl::Status r = CompleteLocked(worker_id, lease_id, result);
  if (absl::Status s = r.ok() ? Commit() : Exec("ROLLBACK"); !s.ok() && r.ok()) return s;
  return r;
}

absl::Status Store::CompleteLocked(const std::string& worker_id, const std::string& lease_id,
                                   const v1::ComparisonResult& result) {
  const double now = Now();
  Stmt q(db_, "SELECT id, state, lease_deadline, comparison_id, variant FROM jobs "
              "WHERE lease_id = ? AND worker_id = ?");
  q.Bind(1, lease_id).Bind(2, worker_id);
  if (!q.Step()) return StaleLeaseLocked(worker_id, lease_id);
  const std::string job_id = q.Text(0), cmp = q.Text(3), variant = q.Text(4);
  const auto state = static_cast<v1::Job::State>(q.Int(1));
  if (state == v1::Job::SUCCEEDED) return absl::OkStatus();  // a repeat: acknowledged, nothing new
  if (state != v1::Job::LEASED || DeadlineLocked(lease_id, q.Double(2)) < now) {
    return absl::FailedPreconditionError(absl::StrCat(
        "lease ", lease_id, state == v1::Job::CANCELLED ? " was cancelled" : " has expired",
        ": the result is not stored"));
  }
  bool has_variant = false;
  for (const v1::VariantResult& v : result.results()) has_variant = has_variant || v.variant() == variant;
  if (!has_variant) {
    return absl::InvalidArgumentError(absl::StrCat("result has no results for variant '", variant, "'"));
  }
  absl::Status s = Stmt(db_, "UPDATE jobs SET state = ?, result = ?, stage = 'done', fraction = 1, "
                             "updated = ? WHERE id = ?")
                       .Bind(1, int64_t{v1::Job::SUCCEEDED}).BindBlob(2, result.SerializeAsString())
                       .Bind(3, now).Bind(4, job_id).Run();
  if (s.ok()) s = UpdateComparisonStateLocked(cmp);
  if (s.ok()) {
    Emit(StoreEvent::kJobSucceeded);
    Changed();
  }
  return s;
}

absl::Status Store::RequeueOrFailLocked(const std::string& job_id, int attempts, const std::string& why,
                                        const char* reason) {
  Stmt q(db_, "SELECT errors FROM jobs WHERE id = ?");
  q.Bind(1, job_id);
  std::string errors = q.Step() ? q.Text(0) : "";
  if (!errors.empty()) errors += kErrorSeparator;
  errors += absl::StrCat("attempt ", attempts, ": ", why);
  const bool again = attempts < options_.max_attempts;
  absl::Status s =
      Stmt(db_, "UPDATE jobs SET state = ?, errors = ?, lease_id = '', stage = ?, updated = ? WHERE id = ?")
          .Bind(1, int64_t{again ? v1::Job::QUEUED : v1::Job::FAILED}).Bind(2, errors)
          .Bind(3, again ? std::string("re-queued") : std::string("failed")).Bind(4, Now()).Bind(5, job_id).Run();
  if (s.ok()) Emit(again ? StoreEvent::kJobRequeued : StoreEvent::kJobFailed, reason);
  return s;
}

absl::Status Store::Fail(const std::string& worker_id, const std::string& lease_id,
                         const std::string& reason, bool retryable) {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt q(db_, "SELECT id, state, attempts, comparison_id FROM jobs WHERE lease_id = ? AND worker_id = ?");
  q.Bind(1, lease_id).Bind(2, worker_id);
  if (!q.Step()) return StaleLeaseLocked(worker_id, lease_id);
  const std::string job_id = q.Text(0), cmp = q.Text(3);
  if (static_cast<v1::Job::State>(q.Int(1)) != v1::Job::LEASED) return absl::OkStatus();  // already settled
  const int attempts = retryable ? static_cast<int>(q.Int(2)) : options_.max_attempts;
  absl::Status s = RequeueOrFailLocked(job_id, attempts, reason.empty() ? "failed" : reason, "worker_failed");
  if (s.ok()) s = UpdateComparisonStateLocked(cmp);
  if (s.ok()) Changed();
  return s;
}

absl::Status Store::ExpireLeases() {
  std::lock_guard<std::mutex> lock(mu_);
  if (absl::Status s = FlushLocked(/*workers_too=*/false); !s.ok()) return s;
  std::vector<std::tuple<std::string, int, std::string, std::string>> expired;
  {
    Stmt q(db_, "SELECT id, attempts, worker_id, comparison_id FROM jobs WHERE state = ? AND lease_deadline < ?");
    q.Bind(1, int64_t{v1::Job::LEASED}).Bind(2, Now());
    while (q.Step()) expired.emplace_back(q.Text(0), static_cast<int>(q.Int(1)), q.Text(2), q.Text(3));
    if (!q.status().ok()) return q.status();
  }
  for (const auto& [job, attempts, worker, cmp] : expired) {
    Emit(StoreEvent::kLeaseExpired);
    absl::Status s = RequeueOrFailLocked(
        job, attempts, absl::StrCat("lease expired: worker ", worker, " stopped heartbeating"), "lease_expired");
    if (s.ok()) s = UpdateComparisonStateLocked(cmp);
    if (!s.ok()) return s;
  }
  if (!expired.empty()) Changed();
  return absl::OkStatus();
}

absl::StatusOr<int> Store::DeleteFinishedOlderThan(double days) {
  std::lock_guard<std::mutex> lock(mu_);
  absl::Status s = Stmt(db_, "DELETE FROM comparisons WHERE state IN (?, ?, ?) AND finished < ?")
                       .Bind(1, int64_t{v1::Comparison::SUCCEEDED}).Bind(2, int64_t{v1::Comparison::FAILED})
                       .Bind(3, int64_t{v1::Comparison::CANCELLED}).Bind(4, Now() - days * 86400).Run();
  if (!s.ok()) return s;
  const int n = sqlite3_changes(db_);
  specs_.clear();
  if (n > 0) Changed();
  return n;
}

namespace {

// Tags: what a person types in a shell and a CI variable holds, and never an
// id's form (ids resolve first).
absl::Status CheckTagName(const std::string& tag) {
  if (tag.empty()) return absl::InvalidArgumentError("tag: missing");
  if (tag.size() > 128) return absl::InvalidArgumentError("tag: at most 128 characters");
  for (char ch : tag) {
    const bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                    ch == '.' || ch == '_' || ch == '-' || ch == '/';
    if (!ok) {
      return absl::InvalidArgumentError(
          absl::StrCat("tag: '", tag, "' may hold letters, digits, '.', '_', '-' and '/' only"));
    }
  }
  if (tag.rfind("cmp-", 0) == 0) return absl::InvalidArgumentError("tag: must not start with 'cmp-' (an id's form)");
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<v1::TagComparisonResponse> Store::Tag(const std::string& ref, const std::string& tag) {
  if (absl::Status s = CheckTagName(tag); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(mu_);
  absl::StatusOr<std::string> id = ResolveLocked(ref);
  if (!id.ok()) return id.status();
  v1::TagComparisonResponse out;
  {
    Stmt q(db_, "SELECT comparison_id FROM tags WHERE name = ?");
    q.Bind(1, tag);
    if (q.Step() && q.Text(0) != *id) out.set_previous_comparison_id(q.Text(0));
    if (!q.status().ok()) return q.status();
  }
  absl::Status s = Stmt(db_, "INSERT INTO tags(name, comparison_id, updated) VALUES(?, ?, ?) "
                             "ON CONFLICT(name) DO UPDATE SET comparison_id = excluded.comparison_id, "
                             "updated = excluded.updated")
                       .Bind(1, tag).Bind(2, *id).Bind(3, Now()).Run();
  if (!s.ok()) return s;
  auto c = LoadLocked(*id);
  if (!c.ok()) return c.status();
  *out.mutable_comparison() = std::move(*c);
  Changed();
  return out;
}

absl::StatusOr<std::string> Store::RecordVerdict(v1::GateVerdict verdict) {
  std::lock_guard<std::mutex> lock(mu_);
  // Both sides must be comparisons here; refs (tags) are kept as given.
  for (std::string* id : {verdict.mutable_baseline_comparison_id(), verdict.mutable_candidate_comparison_id()}) {
    if (id->empty()) return absl::InvalidArgumentError("verdict: both comparison ids are needed");
    absl::StatusOr<std::string> resolved = ResolveLocked(*id);
    if (!resolved.ok()) return resolved.status();
    *id = *resolved;
  }
  if (verdict.overall() == v1::MetricVerdict::VERDICT_UNSPECIFIED) {
    return absl::InvalidArgumentError("verdict.overall: missing");
  }
  const double now = Now();
  verdict.set_time(IsoTime(now));
  const std::string id = NewId("gate-");
  absl::Status s = Stmt(db_, "INSERT INTO gate_verdicts(id, baseline_id, candidate_id, overall, verdict, created) "
                             "VALUES(?,?,?,?,?,?)")
                       .Bind(1, id).Bind(2, verdict.baseline_comparison_id())
                       .Bind(3, verdict.candidate_comparison_id()).Bind(4, int64_t{verdict.overall()})
                       .BindBlob(5, verdict.SerializeAsString()).Bind(6, now).Run();
  if (!s.ok()) return s;
  Emit(StoreEvent::kGateVerdict, absl::AsciiStrToLower(v1::MetricVerdict::Verdict_Name(verdict.overall())));
  Changed();
  return id;
}

absl::StatusOr<std::vector<v1::GateVerdict>> Store::Verdicts(const std::string& ref, int limit) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string id;
  if (!ref.empty()) {
    absl::StatusOr<std::string> resolved = ResolveLocked(ref);
    if (!resolved.ok()) return resolved.status();
    id = *resolved;
  }
  Stmt q(db_, "SELECT verdict FROM gate_verdicts WHERE (? = '' OR candidate_id = ?) ORDER BY created DESC LIMIT ?");
  q.Bind(1, id).Bind(2, id).Bind(3, int64_t{limit > 0 ? limit : 100});
  std::vector<v1::GateVerdict> out;
  while (q.Step()) {
    v1::GateVerdict v;
    if (!v.ParseFromString(q.Blob(0))) return absl::DataLossError("stored gate verdict unreadable");
    out.push_back(std::move(v));
  }
  if (!q.status().ok()) return q.status();
  return out;
}

}  // namespace tcobench
