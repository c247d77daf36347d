// What the client commands share: the coordinator's address and a stub for
// it, and a server error as one readable line with its exit code.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "services/cli/args.h"
#include "tcobench/v1/coordinator.grpc.pb.h"

namespace tcobench::cli {

// --coordinator, else $TCOBENCH_COORDINATOR, else 127.0.0.1:7700.
std::string CoordinatorAddress(const Args& args);
std::unique_ptr<v1::CoordinatorService::Stub> Connect(const Args& args);
// Prints the error; returns 2 for the caller's mistakes, 1 otherwise.
int ReportRpc(const grpc::Status& s, const Args& args);
void Deadline(grpc::ClientContext* ctx, int seconds = 30);

inline const FlagSpec kCoordinatorFlag = {
    "coordinator", "", true, "ADDR", "coordinator address (default $TCOBENCH_COORDINATOR, else 127.0.0.1:7700)"};

}  // namespace tcobench::cli
