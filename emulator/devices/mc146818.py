"""Motorola MC146818A real-time clock and CMOS RAM (ports 0x70/0x71, IRQ 8).

Contract
--------
Port 0x70 selects a register (bits 6-0) and holds the NMI mask (bit 7: 1
disables NMI, exposed as ``nmi_masked``; a read of 0x70 returns 0xFF as on
QEMU).  Port 0x71 reads or writes the selected byte of the 128-byte CMOS:
0-9 the time, date and alarm, 10-13 registers A-D, the rest RAM.
``self.irq`` is IRQ 8 (through the slave PIC).

Determinism: the clock starts at a fixed epoch (constructor argument,
default 2000-01-01 00:00:00, a Saturday) when the machine starts, and runs
on virtual time; nothing reads the host clock.  The divider chain is
modelled on a 32.768 kHz time base whose phase starts at virtual time 0
(or 500 ms before the moment the divider leaves reset, so that the first
update comes 500 ms later, as the datasheet says).

Reference: MC146818A datasheet (Motorola): address map (fig. 2), time and
alarm bytes (table 3, BCD or binary per DM, 12 or 24 hour per 24/12 with
bit 7 = PM), register A (UIP, DV2-0, RS3-0 and the periodic rate table 4),
register B (SET, PIE, AIE, UIE, SQWE, DM, 24/12, DSE), register C (IRQF, PF,
AF, UF, all cleared when read), register D (VRT), update cycle (UIP is 1
from 244 us before an update), alarm with "don't care" bytes 0xC0-0xFF.
Flags PF, AF and UF are set whatever the enable bits (datasheet); IRQF and
the IRQ line are (PF and PIE) or (AF and AIE) or (UF and UIE).  QEMU 7.2 sets
PF only while PIE is set; a guest that polls PF with PIE=0 differs there.
Timers run only when an enabled flag can raise the line (then at every
period or second, as QEMU's timers, which re-raise the line each time);
otherwise the flags are brought up to date when register C is read.

Changing DM or 24/12 in register B (with SET clear) converts the time and
date bytes to the new format, century byte 0x32 included: the datasheet
says only that the format should be chosen before the time is set, and
QEMU, which formats the time bytes from its own clock at every read, shows
the time in the new format (tests/probes/devices/rtc_date.S checks both).

Register 0x37 (the IBM PS/2 century byte) is another name for the
century byte 0x32, read and written, as on QEMU (cmos_ioport_read/write).
Two QEMU differences the fuzzer (emulator/fuzz) measured and keeps clear
of: QEMU recomputes the day of the week from the date whenever the time is
set (the chip, and irqlab, keep the byte written and count it at
midnight), and QEMU's clock arithmetic reads one second late for dates
before 1970.

Simplifications: the update cycle is instantaneous at the second boundary
(the time bytes show the new second as soon as UIP falls); daylight-saving
(DSE) and the square-wave output are recorded but have no effect; invalid
time bytes written by the guest stop the clock from advancing until they are
rewritten.
"""

from __future__ import annotations

import datetime
from typing import Optional

from emulator.clock import Clock, NS_PER_SECOND, insn_to_ns, ns_to_insn
from emulator.devices import state
from emulator.devices.base import Device, IrqLine
from emulator.devices.wire import drive

RTC_INDEX, RTC_DATA = 0x70, 0x71
RTC_FREQ = 32768
UIP_HOLD_NS = 8 * NS_PER_SECOND // RTC_FREQ      # 244 us before the update

SECONDS, SECONDS_ALARM, MINUTES, MINUTES_ALARM = 0, 1, 2, 3
HOURS, HOURS_ALARM, DAY_OF_WEEK, DAY_OF_MONTH, MONTH, YEAR = 4, 5, 6, 7, 8, 9
REG_A, REG_B, REG_C, REG_D = 10, 11, 12, 13
CENTURY = 0x32                                    # PC convention (IBM AT)
PS2_CENTURY = 0x37                                # IBM PS/2's: QEMU aliases it to 0x32

REG_A_UIP = 0x80
REG_A_DV_NORMAL = 0x20                            # DV2-0 = 010: 32.768 kHz, running
REG_B_SET, REG_B_PIE, REG_B_AIE, REG_B_UIE = 0x80, 0x40, 0x20, 0x10
REG_B_SQWE, REG_B_DM, REG_B_24H, REG_B_DSE = 0x08, 0x04, 0x02, 0x01
REG_C_IRQF, REG_C_PF, REG_C_AF, REG_C_UF = 0x80, 0x40, 0x20, 0x10
REG_D_VRT = 0x80

DEFAULT_EPOCH = datetime.datetime(2000, 1, 1, 0, 0, 0)


def periodic_period(rate: int) -> int:
    """Period of the periodic flag in 32.768 kHz ticks for RS3-0; 0 = none."""
    if rate == 0:
        return 0
    if rate <= 2:
        rate += 7                                 # rates 1, 2 give 3.90625, 7.8125 ms
    return 1 << (rate - 1)


def _to_bcd(v: int) -> int:
    return ((v // 10) << 4) | (v % 10)


def _from_bcd(v: int) -> int:
    hi, lo = v >> 4, v & 0x0F
    if hi > 9 or lo > 9:
        raise ValueError("not BCD")
    return hi * 10 + lo


class Rtc(Device):
    """MC146818A with 128 bytes of CMOS RAM, as on a PC."""

    name = "rtc"
    ports = ((RTC_INDEX, 2),)

    def __init__(self, clock: Optional[Clock] = None,
                 epoch: datetime.datetime = DEFAULT_EPOCH) -> None:
        super().__init__(clock)
        self.irq = IrqLine(name="IRQ8")
        self.cmos = bytearray(128)                # the address space, registers included
        self.index = 0                            # port 0x70 bits 6-0
        self.nmi_masked = 0                       # port 0x70 bit 7
        self.phase_ns = 0                         # start of the divider chain's count
        self.last_ns = self.clock.ns()            # flags are up to date until here
        self.cmos[REG_A] = REG_A_DV_NORMAL | 0x06  # power-on: running, 1024 Hz
        self.cmos[REG_B] = REG_B_24H              # 24 hour, BCD
        self.cmos[REG_D] = REG_D_VRT
        self.cmos[CENTURY] = _to_bcd(epoch.year // 100)
        self._write_time(epoch.replace(microsecond=0), (epoch.weekday() + 1) % 7 + 1)
        self.reset()

    # -- housekeeping --------------------------------------------------------
    def reset(self) -> None:
        """The RESET pin: PIE, AIE, UIE, SQWE and register C cleared, IRQ
        released.  The time, register A, DM, 24/12, DSE, the NMI mask and
        the CMOS RAM survive (the chip is battery-backed)."""
        self._catch_up(self.clock.ns())
        self.cmos[REG_B] &= ~(REG_B_PIE | REG_B_AIE | REG_B_UIE | REG_B_SQWE) & 0xFF
        self.cmos[REG_C] = 0
        self._update_irq(event=True)

    def save_state(self) -> dict:
        """Registers, latches and timers, without the wiring (see state.py)."""
        return state.save(self)

    def load_state(self, saved: dict) -> None:
        state.load(self, saved)

    def describe(self) -> str:
        c = self.cmos
        return (f"rtc {c[YEAR]:02x}-{c[MONTH]:02x}-{c[DAY_OF_MONTH]:02x} "
                f"{c[HOURS]:02x}:{c[MINUTES]:02x}:{c[SECONDS]:02x} a={c[REG_A]:02x} "
                f"b={c[REG_B]:02x} c={c[REG_C]:02x} index={self.index:02x} "
                f"nmi_masked={self.nmi_masked} irq={self.irq.level}")

    def set_memory_size(self, ram_bytes: int) -> None:
        """Fill the CMOS memory-size bytes as a PC BIOS setup (and QEMU's
        pc_cmos_init) does: 0x15/0x16 base memory in KiB (at most 640),
        0x17/0x18 and 0x30/0x31 memory above 1 MiB in KiB (at most 65535),
        0x34/0x35 memory above 16 MiB in 64 KiB blocks.  Survives reset."""
        kib, mib = 1024, 1024 * 1024
        base = min(ram_bytes // kib, 640)
        ext = min(max(ram_bytes - mib, 0) // kib, 0xFFFF)
        high = min(max(ram_bytes - 16 * mib, 0) // (64 * kib), 0xFFFF)
        for lo, value in ((0x15, base), (0x17, ext), (0x30, ext), (0x34, high)):
            self.cmos[lo] = value & 0xFF
            self.cmos[lo + 1] = value >> 8

    def set_pc_config(self, ncpus: int) -> None:
        """The other bytes QEMU's pc machine puts in CMOS for its firmware
        (pc_cmos_init, set_boot_dev, the CPU count; read back by
        tests/probes/firmware and emulator/fuzz): 0x14 equipment = FPU and
        PS/2 mouse (0x06), 0x3D/0x38 boot order = disk, floppy, CD (0x12,
        0x30), 0x5F the CPUs less one.  Survives reset."""
        for index, value in ((0x14, 0x06), (0x3D, 0x12), (0x38, 0x30), (0x5F, ncpus - 1)):
            self.cmos[index] = value

    # -- time ---------------------------------------------------------------
    def next_deadline(self) -> Optional[int]:
        if not self._running():
            return None
        b = self.cmos[REG_B]
        best = None
        period = periodic_period(self.cmos[REG_A] & 0x0F)
        if b & REG_B_PIE and period:
            k = self._ticks(self.last_ns) // period + 1
            best = self.phase_ns + -(-k * period * NS_PER_SECOND // RTC_FREQ)
        if b & (REG_B_UIE | REG_B_AIE) and not b & REG_B_SET:
            k = (self.last_ns - self.phase_ns) // NS_PER_SECOND + 1
            t = self.phase_ns + k * NS_PER_SECOND
            best = t if best is None else min(best, t)
        return None if best is None else ns_to_insn(best)

    def advance(self, now: int) -> None:
        if self._catch_up(insn_to_ns(now)):
            self._update_irq(event=True)

    # -- port I/O ------------------------------------------------------------
    def io_read(self, port: int, size: int) -> int:
        if port == RTC_INDEX:
            return 0xFF                           # the index register is write-only
        ns = self.clock.ns()
        self._catch_up(ns)
        i = CENTURY if self.index == PS2_CENTURY else self.index
        if i == REG_A:
            uip = REG_A_UIP if self._update_in_progress(ns) else 0
            return (self.cmos[REG_A] & 0x7F) | uip
        if i == REG_C:
            ret = self.cmos[REG_C]
            self.cmos[REG_C] = 0                  # all flags clear when read
            self._update_irq(event=True)          # QEMU lowers the line on every read
            return ret
        if i == REG_D:
            return REG_D_VRT                      # valid RAM and time
        return self.cmos[i]

    def io_write(self, port: int, size: int, value: int) -> None:
        value &= 0xFF
        if port == RTC_INDEX:
            self.index = value & 0x7F
            self.nmi_masked = value >> 7
            return
        ns = self.clock.ns()
        self._catch_up(ns)
        i = CENTURY if self.index == PS2_CENTURY else self.index
        if i == REG_A:
            was_running = self._running()
            self.cmos[REG_A] = value & 0x7F       # UIP is read-only
            if self._running() and not was_running:
                # out of divider reset: the first update comes 500 ms later
                self.phase_ns = ns - NS_PER_SECOND // 2
        elif i == REG_B:
            if value & REG_B_SET:
                value &= ~REG_B_UIE               # SET clears UIE (datasheet)
            old = self.cmos[REG_B]
            now = self._read_time() if (old ^ value) & (REG_B_DM | REG_B_24H) else None
            self.cmos[REG_B] = value
            if now is not None and not value & REG_B_SET:
                self._write_time(*now)            # QEMU reformats; see the contract
            self._update_irq(event=True)          # QEMU raises or lowers at every write
        elif i in (REG_C, REG_D):
            pass                                  # read-only
        else:
            self.cmos[i] = value

    # -- internals -----------------------------------------------------------
    def _running(self) -> bool:
        """The divider chain counts (DV2-0 = 010)."""
        return self.cmos[REG_A] & 0x70 == REG_A_DV_NORMAL

    def _ticks(self, ns: int) -> int:
        """32.768 kHz ticks of the divider chain at ``ns``."""
        return (ns - self.phase_ns) * RTC_FREQ // NS_PER_SECOND

    def _update_in_progress(self, ns: int) -> bool:
        if not self._running() or self.cmos[REG_B] & REG_B_SET:
            return False
        into = (ns - self.phase_ns) % NS_PER_SECOND
        return into >= NS_PER_SECOND - UIP_HOLD_NS

    def _catch_up(self, ns: int) -> bool:
        """Set PF, UF, AF and advance the time for everything up to ``ns``.
        True if a flag whose interrupt is enabled was set (an interrupt event)."""
        last, self.last_ns = self.last_ns, max(self.last_ns, ns)
        if ns <= last or not self._running():
            return False
        before = self.cmos[REG_C]
        period = periodic_period(self.cmos[REG_A] & 0x0F)
        ticked = 0
        if period and self._ticks(ns) // period > self._ticks(last) // period:
            self.cmos[REG_C] |= REG_C_PF
            ticked |= REG_C_PF
        seconds = ((ns - self.phase_ns) // NS_PER_SECOND
                   - (last - self.phase_ns) // NS_PER_SECOND)
        if seconds > 0 and not self.cmos[REG_B] & REG_B_SET:
            self._tick_seconds(seconds)
            ticked |= REG_C_UF | ((self.cmos[REG_C] & ~before) & REG_C_AF)
        return bool(ticked & self.cmos[REG_B] & 0x70)

    def _tick_seconds(self, n: int) -> None:
        """``n`` update cycles: the time advances, UF is set, AF if matched."""
        self.cmos[REG_C] |= REG_C_UF
        now = self._read_time()
        if now is None:
            return                                # garbage in the time bytes: stop
        dt, wday = now
        check_alarm = not self.cmos[REG_C] & REG_C_AF
        start = max(1, n - 86400)                 # a day covers every alarm pattern
        if check_alarm:
            for k in range(start, n + 1):
                if self._alarm_matches(dt + datetime.timedelta(seconds=k)):
                    self.cmos[REG_C] |= REG_C_AF
                    break
        new = dt + datetime.timedelta(seconds=n)
        days = (new.date() - dt.date()).days
        self._write_time(new, (wday - 1 + days) % 7 + 1)

    def _encode(self, v: int) -> int:
        return v if self.cmos[REG_B] & REG_B_DM else _to_bcd(v)

    def _decode(self, v: int) -> int:
        return v if self.cmos[REG_B] & REG_B_DM else _from_bcd(v)

    def _encode_hour(self, h: int) -> int:
        if self.cmos[REG_B] & REG_B_24H:
            return self._encode(h)
        pm = 0x80 if h >= 12 else 0
        return self._encode(h % 12 or 12) | pm

    def _decode_hour(self, v: int) -> int:
        if self.cmos[REG_B] & REG_B_24H:
            return self._decode(v)
        h = self._decode(v & 0x7F)
        if not 1 <= h <= 12:
            raise ValueError("bad 12-hour value")
        return (h % 12) + (12 if v & 0x80 else 0)

    def _write_time(self, dt: datetime.datetime, wday: int) -> None:
        c = self.cmos
        c[SECONDS], c[MINUTES] = self._encode(dt.second), self._encode(dt.minute)
        c[HOURS] = self._encode_hour(dt.hour)
        c[DAY_OF_WEEK], c[DAY_OF_MONTH] = self._encode(wday), self._encode(dt.day)
        c[MONTH], c[YEAR] = self._encode(dt.month), self._encode(dt.year % 100)
        c[CENTURY] = self._encode(dt.year // 100)

    def _read_time(self) -> Optional[tuple[datetime.datetime, int]]:
        """The time bytes as (datetime, day of week); None if invalid."""
        c = self.cmos
        try:
            century = self._decode(c[CENTURY])
            dt = datetime.datetime(century * 100 + self._decode(c[YEAR]),
                                   self._decode(c[MONTH]), self._decode(c[DAY_OF_MONTH]),
                                   self._decode_hour(c[HOURS]), self._decode(c[MINUTES]),
                                   self._decode(c[SECONDS]))
            wday = self._decode(c[DAY_OF_WEEK])
        except ValueError:
            return None
        return dt, (wday if 1 <= wday <= 7 else 1)

    def _alarm_matches(self, dt: datetime.datetime) -> bool:
        c = self.cmos
        pairs = ((SECONDS_ALARM, self._encode(dt.second)),
                 (MINUTES_ALARM, self._encode(dt.minute)),
                 (HOURS_ALARM, self._encode_hour(dt.hour)))
        return all(c[a] >= 0xC0 or c[a] == v for a, v in pairs)

    def _update_irq(self, event: bool = False) -> None:
        """IRQF and the IRQ 8 wire from the flags and their enables.  At an
        ``event`` (an enabled flag set, register C read, register B written)
        the wire is driven even if unchanged, as QEMU's raise/lower calls."""
        b, c = self.cmos[REG_B], self.cmos[REG_C]
        irqf = ((c & REG_C_PF and b & REG_B_PIE) or (c & REG_C_AF and b & REG_B_AIE)
                or (c & REG_C_UF and b & REG_B_UIE))
        if irqf:
            self.cmos[REG_C] |= REG_C_IRQF
        else:
            self.cmos[REG_C] &= ~REG_C_IRQF & 0xFF
        if event:
            drive(self.irq, 1 if irqf else 0)
        else:
            self.irq.set(1 if irqf else 0)
