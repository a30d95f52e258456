"""Shrinking a diverging program to a few ops, and writing it out as a probe.

Contract
--------
``shrink(program, diverges) -> Program`` removes ops while
``diverges(candidate)`` stays true: chunks first, halving their size when
none can go (Zeller's ddmin, complement-only), then one op at a time until
no single op can be removed.  ``diverges`` is called on whole programs and
must be deterministic (both machines are); the result still diverges, and
removing any one of its ops makes it agree.  Every op is self-contained
(emulator/fuzz/gen.py), so every candidate assembles.

``write_probe(verdict, program, directory) -> path`` writes the program as
a stand-alone probe, ``fuzz-SEED-FAMILY.S``: a header comment saying how
it was found, what irqlab printed, what QEMU printed and where they part,
then the complete source (runtime included), which ``python -m asm build``
assembles and both machines run as is (``-smp N`` for N CPUs).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable

from emulator.fuzz.gen import Program


def shrink(program: Program, diverges: Callable[[Program], bool]) -> Program:
    ops = list(program.ops)

    def test(candidate: list) -> bool:
        return bool(candidate) and diverges(dataclasses.replace(program, ops=candidate))

    n = 2
    while len(ops) >= 2:
        size = -(-len(ops) // n)
        for start in range(0, len(ops), size):
            candidate = ops[:start] + ops[start + size:]
            if test(candidate):
                ops, n = candidate, max(n - 1, 2)
                break
        else:
            if size == 1:
                break
            n = min(len(ops), 2 * n)
    i = 0
    while i < len(ops) and len(ops) > 1:           # one op at a time, to a fixed point
        candidate = ops[:i] + ops[i + 1:]
        if test(candidate):
            ops = candidate
        else:
            i += 1
    return dataclasses.replace(program, ops=ops)


def _comment(text: str) -> str:
    return "".join(f"#   {line}\n" for line in text.splitlines()) or "#   (nothing)\n"


def write_probe(verdict, program: Program, directory, source: str) -> Path:
    """The shrunk program as a probe file with the divergence in its header."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"fuzz-{program.seed}-{program.family}.S"
    header = (f"# fuzz-{program.seed}-{program.family}.S -- a divergence found by "
              f"`python -m emulator fuzz --seeds {program.seed}:{program.seed + 1}`\n"
              f"# family {program.family}, {program.ncpus} CPU(s), shrunk to {len(program.ops)} "
              f"op(s).\n# Run: python -m asm build {path.name} -o p.bin; python -m emulator run "
              f"p.bin --cpus {program.ncpus}\n#      and qemu-system-i386 -icount shift=0,sleep=off "
              f"... -smp {program.ncpus} -kernel p.bin (tests/qemu.py's command line)\n"
              f"# Where they part: {verdict.difference()}\n"
              f"# irqlab ({verdict.irqlab.end}) printed:\n{_comment(verdict.irqlab.console)}"
              f"# QEMU ({verdict.qemu.end}) printed:\n{_comment(verdict.qemu.console)}\n")
    path.write_text(header + source)
    return path
