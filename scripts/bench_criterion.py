"""Appends the criterion engine results to the benchmark table, read from criterion's own
estimates.json files (not its console output):
bench_criterion.py target/criterion benchmarks.md"""
import json
import sys
from pathlib import Path

TARGETS = {"query_3_keys/2000": "about 1 µs", "query_3_keys/100000": "<= 5 µs",
           "read_published_snapshot/2000": "<= 5 ms"}


def pretty(ns):
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3g} {unit}"
    return f"{ns:.3g} ns"


def rows(root):
    """(benchmark id, median ns) for every benchmark criterion measured under `root`."""
    for estimates in sorted(Path(root).glob("**/new/estimates.json")):
        bench = json.loads((estimates.parent / "benchmark.json").read_text())
        median = json.loads(estimates.read_text())["median"]["point_estimate"]
        yield bench.get("full_id") or bench["title"], median


def main():
    found = list(rows(sys.argv[1]))
    if not found:
        raise SystemExit(f"no criterion estimates under {sys.argv[1]}")
    with open(sys.argv[2], "a") as out:
        out.write("\n## 3. The in-process engine (criterion, median)\n\n| benchmark | time | target |\n|---|---|---|\n")
        for name, ns in found:
            out.write(f"| {name} | {pretty(ns)} | {TARGETS.get(name, '')} |\n")


if __name__ == "__main__":
    main()
