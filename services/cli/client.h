// What the client commands share: the coordinator's address and a stub for
// it, and a server error as one readable line with its exit code.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "services/cli/args.h"
#include "services/security/transport.h"
#include "tcobench/v1/coordinator.grpc.pb.h"

namespace tcobench::cli {

using CoordinatorStub = v1::CoordinatorService::Stub;

// --coordinator, else $TCOBENCH_COORDINATOR, else 127.0.0.1:7700.
std::string CoordinatorAddress(const Args& args);
// The connection --coordinator, --tls-ca, --tls-cert, --tls-key and
// --token-file (else $TCOBENCH_TOKEN) describe; errors name the flag.
absl::StatusOr<ClientOptions> ConnectionOptions(const Args& args);
absl::StatusOr<std::unique_ptr<CoordinatorStub>> Connect(const Args& args);
// Prints the error; returns 2 for the caller's mistakes, 1 otherwise.
int ReportRpc(const grpc::Status& s, const Args& args);
// One unary call on a fresh connection, with a 30 s deadline:
// Call(args, &CoordinatorStub::CancelComparison, req, &resp).
template <typename Req, typename Resp>
grpc::Status Call(const Args& args,
                  grpc::Status (CoordinatorStub::*rpc)(grpc::ClientContext*, const Req&, Resp*),
                  const Req& req, Resp* resp) {
  auto stub = Connect(args);
  if (!stub.ok()) return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, std::string(stub.status().message()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  return (stub->get()->*rpc)(&ctx, req, resp);
}

inline const FlagSpec kCoordinatorFlag = {
    "coordinator", "", true, "ADDR", "coordinator address (default $TCOBENCH_COORDINATOR, else 127.0.0.1:7700)"};

}  // namespace tcobench::cli
