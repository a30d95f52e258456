"""Reading an ELF's symbols and DWARF lines back (asm/elfsyms.py, pyelftools).

The ELF asm/ writes must read back as the Image says: every label and
constant with its value, each line row of the code at its address, the
executable section as the code range.  Damaged ELFs (seeded, bounded) give
whatever could be read and never raise.
"""

from __future__ import annotations

import random

import asm
from asm.symfile import from_elf, from_image

SOURCE = """
        .equ ANSWER, 42
_start:
        mov eax, ANSWER
        call helper
spin:
        jmp spin
helper:
        inc eax
        ret
        .data
counter: .long 0
"""


def image():
    return asm.assemble_text(SOURCE, filename="t.S", entry="_start")


def test_symbols_constants_and_code_lines_read_back_from_the_elf():
    img = image()
    want, got = from_image(img), from_elf(img.elf())
    for name in ("_start", "spin", "helper", "counter"):
        assert got.addr(name) == want.addr(name)
    assert got.constants()["ANSWER"] == 42
    for name in ("_start", "spin", "helper"):
        a = want.addr(name)
        assert got.line_of(a)[1] == want.line_of(a)[1]
        assert got.line_of(a)[0].endswith("t.S")
    lo, hi = got.code_ranges[0]
    assert lo <= want.addr("_start") < want.addr("helper") < hi


def test_a_damaged_elf_never_raises():
    data = image().elf()
    rnd = random.Random(19)
    for _ in range(150):
        b = bytearray(data)
        for _ in range(rnd.randrange(1, 30)):
            b[rnd.randrange(len(b))] = rnd.randrange(256)
        cut = rnd.choice([len(b), rnd.randrange(len(b))])
        table = from_elf(bytes(b[:cut]))        # must not raise
        assert len(table) >= 0
