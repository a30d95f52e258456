"""The IO APIC (82093AA-style), 24 inputs, MMIO at 0xFEC00000.

Reference: Intel 82093AA I/O Advanced Programmable Interrupt Controller
datasheet (290566-001): 3.0 registers (IOREGSEL at +0x00, IOWIN at +0x10,
IOAPICID 0x00, IOAPICVER 0x01, IOAPICARB 0x02, IOREDTBL0-23 at 0x10-0x3F),
3.2.4 redirection table entry bits; Intel SDM Vol. 3A 10.8.5 (EOI broadcast).
QEMU's hw/intc/ioapic.c (7.2) is the reference where the datasheet is silent.

Contract:

* ``set_irq(pin, level)`` drives input ``pin`` (1 asserted).  An edge entry
  delivers on every assertion while unmasked (a masked edge is lost, as the
  datasheet and QEMU say); a level entry delivers while the input is
  asserted and Remote IRR is clear, then sets Remote IRR.  "Every
  assertion" is QEMU's ioapic_set_irq, which has no edge detector: a
  device that re-drives a line already high (emulator/devices/wire.py
  ``drive``, at the points where QEMU calls qemu_set_irq) interrupts again,
  as it does on QEMU; lines driven with ``IrqLine.set`` only report changes,
  so for them this is the rising edge.
* ``eoi(vector)`` (from ``ApicBus.eoi_broadcast``, or the EOI register of a
  version 0x20 IO APIC) clears Remote IRR of every level entry with that
  vector and re-delivers if its input is still asserted.
* Messages go to ``ApicBus.deliver``; ExtINT entries take their vector from
  ``extint_ack`` (the PIC's acknowledge, QEMU pic_read_irq) and are delivered
  as fixed.  Delivery is instantaneous, so Delivery Status (bit 12) reads 0.
* ``isa_irq_to_pin(irq)``: how the machine wires ISA IRQ lines (they go to
  the 8259 pair and to the IO APIC at once, as on QEMU's pc machine): IRQ0
  (the PIT) goes to pin 2, every other ISA IRQ n to pin n; pin 0 stays
  unconnected (the MP table's / ACPI MADT's interrupt source override).

Choices:

* Version 0x20 (register reads 0x00170020: 24 entries), QEMU's default for
  the pc machine and what ``qemu-system-i386`` reports; version 0x20 has the
  directed-EOI register at +0x40.  ``IoApic(version=0x11)`` gives the
  82093AA (0x00170011), which has none.
* Polarity (bit 13) is stored and read back but not applied: every wire in
  the machine is active high, and QEMU ignores the bit too.
* Reserved bits of redirection entries are writable (QEMU); Remote IRR and
  Delivery Status are read-only; writing an entry as edge clears Remote IRR
  (QEMU, for Linux's edge/level toggle trick).
* An entry rewritten as level while its input is asserted delivers (the
  pin is sampled continuously); QEMU waits for the next rising edge.
* QEMU delays re-delivery after 10000 back-to-back EOIs (storm guard); not
  modelled: re-delivery after EOI is always immediate.
"""

from __future__ import annotations

from typing import Callable, Optional

from emulator.clock import Clock
from emulator.devices.base import Device
from emulator.devices.apic_regs import DM_EXTINT, DM_NAMES, DM_FIXED

IOAPIC_BASE = 0xFEC00000
IOAPIC_SIZE = 0x1000
IOAPIC_PINS = 24

IOREGSEL, IOWIN, IOEOI = 0x00, 0x10, 0x40     # MMIO offsets
REG_ID, REG_VER, REG_ARB, REG_REDTBL = 0x00, 0x01, 0x02, 0x10

# Redirection entry bits (82093AA 3.2.4).
RTE_VECTOR = 0xFF
RTE_DEST_LOGICAL = 1 << 11
RTE_DELIVERY_STATUS = 1 << 12
RTE_POLARITY_LOW = 1 << 13
RTE_REMOTE_IRR = 1 << 14
RTE_LEVEL = 1 << 15
RTE_MASKED = 1 << 16
RTE_READ_ONLY = RTE_REMOTE_IRR | RTE_DELIVERY_STATUS


def isa_irq_to_pin(irq: int) -> int:
    """The IO APIC input an ISA IRQ line drives: IRQ0 -> pin 2, else n -> n."""
    if not 0 <= irq < 16:
        raise ValueError(f"ISA IRQ must be 0-15, not {irq}")
    return 2 if irq == 0 else irq


class IoApic(Device):
    """State = the chip's registers: IOREGSEL, ID, and 24 redirection entries."""

    name = "ioapic"
    mmio = ((IOAPIC_BASE, IOAPIC_SIZE),)

    def __init__(self, bus=None, clock: Optional[Clock] = None, version: int = 0x20) -> None:
        super().__init__(clock)
        if version not in (0x11, 0x20):
            raise ValueError(f"IO APIC version must be 0x11 or 0x20, not {version:#x}")
        self.version = version
        self.bus = bus
        self.extint_ack: Optional[Callable[[], int]] = None
        self.pin_level = [0] * IOAPIC_PINS   # the input wires: not chip state, survive reset
        self.reset()
        if bus is not None:
            bus.attach_ioapic(self)

    def reset(self) -> None:
        """Every entry masked, edge, vector 0 (QEMU ioapic_reset_common); input levels survive."""
        self.ioregsel = 0                # register select
        self.id = 0                      # IOAPICID bits 27-24
        self.irr = 0                     # one bit per pin: a request not yet delivered
        self.redtbl = [RTE_MASKED] * IOAPIC_PINS

    # -- inputs --------------------------------------------------------------
    def set_irq(self, pin: int, level: int) -> None:
        """Drive input ``pin`` to ``level`` (QEMU ioapic_set_irq, after the ISA mapping)."""
        if not 0 <= pin < IOAPIC_PINS:
            return
        level = 1 if level else 0
        self.pin_level[pin] = level
        entry, bit = self.redtbl[pin], 1 << pin
        if entry & RTE_LEVEL:
            if level:
                self.irr |= bit
                if not entry & RTE_REMOTE_IRR:
                    self._service()
            else:
                self.irr &= ~bit
        elif level and not entry & RTE_MASKED:
            self.irr |= bit
            self._service()

    def _service(self) -> None:
        """Send a message for every unmasked pending pin (QEMU ioapic_service)."""
        for pin in range(IOAPIC_PINS):
            bit = 1 << pin
            entry = self.redtbl[pin]
            if not self.irr & bit or entry & RTE_MASKED:
                continue
            if entry & RTE_LEVEL:
                if entry & RTE_REMOTE_IRR:
                    continue                 # the previous one is still being served
                self.redtbl[pin] = entry | RTE_REMOTE_IRR
            else:
                self.irr &= ~bit
            self._send(pin, entry)

    def _send(self, pin: int, entry: int) -> None:
        mode = (entry >> 8) & 7
        vector = entry & RTE_VECTOR
        if mode == DM_EXTINT:
            if self.extint_ack is None:
                self.trace("ioapic.drop", pin=pin, reason="extint without a PIC")
                return
            vector, mode = self.extint_ack(), DM_FIXED
        self.trace("ioapic.deliver", pin=pin, vector=vector, mode=DM_NAMES.get(mode, str(mode)),
                   level=int(bool(entry & RTE_LEVEL)))
        if self.bus is not None:
            self.bus.deliver(dest=(entry >> 56) & 0xFF, logical=bool(entry & RTE_DEST_LOGICAL),
                             delivery_mode=mode, vector=vector,
                             trigger_level=bool(entry & RTE_LEVEL), source=f"ioapic-pin{pin}")

    def eoi(self, vector: int) -> None:
        """EOI broadcast: clear Remote IRR for ``vector``'s level entries, re-deliver."""
        for pin in range(IOAPIC_PINS):
            entry = self.redtbl[pin]
            if entry & RTE_VECTOR != vector or not entry & RTE_LEVEL:
                continue
            if not entry & RTE_REMOTE_IRR:
                continue
            self.redtbl[pin] = entry & ~RTE_REMOTE_IRR
            self.trace("ioapic.eoi", pin=pin, vector=vector)
            if not entry & RTE_MASKED and self.irr & (1 << pin):
                self._service()

    # -- MMIO --------------------------------------------------------------------
    def mmio_read(self, offset: int, size: int) -> int:
        offset &= 0xFF
        if offset == IOREGSEL:
            return self.ioregsel
        if offset != IOWIN or size != 4:
            return 0
        sel = self.ioregsel
        if sel in (REG_ID, REG_ARB):
            return self.id << 24         # QEMU reads the ID back as the arbitration ID
        if sel == REG_VER:
            return self.version | ((IOAPIC_PINS - 1) << 16)
        index = (sel - REG_REDTBL) >> 1
        if sel >= REG_REDTBL and index < IOAPIC_PINS:
            return (self.redtbl[index] >> (32 if sel & 1 else 0)) & 0xFFFFFFFF
        return 0

    def mmio_write(self, offset: int, size: int, value: int) -> None:
        offset &= 0xFF
        value &= 0xFFFFFFFF
        if offset == IOREGSEL:
            self.ioregsel = value & 0xFF
        elif offset == IOWIN and size == 4:
            self._write_register(self.ioregsel, value)
        elif offset == IOEOI and size == 4 and self.version == 0x20:
            self.eoi(value & 0xFF)

    def _write_register(self, sel: int, value: int) -> None:
        if sel == REG_ID:
            self.id = (value >> 24) & 0xF
            return
        index = (sel - REG_REDTBL) >> 1
        if sel < REG_REDTBL or index >= IOAPIC_PINS:
            return                       # VER, ARB and unknown registers are read-only
        old = self.redtbl[index]
        if sel & 1:
            new = (old & 0xFFFFFFFF) | (value << 32)
        else:
            new = (old & ~0xFFFFFFFF) | value
        new = (new & ~RTE_READ_ONLY) | (old & RTE_READ_ONLY)
        if not new & RTE_LEVEL:
            new &= ~RTE_REMOTE_IRR
        self.redtbl[index] = new
        if new & RTE_LEVEL and self.pin_level[index]:
            self.irr |= 1 << index       # a level input asserted before the entry said so
        self._service()

    # -- snapshots (the debugger's reverse stepping) ----------------------------------
    STATE_FIELDS = ("ioregsel", "id", "irr", "redtbl", "pin_level")

    def save_state(self) -> dict:
        """The registers and input levels, without the wiring."""
        return {f: list(v) if isinstance(v := getattr(self, f), list) else v
                for f in self.STATE_FIELDS}

    def load_state(self, state: dict) -> None:
        for f in self.STATE_FIELDS:
            v = state[f]
            setattr(self, f, list(v) if isinstance(v, list) else v)

    # -- housekeeping --------------------------------------------------------------
    def entry(self, pin: int) -> dict:
        """Redirection entry ``pin`` decoded (for the debugger's ``info ioapic``)."""
        e = self.redtbl[pin]
        return {"pin": pin, "vector": e & RTE_VECTOR,
                "mode": DM_NAMES.get((e >> 8) & 7, str((e >> 8) & 7)),
                "dest": (e >> 56) & 0xFF, "logical": bool(e & RTE_DEST_LOGICAL),
                "active_low": bool(e & RTE_POLARITY_LOW), "remote_irr": bool(e & RTE_REMOTE_IRR),
                "level": bool(e & RTE_LEVEL), "masked": bool(e & RTE_MASKED),
                "input": self.pin_level[pin]}

    def dump(self) -> list[str]:
        """Every redirection entry decoded, for the debugger's ``info ioapic``."""
        lines = [f"ioapic id {self.id} version {self.version | ((IOAPIC_PINS - 1) << 16):#010x} "
                 f"ioregsel {self.ioregsel:#04x} irr {self.irr:#08x}"]
        for pin in range(IOAPIC_PINS):
            e = self.entry(pin)
            lines.append(f"pin {pin:2} {self.redtbl[pin]:#018x} vector {e['vector']:#04x} "
                         f"{e['mode']:<7} {'logical' if e['logical'] else 'physical'} dest {e['dest']:#04x} "
                         f"{'level' if e['level'] else 'edge '}{' low' if e['active_low'] else ''}"
                         f"{' remote-irr' if e['remote_irr'] else ''}{' masked' if e['masked'] else ''}"
                         f" input {e['input']}")
        return lines

    def describe(self) -> str:
        live = [p for p in range(IOAPIC_PINS) if not self.redtbl[p] & RTE_MASKED]
        parts = []
        for p in live:
            e = self.entry(p)
            parts.append(f"{p}->{e['vector']:#04x}{'L' if e['level'] else 'E'}"
                         f"{'*' if e['remote_irr'] else ''}")
        return (f"ioapic id={self.id} ver={self.version:#x} irr={self.irr:#08x} "
                f"unmasked=[{' '.join(parts)}]")
