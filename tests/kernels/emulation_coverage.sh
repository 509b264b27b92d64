#!/usr/bin/env bash
# Every __global__ kernel in kernels/cuda/ must run on the CPU in an emulated test, or be listed,
# with the reason, in tests/kernels/emulation_pending.txt. A kernel counts as emulated when a
# tests/kernels/*_emulated_test.cpp asserts that it ran: `launched(... name ...)` or
# `shapes_of(... name ...)` on an EmulatedLaunch (tests/support/emulated_launch.h). Fails for a
# kernel that is neither, for a listed kernel that is tested (the list only shrinks) and for a
# listed name that is no kernel. Run by ctest (emulation_coverage).
#
#   tests/kernels/emulation_coverage.sh [REPO_ROOT]
set -euo pipefail

root="${1:-$(dirname "${BASH_SOURCE[0]}")/../..}"
pending_file="$root/tests/kernels/emulation_pending.txt"

# Declarations span lines (`__global__ void __launch_bounds__(256)\n    name(`), so each file is
# read as one line. Comments that mention __global__ are not followed by `void`.
mapfile -t kernels < <(
  for f in "$root"/kernels/cuda/*.cu "$root"/kernels/cuda/*.cuh "$root"/kernels/cuda/*.h; do
    tr '\n' ' ' <"$f"
    echo
  done | grep -oE '__global__ +void +(__launch_bounds__ *\([^)]*\) +)?[A-Za-z_][A-Za-z0-9_]*' |
    awk '{print $NF}' | sort -u)

mapfile -t tested < <(
  for f in "$root"/tests/kernels/*_emulated_test.cpp; do
    tr '\n' ' ' <"$f"
    echo
  done | grep -oE '(launched|shapes_of)\( *([A-Za-z_][A-Za-z0-9_]*::)*[A-Za-z_][A-Za-z0-9_]*' |
    sed -E 's/.*[(:] *//' | sort -u)

mapfile -t pending < <(sed -E 's/#.*//; s/:.*//; s/[[:space:]]+//g' "$pending_file" | grep -v '^$' |
  sort)

contains() {
  local needle="$1"
  shift
  local x
  for x in "$@"; do [[ "$x" == "$needle" ]] && return 0; done
  return 1
}

status=0
emulated=0
for k in "${kernels[@]}"; do
  is_tested=0 is_pending=0
  contains "$k" "${tested[@]}" && is_tested=1
  contains "$k" "${pending[@]}" && is_pending=1
  if ((is_tested && is_pending)); then
    echo "FAIL: $k runs in an emulated test: remove it from $pending_file"
    status=1
  elif ((is_tested)); then
    emulated=$((emulated + 1))
  elif ((!is_pending)); then
    echo "FAIL: kernel $k has no emulated test (assert launched($k) in a" \
      "tests/kernels/*_emulated_test.cpp) and is not listed in $pending_file"
    status=1
  fi
done
for p in "${pending[@]}"; do
  if ! contains "$p" "${kernels[@]}"; then
    echo "FAIL: $pending_file lists $p, which is no __global__ function in kernels/cuda/"
    status=1
  fi
done

echo "${#kernels[@]} __global__ kernels in kernels/cuda/: $emulated emulated, ${#pending[@]} pending"
for p in "${pending[@]}"; do echo "  pending: $(grep -E "^$p *:" "$pending_file")"; done
exit "$status"
