"""Appends the criterion engine results to the benchmark table:
bench_criterion.py criterion-output.txt benchmarks.md"""
import re
import sys


def main():
    text = open(sys.argv[1]).read()
    rows = re.findall(r"^(\S+)\s+time:\s+\[\S+ \S+ (\S+ \S+) \S+ \S+\]", text, re.M)
    targets = {"query_3_keys/2000": "about 1 µs"}
    with open(sys.argv[2], "a") as out:
        out.write("\n## 3. The in-process engine (criterion, median)\n\n| benchmark | time | target |\n|---|---|---|\n")
        for name, time in rows:
            out.write(f"| {name} | {time} | {targets.get(name, '')} |\n")


if __name__ == "__main__":
    main()
