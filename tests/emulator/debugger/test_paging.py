"""The debugger with paging on (issue 19, row 4: `x 0xC0100000` failed;
row 3: `si` at a page fault hung).

tests/probes/paging/alias.S maps its low 4 MiB at 0 and again at
0xC0000000 and jumps to the alias.  Once paging is on, `x`, `x/i`,
`break` and the registers' code address take linear addresses through the
page tables; `x/...p` reads physical memory, where 0xC0000000 is nothing.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PROBES = ROOT / "tests" / "probes"


def build(tmp_path_factory, name: str) -> Path:
    out = tmp_path_factory.mktemp(name)
    subprocess.run([sys.executable, "-m", "asm", "build", str(PROBES / "paging" / f"{name}.S"),
                    "-I", str(PROBES / "paging"), "-I", str(PROBES / "devices"),
                    "-I", str(PROBES / "cpu"), "-o", str(out / f"{name}.bin"),
                    "--sym", str(out / f"{name}.sym.json")], check=True, cwd=ROOT)
    return out / f"{name}.bin"


@pytest.fixture(scope="module")
def alias(tmp_path_factory):
    return build(tmp_path_factory, "alias")


@pytest.fixture(scope="module")
def pf(tmp_path_factory):
    return build(tmp_path_factory, "pf")


def debug(image, commands: str) -> str:
    r = subprocess.run([sys.executable, "-m", "emulator", "debug", str(image)], cwd=ROOT,
                       input=commands, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return r.stdout


def words(out: str, addr: str) -> str:
    line = next(ln for ln in out.splitlines() if addr in ln and ":\t" in ln)
    return line.split(":\t", 1)[1]


def test_x_and_print_read_a_virtual_address_through_the_page_tables_and_x_p_reads_physical(alias):
    out = debug(alias, "break paging_on\ncontinue\nfinish\n"
                       "x/4x 0xc0100020\nx/4x 0x100020\nx/4xp 0xc0100020\n"
                       "print *0xc0100020 == *0x100020 && *0x100020 != 0\nquit\n")
    assert words(out, "0xc0100020 ") == words(out, "0x00100020 ")
    assert "(irqlab) 1 (0x1)" in out                 # print's loads go through them too
    assert "cannot read 16 bytes at 0xc0100020" in out      # physical: beyond RAM


def test_before_paging_a_high_address_is_not_memory(alias):
    out = debug(alias, "x/4x 0xc0100020\nquit\n")
    assert "cannot read 16 bytes at 0xc0100020" in out


def test_break_and_disassemble_take_virtual_addresses(alias):
    out = debug(alias, "break paging_on\ncontinue\nfinish\nbreak 0xc01001e2\ncontinue\n"
                       "x/i $pc\nx/i 0x1001e2\nquit\n")
    assert "=> 0xc01001e2" in out
    virt = next(ln for ln in out.splitlines() if ln.startswith("(irqlab) 0xc01001e2"))
    phys = next(ln for ln in out.splitlines() if ln.startswith("(irqlab) 0x001001e2"))
    assert virt.split(": ", 1)[1].split()[0] == phys.split(": ", 1)[1].split()[0] == "call"


def test_si_at_a_page_fault_enters_the_handler_with_cr2_set_and_steps_on(pf):
    # pf.S reads the not-present 0x800000 at read_hole; its #PF handler
    # (first instruction: call show_pf) maps the page and returns, and the
    # read runs again.  One si is the fault's delivery and the handler's
    # first instruction (a faulting instruction retires nothing, as without
    # paging); the run goes on to the instruction after the read.
    out = debug(pf, "break read_hole\ncontinue\nsi\nprint $cr2\nprint $pc\n"
                    "delete\nbreak read_hole+5\ncontinue\nprint $eax\nquit\n")
    assert "(irqlab) 8388608 (0x800000)" in out                       # $cr2
    assert ") <show_pf>\n" in out                                      # $pc
    assert "Breakpoint 2, read_hole+0x5" in out
    assert "(irqlab) 305441741 (0x1234abcd)" in out        # the read, once mapped
