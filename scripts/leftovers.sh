#!/usr/bin/env bash
# Fails when a process started by the test suites is still running: the workspace's binaries
# (target/), and the tools of the project's venv (moto_server, cargo-lambda). Each suite stops
# what it starts; this is the check that it did. Bounded: it looks once, after a short grace.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
sleep 1
found=0
for proc in /proc/[0-9]*; do
  pid="${proc#/proc/}"
  [ "$pid" = "$$" ] && continue
  exe="$(readlink "$proc/exe" 2>/dev/null || true)"
  cmd="$(tr '\0' ' ' < "$proc/cmdline" 2>/dev/null || true)"
  case "$exe $cmd" in
    "$root/target/"*|*"$root/.venv/bin/moto_server"*|*"$root/.venv/bin/cargo-lambda"*)
      echo "left running: pid $pid: ${cmd:-$exe}"
      found=1 ;;
  esac
done
if [ "$found" = 1 ]; then
  echo "the suites left processes behind (above)"
  exit 1
fi
echo "== no process left behind"
