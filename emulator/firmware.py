"""What a PC needs for kernels written for QEMU to recognise it: fw_cfg, ACPI, HPET.

Contract
--------
``PcFirmware(clock, ncpus, mem_size, ram, platform, invalidate)`` builds,
for the machine (emulator/machine.py) at start-up:

* the ACPI tables (emulator/acpi.py), written into ``ram`` (a writable
  buffer of the machine's RAM) at once;
* ``fw_cfg`` (emulator/devices/fw_cfg.py) with the CPU count, the RAM size,
  the HPET item and the files (the RSDP and tables as placed); its DMA reads
  and writes ``ram`` directly and calls ``invalidate(addr, n)`` after a
  write, so code the guest loads by DMA is translated again;
* ``acpi_pm`` (emulator/devices/acpi_pm.py): PM1, PM timer, GPE0, APM; its
  SCI drives ISA IRQ 9;
* ``hpet`` (emulator/devices/hpet.py) at 0xFED00000, whose interrupts go to
  GSIs: 0-15 through ``platform.isa_irq`` (8259 input and IO APIC input,
  ISA 0 on pin 2, as QEMU's gsi_handler), 16-23 to IO APIC pins.

``devices`` names them for the machine's table; ``wire(pit, rtc)`` puts the
HPET between the PIT's and the RTC's outputs and their ISA lines (QEMU's pc
does the same: LEG_RT_CNF cuts them off) and the SCI on ISA IRQ 9; the
machine calls it whenever it wires the lines (at start-up and after a
restore).  Nothing here imports unicorn.
"""

from __future__ import annotations

from typing import Callable, Optional

from emulator import acpi
from emulator.clock import Clock
from emulator.devices.acpi_pm import AcpiPm
from emulator.devices.fw_cfg import FwCfg, hpet_item, standard_files
from emulator.devices.hpet import CAPABILITY, HPET_BASE, Hpet

ISA_IRQS = 16


class PcFirmware:
    """fw_cfg, the ACPI tables and PM registers, and the HPET of one machine."""

    def __init__(self, clock: Clock, ncpus: int, mem_size: int, ram, platform,
                 invalidate: Optional[Callable[[int, int], None]] = None) -> None:
        self.ram = ram
        self.platform = platform
        self.invalidate = invalidate if invalidate is not None else (lambda addr, n: None)
        self.tables = acpi.build(ncpus)
        acpi.install(ram, self.tables)
        files = standard_files(self.tables.rsdp, self.tables.blob, mem_size)
        self.fw_cfg = FwCfg(clock, ncpus, mem_size, files,
                            hpet_item(CAPABILITY & 0xFFFFFFFF, HPET_BASE),
                            dma_read=self.dma_read, dma_write=self.dma_write)
        self.pm = AcpiPm(clock)
        self.hpet = Hpet(clock, gsi=self.gsi)
        self.devices = {"fw_cfg": self.fw_cfg, "acpi_pm": self.pm, "hpet": self.hpet}

    def wire(self, pit, rtc) -> None:
        """The PIT and the RTC through the HPET's legacy inputs; the SCI to IRQ 9."""
        pit.irq.sink = self.hpet.pit_in
        self.hpet.pit_enable = pit.irq_control
        rtc.irq.sink = self.hpet.rtc_in
        self.pm.sci.sink = self.platform.isa_sink(acpi.SCI_IRQ)

    def gsi(self, n: int, level: int) -> None:
        """Drive GSI ``n`` (QEMU gsi_handler): an ISA line, or an IO APIC pin."""
        if n < ISA_IRQS:
            self.platform.isa_irq(n, level)
        else:
            self.platform.ioapic.set_irq(n, level)

    # -- fw_cfg DMA ----------------------------------------------------------------
    def dma_read(self, addr: int, n: int) -> Optional[bytes]:
        if addr < 0 or addr + n > len(self.ram):
            return None
        return bytes(self.ram[addr:addr + n])

    def dma_write(self, addr: int, data: bytes) -> bool:
        if addr < 0 or addr + len(data) > len(self.ram):
            return False
        self.ram[addr:addr + len(data)] = data
        self.invalidate(addr, len(data))
        return True
