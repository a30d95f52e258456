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
  dump, a stale return address left on the stack can show up.  The walk
  crosses interrupt frames into the interrupted code: an ``iret`` frame on
  the stack (EIP in the image's code, the kernel code selector, EFLAGS with
  its always-one bit) is shown as the interrupted instruction, marked
  ``[irq N, vector V, interrupted OWNER]``; and at the top of a stack that
  was entered from another — the per-CPU interrupt stack (its top word is
  the interrupted ESP) or a borrowing interrupt LWP's stack (the pinned
  LWP's saved ESP), as the kernel model says (``next_stack``) — it goes on
  down that one.
- ``thread_backtrace(name)``: the same for a thread: its CPU's backtrace
  when it is current on one, else from the ESP saved at its last switch.
- ``thread_line(name)``: the IRQ line an interrupt or handler thread serves
  (``L_LINE``), None for every other thread.
- ``call_at(t, fn)``: call ``fn()`` when virtual time reaches ``t`` (the
  machine's schedule: rules that must notice something that has *not*
  happened, such as a spin that never ends, ask for it).
- ``interrupts_enabled(cpu)``: EFLAGS.IF.
- ``esp(cpu)``; ``stack_region(owner)``: ``(lo, hi)`` or None;
  ``guard_dirty(owner)``: whether the kernel's red zone below an LWP's stack
  has been written (an overflow that came back before anyone looked).
"""

from __future__ import annotations

from typing import Optional

EFLAGS_IF = 1 << 9
KCODE = 0x08            # the kernel's code selector (guest_kernel/kernel.inc)
EFLAGS_FIXED = 0x2      # EFLAGS bit 1 reads as one
HOPS = 3                # stacks a backtrace crosses at most


class MachineContext:
    def __init__(self, view, symbols, stacks, codemap, depth: int = 2048,
                 max_frames: int = 16, kernel=None, code_range=None) -> None:
        self.kernel = kernel
        self.view = view
        self.symbols = symbols
        self.stacks = stacks
        self.codemap = codemap
        self.depth = depth
        self.max_frames = max_frames
        self.code_range = code_range or (0, 0)      # [lo, hi) of the image's code
        self.line_of_vector = None                  # fn(vector) -> line (the observer's)

    # ------------------------------------------------------------ backtraces
    def return_addresses(self, cpu: int) -> list:
        """The EIP and the return addresses on the stack (no crossing)."""
        return [a for a, _mark in self._walk(self.view.reg(cpu, "eip"),
                                             self.view.reg(cpu, "esp"), hops=1)]

    def _walk(self, eip: Optional[int], esp: int, hops: int = HOPS) -> list:
        """[(address, mark or None)] innermost first, across stacks."""
        out = [(eip, None)] if eip is not None else []
        for _ in range(hops):
            owner = self.stacks.owner(esp)
            region = self.stacks.region(owner) if owner else None
            top = region[1] if region and region[1] >= esp else esp + self.depth
            self._scan(esp, top, out)
            if len(out) >= self.max_frames or self.kernel is None or owner is None:
                break
            nxt = self.kernel.next_stack(owner, region)
            if nxt is None or nxt == esp:
                break
            esp = nxt
        return out[:self.max_frames]

    def _scan(self, esp: int, top: int, out: list) -> None:
        n = max(0, min(top - esp, self.depth)) & ~3
        data = self.view.mem_read(esp, n) if n else None
        if not data:
            return
        words = memoryview(data).cast("I").tolist()     # x86: little-endian
        returns = self.codemap.returns
        found = {i: (w, None) for i, w in enumerate(words) if w in returns}
        lo, hi = self.code_range
        i = 1
        while True:                 # iret frames: EIP, CS, EFLAGS (C-speed search for CS)
            try:
                i = words.index(KCODE, i)
            except ValueError:
                break
            if i + 1 < len(words) and lo <= words[i - 1] < hi and \
                    words[i + 1] & EFLAGS_FIXED and words[i + 1] < 0x400000:
                found[i - 1] = (words[i - 1], self._frame_mark(words, i - 1, esp))
            i += 1
        skip = -1
        for i in sorted(found):
            w, mark = found[i]
            if i <= skip:
                continue
            if mark is not None:
                skip = i + 2                # the CS and EFLAGS words
            out.append((w, mark))
            if len(out) >= self.max_frames:
                return

    def _frame_mark(self, words: list, k: int, esp: int) -> str:
        """``[irq N, vector V, interrupted OWNER]`` for the iret frame at words[k]."""
        vector = words[k - 2] if k >= 2 and 0x20 <= words[k - 2] < 0x100 else None
        line = None
        if vector is not None and self.line_of_vector is not None:
            line = self.line_of_vector(vector)
        what = f"irq {line}, vector {vector:#x}" if line is not None else \
            (f"vector {vector:#x}" if vector is not None else "interrupt")
        owner = self.stacks.owner(esp + 4 * (k + 3))
        return f"[{what}, interrupted {owner}]" if owner else f"[{what}]"

    def _frames(self, walked: list) -> list:
        out = []
        for a, mark in walked:
            text = self.symbols.frame(a)
            out.append(f"{mark} {text}" if mark else text)
        return out

    def backtrace(self, cpu: int) -> list:
        return self._frames(self._walk(self.view.reg(cpu, "eip"), self.view.reg(cpu, "esp")))

    def thread_backtrace(self, name) -> list:
        """A thread's backtrace: live on its CPU, else from its saved ESP."""
        if self.kernel is None or not name:
            return []
        for cpu in range(self.view.ncpus()):
            if self.kernel.current_name(cpu) == name:
                return self.backtrace(cpu)
        sp = self.kernel.saved_sp(name)
        return self._frames(self._walk(None, sp)) if sp else []

    def thread_line(self, name) -> Optional[int]:
        return self.kernel.thread_line(name) if self.kernel is not None and name else None

    def call_at(self, t: int, fn) -> bool:
        """Have ``fn()`` called at virtual time ``t``; False when the machine cannot."""
        schedule = getattr(self.view, "schedule", None)
        if schedule is None:
            return False
        return bool(schedule(t, lambda _machine: fn()))

    # ------------------------------------------------------------ the rest
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
