#!/usr/bin/env bash
# ctest's keras_batch_norm_interop: Keras 3 writes BatchNormalization weights and outputs
# (keras_batch_norm.py) with .venv-keras's Python, then kiln_weights_tests' KerasBatchNormInterop
# loads them into BatchNorm2d and must compute what Keras computed, and Keras loads what Kiln then
# writes (keras_batch_norm.py verify); exits 77 (ctest
# SKIP_RETURN_CODE) when there is no venv, as on CI.
#
#   tests/interop/run_keras_batch_norm.sh KILN_WEIGHTS_TESTS_BINARY
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
python="$repo/.venv-keras/bin/python"
if [[ ! -x "$python" ]]; then
  echo "skipped: no .venv-keras (run scripts/setup-keras)"
  exit 77
fi
work="$(mktemp -d "${TMPDIR:-/tmp}/kiln_keras_bn.XXXXXX")"
trap 'rm -rf "$work"' EXIT
"$python" "$repo/tests/interop/keras_batch_norm.py" write "$work"
out="$(KILN_KERAS_BN_DIR="$work" "${1:?the kiln_weights_tests binary}" \
  --gtest_filter='KerasBatchNormInterop.*' 2>&1)" || { echo "$out"; exit 1; }
echo "$out"
# The test skips without KILN_KERAS_BN_DIR; here it must have run.
if grep -q "SKIPPED" <<<"$out" || ! grep -q "PASSED" <<<"$out"; then
  echo "keras_batch_norm_interop: the C++ half did not run" >&2
  exit 1
fi
"$python" "$repo/tests/interop/keras_batch_norm.py" verify "$work"
