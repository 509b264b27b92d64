#!/usr/bin/env bash
# ctest's keras_interop: runs keras_interop.py with .venv-keras's Python on the built cifar10, in a
# scratch folder; exits 77 (ctest SKIP_RETURN_CODE) when there is no venv, as on CI.
#
#   tests/interop/run_keras_interop.sh CIFAR10_BINARY
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
python="$repo/.venv-keras/bin/python"
if [[ ! -x "$python" ]]; then
  echo "skipped: no .venv-keras (run scripts/setup-keras)"
  exit 77
fi
work="$(mktemp -d "${TMPDIR:-/tmp}/kiln_keras_interop.XXXXXX")"
trap 'rm -rf "$work"' EXIT
"$python" "$repo/tests/interop/keras_interop.py" "${1:?the cifar10 binary}" "$work"
