// tcobench-coordinator: accepts comparisons over gRPC, stores them in SQLite
// and leases their jobs to the workers that dial in.
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <thread>

#include "absl/strings/str_cat.h"
#include "services/cli/args.h"
#include "services/coordinator/metrics.h"
#include "services/coordinator/service.h"
#include "services/metrics/metrics_server.h"
#include "services/metrics/rpc_metrics.h"
#include "workers/engine/build_info.h"

namespace {

using tcobench::cli::Args;
using tcobench::cli::CommandSpec;

const CommandSpec kSpec = {
    "tcobench-coordinator [--listen ADDR] [--data-dir DIR] [--lease-seconds S]\n"
    "    [--max-attempts N] [--retention-days D] [--metrics-listen ADDR] [--metrics-comparisons N]",
    "Accepts model comparisons (CoordinatorService, gRPC), stores them in SQLite\n"
    "under --data-dir (WAL; a restart continues where it stopped), expands each\n"
    "into jobs (variant x hardware target) and leases them to matching workers.\n"
    "A lease lasts --lease-seconds past the last heartbeat; an expired one is\n"
    "re-queued, up to --max-attempts leases per job. Server reflection and the\n"
    "standard health service are on. Prometheus metrics (docs/metrics.md) are\n"
    "served on --metrics-listen at /metrics. Stops cleanly on SIGTERM or SIGINT.",
    {{"listen", "", true, "ADDR", "address to serve on (default 127.0.0.1:7700; port 0 picks one)"},
     {"data-dir", "", true, "DIR", "where the database lives (default ./tcobench-data)"},
     {"lease-seconds", "", true, "S", "lease life without a heartbeat (default 30)"},
     {"max-attempts", "", true, "N", "leases per job before it fails (default 3)"},
     {"retention-days", "", true, "D", "delete finished comparisons older than D days (default: keep)"},
     {"metrics-listen", "", true, "ADDR",
      "serve /metrics here (default 127.0.0.1:9470; 'none': off; port 0 picks one)"},
     {"metrics-comparisons", "", true, "N",
      "expose results of the newest N succeeded comparisons, plus tagged ones (default 20)"},
     {"version", "", false, "", "print the version and exit"}},
    0,
    0};

std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop = true; }

}  // namespace

int main(int argc, char** argv) {
  Args parsed;
  if (auto rc = tcobench::cli::ParseDaemonArgs(kSpec, argc, argv, "tcobench-coordinator", &parsed)) return *rc;
  const Args* args = &parsed;
  tcobench::StoreOptions options;
  auto lease = args->GetDouble("lease-seconds", 30);
  auto attempts = args->GetInt("max-attempts", 3, 1, 100);
  auto retention = args->GetDouble("retention-days", 0);
  auto exposed = args->GetInt("metrics-comparisons", 20, 1, 1000);
  for (const absl::Status& s : {lease.status(), attempts.status(), retention.status(), exposed.status()}) {
    if (!s.ok()) {
      std::fprintf(stderr, "tcobench-coordinator: %s\n", std::string(s.message()).c_str());
      return 2;
    }
  }
  if (*lease <= 0 || *retention < 0) {
    std::fprintf(stderr, "tcobench-coordinator: --lease-seconds must be positive, --retention-days not negative\n");
    return 2;
  }
  options.lease_seconds = *lease;
  options.heartbeat_seconds = std::max(0.2, *lease / 6);
  options.max_attempts = static_cast<int>(*attempts);
  std::unique_ptr<tcobench::MetricsServer> metrics;
  if (absl::Status s = tcobench::StartMetricsForDaemon(
          "tcobench-coordinator", {args->Get("metrics-listen", "127.0.0.1:9470"), args->Has("metrics-listen")},
          &metrics);
      !s.ok()) {
    std::fprintf(stderr, "tcobench-coordinator: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  std::unique_ptr<tcobench::CoordinatorCounters> counters;
  if (metrics != nullptr) {
    counters = std::make_unique<tcobench::CoordinatorCounters>(metrics->registry());
    options.on_event = [c = counters.get()](const tcobench::StoreEvent& e) { c->OnEvent(e); };
  }
  const std::string data_dir = args->Get("data-dir", "tcobench-data");
  auto store = tcobench::Store::Open(data_dir, options);
  if (!store.ok()) {
    std::fprintf(stderr, "tcobench-coordinator: %s\n", std::string(store.status().message()).c_str());
    return 1;
  }
  tcobench::CoordinatorServiceImpl service(store->get());
  tcobench::CoordinatorMetricsOptions exposure;
  exposure.result_comparisons = static_cast<int>(*exposed);
  exposure.tags = static_cast<int>(*exposed);
  exposure.verdicts = static_cast<int>(*exposed);
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  const std::string listen = args->Get("listen", "127.0.0.1:7700");
  int port = 0;
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  if (metrics != nullptr) {
    metrics->Add(std::make_shared<tcobench::StoreCollector>(store->get(), exposure));
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
    interceptors.push_back(tcobench::NewRpcMetricsFactory(
        metrics->registry(), "tcobench_coordinator",
        {"tcobench.v1.CoordinatorService", "grpc.health.v1.Health/Check", "grpc.health.v1.Health/Watch"}));
    builder.experimental().SetInterceptorCreators(std::move(interceptors));
  }
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    std::fprintf(stderr, "tcobench-coordinator: cannot listen on %s\n", listen.c_str());
    return 1;
  }
  const std::string host = listen.substr(0, listen.rfind(':'));
  std::printf("tcobench-coordinator listening on %s:%d (data %s)\n", host.c_str(), port, data_dir.c_str());
  std::fflush(stdout);
  std::signal(SIGTERM, OnSignal);
  std::signal(SIGINT, OnSignal);
  // Housekeeping: expired leases every 200 ms, a WAL checkpoint every second
  // (on its own connection), retention hourly.
  auto last_retention = std::chrono::steady_clock::now() - std::chrono::hours(2);
  int ticks = 0;
  while (!g_stop) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    if (absl::Status s = (*store)->ExpireLeases(); !s.ok()) {
      std::fprintf(stderr, "tcobench-coordinator: %s\n", std::string(s.message()).c_str());
    }
    if (++ticks % 5 == 0) {  // once a second
      if (absl::Status s = (*store)->Checkpoint(); !s.ok()) {
        std::fprintf(stderr, "tcobench-coordinator: %s\n", std::string(s.message()).c_str());
      }
    }
    if (*retention > 0 && std::chrono::steady_clock::now() - last_retention > std::chrono::hours(1)) {
      last_retention = std::chrono::steady_clock::now();
      auto n = (*store)->DeleteFinishedOlderThan(*retention);
      if (n.ok() && *n > 0) std::printf("retention: deleted %d finished comparisons\n", *n);
    }
  }
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  metrics.reset();  // its collector reads the store: stop scrapes first
  (void)(*store)->Checkpoint();
  std::printf("tcobench-coordinator stopped\n");
  return 0;
}
