"""The only place the debugger touches the machine's API.

Contract
--------
``Target(machine)`` gives the debugger, in its own terms: ``ncpus``,
``reg(name, cpu)`` / ``set_reg(name, value, cpu)`` for the 32-bit, 16-bit
and 8-bit x86 registers by name (``eax``, ``ax``, ``al``, ``eip``,
``eflags``, ``cs``...), ``pc(cpu)`` (the linear address of the next
instruction: CS base + EIP in real mode, where EIP alone is an offset),
``code_bits(cpu)`` (16 while the CPU decodes 16-bit code, else 32),
``cpu_state(cpu)`` ("running", "halted", "wait-for-sipi"),
``turn_distance(cpu)`` (instructions until that CPU's next one),
``mem_read(addr, n, physical=False)`` and ``mem_write`` at linear addresses
-- through the page tables when paging is on (``physical()``, the one
translation helper), ``TargetError`` when unmapped --, ``now`` (virtual
time, instructions retired),
``step(n)`` (exactly n instructions unless a hook stopped it),
``run(n)`` (at most n), ``stop()``, exec hooks, watches, interrupt
listeners, ``snapshot()``/``restore()``, ``devices``, ``symbols`` and
``code_range`` (the loaded image's first and last address).

``companion`` (None, or an object with ``save()`` and ``restore(saved)``:
the debugger's ``Along``, control.py — the console's place and the
observer's ``Rewind``, emulator/debugger/rewind.py) is Python state that goes
back in time with the machine: its ``save()`` rides in every snapshot and is
restored right after the machine.

Addresses: every address the debugger shows or takes is linear (what the
CPU fetches from, what the machine's exec hooks are keyed by), and this is
the one place that turns a CPU's registers into one (``pc``).  Paging
(CR0.PG) would add its translation here.

``set_reg("cr0", v)`` that flips CR0.PE reloads the segment registers from
their selectors as the new mode reads them (real mode: base = selector x
16), so a CPU switched by hand is in the plain mode it names and the
machine counts its code as 16-bit or 32-bit accordingly; the cached
descriptors a real CPU would keep ("unreal mode") are not kept.

A change in the machine's API is a change here only.
"""

from __future__ import annotations

from unicorn import UcError
from unicorn import x86_const as X


class TargetError(Exception):
    pass


# gdb's i386 register order (the 'g' packet), then the rest we show.
GDB_REGS = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi",
            "eip", "eflags", "cs", "ss", "ds", "es", "fs", "gs"]
_EXTRA = ["ax", "bx", "cx", "dx", "si", "di", "sp", "bp", "al", "ah", "bl", "bh",
          "cl", "ch", "dl", "dh", "cr0", "cr2", "cr3", "cr4"]
REG_IDS = {n: getattr(X, "UC_X86_REG_" + n.upper()) for n in GDB_REGS + _EXTRA}


class Target:
    def __init__(self, machine, companion=None) -> None:
        self.m = machine
        self.companion = companion

    # CPUs and registers -----------------------------------------------------
    @property
    def ncpus(self) -> int:
        return len(self.m.cpus)

    def _uc(self, cpu: int):
        try:
            c = self.m.cpus[cpu]
        except IndexError:
            raise TargetError(f"no CPU {cpu} (this machine has {self.ncpus})") from None
        return getattr(c, "uc", None) or getattr(c, "engine", None) or c

    def reg(self, name: str, cpu: int = 0) -> int:
        rid = REG_IDS.get(name.lower())
        if rid is None:
            raise KeyError(name)
        return self._uc(cpu).reg_read(rid)

    def set_reg(self, name: str, value: int, cpu: int = 0) -> None:
        rid = REG_IDS.get(name.lower())
        if rid is None:
            raise KeyError(name)
        uc = self._uc(cpu)
        pe_before = uc.reg_read(X.UC_X86_REG_CR0) & 1
        try:
            uc.reg_write(rid, value & 0xFFFFFFFF)
        except UcError as e:
            raise TargetError(f"cannot set {name} to {value & 0xFFFFFFFF:#x}: {e}") from None
        if name.lower() == "cr0":
            c = self.m.cpus[cpu]
            if hasattr(c, "paging_on"):
                c.paging_on = bool(value & 0x80000000)      # what the machine's hooks track
            if (value & 1) != pe_before:
                self._mode_changed(cpu, uc)

    def _mode_changed(self, cpu: int, uc) -> None:
        """CR0.PE flipped by hand: reload the segments as the new mode reads
        their selectors, and let the machine decode 16-bit code again."""
        c = self.m.cpus[cpu]
        for seg in ("ss", "ds", "es", "fs", "gs", "cs"):
            try:
                uc.reg_write(REG_IDS[seg], uc.reg_read(REG_IDS[seg]))
            except UcError as e:
                raise TargetError(f"CR0.PE changed, but {seg} cannot be reloaded in the new "
                                  f"mode: {e}") from None
        if hasattr(c, "maybe_16bit"):
            c.maybe_16bit = True        # Cpu.code_16bit() reads CR0 and CS from here on
        inval = getattr(self.m, "invalidate_code", None)
        if inval is not None:
            inval(0, getattr(self.m, "mem_size", 1 << 32))

    def pc(self, cpu: int = 0) -> int:
        """The linear address of CPU ``cpu``'s next instruction."""
        try:
            c = self.m.cpus[cpu]
        except IndexError:
            raise TargetError(f"no CPU {cpu} (this machine has {self.ncpus})") from None
        eip = self.reg("eip", cpu)
        if not self.reg("cr0", cpu) & 1:
            # real mode (the machine notices a guest's own switch only at its
            # next stop): CS base = selector x 16
            return (eip + (self.reg("cs", cpu) << 4)) & 0xFFFFFFFF
        pc = getattr(c, "pc", None)
        return pc if isinstance(pc, int) else eip

    def code_bits(self, cpu: int = 0) -> int:
        if not self.reg("cr0", cpu) & 1:
            return 16
        bits16 = getattr(self.m.cpus[cpu], "code_16bit", None)
        return 16 if callable(bits16) and bits16() else 32

    def turn_distance(self, cpu: int):
        """Instructions the other CPUs retire before CPU ``cpu``'s next one
        (0: it is next), from the round robin's turns; None while it cannot
        run (halted, waiting for a start-up IPI)."""
        rr = getattr(self.m, "rr", None)
        if rr is None or len(self.m.cpus) == 1:
            return 0
        if not rr.runnable(cpu):
            return None
        n = len(rr.state)
        if rr.current == cpu and rr.used < rr.quantum:
            return 0
        wait = rr.quantum - rr.used if rr.runnable(rr.current) and rr.current != cpu else 0
        k = (rr.current + 1) % n
        while k != cpu:
            if rr.runnable(k):
                wait += rr.quantum
            k = (k + 1) % n
        return wait

    def turn_left(self, cpu: int) -> int:
        """Instructions another CPU may still retire in its current turn
        before CPU ``cpu`` (not runnable now) could run: at least 1."""
        rr = getattr(self.m, "rr", None)
        if rr is None or rr.current == cpu or not rr.runnable(rr.current):
            return 1
        return max(1, rr.quantum - rr.used)

    def ran_in_turn(self, cpu: int) -> bool:
        """Whether CPU ``cpu`` has the current turn and retired in it."""
        rr = getattr(self.m, "rr", None)
        return rr is None or (rr.current == cpu and rr.used > 0)

    def cpu_state(self, cpu: int = 0) -> str:
        """"running", "halted" or "wait-for-sipi" (an AP not started yet)."""
        rr = getattr(self.m, "rr", None)
        if rr is not None and len(self.m.cpus) > 1:
            return str(getattr(rr.state[cpu], "value", rr.state[cpu]))
        return "halted" if getattr(self.m.cpus[cpu], "halted", False) else "running"

    # memory -----------------------------------------------------------------
    def physical(self, addr: int, n: int) -> list:
        """The translation helper: [(physical address, length)] covering the
        linear range [addr, addr+n) through the page tables of the CPU the
        machine last stopped on, when it has paging on; else the range
        itself.  ``TargetError`` names the first page not mapped."""
        addr &= 0xFFFFFFFF
        cpu = self.m.cpus[getattr(self.m, "current_cpu", 0)]
        if not getattr(cpu, "paging_on", False):
            return [(addr, n)]
        out = []
        while n > 0:
            take = min(n, 0x1000 - (addr & 0xFFF))
            phys = cpu.mmu.physical(addr)
            if phys is None:
                raise TargetError(f"cannot access {addr:#x}: not mapped by the page tables "
                                  f"(x/p reads physical memory)")
            out.append((phys, take))
            addr, n = (addr + take) & 0xFFFFFFFF, n - take
        return out

    def mem_read(self, addr: int, n: int, physical: bool = False) -> bytes:
        """``n`` bytes at a linear address (physical with ``physical``)."""
        pieces = [(addr & 0xFFFFFFFF, n)] if physical else self.physical(addr, n)
        try:
            data = b"".join(bytes(self.m.mem_read(a, k)) for a, k in pieces)
        except (UcError, ValueError, IndexError, OverflowError) as e:
            raise TargetError(f"cannot read {n} bytes at {addr:#x}: {e}") from None
        if len(data) < n:
            raise TargetError(f"cannot read {n} bytes at {addr:#x}: outside memory")
        return data

    def read_u32(self, addr: int) -> int:
        return int.from_bytes(self.mem_read(addr, 4), "little")

    def mem_write(self, addr: int, data: bytes) -> None:
        data = bytes(data)
        try:
            i = 0
            for a, k in self.physical(addr, len(data)):
                self.m.mem_write(a, data[i:i + k])
                i += k
        except (UcError, ValueError, IndexError, OverflowError) as e:
            raise TargetError(f"cannot write {len(data)} bytes at {addr:#x}: {e}") from None

    # time and execution -----------------------------------------------------
    @property
    def now(self) -> int:
        return self.m.clock.now

    def step(self, n: int):
        return self.m.step(n)

    def run(self, n: int):
        return self.m.run(max_instructions=n)

    def stop(self) -> None:
        self.m.stop()

    # hooks ------------------------------------------------------------------
    def add_exec_hook(self, addr: int, fn):
        return self.m.add_exec_hook(addr, fn)

    def remove_exec_hook(self, handle) -> None:
        rm = getattr(self.m, "remove_exec_hook", None)
        if rm is not None:
            rm(handle)

    def add_write_watch(self, addr: int, length: int, fn):
        return self.m.add_write_watch(addr, length, fn)

    def add_read_watch(self, addr: int, length: int, fn):
        return self.m.add_read_watch(addr, length, fn)

    def remove_watch(self, handle) -> None:
        rm = getattr(self.m, "remove_watch", None)
        if rm is not None:
            rm(handle)

    def on_interrupt(self, fn) -> None:
        hooks = self.m.on_interrupt
        if callable(hooks) and not isinstance(hooks, list):
            hooks(fn)
        else:
            hooks.append(fn)

    # state ------------------------------------------------------------------
    def snapshot(self):
        """The machine's snapshot (registers, RAM, devices, clock, loop state),
        with the companion's state."""
        snap = self.m.snapshot()
        if self.companion is not None:
            snap["companion"] = self.companion.save()
        return snap

    def restore(self, snap) -> None:
        self.m.restore(snap)
        if self.companion is not None and "companion" in snap:
            self.companion.restore(snap["companion"])

    def inject(self, spec: str):
        return self.m.inject(spec)

    @property
    def devices(self) -> dict:
        d = getattr(self.m, "devices", None) or {}
        return d if isinstance(d, dict) else {getattr(x, "name", str(i)): x for i, x in enumerate(d)}

    @property
    def symbols(self):
        return getattr(self.m, "symbols", None)

    @property
    def code_range(self) -> tuple:
        img = getattr(self.m, "image", None)
        lo = getattr(img, "load_addr", None) or getattr(img, "base", None)
        hi = getattr(img, "load_end", None) or getattr(img, "end", None)
        if isinstance(lo, int) and isinstance(hi, int) and hi > lo:
            return lo, hi
        syms = self.symbols
        if syms is not None and getattr(syms, "_label_addrs", None):
            return syms._label_addrs[0], syms._label_addrs[-1] + 16
        return 0, 0
