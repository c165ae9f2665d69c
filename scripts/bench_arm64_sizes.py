"""Appends the sizes of the arm64 release builds, as `sam build` makes them with the template's
defaults (cargo lambda, zig, the full release profile), to the benchmark table:
bench_arm64_sizes.py LAMBDA_DIR benchmarks.md
LAMBDA_DIR is where `cargo lambda build --release --arm64 --lambda-dir` put them."""
import subprocess
import sys
import zlib
from pathlib import Path

ARTIFACTS = (("layer: `extensions/cache-extension`", "extensions/cache-extension"),
             ("function: `bootstrap` (resolver-fn)", "resolver-fn/bootstrap"))


def main():
    lambda_dir, out = Path(sys.argv[1]), Path(sys.argv[2])
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, check=False).stdout.strip() or "unknown"
    lines = ["", "## arm64 sizes", "",
             "Release builds for `aarch64-unknown-linux-gnu` as `sam build` makes them with the",
             f"template's defaults (`cargo lambda build --release --arm64`, zig), at commit {commit}:", "",
             "| artifact | size | zipped (deflate) |", "|---|---|---|"]
    for name, path in ARTIFACTS:
        data = (lambda_dir / path).read_bytes()
        if data[18:20] != b"\xb7\x00":
            raise SystemExit(f"{lambda_dir / path} is not an aarch64 binary")
        zipped = len(zlib.compress(data, 6))
        lines.append(f"| {name} | {len(data) / 1e6:.2f} MB ({len(data):,} bytes) | {zipped / 1e6:.2f} MB |")
    lines += ["", "Both are far under Lambda's 50 MB zipped and 250 MB unzipped limits. Memory under "
              "qemu says nothing about Graviton, so no RSS is given here.", ""]
    with out.open("a") as f:
        f.write("\n".join(lines))


if __name__ == "__main__":
    main()
