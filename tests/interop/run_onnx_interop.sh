#!/usr/bin/env bash
# ctest's onnx_interop: runs onnx_interop.py with .venv-onnx's Python (ONNX Runtime) on the built
# cifar10, in a scratch folder; exits 77 (ctest SKIP_RETURN_CODE) when there is no venv, as on CI,
# or when this cifar10 was built without ONNX support.
#
#   tests/interop/run_onnx_interop.sh CIFAR10_BINARY
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
python="$repo/.venv-onnx/bin/python"
if [[ ! -x "$python" ]]; then
  echo "skipped: no .venv-onnx (run scripts/setup-onnx)"
  exit 77
fi
cifar10="${1:?the cifar10 binary}"
# A build without libonnx answers every export so, before reading the model file.
answer="$("$cifar10" export --quiet --model /nonexistent.h5 --onnx /nonexistent.onnx 2>&1 || true)"
if [[ "$answer" == *"no ONNX support"* ]]; then
  echo "skipped: this cifar10 was built without ONNX support"
  exit 77
fi
work="$(mktemp -d "${TMPDIR:-/tmp}/kiln_onnx_interop.XXXXXX")"
trap 'rm -rf "$work"' EXIT
"$python" "$repo/tests/interop/onnx_interop.py" "$cifar10" "$work"
