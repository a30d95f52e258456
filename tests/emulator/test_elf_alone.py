"""An ELF run without its .sym.json (issue 16, serious 3).

kernel.elf carries every symbol and constant in .symtab and the line table
in DWARF; read through pyelftools (asm/elfsyms.py) it must give the
observer exactly what kernel.sym.json gives: the same trace, byte for byte,
and no violation.  (Before, the line table was missing, the observer found
no iret sites, and the run ended with 6 false violations, status 120.)
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    from guest_kernel.build import Config, build
    return build(Config("ithread", "shared", "thread", None), tmp_path_factory.mktemp("k"))


def run(image, trace, scenario):
    return subprocess.run([sys.executable, "-m", "emulator", "run", str(image), "--append",
                           f"scenario={scenario}", "--trace", str(trace),
                           "--max-instructions", "5000000"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("scenario", ["hello", "preempt"])
def test_kernel_elf_alone_gives_the_same_trace_as_with_its_symbol_file(built, tmp_path, scenario):
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(built, alone / "kernel.elf")
    assert not (alone / "kernel.sym.json").exists()
    a = run(alone / "kernel.elf", tmp_path / "a.jsonl", scenario)
    b = run(built, tmp_path / "b.jsonl", scenario)
    assert a.returncode == b.returncode == 0, a.stderr[-3000:]
    assert a.stderr.splitlines()[-1] == "checks: 13 rules, 0 violations"
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()


def test_the_elf_line_table_reaches_the_debugger_without_a_symbol_file(built, tmp_path):
    from asm.symfile import load_symbols
    shutil.copy(built, tmp_path / "kernel.elf")
    table = load_symbols(tmp_path / "kernel.elf")
    start = table.addr("_start")
    file, line = table.line_of(start)
    assert file.endswith("boot.S") and line > 0
    assert table.source_line(file, line) is not None
    assert table.constants()["L_SIZE"] > 0          # SHN_ABS constants: structure offsets
    assert table.code_ranges and table.code_ranges[0][0] <= start < table.code_ranges[0][1]
