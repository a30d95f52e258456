"""The ACPI fixed hardware of QEMU's PC: PIIX4 PM1 registers, PM timer, GPE0, APM.

Contract
--------
The registers the FADT (emulator/acpi.py) points at, with QEMU 7.2's
behaviour (hw/acpi/core.c, hw/acpi/piix4.c, hw/isa/apm.c; checked on
qemu-system-i386 by tests/probes/firmware):

=========== ====== ==========================================================
port        size   register
=========== ====== ==========================================================
0x600       16     PM1_STS: bit 0 TMR_STS, 10 RTC_STS, 15 WAK_STS (write 1
                   to clear).  TMR_STS is set whenever the PM timer has
                   passed ``overflow`` -- 0 after reset, so it reads 1 until
                   the guest clears it; clearing it moves ``overflow`` to
                   the next change of the counter's bit 23 (ACPI 4.7.2.1)
0x602       16     PM1_EN: bit 0 TMR_EN, 5 GBL_EN, 8 PWRBTN_EN, 10 RTC_EN
0x604       16     PM1_CNT: bit 0 SCI_EN, bits 12-10 SLP_TYP, bit 13 SLP_EN
                   (write-only, reads 0).  SLP_EN with SLP_TYP 0 (S5) or 2
                   (S4) powers off, 1 (S3) suspends: ``on_sleep("S5" |
                   "S4" | "S3")`` tells the machine
0x608       32     PM_TMR: 24-bit counter at 3.579545 MHz on the virtual
                   clock, floor(ns * 3579545 / 10^9) mod 2^24 (read-only)
0xAFE0      8/16   GPE0_STS (2 bytes, write 1 to clear; nothing here sets
0xAFE2      8/16   one) and GPE0_EN (2 bytes)
0xB2        8      APM control (SMI_CMD): 0xF1 (ACPI_ENABLE) sets SCI_EN,
                   0xF0 (ACPI_DISABLE) clears it; reads back the last write
0xB3        8      APM status: a scratch byte
=========== ====== ==========================================================

Access sizes as QEMU's memory core treats them: an access is split into
aligned pieces of at most 2 bytes, each widened to 2 bytes at its own
offset -- a byte write to PM1_STS/PM1_EN writes the whole register with the
other byte 0, a byte at an odd PM1 event offset reads 0 and writes nothing,
PM1_CNT's high byte can be written alone; a 32-bit access to 0x600 is
PM1_STS | PM1_EN << 16.  GPE0 is byte-wide.

SCI (``self.sci``, ISA IRQ 9, level, active high as the MADT says) is
``(PM1_STS & PM1_EN & (TMR|GBL|PWRBTN|RTC)) or (GPE0_STS & GPE0_EN)``,
recomputed after every register access and when the timer's bit 23
changes with TMR_EN set (``next_deadline``).  As on QEMU, SCI_EN does not
gate it.  ``wake(reason)`` is what the machine calls when it resumes from S3
("rtc": WAK_STS | RTC_STS).

``reset()`` clears STS, EN, CNT (SCI_EN 0: the guest enables ACPI through
SMI_CMD), GPE0 and APM, and sets ``overflow`` to 0 (QEMU acpi_pm_tmr_reset).
References: ACPI 1.0b sections 4.7 (fixed hardware), 4.7.3.3 (PM timer);
Intel 82371AB (PIIX4) datasheet section 3.5 (power management).
"""

from __future__ import annotations

from typing import Callable, Optional

from emulator.acpi import ACPI_DISABLE, ACPI_ENABLE, GPE0, PM1A_CNT, PM1A_EVT, PM_TMR, SMI_CMD
from emulator.clock import Clock, ns_to_insn
from emulator.devices import state
from emulator.devices.base import Device, IrqLine

PM_TIMER_HZ = 3_579_545
NS_PER_SECOND = 1_000_000_000

TMR_STS, GBL_STS, PWRBTN_STS, RTC_STS, WAK_STS = 0x0001, 0x0020, 0x0100, 0x0400, 0x8000
TMR_EN, GBL_EN, PWRBTN_EN, RTC_EN = 0x0001, 0x0020, 0x0100, 0x0400
COMMON_ENABLED = TMR_EN | GBL_EN | PWRBTN_EN | RTC_EN
SCI_EN, SLP_EN = 0x0001, 0x2000
SLEEP_STATES = {0: "S5", 1: "S3", 2: "S4"}        # SLP_TYP -> state (the DSDT's \_Sx_)


def pm_ticks(ns: int) -> int:
    """The PM timer's unwrapped count at virtual time ``ns`` (QEMU muldiv64)."""
    return ns * PM_TIMER_HZ // NS_PER_SECOND


class AcpiPm(Device):
    """PM1 event/control blocks, the PM timer, GPE0 and the APM ports."""

    name = "acpi_pm"

    def __init__(self, clock: Optional[Clock] = None) -> None:
        super().__init__(clock)
        self.ports = ((PM1A_EVT, 4), (PM1A_CNT, 2), (PM_TMR, 4), (GPE0, 4), (SMI_CMD, 2))
        self.sci = IrqLine(name="SCI")
        self.on_sleep: Callable[[str], None] = lambda _state: None
        self.reset()

    def reset(self) -> None:
        """Everything 0, the timer's overflow mark at 0 (TMR_STS reads 1)."""
        self.sts = 0              # PM1_STS, the latched bits (TMR_STS also from the counter)
        self.en = 0               # PM1_EN
        self.cnt = 0              # PM1_CNT without SLP_EN
        self.overflow = 0         # PM timer count at which TMR_STS sets
        self.gpe_sts = 0
        self.gpe_en = 0
        self.apmc = 0             # APM control (last SMI_CMD byte)
        self.apms = 0             # APM status
        self._update()

    def save_state(self) -> dict:
        return state.save(self)

    def load_state(self, saved: dict) -> None:
        state.load(self, saved)

    def describe(self) -> str:
        return (f"acpi pm1_sts={self.pm1_sts():04x} pm1_en={self.en:04x} pm1_cnt={self.cnt:04x} "
                f"tmr={self.timer():06x} sci={self.sci.level}")

    # -- the registers ----------------------------------------------------------------
    def timer(self) -> int:
        return pm_ticks(self.clock.ns()) & 0xFFFFFF

    def pm1_sts(self) -> int:
        if pm_ticks(self.clock.ns()) >= self.overflow:
            self.sts |= TMR_STS
        return self.sts

    def _write_sts(self, value: int) -> None:
        if self.pm1_sts() & value & TMR_STS:
            # the next change of bit 23 (ACPI: TMR_STS follows the counter's MSB)
            self.overflow = (pm_ticks(self.clock.ns()) + 0x800000) & ~0x7FFFFF
        self.sts &= ~value

    def _write_cnt(self, value: int) -> None:
        self.cnt = value & ~SLP_EN & 0xFFFF
        if value & SLP_EN:
            typ = (value >> 10) & 7
            if typ in SLEEP_STATES:
                self.on_sleep(SLEEP_STATES[typ])

    # QEMU splits a port access into naturally aligned pieces no wider than
    # 2 bytes (memory_access_size) and widens each piece to 2 bytes at its
    # own offset (impl.min_access_size): a piece at an odd PM1 event offset
    # reads 0 and writes nothing; PM1_CNT takes its high byte alone.
    def _evt_read(self, off: int) -> int:
        return {0: self.pm1_sts(), 2: self.en}.get(off, 0)

    def _evt_write(self, off: int, value: int) -> None:
        if off == 0:
            self._write_sts(value)
        elif off == 2:
            self.en = value

    def _cnt_read(self, off: int) -> int:
        return self.cnt >> (8 * off)

    def _cnt_write(self, off: int, value: int) -> None:
        self._write_cnt((value << 8 | (self.cnt & 0xFF)) if off == 1 else value)

    @staticmethod
    def _pieces(off: int, size: int):
        """(offset, bytes) pieces of an access at ``off`` (QEMU memory_access_size)."""
        done = 0
        while done < size:
            n = min(size - done, 2)
            align = (off + done) & -(off + done)
            if align and align < n:
                n = align
            yield off + done, n
            done += n

    def io_read(self, port: int, size: int) -> int:
        mask = (1 << (8 * size)) - 1
        if PM_TMR <= port < PM_TMR + 4:
            return self.timer() & mask
        if port == SMI_CMD:
            return self.apmc
        if port == SMI_CMD + 1:
            return self.apms
        value = 0
        if GPE0 <= port < GPE0 + 4:
            for i in range(min(size, GPE0 + 4 - port)):
                value |= self._gpe_byte(port + i) << (8 * i)
        else:
            base, read = ((PM1A_EVT, self._evt_read) if port < PM1A_CNT
                          else (PM1A_CNT, self._cnt_read))
            for off, n in self._pieces(port - base, size):
                value |= (read(off) & ((1 << (8 * n)) - 1)) << (8 * (off - (port - base)))
        self._update()
        return value & mask

    def io_write(self, port: int, size: int, value: int) -> None:
        if PM_TMR <= port < PM_TMR + 4:
            return
        if port == SMI_CMD:
            self.apmc = value & 0xFF
            if self.apmc == ACPI_ENABLE:
                self.cnt |= SCI_EN
            elif self.apmc == ACPI_DISABLE:
                self.cnt &= ~SCI_EN
        elif port == SMI_CMD + 1:
            self.apms = value & 0xFF
        elif GPE0 <= port < GPE0 + 4:
            for i in range(size):
                self._gpe_write(port + i, (value >> (8 * i)) & 0xFF)
        else:
            base, write = ((PM1A_EVT, self._evt_write) if port < PM1A_CNT
                           else (PM1A_CNT, self._cnt_write))
            for off, n in self._pieces(port - base, size):
                shift = 8 * (off - (port - base))
                write(off, (value >> shift) & ((1 << (8 * n)) - 1))
        self._update()

    # GPE0: byte registers (QEMU acpi_gpe_ioport_readb/writeb), status then enable
    def _gpe_byte(self, port: int) -> int:
        i = port - GPE0
        return (self.gpe_sts >> (8 * i)) & 0xFF if i < 2 else (self.gpe_en >> (8 * (i - 2))) & 0xFF

    def _gpe_write(self, port: int, byte: int) -> None:
        i = port - GPE0
        if i < 2:
            self.gpe_sts &= ~(byte << (8 * i))
        else:
            shift = 8 * (i - 2)
            self.gpe_en = (self.gpe_en & ~(0xFF << shift)) | (byte << shift)

    # -- S3 ---------------------------------------------------------------------------
    def wake(self, reason: str) -> None:
        """Resuming from S3 (QEMU acpi_notify_wakeup): WAK_STS and the reason's bit."""
        self.sts |= WAK_STS | {"rtc": RTC_STS, "pmtimer": TMR_STS}.get(reason, PWRBTN_STS)
        self._update()

    # -- time and the SCI ---------------------------------------------------------------
    def next_deadline(self) -> Optional[int]:
        """When the counter reaches ``overflow``, if that is to raise the SCI."""
        if not self.en & TMR_EN or self.pm1_sts() & TMR_STS:
            return None
        # the first ns whose count is ``overflow``: ceil(overflow * 10^9 / f)
        return ns_to_insn(-(-self.overflow * NS_PER_SECOND // PM_TIMER_HZ))

    def advance(self, now: int) -> None:
        self._update()

    def _update(self) -> None:
        """The SCI level (QEMU acpi_update_sci); called after every change."""
        level = bool(self.pm1_sts() & self.en & COMMON_ENABLED) or bool(self.gpe_sts & self.gpe_en)
        self.sci.set(level)
