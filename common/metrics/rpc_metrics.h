// gRPC server metrics: every call counted by service, method and status
// code, and timed (arrival to status sent), through a server interceptor.
// Counters for every method of the given services start at zero for every
// code, so rates and alerts work from the first scrape.
#pragma once

#include <grpcpp/grpcpp.h>
#include <grpcpp/support/server_interceptor.h>

#include <memory>
#include <string>
#include <vector>

#include <prometheus/registry.h>

namespace tcobench {

// `known`: what is served, for zeroed counters: full protobuf service names
// whose methods the descriptor pool lists (e.g. "tcobench.v1.CoordinatorService"),
// or "service/method" for services outside it (gRPC's built-in health
// service: "grpc.health.v1.Health/Check").
// Register the returned factory with ServerBuilder::experimental()
// .SetInterceptorCreators. `prefix`: e.g. "tcobench_coordinator".
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> NewRpcMetricsFactory(
    prometheus::Registry& registry, const std::string& prefix,
    const std::vector<std::string>& known);

// The status code's canonical name, e.g. "OK", "NOT_FOUND".
const char* GrpcCodeName(grpc::StatusCode code);

}  // namespace tcobench
