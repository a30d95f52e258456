"""The PC's interrupt hardware, wired as on QEMU's pc machine.

``PcInterrupts(clock, ncpus, pic=None, lowest_priority="first")`` holds one
``ApicBus``, one ``LocalApic`` per CPU (APIC ID = CPU index, CPU 0 the BSP)
and one ``IoApic``, and wires them to the 8259 pair ``pic`` (the machine
passes its ``PicPair``; the unit tests may leave it out):

* the 8259 pair's INT output goes to LINT0 of every LAPIC (QEMU
  pic_irq_request); each LAPIC's ExtINT acknowledge, and the IO APIC's for
  ExtINT entries, is the PIC's ``acknowledge``.  ``wire_pic`` takes over
  ``pic.output_changed``: after wiring, a CPU's "interrupt pending" is
  ``lapics[cpu].intr_pending()`` and its INTA is ``lapics[cpu].acknowledge()``,
  for the PIC's interrupts too (the BSP's LINT0 resets to ExtINT, so a guest
  that never touches an APIC sees the 8259 exactly as a PC without APICs
  would).  A ``LocalApic`` is therefore a CPU's ``interrupt_source`` (it has
  ``intr_pending()`` and ``acknowledge()``), plus ``nmi_pending`` /
  ``take_nmi()`` for the NMI the CPU takes regardless of IF.
* every ISA IRQ line goes to the PIC input of the same number and to IO APIC
  input ``isa_irq_to_pin(irq)`` (IRQ0 -> pin 2): ``isa_line(irq)`` is the
  ``IrqLine`` to hand to a device (``pit.irq = platform.isa_line(0)``), or
  ``isa_sink(irq)`` the sink for a device's own line (``pit.irq.sink =
  platform.isa_sink(0)``, as the machine wires its devices).
* MMIO: 0xFEE00000-0xFEE00FFF is the accessing CPU's own LAPIC,
  0xFEC00000-0xFEC00FFF the IO APIC (``mmio_read(cpu, addr, size)``).
* ``firmware_handoff()`` leaves the BSP's LAPIC as SeaBIOS leaves it under
  QEMU (SVR 0x1FF, LINT0 ExtINT level 0x8700, LINT1 NMI 0x8400), for
  machines that want register reads to match QEMU's before the guest
  programs the APIC.  It is optional: irqlab boots without firmware.

``MAX_CPUS`` (8) is the machine's limit: ``--cpus`` accepts 1..MAX_CPUS.

An interrupt from a device line to the CPU: the device's ``IrqLine`` ->
``isa_irq`` -> the PIC input (i8259.py ``set_irq``, its INT output through
``pic_output`` to every LINT0) and the IO APIC pin (ioapic.py, a message on
the bus to a LAPIC's IRR) -> ``lapics[cpu].intr_pending()``, which the CPU
checks at each instruction boundary (emulator/accept.py).

Reference: Intel SDM Vol. 3A 10.4-10.6 (APIC); QEMU hw/i386/pc.c
(pic_irq_request, gsi_handler), hw/intc/ioapic.c (ISA IRQ0 on pin 2).
"""

from __future__ import annotations

from typing import Callable, Optional

from emulator.clock import Clock
from emulator.devices.apicbus import ApicBus
from emulator.devices.base import IrqLine
from emulator.devices.hpet import HPET_BASE
from emulator.devices.ioapic import IOAPIC_BASE, IOAPIC_SIZE, IoApic, isa_irq_to_pin
from emulator.devices.apic_regs import (DM_EXTINT, DM_NMI, LAPIC_BASE, LAPIC_SIZE, LVT_LEVEL,
                                        LVT_LINT0, LVT_LINT1, SVR_ENABLE)
from emulator.devices.lapic import LocalApic

MAX_CPUS = 8
ISA_IRQS = 16
APIC_RANGES = ((LAPIC_BASE, LAPIC_SIZE), (IOAPIC_BASE, IOAPIC_SIZE))
# every MMIO page the machine maps: the APICs' (this file's) and the HPET's
# (emulator/firmware.py's device; the machine hands its accesses there)
MMIO_RANGES = APIC_RANGES + ((HPET_BASE, 0x1000),)      # a page: Unicorn maps pages

class PcInterrupts:
    """The 8259 pair, N local APICs, the IO APIC and the APIC bus, wired together."""

    def __init__(self, clock: Clock, ncpus: int, pic=None, lowest_priority: str = "first") -> None:
        if not 1 <= ncpus <= MAX_CPUS:
            raise ValueError(f"the number of CPUs must be 1-{MAX_CPUS}, not {ncpus}")
        self.clock = clock
        self.bus = ApicBus(lowest_priority=lowest_priority)
        self.lapics = [LocalApic(clock, i, self.bus) for i in range(ncpus)]
        self.ioapic = IoApic(self.bus, clock)
        self.pic = None
        self._isa_lines = [IrqLine(self.isa_sink(irq), name=f"IRQ{irq}") for irq in range(ISA_IRQS)]
        if pic is not None:
            self.wire_pic(pic)

    @property
    def ncpus(self) -> int:
        return len(self.lapics)

    def wire_pic(self, pic) -> None:
        """The 8259 pair's INT to every LINT0; its INTA behind every ExtINT."""
        self.pic = pic
        pic.output_changed = self.pic_output
        for lapic in self.lapics:
            lapic.extint_ack = pic.acknowledge
        self.ioapic.extint_ack = pic.acknowledge
        self.pic_output(pic.intr_level())

    def pic_output(self, level: int) -> None:
        """The PIC pair's INT output changed (QEMU pic_irq_request)."""
        for lapic in self.lapics:
            lapic.set_lint0(level)

    def set_trace(self, trace: Callable[..., None]) -> None:
        """Send every APIC's trace events to ``trace``."""
        self.bus.trace = trace
        self.ioapic.trace = trace
        for lapic in self.lapics:
            lapic.trace = trace

    # -- ISA lines -------------------------------------------------------------
    def isa_irq(self, irq: int, level: int) -> None:
        """Drive ISA IRQ ``irq``: PIC input ``irq`` and IO APIC input isa_irq_to_pin(irq)."""
        if self.pic is not None:
            self.pic.set_irq(irq, level)
        self.ioapic.set_irq(isa_irq_to_pin(irq), level)

    def isa_sink(self, irq: int) -> Callable[[int], None]:
        """A sink for a device's own IrqLine: ``pit.irq.sink = platform.isa_sink(0)``."""
        return lambda level: self.isa_irq(irq, level)

    def isa_line(self, irq: int) -> IrqLine:
        """The wire a device drives for ISA IRQ ``irq`` (e.g. ``pit.irq = isa_line(0)``)."""
        return self._isa_lines[irq]

    # -- MMIO ------------------------------------------------------------------
    def claims(self, addr: int) -> bool:
        return any(base <= addr < base + size for base, size in APIC_RANGES)

    def mmio_read(self, cpu: int, addr: int, size: int) -> int:
        """A read by CPU ``cpu``: its own LAPIC or the IO APIC."""
        if LAPIC_BASE <= addr < LAPIC_BASE + LAPIC_SIZE:
            return self.lapics[cpu].mmio_read(addr - LAPIC_BASE, size)
        return self.ioapic.mmio_read(addr - IOAPIC_BASE, size)

    def mmio_write(self, cpu: int, addr: int, size: int, value: int) -> None:
        if LAPIC_BASE <= addr < LAPIC_BASE + LAPIC_SIZE:
            self.lapics[cpu].mmio_write(addr - LAPIC_BASE, size, value)
        else:
            self.ioapic.mmio_write(addr - IOAPIC_BASE, size, value)

    # -- time ------------------------------------------------------------------
    @property
    def devices(self) -> list:
        return [*self.lapics, self.ioapic]

    def next_deadline(self) -> Optional[int]:
        deadlines = [d for d in (a.next_deadline() for a in self.lapics) if d is not None]
        return min(deadlines) if deadlines else None

    def advance(self, now: int) -> None:
        for lapic in self.lapics:
            lapic.advance(now)

    # -- housekeeping ------------------------------------------------------------
    def reset(self) -> None:
        for device in self.devices:
            device.reset()
        if self.pic is not None:
            self.pic_output(self.pic.intr_level())

    def save_state(self) -> dict:
        """Every APIC's registers (for machine snapshots); the wiring is not state."""
        return {"lapics": [a.save_state() for a in self.lapics],
                "ioapic": self.ioapic.save_state()}

    def load_state(self, state: dict) -> None:
        for lapic, s in zip(self.lapics, state["lapics"]):
            lapic.load_state(s)
        self.ioapic.load_state(state["ioapic"])

    def firmware_handoff(self) -> None:
        """The BSP's LAPIC as SeaBIOS leaves it on QEMU (read back by a probe)."""
        bsp = self.lapics[0]
        bsp.svr = SVR_ENABLE | 0xFF
        bsp.lvt[LVT_LINT0] = LVT_LEVEL | (DM_EXTINT << 8)
        bsp.lvt[LVT_LINT1] = LVT_LEVEL | (DM_NMI << 8)
        bsp.output_changed()

    def describe(self) -> list[str]:
        """One line per LAPIC, then the IO APIC (the debugger's info lapic / info ioapic)."""
        return [f"cpu{i} {a.describe()}" for i, a in enumerate(self.lapics)] + [self.ioapic.describe()]
