#!/usr/bin/env bash
# Builds the Debian package of workgate: build/release/workgate_VERSION_ARCH.deb.
#   scripts/package.sh            configure (release preset) and build if needed, then cpack -G DEB
# Install it with: apt install ./build/release/workgate_*.deb
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ! -f build/release/CMakeCache.txt ]]; then
  cmake --preset release
fi
cmake --build build/release -j"${JOBS:-2}"
(cd build/release && cpack -G DEB)
ls -1 build/release/workgate_*.deb
