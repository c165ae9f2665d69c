"""The functions of one binary that a callgrind run executed, one mangled name per line, sorted.

Usage: link_order.py CALLGRIND_OUT BINARY > link-order.txt

The list is lld's --symbol-ordering-file for that binary (cache-extension/build.rs): the linker
puts those functions together at the start of the text, so the kernel's 64 KiB fault-around maps
code that runs instead of its neighbours. See docs/performance.md (session 11).
"""

import re
import sys

ENTRY = re.compile(r"^(c?ob|c?fn)=\((\d+)\)(?: (.*))?$")


def executed(out_path: str, binary: str) -> set[str]:
    """Names of the functions with a cost line in `binary`'s object, recursion marks removed."""
    objects: dict[str, str] = {}
    functions: dict[str, str] = {}
    current = None
    names: set[str] = set()
    with open(out_path, encoding="utf-8", errors="replace") as f:
        for line in f:
            m = ENTRY.match(line.rstrip("\n"))
            if not m:
                continue
            kind, ident, name = m.groups()
            if kind in ("ob", "cob"):
                if name:
                    objects[ident] = name
                if kind == "ob":
                    current = objects.get(ident)
            else:
                if name:
                    functions[ident] = re.sub(r"'\d+$", "", name)
                if kind == "fn" and current == binary and ident in functions:
                    names.add(functions[ident])
    names.discard("(below main)")
    return names


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    names = executed(sys.argv[1], sys.argv[2])
    if not names:
        print(f"no function of {sys.argv[2]} in {sys.argv[1]}", file=sys.stderr)
        return 1
    sys.stdout.write("".join(f"{n}\n" for n in sorted(names)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
