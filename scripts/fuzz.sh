#!/usr/bin/env bash
# Builds the `fuzz` preset (clang, libFuzzer, every library instrumented with ASan + UBSan) and runs every
# fuzz target for SECONDS each (default 60) on a copy of its seed corpus, so that fuzz/corpus/ is never
# modified. Runs them all, then fails (exit 1) if any crashed, leaked, hung (-timeout=10) or ran out of
# memory (-rss_limit_mb=2048), printing the report head and the path of the input that caused it.
#
# Usage: scripts/fuzz.sh [SECONDS]        WG_FUZZ_TARGETS="router connection" limits the targets.
# Keep the crashing input: add it to fuzz/corpus/<target>/ once the bug is fixed.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
seconds="${1:-60}"

if [ ! -f build/fuzz/build.ninja ]; then
  launcher=()
  if command -v ccache >/dev/null 2>&1; then
    launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
  fi
  cmake --preset fuzz "${launcher[@]}" >/dev/null
fi
cmake --build --preset fuzz

if [ -n "${WG_FUZZ_TARGETS:-}" ]; then
  read -r -a targets <<<"$WG_FUZZ_TARGETS"
else
  targets=()
  for source in fuzz/*_fuzz.cpp; do
    name="$(basename "$source" _fuzz.cpp)"
    targets+=("$name")
  done
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/workgate-fuzz.XXXXXX")"
failed=()
for target in "${targets[@]}"; do
  binary="build/fuzz/fuzz_$target"
  if [ ! -x "$binary" ]; then
    echo "fuzz: $binary not built" >&2
    exit 1
  fi
  mkdir -p "$work/$target/corpus" "$work/$target/artifacts"
  cp -r "fuzz/corpus/$target/." "$work/$target/corpus/" 2>/dev/null || true
  start=$SECONDS
  set +e
  "$binary" "$work/$target/corpus" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$work/$target/artifacts/" >"$work/$target/log" 2>&1
  status=$?
  set -e
  stats="$(grep -E '^#[0-9]+.*DONE' "$work/$target/log" | tail -1 | sed -E 's/^#([0-9]+)\s+DONE\s+/\1 runs, /')"
  if [ "$status" -eq 0 ]; then
    echo "fuzz: $target ok in $((SECONDS - start))s: ${stats:-no stats}"
    continue
  fi
  failed+=("$target")
  echo "fuzz: $target FAILED (exit $status) after $((SECONDS - start))s; log: $work/$target/log" >&2
  grep -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|SUMMARY:|fuzz: ' "$work/$target/log" |
    head -20 >&2 || true
  for input in "$work/$target/artifacts"/*; do
    [ -e "$input" ] || continue
    echo "fuzz: crash input: $input (replay: $root/$binary $input)" >&2
  done
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: failed: ${failed[*]} (inputs and logs kept in $work)" >&2
  exit 1
fi
rm -rf "$work"
echo "fuzz: all ${#targets[@]} targets passed (${seconds}s each)"
