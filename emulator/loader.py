"""Loading a Multiboot (v1) kernel the way QEMU's ``-kernel`` does.

Two image forms (Multiboot 0.6.96, section 3.1):

* a flat binary whose Multiboot header (magic 0x1BADB002 in the first 8 KiB,
  4-byte aligned, magic + flags + checksum = 0) has flag bit 16, the a.out
  kludge: header_addr, load_addr, load_end_addr, bss_end_addr, entry_addr
  say where the file goes;
* an ELF32 (i386) whose PT_LOAD segments are copied to their physical
  addresses, bss zeroed, entry from the ELF header.

``load(data, ram, append, image_path)`` copies the image into ``ram`` (a
bytearray-like of the machine's size), writes the Multiboot information
structure (flags bit 0 mem_lower/mem_upper, bit 2 cmdline) and a flat GDT
below 1 MiB, and returns a ``BootState``: the entry and the machine state of
section 3.2 (EAX = 0x2BADB002, EBX = the information structure, CS a flat
32-bit code segment, the data segments flat, IF clear, paging off).  As on
QEMU the command line is the image's name, a space, and ``--append``; the
machine passes the file name without its directory, so a trace does not
depend on where the checkout lives (QEMU passes the path as given).

Errors are ``ImageError`` with one line for the user.

``image_symbols(path)`` is the image's symbol table (asm/symfile.py: the
``.sym.json`` beside it, else an ELF's ``.symtab``), or None when the symbol
file cannot be read.  Whoever runs a machine loads it and sets
``machine.symbols`` (the Machine itself reads no symbol files).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from asm.symfile import load_symbols

MB_MAGIC = 0x1BADB002
MB_BOOT_MAGIC = 0x2BADB002
MB_AOUT_KLUDGE = 1 << 16

GDT_ADDR = 0x8F00          # null, null, code (0x10), data (0x18) -- QEMU's multiboot ROM selectors
INFO_ADDR = 0x9000
CMDLINE_ADDR = 0x9100
BOOT_ESP = 0x7000
CODE_SEL, DATA_SEL = 0x10, 0x18


class ImageError(Exception):
    """The image cannot be loaded (one line, for the user)."""


@dataclass
class BootState:
    entry: int
    eax: int = MB_BOOT_MAGIC
    ebx: int = INFO_ADDR
    esp: int = BOOT_ESP
    gdt_base: int = GDT_ADDR
    gdt_limit: int = 4 * 8 - 1
    code_sel: int = CODE_SEL
    data_sel: int = DATA_SEL
    image_end: int = 0


def _find_header(data: bytes):
    for off in range(0, min(len(data), 8192) - 11, 4):
        magic, flags, check = struct.unpack_from("<3I", data, off)
        if magic == MB_MAGIC and (magic + flags + check) & 0xFFFFFFFF == 0:
            return off, flags
    return None, None


def _place(ram, addr: int, blob: bytes, what: str) -> None:
    if addr < 0 or addr + len(blob) > len(ram):
        raise ImageError(f"{what} at {addr:#x}+{len(blob):#x} lies outside the machine's "
                         f"{len(ram) >> 20} MiB of RAM")
    ram[addr:addr + len(blob)] = blob


def _load_elf(data: bytes, ram) -> tuple[int, int]:
    if len(data) < 52 or data[4] != 1 or data[5] != 1 or struct.unpack_from("<H", data, 18)[0] != 3:
        raise ImageError("not a 32-bit little-endian i386 ELF")
    entry, phoff = struct.unpack_from("<II", data, 24)
    phentsize, phnum = struct.unpack_from("<HH", data, 42)
    end = 0
    for i in range(phnum):
        p_type, p_off, _vaddr, p_paddr, p_filesz, p_memsz = struct.unpack_from(
            "<6I", data, phoff + i * phentsize)
        if p_type != 1:
            continue
        if p_off + p_filesz > len(data):
            raise ImageError("an ELF segment runs past the end of the file")
        _place(ram, p_paddr, data[p_off:p_off + p_filesz], "an ELF segment")
        _place(ram, p_paddr + p_filesz, bytes(p_memsz - p_filesz), "an ELF bss")
        end = max(end, p_paddr + p_memsz)
    if end == 0:
        raise ImageError("the ELF has no loadable segment")
    return entry, end


def _load_flat(data: bytes, ram, off: int) -> tuple[int, int]:
    if off + 32 > len(data):
        raise ImageError("the Multiboot header is cut short")
    header_addr, load_addr, load_end, bss_end, entry = struct.unpack_from("<5I", data, off + 12)
    start = off - (header_addr - load_addr)
    if start < 0 or load_addr > header_addr:
        raise ImageError("the Multiboot a.out addresses are inconsistent")
    blob = data[start:] if load_end == 0 else data[start:start + load_end - load_addr]
    _place(ram, load_addr, blob, "the image")
    end = load_addr + len(blob)
    if bss_end > end:
        _place(ram, end, bytes(bss_end - end), "the bss")
        end = bss_end
    return entry, end


def load(data: bytes, ram, append: str = "", image_path: str = "") -> BootState:
    """Copy the image into ``ram`` and build the Multiboot boot state."""
    off, flags = _find_header(data)
    if data[:4] == b"\x7fELF" and (off is None or not flags & MB_AOUT_KLUDGE):
        entry, end = _load_elf(data, ram)
    elif off is None:
        raise ImageError("no Multiboot header in the first 8 KiB (not a Multiboot v1 kernel)")
    elif flags & MB_AOUT_KLUDGE:
        entry, end = _load_flat(data, ram, off)
    else:
        raise ImageError("a flat image needs the Multiboot a.out kludge (header flag bit 16)")
    mem_kib = len(ram) // 1024
    cmdline = f"{image_path} {append}".encode("latin-1", "replace") + b"\0"
    info = struct.pack("<4I", 0x1 | 0x4, 640, max(0, mem_kib - 1024), 0) + struct.pack("<I", CMDLINE_ADDR)
    _place(ram, INFO_ADDR, info + bytes(0x58 - len(info)), "the Multiboot information")
    _place(ram, CMDLINE_ADDR, cmdline[:0x1000], "the command line")
    gdt = bytes(16) + struct.pack("<II", 0x0000FFFF, 0x00CF9A00) + struct.pack("<II", 0x0000FFFF, 0x00CF9300)
    _place(ram, GDT_ADDR, gdt, "the boot GDT")
    return BootState(entry=entry, image_end=end)


def image_symbols(path):
    """The symbol table of the image at ``path`` (empty when it has none), or
    None when its symbol file is unreadable or malformed: the run goes on
    without symbols, as it would for a flat image."""
    try:
        return load_symbols(str(path))
    except (ValueError, OSError):
        return None
