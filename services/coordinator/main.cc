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
#include "common/base/flags.h"
#include "services/coordinator/metrics.h"
#include "services/coordinator/service.h"
#include "common/metrics/metrics_server.h"
#include "common/metrics/rpc_metrics.h"
#include "common/security/transport.h"
#include "common/base/build_info.h"

namespace {

using tcobench::Args;
using tcobench::CommandSpec;

const CommandSpec kSpec = {
    "tcobench-coordinator [--listen ADDR] [--data-dir DIR] [--lease-seconds S]\n"
    "    [--max-attempts N] [--retention-days D] [--metrics-listen ADDR] [--metrics-comparisons N]\n"
    "    [--tls-cert FILE --tls-key FILE [--tls-client-ca FILE]] [--insecure] [--auth-tokens FILE]\n"
    "    [--max-spec-bytes N] [--max-variants N] [--max-hardware N] [--max-prompt-tokens N]\n"
    "    [--max-output-tokens N] [--max-measured-runs N] [--max-jobs-per-worker N]\n"
    "    [--max-requests-per-second R]",
    "Accepts model comparisons (CoordinatorService, gRPC), stores them in SQLite\n"
    "under --data-dir (WAL; a restart continues where it stopped), expands each\n"
    "into jobs (variant x hardware target) and leases them to matching workers.\n"
    "A lease lasts --lease-seconds past the last heartbeat; an expired one is\n"
    "re-queued, up to --max-attempts leases per job. Server reflection and the\n"
    "standard health service are on. Prometheus metrics (docs/metrics.md) are\n"
    "served on --metrics-listen at /metrics. TLS with --tls-cert/--tls-key (mutual\n"
    "TLS with --tls-client-ca); without them only a loopback --listen is accepted,\n"
    "unless --insecure. --auth-tokens turns on bearer-token authentication and\n"
    "roles (docs/security.md). Stops cleanly on SIGTERM or SIGINT.",
    {{"listen", "", true, "ADDR", "address to serve on (default 127.0.0.1:7700; port 0 picks one)"},
     {"data-dir", "", true, "DIR", "where the database lives (default ./tcobench-data)"},
     {"lease-seconds", "", true, "S", "lease life without a heartbeat (default 30)"},
     {"max-attempts", "", true, "N", "leases per job before it fails (default 3)"},
     {"retention-days", "", true, "D", "delete finished comparisons older than D days (default: keep)"},
     {"metrics-listen", "", true, "ADDR",
      "serve /metrics here (default 127.0.0.1:9470; 'none': off; port 0 picks one)"},
     {"metrics-comparisons", "", true, "N",
      "expose results of the newest N succeeded comparisons, plus tagged ones (default 20)"},
     {"tls-cert", "", true, "FILE", "the server's certificate chain (PEM); turns TLS on"},
     {"tls-key", "", true, "FILE", "its private key (PEM)"},
     {"tls-client-ca", "", true, "FILE", "require client certificates signed by this CA (mutual TLS)"},
     {"insecure", "", false, "", "serve plaintext on a non-loopback --listen (a trusted network only)"},
     {"auth-tokens", "", true, "FILE", "'ROLE NAME TOKEN' lines (worker, client, admin); default: no authentication"},
     {"max-spec-bytes", "", true, "N", "largest spec accepted (default 1048576)"},
     {"max-variants", "", true, "N", "variants per comparison (default 16)"},
     {"max-hardware", "", true, "N", "hardware targets per comparison (default 16)"},
     {"max-prompt-tokens", "", true, "N", "longest prompt a workload may ask for (default 32768)"},
     {"max-output-tokens", "", true, "N", "longest output a workload may ask for (default 8192)"},
     {"max-measured-runs", "", true, "N", "measured requests per workload point (default 100000)"},
     {"max-jobs-per-worker", "", true, "N", "leases one worker may hold at once (default 1)"},
     {"max-requests-per-second", "", true, "R",
      "user calls per client per second, bursts of twice that (default 50; 0: no limit)"},
     {"version", "", false, "", "print the version and exit"}},
    0,
    0};

std::atomic<int> g_stop{0};  // the signal that asked us to stop
void OnSignal(int signal) { g_stop = signal; }

int Fail(const absl::Status& s, int code) {
  std::fprintf(stderr, "tcobench-coordinator: %s\n", std::string(s.message()).c_str());
  return code;
}

// What the flags ask for, checked.
struct Settings {
  tcobench::StoreOptions store;
  std::string listen, data_dir;
  double retention_days = 0;
  int exposed_comparisons = 20;
  double max_requests_per_second = 50;
  tcobench::ServerTlsOptions tls;
  std::string auth_tokens;  // file; "" for no authentication
  tcobench::MetricsFlag metrics;
};

absl::StatusOr<Settings> ReadSettings(const tcobench::Args& args) {
  Settings out;
  tcobench::StoreOptions& options = out.store;
  auto lease = args.GetDouble("lease-seconds", 30);
  auto attempts = args.GetInt("max-attempts", 3, 1, 100);
  auto retention = args.GetDouble("retention-days", 0);
  auto exposed = args.GetInt("metrics-comparisons", 20, 1, 1000);
  tcobench::SpecLimits& limits = options.limits;
  auto spec_bytes = args.GetInt("max-spec-bytes", limits.max_spec_bytes, 1024, int64_t{1} << 30);
  auto variants = args.GetInt("max-variants", limits.max_variants, 1, 1000);
  auto hardware = args.GetInt("max-hardware", limits.max_hardware, 1, 1000);
  auto prompt = args.GetInt("max-prompt-tokens", limits.max_prompt_tokens, 1, 1 << 24);
  auto output = args.GetInt("max-output-tokens", limits.max_output_tokens, 1, 1 << 24);
  auto runs = args.GetInt("max-measured-runs", limits.max_measured_runs, 1, 1 << 30);
  auto per_worker = args.GetInt("max-jobs-per-worker", 1, 1, 64);
  auto rate = args.GetDouble("max-requests-per-second", 50);
  for (const absl::Status& s : {lease.status(), attempts.status(), retention.status(), exposed.status(),
                                spec_bytes.status(), variants.status(), hardware.status(), prompt.status(),
                                output.status(), runs.status(), per_worker.status(), rate.status()}) {
    if (!s.ok()) return s;
  }
  if (*lease <= 0 || *retention < 0 || *rate < 0) {
    return absl::InvalidArgumentError("--lease-seconds must be positive, --retention-days and "
                                      "--max-requests-per-second not negative");
  }
  limits.max_spec_bytes = *spec_bytes;
  limits.max_variants = static_cast<int>(*variants);
  limits.max_hardware = static_cast<int>(*hardware);
  limits.max_prompt_tokens = static_cast<int>(*prompt);
  limits.max_output_tokens = static_cast<int>(*output);
  limits.max_measured_runs = static_cast<int>(*runs);
  options.max_jobs_per_worker = static_cast<int>(*per_worker);
  options.lease_seconds = *lease;
  options.heartbeat_seconds = std::max(0.2, *lease / 6);
  options.max_attempts = static_cast<int>(*attempts);
  out.listen = args.Get("listen", "127.0.0.1:7700");
  out.data_dir = args.Get("data-dir", "tcobench-data");
  out.retention_days = *retention;
  out.exposed_comparisons = static_cast<int>(*exposed);
  out.max_requests_per_second = *rate;
  out.tls = {args.Get("tls-cert"), args.Get("tls-key"), args.Get("tls-client-ca"), args.Has("insecure")};
  out.auth_tokens = args.Get("auth-tokens");
  out.metrics = {args.Get("metrics-listen", "127.0.0.1:9470"), args.Has("metrics-listen")};
  return out;
}

// The gRPC server over the service: health, reflection, call metrics.
std::unique_ptr<grpc::Server> StartServer(const Settings& settings,
                                          const std::shared_ptr<grpc::ServerCredentials>& credentials,
                                          tcobench::CoordinatorServiceImpl* service, tcobench::MetricsServer* metrics,
                                          int* port) {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(settings.listen, credentials, port);
  // Results carry every measured request: larger than gRPC's 4 MiB default.
  builder.SetMaxReceiveMessageSize(64 << 20);
  builder.RegisterService(service);
  if (metrics != nullptr) {
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
    interceptors.push_back(tcobench::NewRpcMetricsFactory(
        metrics->registry(), "tcobench_coordinator",
        {"tcobench.v1.CoordinatorService", "grpc.health.v1.Health/Check", "grpc.health.v1.Health/Watch"}));
    builder.experimental().SetInterceptorCreators(std::move(interceptors));
  }
  return builder.BuildAndStart();
}

// Until SIGTERM or SIGINT: expired leases every 200 ms, a WAL checkpoint
// every second (on its own connection), retention hourly. A failing disk
// fails every pass: it is said once, and again when it changes.
void RunHousekeeping(tcobench::Store* store, double retention_days) {
  auto last_retention = std::chrono::steady_clock::now() - std::chrono::hours(2);
  int ticks = 0;
  std::string last_error;
  while (!g_stop) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    absl::Status s = store->ExpireLeases();
    if (s.ok() && ++ticks % 5 == 0) s = store->Checkpoint();  // once a second
    const std::string now = s.ok() ? "" : std::string(s.message());
    if (now != last_error) {
      std::fprintf(stderr, "tcobench-coordinator: %s\n", now.empty() ? "the store is writable again" : now.c_str());
    }
    last_error = now;
    if (retention_days > 0 && std::chrono::steady_clock::now() - last_retention > std::chrono::hours(1)) {
      last_retention = std::chrono::steady_clock::now();
      auto n = store->DeleteFinishedOlderThan(retention_days);
      if (n.ok() && *n > 0) std::printf("retention: deleted %d finished comparisons\n", *n);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  // First of all: a SIGTERM at any moment from here on stops the process
  // cleanly and says so (it used to arrive, during start-up, at the default
  // action: a silent death).
  std::signal(SIGTERM, OnSignal);
  std::signal(SIGINT, OnSignal);
  tcobench::Args args;
  if (auto rc = tcobench::ParseDaemonArgs(kSpec, argc, argv, "tcobench-coordinator", &args)) return *rc;
  absl::StatusOr<Settings> settings = ReadSettings(args);
  if (!settings.ok()) return Fail(settings.status(), 2);
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      tcobench::MakeServerCredentials(settings->tls, settings->listen);
  if (!credentials.ok()) return Fail(credentials.status(), 2);
  std::unique_ptr<tcobench::TokenTable> tokens;
  if (!settings->auth_tokens.empty()) {
    absl::StatusOr<tcobench::TokenTable> table = tcobench::TokenTable::Load(settings->auth_tokens);
    if (!table.ok()) return Fail(table.status(), 2);
    tokens = std::make_unique<tcobench::TokenTable>(std::move(*table));
  }
  std::unique_ptr<tcobench::MetricsServer> metrics;
  if (absl::Status s = tcobench::StartMetricsForDaemon("tcobench-coordinator", settings->metrics, &metrics); !s.ok()) {
    return Fail(s, 2);
  }
  std::unique_ptr<tcobench::CoordinatorCounters> counters;
  if (metrics != nullptr) {
    counters = std::make_unique<tcobench::CoordinatorCounters>(metrics->registry());
    settings->store.on_event = [c = counters.get()](const tcobench::StoreEvent& e) { c->OnEvent(e); };
  }
  auto store = tcobench::Store::Open(settings->data_dir, settings->store);
  if (!store.ok()) return Fail(store.status(), 1);
  tcobench::AccessOptions access;
  access.tokens = tokens.get();
  access.max_requests_per_second = settings->max_requests_per_second;
  if (counters != nullptr) access.on_refused = [c = counters.get()](const char* why) { c->OnRefused(why); };
  tcobench::CoordinatorServiceImpl service(store->get(), access);
  if (metrics != nullptr) {
    tcobench::CoordinatorMetricsOptions exposure;
    exposure.result_comparisons = settings->exposed_comparisons;
    exposure.tags = settings->exposed_comparisons;
    exposure.verdicts = settings->exposed_comparisons;
    metrics->Add(std::make_shared<tcobench::StoreCollector>(store->get(), exposure));
  }
  int port = 0;
  std::unique_ptr<grpc::Server> server = StartServer(*settings, *credentials, &service, metrics.get(), &port);
  if (server == nullptr || port == 0) {
    std::fprintf(stderr, "tcobench-coordinator: cannot listen on %s\n", settings->listen.c_str());
    return 1;
  }
  const std::string host = settings->listen.substr(0, settings->listen.rfind(':'));
  const tcobench::ServerTlsOptions& tls = settings->tls;
  std::printf("tcobench-coordinator listening on %s:%d (data %s; %s; %s)\n", host.c_str(), port,
              settings->data_dir.c_str(),
              tls.cert_file.empty() ? "plaintext" : tls.client_ca_file.empty() ? "TLS" : "mutual TLS",
              tokens != nullptr ? absl::StrCat(tokens->size(), " tokens").c_str() : "no authentication");
  std::fflush(stdout);
  RunHousekeeping(store->get(), settings->retention_days);
  std::printf("tcobench-coordinator: %s received, stopping\n", g_stop == SIGINT ? "SIGINT" : "SIGTERM");
  std::fflush(stdout);
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  metrics.reset();  // its collector reads the store: stop scrapes first
  (void)(*store)->Checkpoint();
  std::printf("tcobench-coordinator stopped\n");
  std::fflush(stdout);
  return 0;
}
