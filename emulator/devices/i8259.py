"""Two cascaded Intel 8259A programmable interrupt controllers, as on a PC.

Contract
--------
``PicPair`` is the master (ports 0x20/0x21, IRQ 0-7) and the slave (ports
0xA0/0xA1, IRQ 8-15, its INT output wired to master input 2), plus the PIIX
edge/level control registers ELCR1/ELCR2 at 0x4D0/0x4D1.  The machine uses:

* ``set_irq(line, level)`` — drive ISA input ``line`` (0-15) to ``level``;
* ``output_changed(level)`` — set by the machine, called with the master's
  INT level every time it changes;
* ``intr_level()`` — the master's INT output now;
* ``acknowledge()`` — the CPU's INTA cycle: returns the vector, sets ISR (or
  performs the automatic EOI), clears an edge request, walks the cascade,
  and answers a spurious request with IRQ 7 (master) or IRQ 15 (slave).

Reference: Intel 8259A datasheet (order 231468): ICW1-ICW4 (pp. 10-13),
OCW1-OCW3 (pp. 14-16), poll command (p. 16), special mask mode (p. 16),
special fully nested mode (p. 17), automatic EOI and rotation (pp. 14-15),
edge/level triggered mode (p. 17); Intel 82371AB PIIX4 datasheet §12.6
(ELCR1/ELCR2; IRQ 0, 1, 2, 8 and 13 cannot be level-triggered).

Where the datasheet leaves room the model follows QEMU's hw/intc/i8259.c,
the reference machine: one ``_update`` function recomputes the INT output
after every change; edge detection uses a ``last_irr`` copy of the input
levels, which ICW1 clears (so a device that re-drives a line still high
after ICW1 makes a new request, as on QEMU, whose devices re-drive their
lines on every update: see wire.py); every update of the slave re-drives
the master's cascade input the same way; a level-triggered request is not
cleared by INTA (it stays in IRR while the input is high, so it is
delivered again after EOI); a poll or INTA with nothing requesting returns
IRQ 7 without setting ISR; the master's cascade input is edge-triggered.

Two places follow the chip rather than QEMU 7.2: a level-triggered IRR bit
is the input level at once when ELCR is written (QEMU waits for the
device's next update of its line), and a change of special mask mode acts
on INT at once (QEMU waits for the chip's next update: a guest that sets
SMM before it writes IMR sees the same on both).  600 random PIC programs
print the same on QEMU and on these models (tests/probes).

Trace events: ``irq.raise``/``irq.lower`` (``line``) on input changes,
``pic.ack`` (``line``, ``vector``) on INTA and on a successful poll,
``pic.eoi`` (``line``) when an EOI clears an ISR bit or an automatic EOI
happens, ``pic.mask``/``pic.unmask`` (``line``) on IMR bit changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from emulator.clock import Clock
from emulator.devices import state
from emulator.devices.base import Device

MASTER_CMD, MASTER_DATA = 0x20, 0x21
SLAVE_CMD, SLAVE_DATA = 0xA0, 0xA1
ELCR1, ELCR2 = 0x4D0, 0x4D1
CASCADE_IRQ = 2

# ELCR bits that can be set (PIIX: IRQ 0, 1, 2 on the master and 8, 13 on the
# slave are always edge-triggered; QEMU's elcr_mask is 0xf8 / 0xde).
ELCR_MASK_MASTER = 0xF8
ELCR_MASK_SLAVE = 0xDE

# ICW1 / OCW2 / OCW3 bits (8259A datasheet, figures 6-8)
ICW1_IC4 = 0x01      # ICW4 needed
ICW1_SNGL = 0x02     # single (no ICW3)
ICW1_LTIM = 0x08     # level-triggered mode (ignored on a PC: ELCR decides)
ICW1_INIT = 0x10     # this write is ICW1
OCW3_SEL = 0x08      # distinguishes OCW3 from OCW2
ICW4_AEOI = 0x02     # automatic end of interrupt
ICW4_SFNM = 0x10     # special fully nested mode


@dataclass
class Pic8259:
    """One 8259A: its registers named after the datasheet."""

    master: bool
    elcr_mask: int
    irr: int = 0                  # interrupt request register
    isr: int = 0                  # in-service register
    imr: int = 0                  # interrupt mask register (OCW1)
    last_irr: int = 0             # input levels seen last (edge detection)
    priority_add: int = 0         # the line with the highest priority
    irq_base: int = 0             # ICW2: vector of IR0 (T7-T3)
    read_reg_select: int = 0      # OCW3 RIS: 0 read IRR, 1 read ISR
    poll: int = 0                 # OCW3 P: next read is a poll
    special_mask: int = 0         # OCW3 SMM
    init_state: int = 0           # 0 ready, 1 want ICW2, 2 want ICW3, 3 want ICW4
    auto_eoi: int = 0             # ICW4 AEOI
    rotate_on_auto_eoi: int = 0   # OCW2 R with EOI=0 (rotate in automatic EOI mode)
    special_fully_nested_mode: int = 0   # ICW4 SFNM
    init4: int = 0                # ICW1 IC4
    single_mode: int = 0          # ICW1 SNGL
    icw3: int = 0                 # ICW3 as written (cascade wiring is fixed)
    elcr: int = 0                 # PIIX ELCR: 1 = level-triggered
    pins: int = 0                 # the IR input levels now

    def init_reset(self) -> None:
        """The state ICW1 sets.  ELCR is not reset (it is not the 8259A's)."""
        self.last_irr = 0
        self.irr &= self.elcr      # a level request survives, as in QEMU
        self.imr = 0
        self.isr = 0
        self.priority_add = 0
        self.irq_base = 0
        self.read_reg_select = 0
        self.poll = 0
        self.special_mask = 0
        self.init_state = 0
        self.auto_eoi = 0
        self.rotate_on_auto_eoi = 0
        self.special_fully_nested_mode = 0
        self.init4 = 0
        self.single_mode = 0
        self.icw3 = 0

    def priority(self, mask: int) -> int:
        """Priority (0 highest .. 7) of the best bit of ``mask``; 8 if none."""
        if mask == 0:
            return 8
        p = 0
        while not mask & (1 << ((p + self.priority_add) & 7)):
            p += 1
        return p

    def pending(self) -> int:
        """The line this chip would signal now, or -1 (QEMU's pic_get_irq)."""
        request = self.priority(self.irr & ~self.imr)
        if request == 8:
            return -1
        in_service = self.isr
        if self.special_mask:
            in_service &= ~self.imr          # masked ISR bits do not block
        if self.special_fully_nested_mode and self.master:
            in_service &= ~(1 << CASCADE_IRQ)  # the slave may nest on itself
        if request < self.priority(in_service):
            return (request + self.priority_add) & 7
        return -1


class PicPair(Device):
    """The PC's master/slave 8259A pair and the PIIX ELCR."""

    name = "pic"
    ports = ((MASTER_CMD, 2), (SLAVE_CMD, 2), (ELCR1, 2))

    def __init__(self, clock: Optional[Clock] = None) -> None:
        super().__init__(clock)
        self.master = Pic8259(master=True, elcr_mask=ELCR_MASK_MASTER)
        self.slave = Pic8259(master=False, elcr_mask=ELCR_MASK_SLAVE)
        self.output_changed: Callable[[int], None] = lambda level: None
        self.inputs = 0          # level of each of the 16 ISA inputs
        self._intr = 0           # master INT as last reported
        self._slave_out = 0      # slave INT (= master input 2)
        self.reset()

    # -- housekeeping --------------------------------------------------------
    def reset(self) -> None:
        """Power-on reset: both chips as after ICW1, ELCR cleared (QEMU's
        device reset clears ELCR; ICW1 alone does not).  Input levels
        survive (they belong to the devices driving them)."""
        for chip in (self.master, self.slave):
            chip.elcr = 0
            chip.irr = 0
            chip.init_reset()
        self._slave_out = 0
        self._update(self.slave)

    def save_state(self) -> dict:
        """Registers, latches and timers, without the wiring (see state.py)."""
        return state.save(self)

    def load_state(self, saved: dict) -> None:
        state.load(self, saved)

    def describe(self) -> str:
        m, s = self.master, self.slave
        return (f"pic master irr={m.irr:02x} isr={m.isr:02x} imr={m.imr:02x} "
                f"base={m.irq_base:02x} | slave irr={s.irr:02x} isr={s.isr:02x} "
                f"imr={s.imr:02x} base={s.irq_base:02x} | elcr={s.elcr:02x}{m.elcr:02x} "
                f"intr={self._intr}")

    # -- the machine's interface ---------------------------------------------
    def set_irq(self, line: int, level: int) -> None:
        """Drive ISA input ``line`` (0-15) to ``level`` (0 or 1)."""
        if not 0 <= line < 16:
            raise ValueError(f"PIC input {line} out of range 0-15")
        level = 1 if level else 0
        bit = 1 << line
        if bool(self.inputs & bit) != bool(level):
            self.inputs ^= bit
            self.trace("irq.raise" if level else "irq.lower", line=line)
        chip = self.master if line < 8 else self.slave
        self._set_input(chip, line & 7, level)

    def intr_level(self) -> int:
        """The master's INT output (the CPU's INTR pin)."""
        return self._intr

    def acknowledge(self) -> int:
        """The INTA cycle: the vector the CPU takes (QEMU's pic_read_irq)."""
        m, s = self.master, self.slave
        irq = m.pending()
        if irq < 0:
            # nothing requesting at INTA: the master answers IR7, ISR untouched
            vector = m.irq_base + 7
            self.trace("pic.ack", line=7, vector=vector, spurious=True)
            return vector
        if irq == CASCADE_IRQ:
            irq2 = s.pending()
            if irq2 >= 0:
                self._intack(s, irq2)
                vector = s.irq_base + irq2
                self.trace("pic.ack", line=8 + irq2, vector=vector)
            else:
                vector = s.irq_base + 7
                self.trace("pic.ack", line=15, vector=vector, spurious=True)
        else:
            vector = m.irq_base + irq
            self.trace("pic.ack", line=irq, vector=vector)
        self._intack(m, irq)
        return vector

    # -- port I/O ----------------------------------------------------------------
    def io_read(self, port: int, size: int) -> int:
        if port in (ELCR1, ELCR2):
            return (self.master if port == ELCR1 else self.slave).elcr
        chip = self.master if port in (MASTER_CMD, MASTER_DATA) else self.slave
        if chip.poll:
            # poll command: this read is an INTA without the CPU (p. 16)
            chip.poll = 0
            irq = chip.pending()
            if irq < 0:
                return 0
            self._intack(chip, irq)
            line = irq + (0 if chip.master else 8)
            self.trace("pic.ack", line=line, vector=chip.irq_base + irq, poll=True)
            return 0x80 | irq
        if port & 1 == 0:
            return chip.isr if chip.read_reg_select else chip.irr
        return chip.imr

    def io_write(self, port: int, size: int, value: int) -> None:
        value &= 0xFF
        if port in (ELCR1, ELCR2):
            chip = self.master if port == ELCR1 else self.slave
            chip.elcr = value & chip.elcr_mask
            # a level-triggered IRR bit is the input level (PIIX4 12.6)
            chip.irr = (chip.irr & ~chip.elcr) | (chip.pins & chip.elcr)
            self._update(chip)
            return
        chip = self.master if port in (MASTER_CMD, MASTER_DATA) else self.slave
        if port & 1 == 0:
            self._write_command(chip, value)
        else:
            self._write_data(chip, value)

    # -- internals -----------------------------------------------------------
    def _base(self, chip: Pic8259) -> int:
        """Global line number of ``chip``'s IR0."""
        return 0 if chip.master else 8

    def _write_command(self, chip: Pic8259, value: int) -> None:
        """ICW1, OCW2 or OCW3, told apart by bits 4 and 3."""
        if value & ICW1_INIT:
            self._set_imr(chip, 0)
            chip.init_reset()
            chip.init_state = 1
            chip.init4 = value & ICW1_IC4
            chip.single_mode = 1 if value & ICW1_SNGL else 0
            self._update(chip)
        elif value & OCW3_SEL:
            if value & 0x04:                  # P: poll
                chip.poll = 1
            if value & 0x02:                  # RR: read register, RIS selects
                chip.read_reg_select = value & 1
            if value & 0x40:                  # ESMM: SMM selects
                chip.special_mask = (value >> 5) & 1
                self._update(chip)
        else:
            self._write_ocw2(chip, value)

    def _write_ocw2(self, chip: Pic8259, value: int) -> None:
        """OCW2: R, SL, EOI in bits 7-5, the level in bits 2-0."""
        cmd = value >> 5
        if cmd in (0, 4):                     # clear / set rotate in AEOI mode
            chip.rotate_on_auto_eoi = cmd >> 2
        elif cmd in (1, 5):                   # non-specific EOI (5: and rotate)
            p = chip.priority(chip.isr)
            if p != 8:
                irq = (p + chip.priority_add) & 7
                chip.isr &= ~(1 << irq)
                if cmd == 5:
                    chip.priority_add = (irq + 1) & 7
                self.trace("pic.eoi", line=self._base(chip) + irq)
                self._update(chip)
        elif cmd in (3, 7):                   # specific EOI (7: and rotate)
            irq = value & 7
            if chip.isr & (1 << irq):
                self.trace("pic.eoi", line=self._base(chip) + irq)
            chip.isr &= ~(1 << irq)
            if cmd == 7:
                chip.priority_add = (irq + 1) & 7
            self._update(chip)
        elif cmd == 6:                        # set priority: L becomes lowest
            chip.priority_add = (value + 1) & 7
            self._update(chip)
        # cmd 2: no operation

    def _write_data(self, chip: Pic8259, value: int) -> None:
        """OCW1 (IMR) when initialised, else the next ICW."""
        step = chip.init_state
        if step == 0:
            self._set_imr(chip, value)
            self._update(chip)
        elif step == 1:                       # ICW2: vector base
            chip.irq_base = value & 0xF8
            chip.init_state = (3 if chip.init4 else 0) if chip.single_mode else 2
        elif step == 2:                       # ICW3: cascade wiring (fixed on a PC)
            chip.icw3 = value
            chip.init_state = 3 if chip.init4 else 0
        else:                                 # ICW4
            chip.special_fully_nested_mode = (value >> 4) & 1
            chip.auto_eoi = (value >> 1) & 1
            chip.init_state = 0

    def _set_imr(self, chip: Pic8259, value: int) -> None:
        """Write IMR, tracing each bit that changes."""
        changed = chip.imr ^ value
        base = self._base(chip)
        for i in range(8):
            if changed & (1 << i):
                self.trace("pic.mask" if value & (1 << i) else "pic.unmask", line=base + i)
        chip.imr = value

    def _set_input(self, chip: Pic8259, irq: int, level: int) -> None:
        """An input pin of ``chip`` is driven (QEMU's pic_set_irq)."""
        self._latch(chip, irq, level)
        self._update(chip)

    @staticmethod
    def _latch(chip: Pic8259, irq: int, level: int) -> None:
        """IRR and the edge detector for one input driven to ``level``."""
        bit = 1 << irq
        chip.pins = (chip.pins | bit) if level else (chip.pins & ~bit)
        if chip.elcr & bit:                   # level-triggered: IRR follows the pin
            if level:
                chip.irr |= bit
                chip.last_irr |= bit
            else:
                chip.irr &= ~bit
                chip.last_irr &= ~bit
        else:                                 # edge-triggered: a rising edge latches
            if level:
                if not chip.last_irr & bit:
                    chip.irr |= bit
                chip.last_irr |= bit
            else:
                chip.last_irr &= ~bit

    def _intack(self, chip: Pic8259, irq: int) -> None:
        """What INTA (or a poll) does to ``chip`` for line ``irq``."""
        bit = 1 << irq
        if chip.auto_eoi:
            if chip.rotate_on_auto_eoi:
                chip.priority_add = (irq + 1) & 7
            self.trace("pic.eoi", line=self._base(chip) + irq, auto=True)
        else:
            chip.isr |= bit
        if not chip.elcr & bit:               # a level request stays while the pin is high
            chip.irr &= ~bit
        self._update(chip)

    def _update(self, chip: Pic8259) -> None:
        """Recompute INT after a change to ``chip``.  Called after every change.

        As in QEMU, every update of the slave drives master input 2 with the
        slave's INT, changed or not: an edge is latched again if the master's
        edge detector was reset (ICW1) while the slave kept INT high."""
        if chip is self.slave:
            self._slave_out = 1 if self.slave.pending() >= 0 else 0
            self._latch(self.master, CASCADE_IRQ, self._slave_out)
        intr = 1 if self.master.pending() >= 0 else 0
        if intr != self._intr:
            self._intr = intr
            self.output_changed(intr)
