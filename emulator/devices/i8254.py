"""Intel 8254 programmable interval timer, and the PC's port 0x61.

Contract
--------
``Pit`` owns ports 0x40-0x42 (counters 0-2) and 0x43 (control word), and
port 0x61 (the PC's "system control port B": counter 2's GATE in bit 0,
speaker data in bit 1, a refresh toggle in bit 4 and counter 2's OUT in bit
5).  Counter 0's OUT drives ``self.irq`` (IRQ 0).  The counters run at
``PIT_FREQ`` = 1.193182 MHz of virtual time: the count elapsed since a
counter was loaded is ``muldiv(ns - load_ns, PIT_FREQ, 1e9)``, exactly as
QEMU's hw/timer/i8254.c computes it, so a guest that races the PIT reads the
same counts as under ``qemu-system-i386 -icount shift=0``.

Timers: ``next_deadline()`` is the virtual time (instructions) of counter
0's next OUT transition; ``advance(now)`` performs every transition up to
``now``, driving IRQ 0 at the transition's own time (QEMU's pit_irq_timer).

Reference: Intel 8254 datasheet (order 231164): control word format (fig.
6), counter latch command (p. 7), read-back command (figs. 9-11), modes 0-5
(pp. 10-14), read/write operations (LSB, MSB, LSB then MSB).  Where the
datasheet leaves room — and, for IRQ 0's timing, even where it does not,
so that guests see the same edges as on ``qemu -icount shift=0`` — QEMU's
model is followed, including its simplifications: in mode 2 OUT is high
from the terminal count until one clock before the next (the datasheet's
one-clock low pulse, inverted: the PIC sees one rising edge per period,
at the same instant); modes 4/5 drive OUT high for one clock at the
terminal count; mode 1 OUT is high while counting (the datasheet has it
low); mode 3 rounds odd counts; GATE is ignored in modes 0 and 4 and a
rising GATE restarts modes 1, 2, 3 and 5; the control word alone does not
change OUT; the read-back status has no NULL COUNT bit; BCD counting is
recorded but counts in binary.  After reset every counter is in mode 3 with count
0x10000 (so counter 0 interrupts at 18.2 Hz), counters 0 and 1 gated on,
counter 2 gated off.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from emulator.clock import Clock, NS_PER_SECOND, insn_to_ns, muldiv, ns_to_insn
from emulator.devices import state
from emulator.devices.base import Device, IrqLine
from emulator.devices.wire import drive

PIT_FREQ = 1_193_182           # input clock, Hz
PIT_PORT = 0x40                # counter 0; 0x41, 0x42 counters 1, 2
PIT_CONTROL = 0x43             # control word (write only)
PORT_61 = 0x61                 # system control port B

# read/write states (control word bits 5-4 = RW1 RW0)
RW_LSB, RW_MSB, RW_WORD0, RW_WORD1 = 1, 2, 3, 4


@dataclass
class PitCounter:
    """One counter of the 8254, named as in the datasheet."""

    index: int
    count: int = 0x10000          # CR as loaded (0 stands for 65536)
    latched_count: int = 0        # OL after a counter latch command
    count_latched: int = 0        # which bytes of OL are still to be read
    status_latched: int = 0       # a read-back status is waiting
    status: int = 0
    read_state: int = RW_WORD0
    write_state: int = RW_WORD0
    write_latch: int = 0          # LSB written, MSB awaited
    rw_mode: int = RW_WORD0
    mode: int = 3
    bcd: int = 0                  # recorded, not honoured (as QEMU)
    gate: int = 1
    load_ns: int = 0              # virtual time the count was loaded
    next_transition_ns: Optional[int] = None   # counter 0 only

    def elapsed(self, ns: int) -> int:
        """Input clocks since the count was loaded."""
        return muldiv(ns - self.load_ns, PIT_FREQ, NS_PER_SECOND)

    def get_count(self, ns: int) -> int:
        """The counting element (CE) at time ``ns``."""
        d = self.elapsed(ns)
        if self.mode in (0, 1, 4, 5):
            return (self.count - d) & 0xFFFF
        if self.mode == 3:
            return self.count - ((2 * d) % self.count)
        return self.count - (d % self.count)

    def get_out(self, ns: int) -> int:
        """The OUT pin at time ``ns``."""
        d = self.elapsed(ns)
        mode = self.mode
        if mode == 1:
            return int(d < self.count)
        if mode == 2:
            return int(d % self.count == 0 and d != 0)
        if mode == 3:
            return int(d % self.count < (self.count + 1) >> 1)
        if mode in (4, 5):
            return int(d == self.count)
        return int(d >= self.count)        # mode 0 (and 6, 7 as QEMU)

    def next_transition(self, ns: int) -> Optional[int]:
        """The virtual time (ns) of OUT's next change after ``ns``, or None."""
        d = self.elapsed(ns)
        count = self.count
        mode = self.mode
        if mode == 2:
            base = (d // count) * count
            nxt = base + count if (d - base == 0 and d != 0) else base + count + 1
        elif mode == 3:
            base = (d // count) * count
            half = (count + 1) >> 1
            nxt = base + half if d - base < half else base + count
        elif mode in (4, 5):
            if d < count:
                nxt = count
            elif d == count:
                nxt = count + 1
            else:
                return None
        else:                              # 0, 1 (6, 7)
            if d < count:
                nxt = count
            else:
                return None
        t = self.load_ns + muldiv(nxt, NS_PER_SECOND, PIT_FREQ)
        return t if t > ns else ns + 1     # QEMU's rounding guard


class Pit(Device):
    """The 8254 with counter 0 on IRQ 0 and counter 2 behind port 0x61.

    The machine connects IRQ 0 by setting ``pit.irq.sink``."""

    name = "pit"
    ports = ((PIT_PORT, 4), (PORT_61, 1))

    def __init__(self, clock: Optional[Clock] = None) -> None:
        super().__init__(clock)
        self.irq = IrqLine(name="IRQ0")
        self.counters = [PitCounter(i) for i in range(3)]
        self.speaker_data = 0          # port 0x61 bit 1
        self.refresh_toggle = 0        # port 0x61 bit 4, flips on every read
        self.irq_disabled = False      # the HPET's legacy mode holds IRQ 0 off (irq_control)
        self.reset()

    # -- housekeeping --------------------------------------------------------
    def reset(self) -> None:
        """Every counter: mode 3, count 0x10000 loaded now; GATE 1 for
        counters 0 and 1, 0 for counter 2; latches cleared.  The IRQ0 wire
        and its level survive (the machine owns its wiring)."""
        ns = self.clock.ns()
        for i, c in enumerate(self.counters):
            c.count, c.latched_count, c.count_latched = 0x10000, 0, 0
            c.status_latched, c.status, c.write_latch = 0, 0, 0
            c.read_state = c.write_state = c.rw_mode = RW_WORD0
            c.mode, c.bcd, c.gate, c.load_ns = 3, 0, int(i != 2), ns
            c.next_transition_ns = None
        self.speaker_data = 0
        self.refresh_toggle = 0
        # As QEMU's pit_reset: schedule counter 0's first transition without
        # driving the line now (its first edge comes a full period later).
        c0 = self.counters[0]
        c0.next_transition_ns = None if self.irq_disabled else c0.next_transition(ns)

    def save_state(self) -> dict:
        """Registers, latches and timers, without the wiring (see state.py)."""
        return state.save(self)

    def load_state(self, saved: dict) -> None:
        state.load(self, saved)

    def describe(self) -> str:
        ns = self.clock.ns()
        parts = []
        for c in self.counters:
            parts.append(f"c{c.index} mode={c.mode} count={c.count:#x} "
                         f"ce={c.get_count(ns):#06x} out={c.get_out(ns)} gate={c.gate}")
        return "pit " + " | ".join(parts)

    def irq_control(self, enable: int) -> None:
        """Counter 0's interrupt enable input (QEMU pit_irq_control), which
        the HPET's LEG_RT_CNF drives: disabled, OUT no longer drives IRQ 0
        and no transition is scheduled; enabled again, IRQ 0 is driven with
        OUT as computed now (in mode 2 mostly low, see the module docstring)
        and transitions resume.  It survives ``reset()``, as in QEMU."""
        c0 = self.counters[0]
        if enable:
            self.irq_disabled = False
            self._irq_update(c0, self.clock.ns())
        else:
            self.irq_disabled = True
            c0.next_transition_ns = None

    # -- time ---------------------------------------------------------------
    def next_deadline(self) -> Optional[int]:
        t = self.counters[0].next_transition_ns
        return None if t is None else ns_to_insn(t)

    def advance(self, now: int) -> None:
        c0 = self.counters[0]
        limit = insn_to_ns(now)
        while c0.next_transition_ns is not None and c0.next_transition_ns <= limit:
            self._irq_update(c0, c0.next_transition_ns)

    # -- port I/O ------------------------------------------------------------
    def io_read(self, port: int, size: int) -> int:
        ns = self.clock.ns()
        if port == PORT_61:
            c2 = self.counters[2]
            self.refresh_toggle ^= 1
            return (c2.gate | (self.speaker_data << 1) | (self.refresh_toggle << 4)
                    | (c2.get_out(ns) << 5))
        if port == PIT_CONTROL:
            return 0                       # the control word is write-only (QEMU reads 0)
        c = self.counters[port - PIT_PORT]
        if c.status_latched:
            c.status_latched = 0
            return c.status
        if c.count_latched:
            if c.count_latched == RW_MSB:
                c.count_latched = 0
                return (c.latched_count >> 8) & 0xFF
            if c.count_latched == RW_WORD0:
                c.count_latched = RW_MSB
                return c.latched_count & 0xFF
            c.count_latched = 0
            return c.latched_count & 0xFF
        count = c.get_count(ns)
        if c.read_state == RW_LSB:
            return count & 0xFF
        if c.read_state == RW_MSB:
            return (count >> 8) & 0xFF
        if c.read_state == RW_WORD0:
            c.read_state = RW_WORD1
            return count & 0xFF
        c.read_state = RW_WORD0
        return (count >> 8) & 0xFF

    def io_write(self, port: int, size: int, value: int) -> None:
        value &= 0xFF
        ns = self.clock.ns()
        if port == PORT_61:
            self.speaker_data = (value >> 1) & 1
            self._set_gate(self.counters[2], value & 1, ns)
            return
        if port == PIT_CONTROL:
            self._write_control(value, ns)
            return
        c = self.counters[port - PIT_PORT]
        if c.write_state == RW_LSB:
            self._load(c, value, ns)
        elif c.write_state == RW_MSB:
            self._load(c, value << 8, ns)
        elif c.write_state == RW_WORD0:
            c.write_latch = value
            c.write_state = RW_WORD1
        else:
            self._load(c, c.write_latch | (value << 8), ns)
            c.write_state = RW_WORD0

    # -- internals -----------------------------------------------------------
    def _write_control(self, value: int, ns: int) -> None:
        """Control word: SC1 SC0 RW1 RW0 M2 M1 M0 BCD (datasheet fig. 6)."""
        sc = value >> 6
        if sc == 3:                        # read-back command (fig. 9)
            for i, c in enumerate(self.counters):
                if not value & (2 << i):
                    continue
                if not value & 0x20:       # COUNT bit is active low
                    self._latch(c, ns)
                if not value & 0x10 and not c.status_latched:   # STATUS, active low
                    c.status = ((c.get_out(ns) << 7) | (c.rw_mode << 4)
                                | (c.mode << 1) | c.bcd)
                    c.status_latched = 1
            return
        c = self.counters[sc]
        access = (value >> 4) & 3
        if access == 0:                    # counter latch command
            self._latch(c, ns)
            return
        c.rw_mode = c.read_state = c.write_state = access
        c.mode = (value >> 1) & 7
        c.bcd = value & 1
        # QEMU does not restart the counter or move OUT until the count is written

    def _latch(self, c: PitCounter, ns: int) -> None:
        """Counter latch: OL holds CE until read; a second latch is ignored."""
        if not c.count_latched:
            c.latched_count = c.get_count(ns)
            c.count_latched = c.rw_mode

    def _load(self, c: PitCounter, value: int, ns: int) -> None:
        """A new count is written: counting restarts now (0 means 65536)."""
        c.count = value if value else 0x10000
        c.load_ns = ns
        self._irq_update(c, ns)

    def _set_gate(self, c: PitCounter, gate: int, ns: int) -> None:
        """GATE input: a rising edge restarts modes 1, 2, 3 and 5."""
        if c.mode in (1, 2, 3, 5) and c.gate < gate:
            c.load_ns = ns
            self._irq_update(c, ns)
        c.gate = gate

    def _irq_update(self, c: PitCounter, ns: int) -> None:
        """Drive IRQ0 from counter 0's OUT at ``ns`` and schedule the next
        transition (QEMU's pit_irq_timer_update).  Other counters have no
        timer: their OUT is computed when read."""
        if c.index != 0 or self.irq_disabled:
            return
        c.next_transition_ns = c.next_transition(ns)
        drive(self.irq, c.get_out(ns))         # every time, as qemu_set_irq

