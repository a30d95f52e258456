"""Stacks named by their owner: which stack is ESP in, and whose is it?

Contract
--------
A ``StackMap`` holds regions ``[lo, hi)`` (``hi`` is the initial ESP, the
top; the stack grows down towards ``lo``) each named by its owner — ``lwp
3``, ``ithread 1``, ``intr cpu0``, ``boot`` — as the kernel's exported
constants describe them (emulator/observe/kernel.py fills it).  Regions can
be added while the machine runs (an LWP created later), and a *resolver*
callable can be given that is asked on a miss (it may read the kernel's LWP
table from memory and add regions).

``owner(esp)`` is the name of the region containing ``esp`` (ESP equal to
``hi`` — an empty stack — belongs to the region), or None.  ``region(name)``
gives ``(lo, hi)`` back for the stack-bounds rule.  ``version`` changes
whenever a region is added, moved or removed (what is worked out from the
regions may be kept until it does).

Any kernel can name its stacks (guest_kernel/OBSERVE.md, "Any kernel"):
``declared_stacks(table)`` finds, in an image's symbol table, every data
object whose name ends in ``stack`` and has an ELF size (``static char
kernel_stack[8192]`` in C), and every pair of labels NAME / NAME_top with
NAME_top above NAME and less than 1 MiB away (``boot_stack: .space 16384``
then ``boot_stack_top:``); each is a region owned by NAME.

Images that name no stacks get regions named after data symbols: the
nearest symbol at or below ESP-1, so ``boot_stack: .space 4096`` followed by
``boot_stack_top:`` names the stack ``stack boot_stack``.
"""

from __future__ import annotations

import bisect
from typing import Callable, Optional


class StackMap:
    def __init__(self, symbols=None, resolver: Optional[Callable[[int], bool]] = None) -> None:
        self._los: list = []
        self._regions: list = []      # (lo, hi, name), sorted by lo
        self._by_name: dict = {}
        self.symbols = symbols
        self.resolver = resolver
        self.version = 0              # bumped by every change of the regions

    def add(self, lo: int, hi: int, name: str) -> None:
        """Add (or move) the region of ``name``."""
        if name in self._by_name:
            self.remove(name)
        self.version += 1
        i = bisect.bisect_left(self._los, lo)
        self._los.insert(i, lo)
        self._regions.insert(i, (lo, hi, name))
        self._by_name[name] = (lo, hi)

    def remove(self, name: str) -> None:
        r = self._by_name.pop(name, None)
        if r is None:
            return
        self.version += 1
        for i, (lo, hi, n) in enumerate(self._regions):
            if n == name:
                del self._regions[i]
                del self._los[i]
                break

    def region(self, name) -> Optional[tuple]:
        return self._by_name.get(name)

    def names(self) -> list:
        return [n for _, _, n in self._regions]

    def _find(self, esp: int) -> Optional[str]:
        # (lo, hi] first: where stacks are laid end to end, ESP equal to one
        # stack's top (a fresh stack) must not be read as the next one full
        i = bisect.bisect_left(self._los, esp) - 1
        full = None
        j = i + 1
        if j < len(self._regions) and self._regions[j][0] == esp:
            full = self._regions[j][2]
        while i >= 0:
            lo, hi, name = self._regions[i]
            if lo < esp <= hi:
                return name
            if self._regions[i][0] < esp - 0x100000:
                break
            i -= 1
        return full

    def owner(self, esp: int) -> Optional[str]:
        name = self._find(esp)
        if name is None and self.resolver is not None and self.resolver(esp):
            name = self._find(esp)
        if name is None and not self._regions and self.symbols:
            s = self.symbols.symbolize(esp - 1)
            if s:
                name = "stack " + s.split("+")[0]
        return name

    def __len__(self) -> int:
        return len(self._regions)


MAX_STACK = 1 << 20


def declared_stacks(table) -> list:
    """[(lo, hi, name)] of the stacks an image's symbols declare (see above)."""
    symbols = getattr(table, "symbols", None)
    if not isinstance(symbols, dict):
        return []
    sizes = getattr(table, "sizes", {}) or {}
    objects = getattr(table, "objects", set()) or set()
    found = {}
    for name, sym in symbols.items():
        if getattr(sym, "kind", "label") != "label":
            continue
        lo = sym.value
        top = symbols.get(name + "_top")
        if top is not None and 0 < top.value - lo <= MAX_STACK:
            found[name] = (lo, top.value)
        elif name in objects and name.lower().endswith("stack") and 0 < sizes.get(name, 0) <= MAX_STACK:
            found[name] = (lo, lo + sizes[name])
    return sorted((lo, hi, name) for name, (lo, hi) in found.items())
