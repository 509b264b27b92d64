#!/usr/bin/env bash
# Runs the data-parallel suite as a job of 2 processes: `run_mpi.sh BINARY [GTEST_ARGS...]`.
# Exit 77 (ctest's SKIP) when this machine has no mpirun or the build has no MPI, saying which.
set -uo pipefail
bin="$1"
shift
if ! command -v mpirun >/dev/null; then
  echo "skipped: no mpirun on this machine (Debian: openmpi-bin; scripts/setup installs it)"
  exit 77
fi
if ! "$bin" --built-with-mpi; then
  echo "skipped: this build has no MPI (libopenmpi-dev was absent when it was configured)"
  exit 77
fi
# --oversubscribe: 2 ranks even on a 1-core machine; --allow-run-as-root: CI runs as root.
exec mpirun --allow-run-as-root --oversubscribe -np 2 --bind-to none "$bin" "$@"
