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

``lazy=False`` (``attach(reference=True)``) works every backtrace out at
once and has the view hold nothing for a hook (view.py's ``hold``): every
register and word read when asked, the path the fast one is tested against.
"""

from __future__ import annotations

from typing import Optional

EFLAGS_IF = 1 << 9
KCODE = 0x08            # the kernel's code selector (guest_kernel/kernel.inc)
EFLAGS_FIXED = 0x2      # EFLAGS bit 1 reads as one
HOPS = 3                # stacks a backtrace crosses at most


class MachineContext:
    def __init__(self, view, symbols, stacks, codemap, depth: int = 2048,
                 max_frames: int = 16, kernel=None, code_range=None,
                 lazy: bool = True) -> None:
        self.kernel = kernel
        self.view = view
        self.symbols = symbols
        self.stacks = stacks
        self.codemap = codemap
        self.depth = depth
        self.max_frames = max_frames
        self.code_range = code_range or (0, 0)      # [lo, hi) of the image's code
        self.line_of_vector = None                  # fn(vector) -> line (the observer's)
        self.lazy = lazy                # False: backtrace_later works it out at once
        if not lazy:
            # the reference path: the view reads every register and word
            # when asked, nothing held for the hook (view.py's ``hold``)
            view.holding = False
        self._zero_cache: dict = {}     # size -> that many zero bytes
        # owner -> (lo, hi, zeros, RAM view) of its red zone, or None: kept while the
        # stack map's regions stay as they were (``StackMap.version``)
        self._guards: dict = {}
        self._guards_version = None

    # ------------------------------------------------------------ backtraces
    def return_addresses(self, cpu: int) -> list:
        """The EIP and the return addresses on the stack (no crossing)."""
        eip = self.view.reg(cpu, "eip")
        return [a for a, _mark in self._sift(eip, self._capture(self.view.reg(cpu, "esp"),
                                                                 hops=1))]

    def _capture(self, esp: int, hops: int = HOPS) -> list:
        """[(ESP, the stack's bytes from ESP up to its top, at most ``depth``;
        None when there are none)] for the stack ESP is on and each one it
        was entered from (``next_stack``), at most ``hops`` stacks."""
        segments = []
        for _ in range(hops):
            owner = self.stacks.owner(esp)
            region = self.stacks.region(owner) if owner else None
            top = region[1] if region and region[1] >= esp else esp + self.depth
            n = max(0, min(top - esp, self.depth)) & ~3
            segments.append((esp, self.view.mem_read(esp, n) if n else None))
            if self.kernel is None or owner is None:
                break
            nxt = self.kernel.next_stack(owner, region)
            if nxt is None or nxt == esp:
                break
            esp = nxt
        return segments

    def _sift(self, eip: Optional[int], segments: list) -> list:
        """[(address, mark or None)] innermost first, across the captured stacks."""
        out = [(eip, None)] if eip is not None else []
        for esp, data in segments:
            self._scan(esp, data, out)
            if len(out) >= self.max_frames:
                break
        return out[:self.max_frames]

    def _scan(self, esp: int, data: Optional[bytes], out: list) -> None:
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
        return self._frames(self._sift(self.view.reg(cpu, "eip"),
                                       self._capture(self.view.reg(cpu, "esp"))))

    def backtrace_later(self, cpu: int) -> "LazyBacktrace":
        """``backtrace(cpu)`` as it is now, worked out when first read: the
        stacks' bytes are copied now (a memcpy each), the words sifted for
        return addresses and iret frames and symbolised only if a report
        ever shows them.  The checker keeps one per lock acquired and almost
        none are read."""
        if not self.lazy:
            return self.backtrace(cpu)
        return LazyBacktrace(self, self.view.reg(cpu, "eip"),
                             self._capture(self.view.reg(cpu, "esp")))

    def thread_backtrace(self, name) -> list:
        """A thread's backtrace: live on its CPU, else from its saved ESP."""
        if self.kernel is None or not name:
            return []
        for cpu in range(self.view.ncpus()):
            if self.kernel.current_name(cpu) == name:
                return self.backtrace(cpu)
        sp = self.kernel.saved_sp(name)
        return self._frames(self._sift(None, self._capture(sp))) if sp else []

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
        version = getattr(self.stacks, "version", None)
        if version != self._guards_version or version is None:
            self._guards.clear()
            self._guards_version = version
        g = self._guards.get(owner, False)
        if g is False:
            g = self.kernel.guard(owner)
            if g is not None:       # its bytes in RAM as a memoryview (no copy), if plain RAM
                g = g + (self._zeros(g[1] - g[0]), self.view.ram_slice(*g))
            self._guards[owner] = g
        if g is None:
            return None
        lo, hi, zeros, ram = g
        data = bytes(ram) if ram is not None else self.view.mem_read(lo, hi - lo)
        if data == zeros:
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
    """A backtrace's frames, computed from a copy of the stacks on first
    use; reads as the list ``MachineContext.backtrace`` would have returned
    then (iterate, index, len, compare, pickle: a pickle holds the list)."""

    __slots__ = ("_ctx", "_eip", "_data", "_frames")

    def __init__(self, ctx: MachineContext, eip: int, segments: list) -> None:
        self._ctx, self._eip, self._data = ctx, eip, segments
        self._frames: Optional[list] = None

    def frames(self) -> list:
        if self._frames is None:
            ctx = self._ctx
            self._frames = ctx._frames(ctx._sift(self._eip, self._data))
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
