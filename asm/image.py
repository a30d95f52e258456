"""The assembled program and its outputs: flat and ELF images, symbols, lines.

Image is what asm.assemble returns.  Its memory image starts at `base` with
the Multiboot v1 header (magic 0x1BADB002; flags: bit 0 page-align modules,
bit 1 memory info, and for the flat image bit 16, the a.out kludge, with
header_addr/load_addr/load_end_addr/bss_end_addr/entry_addr filled in; see
the Multiboot Specification 0.6.96, section 3.1).  The source only defines
its entry label.

- flat(): the bytes from base to load_end (header, .text, .data); .bss is
  not stored.  QEMU's `-kernel` loads it through the a.out kludge.
- elf(): an ELF32 executable (ET_EXEC, EM_386) with one PT_LOAD segment at
  file offset 0x1000 holding the same bytes (header flags without bit 16,
  so QEMU loads it as ELF), sections .multiboot/.text/.data/.bss and a
  .symtab with every label (in its section) and constant (SHN_ABS).
- symfile(): the "irqlab-sym-1" JSON dict (see asm/symfile.py).
- listing(): address, bytes, file:line and source text, one statement a line.
"""

from __future__ import annotations

import bisect
import json
import os
import struct
from typing import NamedTuple

from .dwarf import debug_sections

MB_MAGIC = 0x1BADB002
MB_PAGE_ALIGN, MB_MEMORY_INFO, MB_AOUT_KLUDGE = 1 << 0, 1 << 1, 1 << 16
SYM_FORMAT = "irqlab-sym-1"
ELF_SEGMENT_OFFSET = 0x1000


class Symbol(NamedTuple):
    name: str
    value: int
    kind: str      # "label" | "const"
    file: str
    line: int


class LineTable:
    """Address -> (file, line) for every statement that emitted bytes."""

    def __init__(self, entries):
        # entries: (addr, size, file, line), any order
        self._rows = sorted(entries)
        self._addrs = [r[0] for r in self._rows]

    def lookup(self, addr: int):
        i = bisect.bisect_right(self._addrs, addr) - 1
        while i >= 0:
            a, size, file, line = self._rows[i]
            if a <= addr < a + size:
                return (file, line)
            if a + size <= addr:
                return None
            i -= 1
        return None

    def entries(self):
        """[(addr, file, line)] sorted by address."""
        return [(a, f, l) for a, _s, f, l in self._rows]

    def __len__(self):
        return len(self._rows)


def multiboot_header(flags, base, load_end, bss_end, entry) -> bytes:
    checksum = (-(MB_MAGIC + flags)) & 0xFFFFFFFF
    return struct.pack("<8I", MB_MAGIC, flags, checksum, base, base, load_end, bss_end, entry)


class Image:
    """An assembled, laid-out program (see the module docstring)."""

    def __init__(self, *, base, entry, symbols, lines, text_start, data_start, bss_start,
                 bss_end, load_end, body: bytes, statements, sources, label_sections):
        self.base = base
        self.entry = entry
        self.symbols: dict[str, Symbol] = symbols
        self.lines = lines
        self.text_start = text_start
        self.data_start = data_start
        self.bss_start = bss_start
        self.bss_end = bss_end
        self.load_end = load_end
        self.sources = sources                 # shown path -> absolute path
        self._body = body                      # bytes from text_start to load_end
        self._statements = statements
        self._label_sections = label_sections  # label name -> "text"|"data"|"bss"

    # ----- memory image --------------------------------------------------
    def header(self, aout_kludge: bool = True) -> bytes:
        flags = MB_PAGE_ALIGN | MB_MEMORY_INFO | (MB_AOUT_KLUDGE if aout_kludge else 0)
        return multiboot_header(flags, self.base, self.load_end, self.bss_end, self.entry)

    def flat(self) -> bytes:
        return self.header(True) + self._body

    def memory(self) -> bytes:
        """What a loader leaves in memory from base to bss_end (bss zeroed)."""
        return self.flat() + bytes(self.bss_end - self.load_end)

    # ----- ELF32 ------------------------------------------------------------
    def elf(self) -> bytes:
        seg = self.header(False) + self._body
        shstr = bytearray(b"\0")

        def sname(n):
            off = len(shstr)
            shstr.extend(n.encode() + b"\0")
            return off

        strtab = bytearray(b"\0")
        symtab = bytearray(bytes(16))
        sect_index = {"multiboot": 1, "text": 2, "data": 3, "bss": 4}
        for sym in sorted(self.symbols.values(), key=lambda s: (s.value, s.name)):
            name_off = len(strtab)
            strtab.extend(sym.name.encode() + b"\0")
            if sym.kind == "label":
                shndx = sect_index[self._label_sections.get(sym.name, "text")]
                stt = 0 if shndx == 2 else 1          # NOTYPE for code, OBJECT for data
            else:
                shndx, stt = 0xFFF1, 0                # SHN_ABS
            info = (1 << 4) | stt                     # STB_GLOBAL
            symtab += struct.pack("<IIIBBH", name_off, sym.value & 0xFFFFFFFF, 0, info, 0, shndx)

        text_end = self._section_end("text")
        data_end = self.load_end
        rows = [(st.addr, st.loc.file, st.loc.line) for st in self._statements
                if st.kind == "insn" and st.size]
        first = next(iter(self.sources), "")
        debug = debug_sections(rows, self.sources, self.text_start, text_end,
                               self.sources.get(first, first))
        # Non-loaded sections after the segment: (name, type, data, link, info, align, entsize)
        extra = [(".symtab", 2, bytes(symtab), 6, 1, 4, 16), (".strtab", 3, bytes(strtab), 0, 0, 1, 0)]
        extra += [(n, 1, d, 0, 0, 1, 0) for n, d in debug.items()]
        names = {n: sname(n) for n in (".multiboot", ".text", ".data", ".bss")}
        names.update({e[0]: sname(e[0]) for e in extra})
        names[".shstrtab"] = sname(".shstrtab")
        extra.append((".shstrtab", 3, bytes(shstr), 0, 0, 1, 0))

        off_seg = ELF_SEGMENT_OFFSET
        W, A, X = 1, 2, 4
        sh = [bytes(40)]

        def section(name, typ, flags, addr, off, size, link=0, info=0, alignment=1, entsize=0):
            sh.append(struct.pack("<10I", names[name], typ, flags, addr, off, size, link, info,
                                  alignment, entsize))
        section(".multiboot", 1, A, self.base, off_seg, 32, alignment=4)
        section(".text", 1, A | X, self.text_start, off_seg + self.text_start - self.base,
                text_end - self.text_start, alignment=16)
        section(".data", 1, A | W, self.data_start, off_seg + self.data_start - self.base,
                data_end - self.data_start, alignment=16)
        section(".bss", 8, A | W, self.bss_start, off_seg + len(seg),
                self.bss_end - self.bss_start, alignment=16)
        tail = bytearray()
        tail_off = align(off_seg + len(seg), 4)
        for name, typ, data, link, info, alignment, entsize in extra:
            pad = (-(tail_off + len(tail))) % alignment
            tail += bytes(pad)
            section(name, typ, 0, 0, tail_off + len(tail), len(data), link, info, alignment, entsize)
            tail += data
        off_sh = align(tail_off + len(tail), 4)

        ehdr = struct.pack("<16sHHIIIIIHHHHHH",
                           b"\x7fELF\x01\x01\x01" + bytes(9), 2, 3, 1, self.entry, 52, off_sh, 0,
                           52, 32, 1, 40, len(sh), len(sh) - 1)
        phdr = struct.pack("<8I", 1, off_seg, self.base, self.base, len(seg),
                           self.bss_end - self.base, 7, 0x1000)
        out = bytearray(ehdr + phdr)
        out += bytes(off_seg - len(out)) + seg
        out += bytes(tail_off - len(out)) + tail
        out += bytes(off_sh - len(out)) + b"".join(sh)
        return bytes(out)

    def _section_end(self, name):
        ends = {"text": self.data_start, "data": self.load_end, "bss": self.bss_end}
        last = [s.addr + s.size for s in self._statements if s.section == name and s.size]
        return max(last) if last else (self.text_start if name == "text" else ends[name])

    # ----- symbols, lines, listing ---------------------------------------------
    def symfile(self) -> dict:
        return {
            "format": SYM_FORMAT,
            "base": self.base,
            "entry": self.entry,
            "end": self.bss_end,
            "symbols": [dict(name=s.name, value=s.value, kind=s.kind, file=s.file, line=s.line)
                        for s in self.symbols.values()],   # definition order
            "lines": [[a, f, l] for a, f, l in self.lines.entries()],
            "sources": dict(self.sources),
        }

    def listing(self) -> str:
        out = [f"{self.base:08x}  {'(32 bytes)':<24}  {'':<18} Multiboot v1 header "
               f"(entry {self.entry:#x})"]
        for s in self._statements:
            where = f"{s.loc.file}:{s.loc.line}"
            if s.kind == "label":
                text = s.text if not s.name.startswith("@") else s.text
            else:
                text = s.text if s.loc.note else s.loc.src.strip()
            data = s.out if s.section != "bss" else b""
            first = data[:8].hex(" ")
            if s.kind == "const":
                out.append(f"{'':8}  {'= ' + hex(self._const_value(s)):<24}  {where:<18} {text}")
                continue
            if s.section == "bss" and s.size:
                first = f"({s.size} bytes)"
            out.append(f"{s.addr:08x}  {first:<24}  {where:<18} {text}")
            for i in range(8, len(data), 8):
                out.append(f"{s.addr + i:08x}  {data[i:i + 8].hex(' '):<24}")
        return "\n".join(out) + "\n"

    def _const_value(self, s):
        return s.extra.get("value", 0)

    def write(self, out_bin, elf=None, sym=None, lst=None):
        """Each file whole or not at all, the ELF last: a build stopped half
        way (Ctrl-C) never leaves an ELF that looks newer than its sources."""
        if out_bin:
            write_whole(out_bin, self.flat())
        if sym:
            write_whole(sym, (json.dumps(self.symfile(), indent=1) + "\n").encode())
        if lst:
            # surrogateescape: the source's own bytes back
            write_whole(lst, self.listing().encode("utf-8", "surrogateescape"))
        if elf:
            write_whole(elf, self.elf())


def align(v, a):
    return (v + a - 1) // a * a


def write_whole(path, data: bytes):
    """``data`` as the file ``path`` (its folders made), written to a
    temporary beside it and renamed into place: a reader sees the old file
    or the new one, never part of one.  A link, a device or a FIFO is
    written where it points, and a path beside which no temporary can be
    made is written in place; OSError as open() and write() give it."""
    d = os.path.dirname(str(path))
    if d:
        os.makedirs(d, exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    f = None
    if not os.path.islink(path) and (os.path.isfile(path) or not os.path.exists(path)):
        try:
            f = open(tmp, "wb")
        except OSError:         # no file can be made beside it: written in place below
            pass
    if f is None:               # /dev/null, a FIFO, a link (written where it points)
        with open(path, "wb") as out:
            out.write(data)
        return
    try:
        with f:
            f.write(data)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
