"""The functions of one binary that a callgrind run executed, one mangled name per line, sorted.

Usage: link_order.py CALLGRIND_OUT BINARY > link-order.txt
       link_order.py --map LINK_MAP CALLGRIND_OUT PROC_MAPS BINARY > link-order.x86_64-lambda.txt

The list is lld's --symbol-ordering-file for that binary (cache-extension/build.rs): the linker
puts those functions together at the start of the text, so the kernel's 64 KiB fault-around maps
code that runs instead of its neighbours. See docs/design.md ("Build choices").

With --map, the binary is stripped (the Lambda layer, whose names hash differently from any
build with symbols): callgrind ran with --dump-instr=yes, and each executed instruction is named
by the input section (`.text.NAME`, one per function) that holds it in the linker's map, read
against where the process mapped the binary (a copy of its /proc/PID/maps).
"""

import bisect
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


# An input section's line in lld's map: VMA, LMA, size, alignment, then `file:(section)`.
MAP_LINE = re.compile(r"^\s*([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)\s+\d+\s+\S.*:\((\.text[^)]*)\)$")
PREFIXES = (".text.unlikely.", ".text.hot.", ".text.startup.", ".text.exit.", ".text.")


def text_sections(map_path: str) -> list[tuple[int, int, str]]:
    """(start, end, function name) of each named text input section, sorted by start."""
    out = []
    with open(map_path, encoding="utf-8", errors="replace") as f:
        for line in f:
            m = MAP_LINE.match(line.rstrip("\n"))
            if not m:
                continue
            start, size, section = int(m[1], 16), int(m[2], 16), m[3]
            name = next((section[len(p):] for p in PREFIXES if section.startswith(p)), "")
            if size and name:
                out.append((start, start + size, name))
    out.sort()
    return out


def executed_addresses(out_path: str, binary: str, base: int, end: int) -> set[int]:
    """Offsets in `binary` (mapped at `base`..`end`) of the instructions callgrind counted
    (--dump-instr=yes, positions `instr`, compressed as absolute, `+n`, `-n` or `*`). callgrind
    writes an object it read symbols from with offsets from where it was loaded, and the code
    it could not (a stripped binary's other executable sections) in `???` with absolute
    addresses: both are counted. Other objects' offsets are not the binary's, even where they
    fall in its range."""
    objects: dict[str, str] = {}
    current = None
    seen: set[int] = set()
    last = 0
    with open(out_path, encoding="utf-8", errors="replace") as f:
        for raw in f:
            line = raw.rstrip("\n")
            m = ENTRY.match(line)
            if m and m[1] in ("ob", "cob"):
                if m[3]:
                    objects[m[2]] = m[3]
                if m[1] == "ob":
                    current = objects.get(m[2])
                continue
            head = line.split(" ", 1)[0]
            if not head or head[0] not in "0123456789+-*":
                continue
            if head[0] in "+-":
                last += int(head, 0)
            elif head != "*":
                try:
                    last = int(head, 0)
                except ValueError:
                    continue
            if current == binary:
                seen.add(last)
            elif current == "???" and base <= last < end:
                seen.add(last - base)
    return seen


def mapped_range(maps_path: str, binary: str) -> tuple[int, int]:
    """Where `binary` was loaded, from a copy of the process's /proc/PID/maps: the start of its
    first mapping (PIE: the map's addresses are offsets from it) and the end of its last."""
    ranges = []
    with open(maps_path, encoding="utf-8") as f:
        for line in f:
            fields = line.split()
            if len(fields) >= 6 and fields[5] == binary:
                start, end = (int(x, 16) for x in fields[0].split("-"))
                ranges.append((start, end))
    if not ranges:
        raise SystemExit(f"{binary} is not mapped in {maps_path}")
    return min(s for s, _ in ranges), max(e for _, e in ranges)


def named_by_map(map_path: str, out_path: str, maps_path: str, binary: str) -> set[str]:
    """The functions whose sections in the linker's map hold an executed instruction."""
    sections = text_sections(map_path)
    starts = [s for s, _, _ in sections]
    base, end = mapped_range(maps_path, binary)
    names: set[str] = set()
    offsets = executed_addresses(out_path, binary, base, end)
    missed = 0
    for offset in offsets:
        i = bisect.bisect_right(starts, offset) - 1
        if i >= 0 and offset < sections[i][1]:
            names.add(sections[i][2])
        else:
            missed += 1
    inside = len(offsets)
    print(f"{inside} instructions of the binary, {missed} outside a named section, "
          f"{len(names)} functions", file=sys.stderr)
    return names


def main() -> int:
    args = sys.argv[1:]
    if len(args) >= 2 and args[0] == "--map":
        if len(args) != 5:
            print(__doc__, file=sys.stderr)
            return 2
        names = named_by_map(args[1], args[2], args[3], args[4])
    elif len(args) == 2:
        names = executed(args[0], args[1])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    if not names:
        print(f"no function of the binary in {args[-1] if args else '?'}", file=sys.stderr)
        return 1
    sys.stdout.write("".join(f"{n}\n" for n in sorted(names)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
