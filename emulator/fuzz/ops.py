"""The pieces a fuzz program is made of (emulator/fuzz/gen.py says how they are used).

Contract
--------
``Program(seed, family, ncpus, ops)``: ``ops`` is a list of assembly texts,
each self-contained (its own labels and data).  ``Ops(rng)`` builds them:
``add(*lines)`` one op, ``label(stem)`` a label no other op has,
``show(*insns, text=)`` run the instructions and print ``text`` and AL (EAX
when ``text`` ends in "32"), ``window(n)`` interrupts enabled for ``n``
iterations, ``flush()`` the interrupt log printed.  ``delay(o, n)`` is an op
of ``n`` iterations of a bare ``loop`` with interrupts off; ``be32(v)`` the
dword whose bytes in memory are ``v`` big-endian (fw_cfg DMA fields).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Program:
    seed: int
    family: str
    ncpus: int
    ops: list = field(default_factory=list)


class Ops:
    """Builds ops; ``n`` numbers labels so every op's labels are unique."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.ops: list[str] = []
        self.n = 0

    def add(self, *lines: str) -> None:
        self.ops.append("\n".join("        " + ln if not ln.endswith(":") else ln
                                  for ln in lines))

    def label(self, stem: str = "l") -> str:
        self.n += 1
        return f"{stem}{self.n}"

    def show(self, *insns: str, text: str = "") -> None:
        """Run ``insns`` and print AL (or EAX with text ending in '32')."""
        wide = text.endswith("32")
        name = self.label("s")
        self.ops.append(f"        .data\n{name}: .asciz \"{text.removesuffix('32') or 'v'} \"\n"
                        "        .text\n"
                        + "\n".join("        " + i for i in insns)
                        + f"\n        push esi\n        mov esi, {name}\n        call say\n"
                        "        pop esi\n"
                        + ("        call puthex\n" if wide else "        call puthex2\n")
                        + "        call newline")

    def window(self, n: int) -> None:
        self.add(f"mov ecx, {n}", "call window")

    def flush(self) -> None:
        self.add("call flush")


def delay(o: Ops, n: int) -> None:
    lab = o.label("d")
    o.add(f"mov ecx, {n}", f"{lab}:", f"loop {lab}")


def be32(value: int) -> int:
    """The dword whose bytes in memory are ``value`` big-endian (fw_cfg DMA)."""
    return int.from_bytes(value.to_bytes(4, "big"), "little")
