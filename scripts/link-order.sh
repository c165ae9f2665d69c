#!/usr/bin/env bash
# Regenerates cache-extension/link-order.txt: the functions the extension runs when it starts,
# builds a snapshot of 2,000 profiles from the local emulator and serves requests (the
# benchmark's memory scenario), recorded by valgrind's callgrind on a release build with symbols.
# Run it after changes that move code (dependency updates, new paths); a stale list only costs
# memory (cache-extension/build.rs). Needs valgrind (installed from Debian's packages if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO=${CARGO:-cargo}
PY=${PY:-.venv/bin/python}
command -v valgrind >/dev/null 2>&1 || {
    echo "== Installing valgrind from Debian's packages"
    SUDO=$( [ "$(id -u)" = 0 ] || echo sudo )
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq valgrind
}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== Release build of the extension with symbols, and the benchmark"
$CARGO build --release -p profile-resolver-tests --bin bench
$CARGO rustc --release -p cache-extension --bin cache-extension -- -C strip=none
cp target/release/cache-extension "$work/cache-extension"

# The benchmark starts target/release/cache-extension with a cleared environment and kills it
# with SIGKILL; the wrapper runs callgrind in the background so that it outlives that kill, and
# is stopped below with SIGTERM, on which the extension exits and callgrind writes its profile.
cat > target/release/cache-extension <<WRAP
#!/bin/sh
$(command -v valgrind) --tool=callgrind --demangle=no --dump-instr=no \
  --callgrind-out-file=$work/callgrind.out "$work/cache-extension" "\$@" &
echo \$! > $work/pid
wait
WRAP
chmod +x target/release/cache-extension

echo "== The memory scenario under callgrind"
BENCH_ONLY=memory timeout 600 target/release/bench >/dev/null
pid=$(cat "$work/pid")
kill -TERM "$pid" 2>/dev/null || true
for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
kill -KILL "$pid" 2>/dev/null || true

python=$PY; [ -x "$python" ] || python=python3
"$python" scripts/link_order.py "$work/callgrind.out" "$work/cache-extension" > "$work/order.txt"
mv "$work/order.txt" cache-extension/link-order.txt
echo "== $(wc -l < cache-extension/link-order.txt) functions in cache-extension/link-order.txt"

echo "== The release extension again, linked in that order"
$CARGO build --release -p cache-extension
