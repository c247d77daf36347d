#include "common/metrics/rpc_metrics.h"

#include <google/protobuf/descriptor.h>
#include <prometheus/counter.h>
#include <prometheus/histogram.h>

#include <chrono>
#include <map>
#include <mutex>
#include <string_view>

#include "common/base/clock.h"
#include "common/metrics/metrics_server.h"

namespace tcobench {
namespace {

constexpr grpc::StatusCode kCodes[] = {grpc::StatusCode::OK,
                                       grpc::StatusCode::CANCELLED,
                                       grpc::StatusCode::UNKNOWN,
                                       grpc::StatusCode::INVALID_ARGUMENT,
                                       grpc::StatusCode::DEADLINE_EXCEEDED,
                                       grpc::StatusCode::NOT_FOUND,
                                       grpc::StatusCode::ALREADY_EXISTS,
                                       grpc::StatusCode::PERMISSION_DENIED,
                                       grpc::StatusCode::RESOURCE_EXHAUSTED,
                                       grpc::StatusCode::FAILED_PRECONDITION,
                                       grpc::StatusCode::ABORTED,
                                       grpc::StatusCode::OUT_OF_RANGE,
                                       grpc::StatusCode::UNIMPLEMENTED,
                                       grpc::StatusCode::INTERNAL,
                                       grpc::StatusCode::UNAVAILABLE,
                                       grpc::StatusCode::DATA_LOSS,
                                       grpc::StatusCode::UNAUTHENTICATED};

// "/pkg.Service/Method" -> ("pkg.Service", "Method").
std::pair<std::string, std::string> SplitMethod(const char* full) {
  std::string s = full == nullptr ? "" : full;
  if (!s.empty() && s[0] == '/') s.erase(0, 1);
  const size_t slash = s.find('/');
  if (slash == std::string::npos) return {"unknown", s.empty() ? "unknown" : s};
  return {s.substr(0, slash), s.substr(slash + 1)};
}

// Every known method's series resolved once, at start: a call then costs
// atomic increments, not a label lookup under the family's lock.
struct MethodSlot {
  std::string service, method;
  prometheus::Counter* calls[std::size(kCodes)] = {};
  prometheus::Histogram* ok_seconds = nullptr;
};

class RpcMetrics {
 public:
  RpcMetrics(prometheus::Registry& registry, const std::string& prefix)
      : calls_(prometheus::BuildCounter()
                   .Name(prefix + "_rpcs_total")
                   .Help("gRPC calls handled, by service, method and status code")
                   .Register(registry)),
        seconds_(
            prometheus::BuildHistogram()
                .Name(prefix + "_rpc_duration_seconds")
                .Help("gRPC call time from arrival to the status sent (streams: their whole life)")
                .Register(registry)) {}

  // Before serving only: slots_ is read without a lock afterwards.
  void Known(const std::string& service, const std::string& method) {
    MethodSlot& slot = slots_["/" + service + "/" + method];
    slot.service = service;
    slot.method = method;
    for (size_t i = 0; i < std::size(kCodes); ++i)
      slot.calls[i] = &Calls(service, method, GrpcCodeName(kCodes[i]));
    slot.ok_seconds = &Histogram(service, method, "OK");
  }

  // The slot for "/pkg.Service/Method", or null for a method not known up front.
  const MethodSlot* Find(const char* full) const {
    auto it = slots_.find(std::string_view(full == nullptr ? "" : full));
    return it == slots_.end() ? nullptr : &it->second;
  }

  void Record(const MethodSlot* slot, const char* full, grpc::StatusCode code, double seconds) {
    const size_t c = static_cast<size_t>(code);
    if (slot != nullptr && c < std::size(kCodes)) {
      slot->calls[c]->Increment();
      (code == grpc::StatusCode::OK ? *slot->ok_seconds
                                    : Histogram(slot->service, slot->method, GrpcCodeName(code)))
          .Observe(seconds);
      return;
    }
    const auto [service, method] = SplitMethod(full);
    Calls(service, method, GrpcCodeName(code)).Increment();
    Histogram(service, method, GrpcCodeName(code)).Observe(seconds);
  }

 private:
  prometheus::Counter& Calls(const std::string& service, const std::string& method,
                             const char* code) {
    return calls_.Add({{"service", service}, {"method", method}, {"code", code}});
  }
  prometheus::Histogram& Histogram(const std::string& service, const std::string& method,
                                   const char* code) {
    return seconds_.Add({{"service", service}, {"method", method}, {"code", code}},
                        SecondsBuckets());
  }
  prometheus::Family<prometheus::Counter>& calls_;
  prometheus::Family<prometheus::Histogram>& seconds_;
  std::map<std::string, MethodSlot, std::less<>> slots_;
};

class RpcMetricsInterceptor final : public grpc::experimental::Interceptor {
 public:
  RpcMetricsInterceptor(RpcMetrics* metrics, const char* method)
      : metrics_(metrics), slot_(metrics->Find(method)), start_(std::chrono::steady_clock::now()) {
    if (slot_ == nullptr && method != nullptr) full_ = method;  // an unknown method: keep its name
  }
  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_STATUS)) {
      const double seconds = SecondsSince(start_);
      metrics_->Record(slot_, full_.c_str(), methods->GetSendStatus().error_code(), seconds);
    }
    methods->Proceed();
  }

 private:
  RpcMetrics* metrics_;
  const MethodSlot* slot_;
  std::string full_;
  std::chrono::steady_clock::time_point start_;
};

class RpcMetricsFactory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  RpcMetricsFactory(prometheus::Registry& registry, const std::string& prefix,
                    const std::vector<std::string>& known)
      : metrics_(registry, prefix) {
    const auto* pool = google::protobuf::DescriptorPool::generated_pool();
    for (const std::string& name : known) {
      if (name.find('/') != std::string::npos) {
        const auto [service_name, method] = SplitMethod(name.c_str());
        metrics_.Known(service_name, method);
        continue;
      }
      const google::protobuf::ServiceDescriptor* service = pool->FindServiceByName(name);
      if (service == nullptr) continue;
      for (int i = 0; i < service->method_count(); ++i)
        metrics_.Known(name, service->method(i)->name());
    }
  }
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new RpcMetricsInterceptor(&metrics_, info->method());
  }

 private:
  RpcMetrics metrics_;
};

}  // namespace

const char* GrpcCodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return "OK";
    case grpc::StatusCode::CANCELLED:
      return "CANCELLED";
    case grpc::StatusCode::UNKNOWN:
      return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED:
      return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE:
      return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL:
      return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS:
      return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    default:
      return "UNKNOWN";
  }
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> NewRpcMetricsFactory(
    prometheus::Registry& registry, const std::string& prefix,
    const std::vector<std::string>& known) {
  return std::make_unique<RpcMetricsFactory>(registry, prefix, known);
}

}  // namespace tcobench
