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

Errors are ``ImageError`` with one line for the user.  Every field of the
file is checked before it is used: an ELF cut short, a program or section
header table outside the file (or a bogus e_phentsize/e_shentsize/e_shnum),
a section or segment outside the file, ``p_memsz < p_filesz``, and a
segment or bss that would end outside RAM (checked before any memory is
set aside, so ``p_memsz = 0xFFFFFFFF`` is an error, not a 4 GiB buffer).

``read_image(path, limit)`` reads an image file of at most ``limit`` bytes
(the machine's RAM): a device, a directory or anything larger is an
ImageError, so ``run /dev/zero`` ends at once.  ``image_symbols(path)`` is
its symbol table; a broken ``.sym.json`` (``[]``, a symbol without a name)
is an ImageError too.  Whoever runs a machine loads the symbols and sets
``machine.symbols`` (the Machine itself reads no symbol files).
"""

from __future__ import annotations

import os
import stat
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
    _check_room(ram, addr, len(blob), what)
    ram[addr:addr + len(blob)] = blob


def _check_room(ram, addr: int, size: int, what: str) -> None:
    if addr < 0 or size < 0 or addr + size > len(ram):
        raise ImageError(f"{what} at {addr:#x}+{size:#x} lies outside the machine's "
                         f"{len(ram) >> 20} MiB of RAM")


def _zero(ram, addr: int, size: int, what: str) -> None:
    """Zero ``size`` bytes (a bss), checked against RAM before anything is made."""
    _check_room(ram, addr, size, what)
    ram[addr:addr + size] = bytes(size)


ELF_HEADER = 52
PHDR_SIZE = 32
SHDR_SIZE = 40
SHT_NOBITS = 8


def _elf_table(data: bytes, off: int, entsize: int, num: int, minsize: int, what: str):
    """The offsets of ``num`` table entries, all inside ``data`` (or ImageError)."""
    if num == 0:
        return []
    if entsize < minsize:
        raise ImageError(f"the ELF {what} entries are {entsize} bytes (at least {minsize} needed)")
    if off < ELF_HEADER or off + num * entsize > len(data):
        entries = "1 entry" if num == 1 else f"{num} entries"
        raise ImageError(f"the ELF {what} table ({entries} of {entsize} bytes at "
                         f"{off:#x}) lies outside the {len(data)}-byte file")
    return [off + i * entsize for i in range(num)]


def check_elf(data: bytes) -> None:
    """Every header, table and section of a 32-bit ELF lies inside the file."""
    if len(data) < ELF_HEADER:
        raise ImageError(f"the ELF is cut short ({len(data)} bytes; the header alone is "
                         f"{ELF_HEADER})")
    if data[4] != 1 or data[5] != 1 or struct.unpack_from("<H", data, 18)[0] != 3:
        raise ImageError("not a 32-bit little-endian i386 ELF")
    phoff, shoff = struct.unpack_from("<II", data, 28)
    phentsize, phnum, shentsize, shnum, shstrndx = struct.unpack_from("<HHHHH", data, 42)
    for off in _elf_table(data, phoff, phentsize, phnum, PHDR_SIZE, "program header"):
        p_type, p_off, _va, _pa, p_filesz, p_memsz = struct.unpack_from("<6I", data, off)
        if p_type == 1 and p_off + p_filesz > len(data):
            raise ImageError(f"an ELF segment ({p_filesz:#x} bytes at {p_off:#x}) runs past "
                             f"the end of the {len(data)}-byte file")
        if p_type == 1 and p_memsz < p_filesz:
            raise ImageError(f"an ELF segment's p_memsz {p_memsz:#x} is smaller than its "
                             f"p_filesz {p_filesz:#x}")
    sections = _elf_table(data, shoff, shentsize, shnum, SHDR_SIZE, "section header")
    if sections and shstrndx >= shnum:
        raise ImageError(f"the ELF section-name index {shstrndx} is not below e_shnum {shnum}")
    for off in sections:
        _name, sh_type, _fl, _addr, sh_off, sh_size, sh_link = struct.unpack_from("<7I", data, off)
        if sh_type != SHT_NOBITS and sh_type != 0 and sh_off + sh_size > len(data):
            raise ImageError(f"an ELF section ({sh_size:#x} bytes at {sh_off:#x}) runs past "
                             f"the end of the {len(data)}-byte file")
        if sh_link >= max(shnum, 1) and sh_type in (2, 11):      # SYMTAB, DYNSYM
            raise ImageError(f"an ELF symbol table links to section {sh_link} of {shnum}")


def _load_elf(data: bytes, ram) -> tuple[int, int]:
    check_elf(data)
    entry, phoff = struct.unpack_from("<II", data, 24)
    phentsize, phnum = struct.unpack_from("<HH", data, 42)
    end = 0
    for off in _elf_table(data, phoff, phentsize, phnum, PHDR_SIZE, "program header"):
        p_type, p_off, _vaddr, p_paddr, p_filesz, p_memsz = struct.unpack_from("<6I", data, off)
        if p_type != 1:
            continue
        _check_room(ram, p_paddr, p_memsz, "an ELF segment")
        _place(ram, p_paddr, data[p_off:p_off + p_filesz], "an ELF segment")
        _zero(ram, p_paddr + p_filesz, p_memsz - p_filesz, "an ELF bss")
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
    if load_end and load_end < load_addr:
        raise ImageError(f"the Multiboot load_end_addr {load_end:#x} lies below load_addr "
                         f"{load_addr:#x}")
    blob = data[start:] if load_end == 0 else data[start:start + load_end - load_addr]
    _place(ram, load_addr, blob, "the image")
    end = load_addr + len(blob)
    if bss_end > end:
        _zero(ram, end, bss_end - end, "the bss")
        end = bss_end
    return entry, end


def image_symbols(path):
    """The image's symbol table (``asm.symfile.load_symbols``: the .sym.json
    beside it, else the ELF's .symtab); ImageError with one line if that
    file is broken -- never a run with half-read symbols.  Whoever runs a
    machine loads it and sets ``machine.symbols`` (the Machine itself reads
    no symbol files)."""
    try:
        return load_symbols(str(path))
    except ValueError as e:              # a broken .sym.json: its own one-line message
        raise ImageError(str(e)) from None
    except struct.error as e:            # an ELF symbol table cut short
        raise ImageError(f"{path}: the ELF symbol table is cut short ({e})") from None
    except OSError as e:
        raise ImageError(f"cannot read the symbols of {path}: {e.strerror}") from None


def read_image(path, limit: int) -> bytes:
    """The bytes of the image file at ``path``: a regular file or a pipe, at most
    ``limit`` bytes (ImageError, or OSError when it cannot be opened)."""
    with open(path, "rb") as f:
        mode = os.fstat(f.fileno()).st_mode
        if not (stat.S_ISREG(mode) or stat.S_ISFIFO(mode)):
            raise ImageError(f"{path} is not a regular file")
        data = f.read(limit + 1)
    if len(data) > limit:
        raise ImageError(f"{path} is larger than the machine's {limit >> 20} MiB of RAM")
    return data


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
