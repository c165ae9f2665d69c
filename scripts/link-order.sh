#!/usr/bin/env bash
# Regenerates the extension's link order (cache-extension/build.rs): the functions it runs when
# it starts, builds a snapshot of 2,000 profiles from the local emulator and answers its health
# checks (the benchmark's memory scenario, which measures idle RSS), recorded by callgrind.
#   scripts/link-order.sh          cache-extension/link-order.txt, from a native release build
#                                  with symbols (rust-lld's --symbol-ordering-file)
#   scripts/link-order.sh --layer  cache-extension/link-order.x86_64-lambda.txt, from the x86_64
#                                  Lambda layer as `cargo lambda` builds it: stripped, and hashed
#                                  unlike any build with symbols, so its code is named by the
#                                  linker's map (needs cargo-lambda in the venv)
# Run it after changes that move code (dependency updates, new paths); a stale list only costs
# memory. Needs valgrind (installed from Debian's packages if missing). KEEP_WORK=1 keeps the
# work directory (the build log with the map, callgrind's profile, the mappings) to look at.
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO=${CARGO:-cargo}
PY=${PY:-.venv/bin/python}
layer=0
[ "${1:-}" = "--layer" ] && layer=1
command -v valgrind >/dev/null 2>&1 || {
    echo "== Installing valgrind from Debian's packages"
    SUDO=$( [ "$(id -u)" = 0 ] || echo sudo )
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq valgrind
}
work=$(mktemp -d)
shipped=target/release/cache-extension
# The benchmark runs target/release/cache-extension: it is replaced by a wrapper below, and put
# back however this script ends.
restore() {
    [ -f "$work/shipped" ] && cp "$work/shipped" "$shipped"
    [ -n "${KEEP_WORK:-}" ] || rm -rf "$work"
}
trap restore EXIT

echo "== The benchmark, and the native release extension"
$CARGO build --release -p profile-resolver-tests --bin bench
$CARGO build --release -p cache-extension
cp "$shipped" "$work/shipped"
if [ $layer = 1 ]; then
    echo "== The x86_64 layer, as cargo lambda builds it, with the linker's map"
    PROFILE_RESOLVER_LINK_MAP=1 $CARGO lambda build --release --extension --bin cache-extension \
        --x86-64 2> "$work/build.log" || { tail -50 "$work/build.log"; exit 1; }
    cp target/lambda/extensions/cache-extension "$work/cache-extension"
    list=cache-extension/link-order.x86_64-lambda.txt
    instr=yes
else
    echo "== Release build of the extension with symbols"
    $CARGO rustc --release -p cache-extension --bin cache-extension -- -C strip=none
    cp "$shipped" "$work/cache-extension"
    list=cache-extension/link-order.txt
    instr=no
fi

# The benchmark starts target/release/cache-extension with a cleared environment and kills it
# with SIGKILL; the wrapper runs callgrind in the background so that it outlives that kill, and
# is stopped below with SIGTERM, on which the extension exits and callgrind writes its profile.
# It also keeps the process's mappings: the stripped layer's addresses are read against them.
cat > "$shipped" <<WRAP
#!/bin/sh
$(command -v valgrind) --tool=callgrind --demangle=no --dump-instr=$instr --dump-line=no \
  --callgrind-out-file=$work/callgrind.out "$work/cache-extension" "\$@" &
vpid=\$!
echo \$vpid > $work/pid
(sleep 1; cat /proc/\$vpid/maps > $work/maps) &
wait
WRAP
chmod +x "$shipped"

echo "== The memory scenario under callgrind"
BENCH_ONLY=memory timeout 600 target/release/bench >/dev/null
pid=$(cat "$work/pid")
kill -TERM "$pid" 2>/dev/null || true
for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
kill -KILL "$pid" 2>/dev/null || true

python=$PY; [ -x "$python" ] || python=python3
if [ $layer = 1 ]; then
    "$python" scripts/link_order.py --map "$work/build.log" "$work/callgrind.out" "$work/maps" \
        "$work/cache-extension" > "$work/order.txt"
else
    "$python" scripts/link_order.py "$work/callgrind.out" "$work/cache-extension" > "$work/order.txt"
fi
mv "$work/order.txt" "$list"
echo "== $(wc -l < "$list") functions in $list"
restore
trap - EXIT
if [ $layer = 0 ]; then
    echo "== The release extension again, linked in that order"
    $CARGO build --release -p cache-extension
fi
