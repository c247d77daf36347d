#!/usr/bin/env bash
# Installs everything tcobench needs to build and test on a bare Debian 12.
# Every dependency is a Debian package; nothing is downloaded at build time.
# --test adds what only the test suite needs: headless Chromium and Pillow
# for the HTML report's browser test; Prometheus (with promtool) for the
# dashboards test and the rule checks; docker-compose, kubectl, yamllint and
# systemd-analyze for the deployment files' checks.
set -euo pipefail
packages=(
  cmake ninja-build g++ pkg-config
  libabsl-dev            # absl::Status, StatusOr, strings
  libboost-test-dev      # Boost.Test for the unit and integration tests
  nlohmann-json3-dev     # JSON: ARC task files, test fixtures
  libicu-dev             # Unicode categories for the GPT-2 pre-tokenizer
  libprotobuf-dev protobuf-compiler  # the tcobench.v1 messages and their JSON mapping
  libssl-dev             # SHA-256 of model files (OpenSSL libcrypto)
  libgrpc++-dev protobuf-compiler-grpc  # the coordinator/worker gRPC API
  libsqlite3-dev         # the coordinator's store
  prometheus-cpp-dev     # /metrics on the coordinator and workers
  clang libclang-rt-14-dev  # libFuzzer for the GGUF reader fuzz target
  python3
  python3-grpcio python3-protobuf  # the independent Python client test
)
if [ "${1:-}" = "--test" ]; then
  packages+=(chromium python3-pil)  # the HTML report in a real browser
  packages+=(prometheus docker-compose yamllint python3-yaml systemd)
  packages+=(openssl)  # test certificates for the TLS tests
  packages+=(e2fsprogs util-linux)  # the fault test's read-only disk (mkfs.ext4, mount)
  packages+=(xz-utils)  # bench/cuda_pack.sh compresses the libraries it bundles (cuda_scripts_test)
  # kubectl: Debian's kubernetes-client, unless the machine has one already
  # (another package's kubectl would conflict with it).
  command -v kubectl >/dev/null || packages+=(kubernetes-client)
  command -v npm >/dev/null || packages+=(npm)  # npm pack node-llama-cpp: llama-server for the endpoint test
  packages+=(git)
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# --test also builds llama.cpp's llama-server for the endpoint integration
# test, once, into a cache folder (scripts/build-llama-cpp.sh: 492 s on a
# 2-vCPU VM; later runs reuse it). Its failure (no npm registry, say) leaves
# that test skipped, not the install failed.
if [ "${1:-}" = "--test" ]; then
  "$(dirname "$0")/build-llama-cpp.sh" >/dev/null ||
    echo "install-deps.sh: llama.cpp was not built; the endpoint test will be skipped" >&2
fi
