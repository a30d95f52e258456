"""QEMU's firmware configuration interface (fw_cfg) as its PC presents it.

Contract
--------
Guests written for ``qemu-system-i386 -kernel`` read the number of CPUs,
the RAM size and named "files" from fw_cfg; this is that device, on the
same ports, with the items QEMU 7.2's ``pc`` machine gives a ``-kernel``
guest (measured there by tests/probes/firmware, see below).

Ports (QEMU hw/nvram/fw_cfg.c, the x86 I/O variant)::

    0x510  SELECTOR  w16  select an item; the read offset goes back to 0
    0x510  DATA      r8   (either port) the next byte of the item, 0 past
    0x511  DATA      r8   its end or for an item that does not exist
    0x514  DMA       rw   the DMA address register, big-endian: a 32-bit
                          write to 0x514 sets bits 63-32, one to 0x518 sets
                          bits 31-0 and starts the transfer; reads give
                          the signature "QEMU CFG" (in memory order)

Byte writes to 0x510/0x511 do nothing (write support went in QEMU 2.4).
Accesses of other sizes are not modelled (QEMU refuses them); a guest
uses 16-bit selects and byte reads.

Items (little-endian integers, as fw_cfg_add_i16/i32/i64 store them):

====== =================== ==================================================
key    name                value here
====== =================== ==================================================
0x00   signature           "QEMU"
0x01   id                  3: traditional interface + DMA
0x02   uuid                16 zero bytes (no -uuid)
0x03   ram_size            u64, the machine's RAM (``--mem``)
0x04   nographic           u16 0
0x05   nb_cpus             u16, the CPUs at boot (``--cpus``)
0x0d   numa                (1 + CPUs) zero u64s: no NUMA nodes
0x0e   boot_menu           u16 0
0x0f   max_cpus            u16, APIC ID limit = CPUs
0x19   file_dir            u32 count (big-endian), then per file: u32 size,
                           u16 select, u16 0, 56-byte name (big-endian)
0x8000 acpi_tables         empty (QEMU's is empty too)
0x8002 irq0_override       u32 1: ISA IRQ 0 arrives on IO APIC pin 2
0x8003 e820_table          legacy reserved-range table: u32 count 0 + 16
                           empty entries
0x8004 hpet                u8 count 1, then 8 x {u32 event timer block ID,
                           u64 address, u16 min tick, u8 page protection}
0x20+i (files)             the ``files`` given, sorted by name
====== =================== ==================================================

Files: ``etc/acpi/rsdp`` and ``etc/acpi/tables`` (the RSDP and the tables
as emulator/acpi_tables.py placed them in RAM), ``etc/boot-fail-wait``
(u32 0xFFFFFFFF), ``etc/e820`` (one RAM entry: u64 0, u64 RAM size, u32 1),
``etc/system-states`` (S0 0x80, S1 0, S2 0, S3 0x81, S4 0x82, S5 0x80:
enabled | SLP_TYP).  Differences from QEMU, deliberate: irqlab has no BIOS,
so the files only firmware reads (bootorder, bios-geometry,
etc/table-loader, etc/smbios/*, etc/tpm/log, genroms/*) are absent and the
ACPI files hold the tables as placed (QEMU's are templates its linker
script fixes up in SeaBIOS); selectors therefore differ, a guest finds a
file by its name.  The multiboot loader's items (0x07-0x12: kernel and
"initrd" = multiboot information, for QEMU's option ROM) are absent.

DMA (docs/specs/fw_cfg.txt in QEMU): the address points at a big-endian
``{u32 control, u32 length, u64 address}``; control bits 0x08 SELECT (key in
bits 31-16), 0x02 READ, 0x04 SKIP, 0x10 WRITE (refused: every item is
read-only, so ERROR), 0x01 ERROR.  Reading past an item's end fills zeros.
When done the control word is written back as 0 (or ERROR).  The machine
hands the device ``dma_read(addr, n) -> bytes | None`` and ``dma_write(addr,
data) -> bool`` (False/None outside RAM: ERROR).

``reset()`` selects the signature (QEMU fw_cfg_reset) and clears the DMA
address; the items survive (they are the machine's configuration).
"""

from __future__ import annotations

import struct
from typing import Callable, Optional

from emulator.clock import Clock
from emulator.devices import state
from emulator.devices.base import Device

FW_CFG_PORT = 0x510
FW_CFG_DMA_PORT = 0x514
DMA_SIGNATURE = b"QEMU CFG"

FW_CFG_SIGNATURE, FW_CFG_ID, FW_CFG_UUID, FW_CFG_RAM_SIZE = 0x00, 0x01, 0x02, 0x03
FW_CFG_NOGRAPHIC, FW_CFG_NB_CPUS, FW_CFG_NUMA, FW_CFG_BOOT_MENU = 0x04, 0x05, 0x0D, 0x0E
FW_CFG_MAX_CPUS, FW_CFG_FILE_DIR, FW_CFG_FILE_FIRST = 0x0F, 0x19, 0x20
FW_CFG_ACPI_TABLES, FW_CFG_IRQ0_OVERRIDE = 0x8000, 0x8002
FW_CFG_E820_TABLE, FW_CFG_HPET = 0x8003, 0x8004
FW_CFG_ARCH_LOCAL, FW_CFG_ENTRY_MASK = 0x8000, 0x3FFF
FILE_SLOTS = 0x20                 # QEMU's FW_CFG_FILE_SLOTS_DFLT
FILE_NAME_SIZE = 56

ID_TRADITIONAL, ID_DMA = 0x01, 0x02
DMA_ERROR, DMA_READ, DMA_SKIP, DMA_SELECT, DMA_WRITE = 0x01, 0x02, 0x04, 0x08, 0x10

E820_RAM = 1
E820_LEGACY_ENTRIES = 16          # QEMU's E820_NR_ENTRIES
HPET_BLOCK_MAX = 8
SYSTEM_STATES = bytes([0x80, 0x00, 0x00, 0x81, 0x82, 0x80])   # S0-S5: enabled | SLP_TYP


def hpet_item(block_id: int, address: int) -> bytes:
    """The ``hpet`` item: one timer block at ``address`` (QEMU hpet_fw_config)."""
    entries = struct.pack("<IQHB", block_id, address, 0, 0)
    return bytes([1]) + entries + bytes(15 * (HPET_BLOCK_MAX - 1))


def e820_file(mem_size: int) -> bytes:
    """``etc/e820``: the RAM QEMU reports, one entry below 4 GiB."""
    return struct.pack("<QQI", 0, mem_size, E820_RAM)


def standard_files(rsdp: bytes, tables: bytes, mem_size: int) -> dict[str, bytes]:
    """The named files irqlab's PC offers (see the module docstring)."""
    return {"etc/acpi/rsdp": rsdp, "etc/acpi/tables": tables,
            "etc/boot-fail-wait": struct.pack("<I", 0xFFFFFFFF),
            "etc/e820": e820_file(mem_size), "etc/system-states": SYSTEM_STATES}


class FwCfg(Device):
    """The selector, the data port, the DMA register and the items."""

    name = "fw_cfg"

    def __init__(self, clock: Optional[Clock] = None, ncpus: int = 1, mem_size: int = 32 << 20,
                 files: Optional[dict[str, bytes]] = None, hpet: Optional[bytes] = None,
                 dma_read: Optional[Callable[[int, int], Optional[bytes]]] = None,
                 dma_write: Optional[Callable[[int, bytes], bool]] = None) -> None:
        super().__init__(clock)
        self.ports = ((FW_CFG_PORT, 2), (FW_CFG_DMA_PORT, 8))
        self.dma_read = dma_read
        self.dma_write = dma_write
        self.items: dict[int, bytes] = self._items(ncpus, mem_size, hpet or hpet_item(0, 0))
        self.files: list[tuple[str, int]] = []      # (name, select), sorted by name
        for n, (fname, data) in enumerate(sorted((files or {}).items())):
            self.items[FW_CFG_FILE_FIRST + n] = bytes(data)
            self.files.append((fname, FW_CFG_FILE_FIRST + n))
        self.items[FW_CFG_FILE_DIR] = self._directory()
        self.reset()

    @staticmethod
    def _items(ncpus: int, mem_size: int, hpet: bytes) -> dict[int, bytes]:
        return {FW_CFG_SIGNATURE: b"QEMU", FW_CFG_ID: struct.pack("<I", ID_TRADITIONAL | ID_DMA),
                FW_CFG_UUID: bytes(16), FW_CFG_RAM_SIZE: struct.pack("<Q", mem_size),
                FW_CFG_NOGRAPHIC: struct.pack("<H", 0), FW_CFG_NB_CPUS: struct.pack("<H", ncpus),
                FW_CFG_NUMA: bytes(8 * (1 + ncpus)), FW_CFG_BOOT_MENU: struct.pack("<H", 0),
                FW_CFG_MAX_CPUS: struct.pack("<H", ncpus), FW_CFG_ACPI_TABLES: b"",
                FW_CFG_IRQ0_OVERRIDE: struct.pack("<I", 1),
                FW_CFG_E820_TABLE: bytes(4 + 20 * E820_LEGACY_ENTRIES), FW_CFG_HPET: hpet}

    def _directory(self) -> bytes:
        """FW_CFG_FILE_DIR: big-endian count and entries, sized for every slot."""
        out = bytearray(struct.pack(">I", len(self.files)))
        for fname, select in self.files:
            raw = fname.encode("ascii")[:FILE_NAME_SIZE - 1]
            out += struct.pack(">IHH", len(self.items[select]), select, 0)
            out += raw + bytes(FILE_NAME_SIZE - len(raw))
        return bytes(out) + bytes(4 + 64 * FILE_SLOTS - len(out))

    def reset(self) -> None:
        """Signature selected, offset 0, DMA address 0; the items stay."""
        self.select(FW_CFG_SIGNATURE)
        self.dma_addr = 0

    def save_state(self) -> dict:
        return state.save(self)          # the items are immutable bytes: shared, not copied

    def load_state(self, saved: dict) -> None:
        state.load(self, saved)

    def describe(self) -> str:
        return (f"fw_cfg {FW_CFG_PORT:#x} key={self.cur_key:#06x} offset={self.cur_offset} "
                f"files={len(self.files)}")

    # -- the traditional interface ------------------------------------------------
    def select(self, key: int) -> None:
        """Select ``key``; an out-of-range key selects nothing (reads give 0)."""
        self.cur_offset = 0
        self.cur_key = key if (key & FW_CFG_ENTRY_MASK) < FW_CFG_FILE_FIRST + FILE_SLOTS else None

    def _item(self) -> bytes:
        if self.cur_key is None:
            return b""
        return self.items.get(self.cur_key & (FW_CFG_ENTRY_MASK | FW_CFG_ARCH_LOCAL), b"")

    def read_byte(self) -> int:
        data = self._item()
        if self.cur_offset >= len(data):
            return 0
        self.cur_offset += 1
        return data[self.cur_offset - 1]

    def io_read(self, port: int, size: int) -> int:
        if port in (FW_CFG_PORT, FW_CFG_PORT + 1):
            return self.read_byte() if size == 1 else 0
        off = port - FW_CFG_DMA_PORT
        return int.from_bytes(DMA_SIGNATURE[off:off + size], "little")

    def io_write(self, port: int, size: int, value: int) -> None:
        if port == FW_CFG_PORT and size == 2:
            self.select(value & 0xFFFF)
        elif port == FW_CFG_DMA_PORT and size == 4:
            self.dma_addr = _bswap32(value) << 32
        elif port == FW_CFG_DMA_PORT + 4 and size == 4:
            self.dma_addr |= _bswap32(value)
            self.dma_transfer()

    # -- DMA ---------------------------------------------------------------------------
    def dma_transfer(self) -> None:
        """Run the request at ``dma_addr`` (QEMU fw_cfg_dma_transfer)."""
        addr, self.dma_addr = self.dma_addr, 0
        raw = self.dma_read(addr, 16) if self.dma_read is not None else None
        if raw is None or len(raw) != 16:
            self._dma_status(addr, DMA_ERROR)
            return
        control, length, target = struct.unpack(">IIQ", raw)
        if control & DMA_SELECT:
            self.select(control >> 16)
        if control & DMA_READ:
            op = "read"
        elif control & DMA_WRITE:
            op = "write"
        elif control & DMA_SKIP:
            op = "skip"
        else:
            op, length = "none", 0
        status = 0
        while length > 0 and not status & DMA_ERROR:
            data = self._item()
            chunk = max(0, min(length, len(data) - self.cur_offset))
            if chunk == 0:                 # nothing (left) to give: zeros, or refuse a write
                n = length
                if op == "read" and not self._dma_put(target, bytes(n)):
                    status |= DMA_ERROR
                if op == "write":
                    status |= DMA_ERROR
            else:
                n = chunk
                if op == "read" and not self._dma_put(target, data[self.cur_offset:self.cur_offset + n]):
                    status |= DMA_ERROR
                if op == "write":
                    status |= DMA_ERROR     # every item is read-only
                self.cur_offset += n
            target += n
            length -= n
        self._dma_status(addr, status)

    def _dma_put(self, addr: int, data: bytes) -> bool:
        return self.dma_write is not None and bool(self.dma_write(addr, data))

    def _dma_status(self, addr: int, control: int) -> None:
        if self.dma_write is not None:
            self.dma_write(addr, struct.pack(">I", control))


def _bswap32(value: int) -> int:
    return int.from_bytes((value & 0xFFFFFFFF).to_bytes(4, "little"), "big")
