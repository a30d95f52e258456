"""Where an interrupt could arrive: the points of a run.

Contract
--------
A *point* is a virtual time ``t`` (an instruction boundary) at which the
explored line, raised then, would be taken at once:

- IF=1 on the CPU (one CPU: explore does not do SMP yet),
- not in an interrupt shadow: the instruction retired just before is not
  ``sti``, ``mov ss`` or ``pop ss`` (Intel SDM vol. 3A 6.8.3),
- the line is unmasked at the 8259 (its IMR bit, and for lines 8-15 the
  slave's cascade input on the master too) or at its IO APIC redirection
  entry; for a test-device packet, the device's interrupt is enabled too;
  for a key, the 8042 raises IRQ 1 at once (its output buffer empty, its
  keyboard interrupt on: ``Kbc.key_interrupts``).

A halted CPU waits at one boundary for as long as it sleeps: the boundary
right after ``hlt`` is one point (an edge anywhere in the halt wakes it the
same way, only later).

``Window(t0, t1, lo, hi)``: points with ``t0 <= t < t1`` whose instruction
lies in ``[lo, hi)`` (each bound optional).

**Classes.** A loop that runs a million times without the kernel doing
anything the observer sees would make a million points that all ask the
same question.  Two points are in one *class* when they are at the same
instruction address and no event (a trace event: a lock taken, a switch,
an interrupt, a device's line moving, ...) came between them; explore runs
one branch per class, at its first point, and a violation it finds counts
every point of the class.  This is the reduction CHESS makes when it
preempts only at synchronisation operations, finer (every distinct
instruction is still its own class): a race between two instructions of
the same thread is kept, a loop's millionth iteration is not re-run.
``merge=False`` makes every point its own class.

``PointFinder(obs, window, every, first, limit, merge)`` hooks every
instruction of the observed machine ``obs`` (emulator/explore/target.py)
while it runs and collects the points after ``first``, keeping every
``every``-th: ``points`` counts them, ``classes`` lists ``(t, size)`` — each
class's first point and how many points it has — at most ``limit`` classes;
``stop()`` removes the hooks and returns ``classes``.  The hook costs a
Python call per instruction, so it runs only on the base run (and on the
first branch of a pair at depth 2).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import capstone

from emulator.cpu import EFLAGS_IF
from emulator.devices.ioapic import RTE_MASKED, isa_irq_to_pin

PIC_CASCADE = 2            # the slave's INT on master input 2
SHADOW = ("sti",)          # and mov ss / pop ss (see _shadows)


@dataclass(frozen=True)
class Window:
    t0: int = 0
    t1: Optional[int] = None       # exclusive
    lo: Optional[int] = None       # code addresses, hi exclusive
    hi: Optional[int] = None

    def has_time(self, t: int) -> bool:
        return t >= self.t0 and (self.t1 is None or t < self.t1)

    def has_code(self, addr: int) -> bool:
        return (self.lo is None or addr >= self.lo) and (self.hi is None or addr < self.hi)

    def describe(self) -> str:
        parts = []
        if self.t0 or self.t1 is not None:
            parts.append(f"t {self.t0}..{'' if self.t1 is None else self.t1}")
        if self.lo is not None or self.hi is not None:
            lo = "" if self.lo is None else f"{self.lo:#x}"
            hi = "" if self.hi is None else f"{self.hi:#x}"
            parts.append(f"code {lo}..{hi}")
        return ", ".join(parts) or "the whole run"


def line_open(machine, irq: int, packet: bool = False, key: bool = False) -> bool:
    """The line reaches the CPU at once if raised now (masks only; IF apart)."""
    if packet:
        tdev = machine.devices["testdev"]
        if not tdev.control & 1:            # CONTROL_IE: no packet, no interrupt
            return False
    if key and not machine.devices["i8042"].key_interrupts():
        return False
    pic = machine.pic
    if irq < 8:
        pic_open = not pic.master.imr & (1 << irq)
    else:
        pic_open = not pic.slave.imr & (1 << (irq - 8)) and not pic.master.imr & (1 << PIC_CASCADE)
    if pic_open:
        return True
    return not machine.platform.ioapic.redtbl[isa_irq_to_pin(irq)] & RTE_MASKED


def _shadows(mnemonic: str, ops: str) -> bool:
    """Does this instruction open an interrupt shadow for the next one?"""
    return mnemonic in SHADOW or (mnemonic == "mov" and ops.startswith("ss,")) \
        or (mnemonic == "pop" and ops == "ss")


class PointFinder:
    def __init__(self, obs, window: Window, every: int = 1, first: int = -1,
                 limit: Optional[int] = None, merge: bool = True) -> None:
        self.obs = obs
        self.m = obs.m
        self.window = window
        self.every = max(1, every)
        self.first = first             # points after this time only
        self.limit = limit
        self.merge = merge
        self.packet = obs.target.packet is not None
        self.key = obs.target.key is not None
        self.irq = (self.m.devices["testdev"].irq_number if self.packet
                    else 1 if self.key else obs.target.irq)     # the 8042's keyboard line
        self.seen = 0                  # eligible boundaries so far (before thinning)
        self.points = 0                # kept (every K-th)
        self.classes: list = []        # [t of the first point, points in the class]
        self._class_of: dict = {}      # (address, events seen) -> index in classes
        self._events = 0
        self._last = -1                # the last eligible boundary
        self._cs = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_32)
        self._insn: dict = {}          # address -> (shadows the next?, is hlt?)
        self._prev = (-2, False)       # (time, shadows the next) of the last instruction
        obs.session.fanout.add(self._count)
        self._handle = self.m.add_exec_hook(0, self._on_insn, end=self.m.mem_size - 1)

    def stop(self) -> list:
        if self._handle is not None:
            self.m.remove_exec_hook(self._handle)
            self.obs.session.fanout.consumers.remove(self._count)
            self._handle = None
        return [tuple(c) for c in self.classes]

    def _count(self, ev: dict) -> None:
        self._events += 1

    def _decode(self, addr: int) -> tuple:
        got = self._insn.get(addr)
        if got is None:
            code = self.m.mem_read(addr, 16)
            ins = next(self._cs.disasm_lite(code, addr, 1), None)
            got = (False, False) if ins is None else (_shadows(ins[2], ins[3]), ins[2] == "hlt")
            self._insn[addr] = got
        return got

    def _on_insn(self, m, cpu) -> None:
        if not line_open(m, self.irq, self.packet, self.key):
            # (no register read: the cheap case, e.g. a long handler with its
            # line masked; the instruction that opens the line again is an
            # out or an APIC write, never a shadow's sti / mov ss)
            self._prev = (-2, False)
            return
        t = m.clock.now
        addr = cpu.eip
        shadows, hlt = self._decode(addr)
        prev_t, prev_shadows = self._prev
        self._prev = (t, shadows)
        if t <= self.first or not self.window.has_code(addr):
            return
        in_shadow = prev_shadows and prev_t == t - 1
        if not cpu.eflags & EFLAGS_IF:
            return
        if not in_shadow and self.window.has_time(t):
            self._add(t, addr)
        if hlt and self.window.has_time(t + 1):
            self._add(t + 1, -addr)     # the halt that follows: one point

    def _add(self, t: int, where: int) -> None:
        if t <= self._last:
            return
        self._last = t
        self.seen += 1
        if (self.seen - 1) % self.every:
            return
        self.points += 1
        key = (where, self._events) if self.merge else t
        i = self._class_of.get(key)
        if i is not None:
            self.classes[i][1] += 1
        elif self.limit is None or len(self.classes) < self.limit:
            self._class_of[key] = len(self.classes)
            self.classes.append([t, 1])
