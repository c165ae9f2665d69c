"""Draws the latency chart of a benchmark run: bench_chart.py benchmarks.json out.png"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    report = json.load(open(sys.argv[1]))
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=False)
    for ax, conns in zip(axes, (1, 64)):
        for series in report["series"]:
            if series["connections"] != conns:
                continue
            xs = [str(p) for p, _ in series["points"]]
            ys = [us for _, us in series["points"]]
            ax.plot(xs, ys, marker="o", label=series["contender"])
        ax.set_title(f"{conns} keep-alive connection{'s' if conns > 1 else ''}")
        ax.set_xlabel("percentile")
        ax.set_ylabel("latency (µs)")
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.suptitle(f"cache-hit resolve vs bare hyper server — {report['machine']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(sys.argv[2], dpi=110)


if __name__ == "__main__":
    main()
