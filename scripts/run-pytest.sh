#!/usr/bin/env bash
# Runs the whole suite. pytest's exit code 5 means it collected no test: for this project that
# is a broken suite, never a pass.
set -uo pipefail
python="${1:-python3}"
"$python" -m pytest "${@:2}"
code=$?
if [ "$code" -eq 5 ]; then
  echo "pytest collected no tests: the suite is broken" >&2
  exit 1
fi
exit "$code"
