#!/usr/bin/env bash
# Installs dependencies, builds the release preset and runs every test: unit tests, end-to-end tests
# against the real binary, and the conformance suites from ../shared/conformance (when present).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"

scripts/install-deps.sh
scripts/build.sh release

echo "== unit and end-to-end tests (ctest)"
ctest --preset release -j2

shared="$root/../shared/conformance"
if [ -d "$shared" ]; then
  echo "== conformance suites"
  python3 "$shared/run.py" --gateway build/release/workgate "$shared/core"
  python3 "$shared/run.py" --gateway build/release/workgate "$shared/proxy"
  sidecar="$(ls build/release/workers/*sidecar*.so 2>/dev/null | head -1 || true)"
  if [ -n "$sidecar" ]; then
    python3 "$shared/run.py" --gateway build/release/workgate --var "SIDECAR=$root/$sidecar" "$shared/workers"
  fi
else
  echo "== conformance suites skipped: $shared not found"
fi
echo "== all tests passed"
