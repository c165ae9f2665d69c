"""scripts/link_order.py's --map mode, which names the stripped Lambda layer's executed code:
lld's map lines become function ranges, callgrind's compressed positions become offsets in the
binary (whichever way callgrind wrote them), and each offset is named by its section."""
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import link_order  # noqa: E402

BINARY = "/tmp/work/cache-extension"

# As rustc prints it (`warning: linker stdout:` and lld's --print-map), trimmed.
MAP = """warning: linker stdout:              VMA              LMA     Size Align Out     In      Symbol
                 211e10           211e10   30188e    16 .text.hot
                 211e10           211e10       40    16         lto.o:(.text._ZN3hot5first17h0123456789abcdefE)
                 211e10           211e10        0     1                 _ZN3hot5first17h0123456789abcdefE
                 211e50           211e50       20    16         lto.o:(.text.unlikely._RNvCs1_4core5panic)
                 211e70           211e70        0    16         lto.o:(.text.empty)
                 5136c0           5136c0      100    64 .text
                 5136c0           5136c0       80    64         lto.o:(.text.mi_lock_acquire)
                 513740           513740       80    16         lto.o:(.text.cold_never_run)
"""

# Positions `instr`. The binary's object (callgrind read its `.text` symbols) is written with
# offsets; `???` (the rest of its code) with absolute addresses, here the binary at 0x108000;
# libc's offsets must not be taken for the binary's.
CALLGRIND = f"""# callgrind format
version: 1
positions: instr
events: Ir

ob=(1) /usr/lib/x86_64-linux-gnu/libc.so.6
fn=(1) memcpy
0x211e20 3
ob=(2) ???
fn=(2) 0x0000000000319e10
0x319e10 1
+4 1
cfn=(3)
calls=1 0x999999
* 7
ob=(3) {BINARY}
fn=(4) mi_lock_acquire
0x5136d0 2
-8 1
ob=(2)
fn=(5) 0x0000000000319e58
0x319e58 1
0x9000000 1
"""

MAPS = f"""00108000-00319000 r--p 00000000 fe:00 1 {BINARY}
00319000-0088e000 r-xp 00210000 fe:00 1 {BINARY}
0088e000-008d9000 r--p 00784000 fe:00 1 {BINARY}
7f0000000000-7f0000100000 r-xp 00000000 fe:00 2 /usr/lib/x86_64-linux-gnu/libc.so.6
"""


class LinkOrderFromTheMap(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        d = Path(self.dir.name)
        self.paths = {}
        for name, text in (("map", MAP), ("out", CALLGRIND), ("maps", MAPS)):
            self.paths[name] = d / name
            self.paths[name].write_text(text)

    def tearDown(self):
        self.dir.cleanup()

    def test_map_lines_become_function_ranges_without_their_section_prefix(self):
        sections = link_order.text_sections(str(self.paths["map"]))
        self.assertEqual(
            sections,
            [
                (0x211E10, 0x211E50, "_ZN3hot5first17h0123456789abcdefE"),
                (0x211E50, 0x211E70, "_RNvCs1_4core5panic"),
                (0x5136C0, 0x513740, "mi_lock_acquire"),
                (0x513740, 0x5137C0, "cold_never_run"),
            ],
        )

    def test_the_binary_is_located_by_its_first_and_last_mapping(self):
        self.assertEqual(
            link_order.mapped_range(str(self.paths["maps"]), BINARY), (0x108000, 0x8D9000)
        )

    def test_offsets_come_from_both_forms_and_only_from_the_binary(self):
        offsets = link_order.executed_addresses(str(self.paths["out"]), BINARY, 0x108000, 0x8D9000)
        # ??? at 0x319e10 and +4 (the call line does not move the position; `*` repeats it);
        # the binary's own offsets 0x5136d0 and -8; ??? at 0x319e58; libc's and the address
        # outside every mapping are not the binary's.
        self.assertEqual(offsets, {0x211E10, 0x211E14, 0x5136D0, 0x5136C8, 0x211E58})

    def test_the_list_names_each_executed_function_once_sorted(self):
        run = subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "link_order.py"), "--map",
             str(self.paths["map"]), str(self.paths["out"]), str(self.paths["maps"]), BINARY],
            capture_output=True, text=True, check=False, timeout=30,
        )
        self.assertEqual(run.returncode, 0, run.stderr)
        # 0x211e58 is inside the cold panic function: it ran.
        self.assertEqual(
            run.stdout.splitlines(),
            ["_RNvCs1_4core5panic", "_ZN3hot5first17h0123456789abcdefE", "mi_lock_acquire"],
        )
        self.assertIn("5 instructions of the binary, 0 outside a named section", run.stderr)


if __name__ == "__main__":
    unittest.main()
