#!/usr/bin/env bash
# Runs the Python suites (tests/python/test_*.py) side by side, one process each: they share
# nothing (each starts its own emulator, extension and moto on free ports). Each suite's output
# goes to a log that is printed when it fails; the exit status is non-zero if any failed.
# Usage: scripts/python-suites.sh PYTHON
set -uo pipefail
cd "$(dirname "$0")/.."
py=${1:?usage: $0 PYTHON}
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
declare -A pids
for suite in tests/python/test_*.py; do
    name=$(basename "$suite" .py)
    "$py" -m unittest discover -s tests/python -p "$name.py" -v >"$logs/$name.log" 2>&1 &
    pids[$name]=$!
done
failed=0
for name in "${!pids[@]}"; do
    if wait "${pids[$name]}"; then
        echo "== $name: $(grep -E '^Ran [0-9]+ tests' "$logs/$name.log") OK $(grep -oE '\(skipped=[0-9]+\)' "$logs/$name.log")"
    else
        echo "== $name FAILED:"
        cat "$logs/$name.log"
        failed=1
    fi
done
exit $failed
