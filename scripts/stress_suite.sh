#!/usr/bin/env bash
# The whole suite N times in a row (default 3) on a clean clone of this checkout's HEAD, each run
# beside `stress-ng --cpu 2` keeping both cores busy: the "tests hold under load" measure of
# docs/reliability.md. About 20 minutes per run on 2 cores; stops at the first failing run.
#
#   scripts/stress_suite.sh [runs]      (logs and a summary in $STRESS_DIR, default /tmp/stress-suite)
set -euo pipefail
runs="${1:-3}"
out="${STRESS_DIR:-/tmp/stress-suite}"
here="$(cd "$(dirname "$0")/.." && pwd)"
command -v stress-ng >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq stress-ng >/dev/null
rm -rf "$out" && mkdir -p "$out"
git clone -q "$here" "$out/clone"
cd "$out/clone"
echo "commit $(git rev-parse --short HEAD)" | tee "$out/summary"
make venv prod-venv browser-deps >"$out/setup.log" 2>&1
for i in $(seq 1 "$runs"); do
  stress-ng --cpu 2 --timeout 7200s >/dev/null 2>&1 &
  stress=$!
  start=$(date +%s)
  rc=0
  make test >"$out/run$i.log" 2>&1 || rc=$?
  kill "$stress" && wait "$stress" 2>/dev/null || true
  echo "run $i: rc=$rc in $(($(date +%s) - start)) s: $(grep -E '[0-9]+ (passed|failed)' "$out/run$i.log" | tail -1)" \
    | tee -a "$out/summary"
  [ "$rc" -eq 0 ] || exit "$rc"
done
