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
                 max_frames: int = 12, kernel=None, lazy: bool = True) -> None:
        self.kernel = kernel
        self.view = view
        self.symbols = symbols
        self.stacks = stacks
        self.codemap = codemap
        self.depth = depth
        self.max_frames = max_frames
        self.lazy = lazy                # False: backtrace_later works it out at once
        self._zero_cache: dict = {}     # size -> that many zero bytes

    def _capture(self, cpu: int) -> tuple:
        """(EIP, the stack's bytes from ESP up to its top, at most ``depth``;
        None when there are none)."""
        eip = self.view.reg(cpu, "eip")
        esp = self.view.reg(cpu, "esp")
        owner = self.stacks.owner(esp)
        region = self.stacks.region(owner) if owner else None
        top = region[1] if region and region[1] >= esp else esp + self.depth
        n = max(0, min(top - esp, self.depth)) & ~3
        return eip, (self.view.mem_read(esp, n) if n else None)

    def _addresses(self, eip: int, data: Optional[bytes]) -> list:
        out = [eip]
        if data is None:
            return out
        returns = self.codemap.returns
        words = memoryview(data).cast("I").tolist()     # x86: little-endian
        out += [w for w in words if w in returns][:self.max_frames - 1]
        return out

    def return_addresses(self, cpu: int) -> list:
        return self._addresses(*self._capture(cpu))

    def backtrace(self, cpu: int) -> list:
        return [self.symbols.frame(a) for a in self.return_addresses(cpu)]

    def backtrace_later(self, cpu: int) -> "LazyBacktrace":
        """``backtrace(cpu)`` as it is now, worked out when first read: the
        stack's bytes are copied now (a memcpy), the words sifted for return
        addresses and symbolised only if a report ever shows them.  The
        checker keeps one per lock acquired and almost none are read."""
        if not self.lazy:
            return self.backtrace(cpu)
        return LazyBacktrace(self, *self._capture(cpu))

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
        lo, hi = g
        ram = self.view.ram_slice(lo, hi)
        data = bytes(ram) if ram is not None else self.view.mem_read(lo, hi - lo)
        if data == self._zeros(hi - lo):
            return None         # every event looks: clean is one memcmp
        written = len(data) - data.count(0) if data else 0     # count: C speed
        return (lo, hi, written) if written else None

    def _zeros(self, n: int) -> bytes:
        z = self._zero_cache.get(n)
        if z is None:
            z = self._zero_cache[n] = bytes(n)
        return z

    def stack_region(self, owner) -> Optional[tuple]:
        return self.stacks.region(owner) if owner else None


class LazyBacktrace:
    """A backtrace's frames, computed from a copy of the stack on first
    use; reads as the list ``MachineContext.backtrace`` would have returned
    then (iterate, index, len, compare, pickle: a pickle holds the list)."""

    __slots__ = ("_ctx", "_eip", "_data", "_frames")

    def __init__(self, ctx: MachineContext, eip: int, data: Optional[bytes]) -> None:
        self._ctx, self._eip, self._data = ctx, eip, data
        self._frames: Optional[list] = None

    def frames(self) -> list:
        if self._frames is None:
            ctx = self._ctx
            self._frames = [ctx.symbols.frame(a) for a in ctx._addresses(self._eip, self._data)]
            self._ctx = self._data = None
        return self._frames

    def __iter__(self):
        return iter(self.frames())

    def __len__(self) -> int:
        return len(self.frames())

    def __bool__(self) -> bool:
        return True             # EIP's frame at least, as backtrace()

    def __getitem__(self, i):
        return self.frames()[i]

    def __eq__(self, other) -> bool:
        return self.frames() == (other.frames() if isinstance(other, LazyBacktrace) else other)

    def __repr__(self) -> str:
        return repr(self.frames())

    def __reduce__(self):
        return (list, (self.frames(),))
