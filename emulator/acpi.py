"""The ACPI tables irqlab's PC presents, built at start-up as QEMU's pc does.

Contract
--------
``build(ncpus) -> AcpiTables`` lays out, for ``ncpus`` CPUs, the tables a
``qemu-system-i386 -kernel`` guest finds (QEMU 7.2's ``pc`` machine after
SeaBIOS, dumped by tests/probes/firmware and compared there field by
field): ``install(ram, tables)`` writes them into RAM.

* **RSDP** (revision 0, OEM "BOCHS ") at 0xF59D0 in the BIOS area, where a
  guest's scan of 0xE0000-0xFFFFF on 16-byte boundaries finds it (the
  address SeaBIOS used in the measured run, so the scan takes as long);
* **RSDT** (revision 1) listing FACP, APIC, HPET, WAET in that order;
* **FACP** (FADT revision 1, 116 bytes): FACS and DSDT, SCI on IRQ 9,
  SMI_CMD 0xB2 with ACPI_ENABLE 0xF1 / ACPI_DISABLE 0xF0, PM1a event block
  0x600 (4 bytes), PM1a control 0x604 (2), PM timer 0x608 (4, 24-bit: the
  TMR_VAL_EXT flag is clear), GPE0 0xAFE0 (4), C2/C3 latencies 0xFFF (none),
  RTC century index 0x32, flags 0x80A5 (WBINVD, PROC_C1, SLP_BUTTON,
  RTC_S4, USE_PLATFORM_CLOCK) -- QEMU's PIIX4 values;
* **FACS** (64 bytes, 64-aligned; the firmware waking vector starts 0);
* **DSDT**: irqlab's own small AML: the sleep-state packages ``\\_S3_``
  {1, 1, 0, 0}, ``\\_S4_`` {2, 2, 0, 0}, ``\\_S5_`` {0, 0, 0, 0} (SLP_TYP
  values, as QEMU's etc/system-states says them).  QEMU's DSDT also
  describes the PCI bus, the ISA devices and hot-plug; irqlab has none of
  that, so its DSDT's length and content differ (deliberately);
* **APIC** (MADT revision 1): local APIC address 0xFEE00000, PCAT_COMPAT;
  one Processor Local APIC entry per CPU (ACPI ID = APIC ID = index,
  enabled); the IO APIC (ID 0, 0xFEC00000, GSI base 0); interrupt source
  overrides IRQ 0 -> GSI 2 (flags 0: bus defaults) and IRQ 5, 9, 10, 11 ->
  themselves, level-triggered active high (flags 0x0D: QEMU's PCI link
  IRQs); a Local APIC NMI entry for all processors on LINT1;
* **HPET** (revision 1): event timer block ID 0x8086A201, base 0xFED00000
  in memory space, HPET number 0, minimum tick 0;
* **WAET** (revision 1): flags 2, the PM timer is good (one read suffices).

Every header: OEM ID "BOCHS ", OEM table ID "BXPC    ", OEM revision 1,
creator "BXPC" revision 1, checksum making the bytes sum to 0.  The tables
live in the E segment from 0xE0000 (QEMU's SeaBIOS puts them at the top of
RAM; there they would overlap memory irqlab's Multiboot information calls
free, so irqlab keeps them below 1 MiB, where no RAM is reported free).

Reference: ACPI 1.0b/2.0 (RSDP, RSDT, FADT, FACS, MADT 5.2.10), IA-PC HPET
1.0a section 3.2.4 (the HPET description table), Windows ACPI Emulated
Devices Table (WAET).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

RSDP_ADDR = 0xF59D0
TABLES_ADDR = 0xE0000
LAPIC_ADDR, IOAPIC_ADDR, HPET_ADDR = 0xFEE00000, 0xFEC00000, 0xFED00000
HPET_BLOCK_ID = 0x8086A201
OEM_ID, OEM_TABLE_ID, CREATOR = b"BOCHS ", b"BXPC    ", b"BXPC"

# the PIIX4 power-management function's I/O (FADT fields; emulator/devices/acpi_pm.py)
SCI_IRQ = 9
SMI_CMD, ACPI_ENABLE, ACPI_DISABLE = 0xB2, 0xF1, 0xF0
PM1A_EVT, PM1A_CNT, PM_TMR, GPE0 = 0x600, 0x604, 0x608, 0xAFE0
FADT_FLAGS = 0x80A5
RTC_CENTURY = 0x32
SLP_TYP = {"S3": 1, "S4": 2, "S5": 0}

ISO_LEVEL_HIGH = 0x0D            # MPS INTI flags: level-triggered, active high
PCI_LINK_IRQS = (5, 9, 10, 11)


def checksum(data: bytes) -> int:
    """The byte that makes ``data`` (with it) sum to 0 modulo 256."""
    return (-sum(data)) & 0xFF


def _table(sig: bytes, revision: int, body: bytes) -> bytes:
    """An ACPI description header (36 bytes) + body, checksummed."""
    head = struct.pack("<4sIBB6s8sI4sI", sig, 36 + len(body), revision, 0, OEM_ID,
                       OEM_TABLE_ID, 1, CREATOR, 1)
    raw = bytearray(head + body)
    raw[9] = checksum(raw)
    return bytes(raw)


def rsdp(rsdt_addr: int) -> bytes:
    raw = bytearray(struct.pack("<8sB6sBI", b"RSD PTR ", 0, OEM_ID, 0, rsdt_addr))
    raw[8] = checksum(raw)
    return bytes(raw)


def facs() -> bytes:
    return struct.pack("<4sI", b"FACS", 64) + bytes(56)


def _aml_package(values) -> bytes:
    elems = b"".join(bytes([v]) if v in (0, 1) else bytes([0x0A, v]) for v in values)
    body = bytes([len(values)]) + elems               # NumElements, then the elements
    return bytes([0x12, len(body) + 1]) + body        # PackageOp, one-byte PkgLength


def dsdt() -> bytes:
    """``Name(\\_Sx_, Package(4){typ, typ, 0, 0})`` for S3, S4, S5."""
    aml = b"".join(b"\x08\\_" + name.encode() + b"_" + _aml_package((typ, typ, 0, 0))
                   for name, typ in (("S3", 1), ("S4", 2), ("S5", 0)))
    return _table(b"DSDT", 1, aml)


def fadt(facs_addr: int, dsdt_addr: int) -> bytes:
    body = struct.pack("<IIBBHIBBBB", facs_addr, dsdt_addr, 1, 0, SCI_IRQ, SMI_CMD,
                       ACPI_ENABLE, ACPI_DISABLE, 0, 0)
    body += struct.pack("<8I", PM1A_EVT, 0, PM1A_CNT, 0, 0, PM_TMR, GPE0, 0)
    body += bytes([4, 2, 0, 4, 4, 0, 0, 0])           # block lengths, GPE1 base, CST_CNT
    body += struct.pack("<HHHHBBBBBHBI", 0xFFF, 0xFFF, 0, 0, 0, 0, 0, 0, RTC_CENTURY, 0, 0,
                        FADT_FLAGS)
    return _table(b"FACP", 1, body)


def madt(ncpus: int) -> bytes:
    body = struct.pack("<II", LAPIC_ADDR, 1)           # PCAT_COMPAT: 8259s present
    for i in range(ncpus):
        body += struct.pack("<BBBBI", 0, 8, i, i, 1)   # Processor Local APIC, enabled
    body += struct.pack("<BBBBII", 1, 12, 0, 0, IOAPIC_ADDR, 0)
    body += struct.pack("<BBBBIH", 2, 10, 0, 0, 2, 0)  # IRQ 0 -> GSI 2
    for irq in PCI_LINK_IRQS:
        body += struct.pack("<BBBBIH", 2, 10, 0, irq, irq, ISO_LEVEL_HIGH)
    body += struct.pack("<BBBHB", 4, 6, 0xFF, 0, 1)    # Local APIC NMI: all CPUs, LINT1
    return _table(b"APIC", 1, body)


def hpet_table() -> bytes:
    gas = struct.pack("<BBBBQ", 0, 0, 0, 0, HPET_ADDR)    # system memory
    return _table(b"HPET", 1, struct.pack("<I", HPET_BLOCK_ID) + gas + struct.pack("<BHB", 0, 0, 0))


def waet() -> bytes:
    return _table(b"WAET", 1, struct.pack("<I", 2))


@dataclass
class AcpiTables:
    rsdp: bytes           # placed at RSDP_ADDR
    blob: bytes           # placed at TABLES_ADDR: FACS, DSDT, FACP, APIC, HPET, WAET, RSDT
    addresses: dict       # signature -> address (FACS, DSDT, FACP, APIC, HPET, WAET, RSDT)


def build(ncpus: int) -> AcpiTables:
    """Every table for ``ncpus`` CPUs, laid out from TABLES_ADDR in QEMU's order."""
    addr = {}
    blob = bytearray()

    def place(sig: str, data: bytes) -> None:
        addr[sig] = TABLES_ADDR + len(blob)
        blob.extend(data)

    place("FACS", facs())                              # 64-aligned: first
    place("DSDT", dsdt())
    place("FACP", fadt(addr["FACS"], addr["DSDT"]))
    place("APIC", madt(ncpus))
    place("HPET", hpet_table())
    place("WAET", waet())
    entries = [addr[s] for s in ("FACP", "APIC", "HPET", "WAET")]
    place("RSDT", _table(b"RSDT", 1, struct.pack(f"<{len(entries)}I", *entries)))
    return AcpiTables(rsdp(addr["RSDT"]), bytes(blob), addr)


def install(ram, tables: AcpiTables) -> None:
    """Write the tables and the RSDP into ``ram`` (a writable buffer)."""
    ram[TABLES_ADDR:TABLES_ADDR + len(tables.blob)] = tables.blob
    ram[RSDP_ADDR:RSDP_ADDR + len(tables.rsdp)] = tables.rsdp
