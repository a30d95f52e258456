"""The checkers' window on the live machine (the ``ctx`` of emulator/checks).

Contract
--------
``MachineContext(view, symbols, stacks, codemap)`` answers, at the moment a
rule asks (the observer calls the checkers synchronously from its hooks, so
the machine is stopped at the instruction the event is about):

- ``backtrace(cpu)``: symbolised frames, innermost first: the EIP, then
  every word on the stack, from ESP up to the top of the stack's region (at
  most ``depth`` bytes), that is a return address — an address right after
  a ``call`` in the scanned code.  Frame pointers are not needed (the
  kernel's assembly does not keep them); like Linux's unreliable stack
  dump, a stale return address left on the stack can show up.
- ``interrupts_enabled(cpu)``: EFLAGS.IF.
- ``esp(cpu)``; ``stack_region(owner)``: ``(lo, hi)`` or None;
  ``guard_dirty(owner)``: whether the kernel's red zone below an LWP's stack
  has been written (an overflow that came back before anyone looked).
"""

from __future__ import annotations

from typing import Optional

EFLAGS_IF = 1 << 9


class MachineContext:
    def __init__(self, view, symbols, stacks, codemap, depth: int = 2048,
                 max_frames: int = 12, kernel=None) -> None:
        self.kernel = kernel
        self.view = view
        self.symbols = symbols
        self.stacks = stacks
        self.codemap = codemap
        self.depth = depth
        self.max_frames = max_frames

    def return_addresses(self, cpu: int) -> list:
        eip = self.view.reg(cpu, "eip")
        esp = self.view.reg(cpu, "esp")
        out = [eip]
        owner = self.stacks.owner(esp)
        region = self.stacks.region(owner) if owner else None
        top = region[1] if region and region[1] >= esp else esp + self.depth
        n = max(0, min(top - esp, self.depth)) & ~3
        if n == 0:
            return out
        data = self.view.mem_read(esp, n)
        if data is None:
            return out
        returns = self.codemap.returns
        words = memoryview(data).cast("I").tolist()     # x86: little-endian
        out += [w for w in words if w in returns][:self.max_frames - 1]
        return out

    def backtrace(self, cpu: int) -> list:
        return [self.symbols.frame(a) for a in self.return_addresses(cpu)]

    def interrupts_enabled(self, cpu: int) -> Optional[bool]:
        return bool(self.view.reg(cpu, "eflags") & EFLAGS_IF)

    def esp(self, cpu: int) -> Optional[int]:
        return self.view.reg(cpu, "esp")

    def guard_dirty(self, owner) -> Optional[tuple]:
        """(lo, hi, n) when the red zone below ``owner``'s stack holds ``n``
        non-zero bytes (the stack overflowed into it), else None."""
        if self.kernel is None or not owner:
            return None
        g = self.kernel.guard(owner)
        if g is None:
            return None
        data = self.view.mem_read(g[0], g[1] - g[0])
        written = len(data) - data.count(0) if data else 0     # count: C speed
        return (g[0], g[1], written) if written else None

    def stack_region(self, owner) -> Optional[tuple]:
        return self.stacks.region(owner) if owner else None
