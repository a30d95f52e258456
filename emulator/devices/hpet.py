"""The HPET at 0xFED00000 as QEMU's PC has it: a 100 MHz main counter, three comparators.

Contract
--------
IA-PC HPET specification 1.0a (sections 2.3, 2.4) with QEMU 7.2's choices
(hw/timer/hpet.c, the pc machine), checked on qemu-system-i386 by
tests/probes/firmware.  Registers are 32-bit (QEMU accepts only 4-byte
accesses; a 64-bit register is two halves)::

    0x000  GCAP_ID    0x8086A201: vendor 8086, LEG_RT_CAP, COUNT_SIZE_CAP
                      (64-bit), 3 timers (NUM_TIM_CAP 2), revision 1
    0x004  period     10,000,000 fs: the counter counts every 10 ns
    0x010  GEN_CONF   bit 0 ENABLE_CNF, bit 1 LEG_RT_CNF
    0x020  GINTR_STA  bit n: timer n's level interrupt is active (write 1
                      to clear it and lower its line)
    0x0F0  MAIN_CNT   (and 0x0F4) writable; runs only while ENABLE_CNF
    0x100 + 0x20*n    timer n: CONF (+0; +4 is INT_ROUTE_CAP), COMPARATOR
                      (+8, +0xC), FSB route (+0x10, +0x14)

Timer CONF bits: 1 INT_TYPE (level), 2 INT_ENB, 3 TYPE (periodic), 4
PER_INT_CAP, 5 SIZE_CAP, 6 VAL_SET, 8 32MODE, 13-9 INT_ROUTE, 14 FSB_EN,
15 FSB_CAP (clear: no FSB delivery here, as on QEMU's pc).  INT_ROUTE_CAP is
``intcap`` (QEMU's pc-i440fx: 0x4, IO APIC input 2 only).

Time: the counter is ``(ns + offset) // 10`` while enabled (ns = virtual
nanoseconds, emulator/clock.py), frozen in ``counter`` while disabled.  A comparator is
armed (``deadline``) the way QEMU's hpet_set_timer does it: ``diff = cmp -
count`` ticks (1 if not positive), the deadline ``ns + 10 * diff``; in
32-bit one-shot mode an earlier deadline at the counter's 32-bit wrap
(``wrap``).  At a deadline (QEMU hpet_timer): a periodic timer's comparator
advances by ``period`` while the count is past it and it is re-armed; then
the interrupt is signalled if INT_ENB and ENABLE_CNF are both set -- a pulse
for an edge timer, the line held and GINTR_STA set for a level timer.  As
in QEMU, comparators are armed whatever INT_ENB says (a disabled periodic
timer's comparator still advances), a write to a comparator re-arms it,
and a comparator at or before the count fires one tick later.

Routing (``gsi(n, level)``, given by the machine): timer n's INT_ROUTE
names a GSI (0-15: the ISA line, i.e. 8259 input and IO APIC input, ISA 0
on pin 2; 16-23: IO APIC pins).  With LEG_RT_CNF, timer 0 drives GSI 0 and
timer 1 GSI 8, and the PIT's and the RTC's own outputs are cut off: the
machine wires them to ``pit_in`` / ``rtc_in``, which pass them on only
outside legacy mode (QEMU hpet_handle_legacy_irq); LEG_RT_CNF also turns
the PIT's counter 0 interrupt off through ``pit_enable(0)`` (the machine
gives the PIT's ``irq_control``, QEMU's pit_enabled line).  Leaving legacy
mode lowers GSI 0, turns the PIT's interrupt on again (it drives GSI 0 with
OUT computed at that moment) and gives GSI 8 the RTC's current level.

Not modelled: FSB (MSI) delivery, timers beyond the three; QEMU lets a guest
reach a fourth, never-reset timer's registers by an off-by-one, irqlab
reads them as 0 (documented, deliberate).  ``reset()`` (QEMU hpet_reset):
counter 0, disabled, comparators all ones, timer CONF = PER_INT_CAP |
SIZE_CAP | intcap << 32, GINTR_STA 0; the PIT's line is passed on again.
"""

from __future__ import annotations

from typing import Callable, Optional

from emulator.clock import Clock, insn_to_ns, ns_to_insn
from emulator.devices import state
from emulator.devices.base import Device

HPET_BASE, HPET_LEN = 0xFED00000, 0x400
HPET_PERIOD_FS = 10_000_000
NS_PER_TICK = 10
NUM_TIMERS = 3
CAPABILITY = 0x8086A001 | ((NUM_TIMERS - 1) << 8) | (HPET_PERIOD_FS << 32)
PC_INTCAP = 0x4                               # QEMU pc-i440fx: IO APIC input 2

ID, PERIOD, CONF, ISR, COUNTER, COUNTER_HI = 0x000, 0x004, 0x010, 0x020, 0x0F0, 0x0F4
CFG_ENABLE, CFG_LEGACY, CFG_WRITE_MASK = 0x1, 0x2, 0x3
TN_TYPE_LEVEL, TN_ENABLE, TN_PERIODIC, TN_PERIODIC_CAP = 0x002, 0x004, 0x008, 0x010
TN_SIZE_CAP, TN_SETVAL, TN_32BIT, TN_FSB_ENABLE = 0x020, 0x040, 0x100, 0x4000
TN_ROUTE_SHIFT, TN_ROUTE_MASK, TN_CFG_WRITE_MASK = 9, 0x3E00, 0x7F4E
TN_CFG, TN_CFG_HI, TN_CMP, TN_CMP_HI, TN_FSB, TN_FSB_HI = 0x0, 0x4, 0x8, 0xC, 0x10, 0x14
PIT_GSI, RTC_GSI = 0, 8
M32, M64 = 0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF


def _signed32(v: int) -> int:
    v &= M32
    return v - (1 << 32) if v & 0x80000000 else v


def _signed64(v: int) -> int:
    v &= M64
    return v - (1 << 64) if v >> 63 else v


def _catch_up(cmp: int, period: int, cur: int, bits: int) -> int:
    """QEMU's hpet_timer loop ``while ((intN)(cmp - cur) < 0) cmp += period``
    (N = ``bits``, arithmetic mod 2**N) in closed form: the same result
    without one step per period (a comparator far behind the counter --
    the counter set to 0xfffffff0 under a 10-tick period -- took Python
    ~430 million steps: fuzz seed 330).  A step of 0 mod 2**N would spin
    for ever in QEMU; cmp is left as it is."""
    mod = 1 << bits
    half, step = mod >> 1, period % mod
    dist = (cmp - cur) % mod                   # (intN)(cmp - cur) < 0 <=> dist >= half
    if dist < half or step == 0:
        return cmp
    if step < half:                            # upwards: lands in [0, step) past the wrap
        k = -(-(mod - dist) // step)
    else:                                      # downwards by mod - step <= half
        k = -(-(dist - half + 1) // (mod - step))
    return (cmp + k * step) % mod


class Timer:
    """One comparator: its registers and QEMU's hidden state."""

    def __init__(self, tn: int) -> None:
        self.tn = tn
        self.config = 0       # CONF, capabilities in bits 63-32
        self.cmp = M64        # COMPARATOR
        self.fsb = 0          # FSB route (stored only)
        self.period = 0       # the last value written to a periodic comparator
        self.wrap = False     # 32-bit one-shot: the next deadline is the wrap, not cmp
        self.deadline: Optional[int] = None   # virtual ns of the next expiry


class Hpet(Device):
    """The event timer block."""

    name = "hpet"

    def __init__(self, clock: Optional[Clock] = None, intcap: int = PC_INTCAP,
                 gsi: Optional[Callable[[int, int], None]] = None) -> None:
        super().__init__(clock)
        self.mmio = ((HPET_BASE, HPET_LEN),)
        self.intcap = intcap
        self.gsi = gsi if gsi is not None else (lambda n, level: None)
        self.pit_enable: Callable[[int], None] = lambda enable: None   # the PIT's irq_control
        self.timers = [Timer(n) for n in range(NUM_TIMERS)]
        self.rtc_level = 0        # the RTC's output (QEMU keeps it to give it back)
        self.config = 0
        self.isr = 0
        self.reset()

    def reset(self) -> None:
        """QEMU hpet_reset: every timer stopped and reset, counter 0, disabled."""
        was_legacy = self._legacy()
        for t in self.timers:
            self._del_timer(t)
            t.cmp = M64
            t.config = TN_PERIODIC_CAP | TN_SIZE_CAP | (self.intcap << 32)
            t.period = 0
            t.wrap = False
        self.config = 0       # GEN_CONF
        self.isr = 0          # GINTR_STA
        self.counter = 0      # MAIN_CNT while disabled
        self.offset = 0       # ns to add to now while enabled
        self.rtc_level = 0
        if was_legacy:        # the PIT interrupts again (QEMU: pit_enabled raised)
            self.pit_enable(1)

    def save_state(self) -> dict:
        return state.save(self)

    def load_state(self, saved: dict) -> None:
        state.load(self, saved)

    def describe(self) -> str:
        tm = " ".join(f"t{t.tn}={t.config & M32:04x}/{t.cmp:x}" for t in self.timers)
        return (f"hpet conf={self.config:x} isr={self.isr:x} counter={self._ticks():x} {tm}")

    # -- the counter ----------------------------------------------------------------
    def _enabled(self) -> bool:
        return bool(self.config & CFG_ENABLE)

    def _legacy(self) -> bool:
        return bool(self.config & CFG_LEGACY)

    def _ns(self) -> int:
        return self.clock.ns()

    def _ticks(self, ns: Optional[int] = None) -> int:
        """The main counter at virtual time ``ns`` (now by default)."""
        if not self._enabled():
            return self.counter
        ns = self._ns() if ns is None else ns
        return ((ns + self.offset) // NS_PER_TICK) & M64

    # -- comparators (QEMU hpet_set_timer, hpet_timer, update_irq) ---------------------
    @staticmethod
    def _diff(t: Timer, cur: int) -> int:
        """Ticks from ``cur`` to the comparator, at least 1."""
        if t.config & TN_32BIT:
            diff = ((t.cmp & M32) - (cur & M32)) & M32
            return diff if _signed32(diff) > 0 else 1
        diff = (t.cmp - cur) & M64
        return diff if _signed64(diff) > 0 else 1

    def _set_timer(self, t: Timer, ns: Optional[int] = None) -> None:
        ns = self._ns() if ns is None else ns
        cur = self._ticks(ns)
        t.wrap = False
        diff = self._diff(t, cur)
        if t.config & TN_32BIT and not t.config & TN_PERIODIC:
            wrap_diff = M32 - (cur & M32)
            if wrap_diff < (diff & M32):
                diff, t.wrap = wrap_diff, True
        t.deadline = ns + diff * NS_PER_TICK

    def _del_timer(self, t: Timer) -> None:
        t.deadline = None
        self._update_irq(t, False)

    def _fire(self, t: Timer, ns: int) -> None:
        cur = self._ticks(ns)
        t.deadline = None
        if t.config & TN_PERIODIC and t.period:
            if t.config & TN_32BIT:
                t.cmp = _catch_up(t.cmp, t.period, cur, 32)
            else:
                t.cmp = _catch_up(t.cmp, t.period, cur, 64)
            t.deadline = ns + self._diff(t, cur) * NS_PER_TICK
        elif t.config & TN_32BIT and not t.config & TN_PERIODIC and t.wrap:
            t.deadline = ns + self._diff(t, cur) * NS_PER_TICK
            t.wrap = False
        self._update_irq(t, True)

    def _route(self, t: Timer) -> int:
        if t.tn <= 1 and self._legacy():
            return PIT_GSI if t.tn == 0 else RTC_GSI
        return (t.config & TN_ROUTE_MASK) >> TN_ROUTE_SHIFT

    def _update_irq(self, t: Timer, set_: bool) -> None:
        """Signal (or withdraw) timer ``t``'s interrupt on its route."""
        route, mask = self._route(t), 1 << t.tn
        if not set_ or not t.config & TN_ENABLE or not self._enabled():
            self.isr &= ~mask
            if not t.config & TN_FSB_ENABLE:
                self.gsi(route, 0)
        elif t.config & TN_FSB_ENABLE:
            return                             # FSB (MSI) delivery: not modelled
        elif t.config & TN_TYPE_LEVEL:
            self.isr |= mask
            self.gsi(route, 1)
        else:
            self.isr &= ~mask
            self.gsi(route, 1)
            self.gsi(route, 0)

    # -- the legacy inputs ------------------------------------------------------------
    def pit_in(self, level: int) -> None:
        """The PIT's counter 0 output: GSI 0 unless LEG_RT_CNF cut it off."""
        if not self._legacy():
            self.gsi(PIT_GSI, level)

    def rtc_in(self, level: int) -> None:
        """The RTC's IRQ output: GSI 8 unless LEG_RT_CNF cut it off."""
        self.rtc_level = level
        if not self._legacy():
            self.gsi(RTC_GSI, level)

    # -- MMIO --------------------------------------------------------------------------
    def mmio_read(self, offset: int, size: int) -> int:
        if 0x100 <= offset < 0x100 + 0x20 * NUM_TIMERS:
            t = self.timers[(offset - 0x100) // 0x20]
            reg = (offset - 0x100) % 0x20
            return {TN_CFG: t.config & M32, TN_CFG_HI: t.config >> 32, TN_CMP: t.cmp & M32,
                    TN_CMP_HI: t.cmp >> 32, TN_FSB: t.fsb & M32, TN_FSB_HI: t.fsb >> 32}.get(reg, 0)
        if offset == ID:
            return CAPABILITY & M32
        if offset == PERIOD:
            return CAPABILITY >> 32
        if offset == CONF:
            return self.config & M32
        if offset == ISR:
            return self.isr & M32
        if offset == COUNTER:
            return self._ticks() & M32
        if offset == COUNTER_HI:
            return self._ticks() >> 32
        return 0

    def mmio_write(self, offset: int, size: int, value: int) -> None:
        value &= M32
        old = self.mmio_read(offset, 4)
        if 0x100 <= offset < 0x100 + 0x20 * NUM_TIMERS:
            self._write_timer(self.timers[(offset - 0x100) // 0x20], (offset - 0x100) % 0x20, old,
                              value)
        elif offset == CONF:
            self._write_conf(old, value)
        elif offset == ISR:
            for t in self.timers:
                if value & self.isr & (1 << t.tn):
                    self._update_irq(t, False)
        elif offset == COUNTER:
            self.counter = (self.counter & ~M32 & M64) | value
        elif offset == COUNTER_HI:
            self.counter = (self.counter & M32) | (value << 32)

    def _write_conf(self, old: int, new: int) -> None:
        self.config = (new & CFG_WRITE_MASK) | (old & ~CFG_WRITE_MASK)
        if not old & CFG_ENABLE and new & CFG_ENABLE:
            self.offset = self.counter * NS_PER_TICK - self._ns()
            for t in self.timers:
                if t.cmp != M64:
                    self._set_timer(t)
        elif old & CFG_ENABLE and not new & CFG_ENABLE:
            self.counter = ((self._ns() + self.offset) // NS_PER_TICK) & M64
            for t in self.timers:
                self._del_timer(t)
        if not old & CFG_LEGACY and new & CFG_LEGACY:
            self.pit_enable(0)
            self.gsi(PIT_GSI, 0)
            self.gsi(RTC_GSI, 0)
        elif old & CFG_LEGACY and not new & CFG_LEGACY:
            self.gsi(PIT_GSI, 0)
            self.pit_enable(1)                 # the PIT drives GSI 0 with OUT as of now
            self.gsi(RTC_GSI, self.rtc_level)

    def _write_timer(self, t: Timer, reg: int, old: int, new: int) -> None:
        if reg == TN_CFG:
            if not old & TN_FSB_ENABLE and new & TN_FSB_ENABLE:
                self._update_irq(t, False)
            t.config = (t.config & ~M32) | (new & TN_CFG_WRITE_MASK) | (old & ~TN_CFG_WRITE_MASK)
            if new & TN_32BIT:
                t.cmp &= M32
                t.period &= M32
            if not old & TN_ENABLE and new & TN_ENABLE and self._enabled():
                self._set_timer(t)
            elif old & TN_ENABLE and not new & TN_ENABLE:
                self._del_timer(t)
        elif reg in (TN_CMP, TN_CMP_HI):
            self._write_comparator(t, reg == TN_CMP_HI, new)
        elif reg == TN_FSB:
            t.fsb = (t.fsb & ~M32) | new
        elif reg == TN_FSB_HI:
            t.fsb = (t.fsb & M32) | (new << 32)

    def _write_comparator(self, t: Timer, high: bool, value: int) -> None:
        periodic = t.config & TN_PERIODIC
        limit = (M32 if t.config & TN_32BIT else M64) >> 1
        if not high:
            if t.config & TN_32BIT:
                value &= M32
            if not periodic or t.config & TN_SETVAL:
                t.cmp = (t.cmp & ~M32 & M64) | value
            if periodic:
                t.period = (t.period & ~M32 & M64) | (value & limit)
        elif not periodic or t.config & TN_SETVAL:
            t.cmp = (t.cmp & M32) | (value << 32)
        else:
            t.period = (t.period & M32) | (((value & limit) << 32) & M64)
        t.config &= ~TN_SETVAL
        if self._enabled():
            self._set_timer(t)

    # -- time --------------------------------------------------------------------------
    def next_deadline(self) -> Optional[int]:
        ds = [t.deadline for t in self.timers if t.deadline is not None]
        return ns_to_insn(min(ds)) if ds else None

    def advance(self, now: int) -> None:
        """Fire every comparator due by ``now`` (instructions), each at its own
        deadline, in time then timer order."""
        limit = insn_to_ns(now)
        while True:
            due = [t for t in self.timers if t.deadline is not None and t.deadline <= limit]
            if not due:
                return
            t = min(due, key=lambda x: (x.deadline, x.tn))
            self._fire(t, t.deadline)
