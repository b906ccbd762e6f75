#!/usr/bin/env bash
# Installs every build, test and benchmark dependency of workgate on Debian 12 (run as root).
# Idempotent: when everything is present it returns quickly without touching apt.
set -euo pipefail

packages=(
  build-essential g++ cmake ninja-build pkg-config git ca-certificates curl python3 openssl
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev libboost-system1.81-dev
  libboost-context1.81-dev libboost-program-options1.81-dev
  libssl-dev libgtest-dev libgmock-dev googletest libbenchmark-dev libspdlog-dev libfmt-dev
  clang-format nginx-light wrk util-linux procps
  libhiredis-dev redis-server   # the rate limiter's Redis store (client library; server for tests, bench)
  dpkg-dev   # dpkg-shlibdeps for cpack -G DEB (scripts/package.sh)
  libnghttp2-dev   # nghttp2 (its version in workgate --version; HTTP/2)
  clang libclang-rt-14-dev   # the fuzz preset: clang 14 and its libFuzzer runtime
  libnghttp2-dev nghttp2-client python3-h2 python3-hyperframe   # HTTP/2; h2load and frame-level tests
  prometheus chromium valgrind   # tests/e2e/test_admin.py (promtool, a real scrape, the dashboard); bench/instructions.py
  python3-websockets   # tests/e2e/test_websocket.py (a real WebSocket client and server)
  haproxy linux-perf strace liburing-dev   # bench/run.py --scenario peers (not run by CI); the release-uring preset
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]}; run this script as root" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The nginx package starts a system service on port 80; tests and benchmarks run their own instances.
if command -v systemctl >/dev/null 2>&1; then systemctl disable --now nginx >/dev/null 2>&1 || true; fi
# Likewise redis-server: tests and benchmarks start their own on free ports.
if command -v systemctl >/dev/null 2>&1; then systemctl disable --now redis-server >/dev/null 2>&1 || true; fi
if [ -x /usr/sbin/nginx ] && pgrep -x nginx >/dev/null 2>&1; then /usr/sbin/nginx -s quit >/dev/null 2>&1 || true; fi
# Likewise the prometheus package's service (port 9090): the admin e2e test starts its own server.
if command -v systemctl >/dev/null 2>&1; then systemctl disable --now prometheus >/dev/null 2>&1 || true; fi
# Likewise haproxy's service: the peers benchmark starts its own.
if command -v systemctl >/dev/null 2>&1; then systemctl disable --now haproxy >/dev/null 2>&1 || true; fi
echo "install-deps: done"
