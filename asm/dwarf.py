"""Minimal DWARF 2 for the ELF image: one compile unit and its line table.

With it gdb maps addresses to .S lines (`info line *ADDR`, `break file.S:N`,
`list`) when debugging the ELF, e.g. against QEMU's gdbstub.  Sections:
.debug_abbrev (one abbreviation), .debug_info (a DW_TAG_compile_unit with
stmt_list, low_pc, high_pc, name, comp_dir, producer, language =
DW_LANG_Mips_Assembler) and .debug_line (version 2; files by absolute path;
one row per instruction, each with DW_LNE_set_address).  DWARF 2 standard,
sections 6.2 (line number information) and 7.5 (debugging information).
"""

from __future__ import annotations

import os
import struct

DW_LANG_MIPS_ASSEMBLER = 0x8001
PRODUCER = "irqlab asm"


def uleb(v: int) -> bytes:
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def sleb(v: int) -> bytes:
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        done = (v == 0 and not b & 0x40) or (v == -1 and b & 0x40)
        out.append(b | (0 if done else 0x80))
        if done:
            return bytes(out)


def cstr(s: str) -> bytes:
    return s.encode("utf-8", errors="replace") + b"\0"


def debug_sections(rows, sources: dict, low: int, high: int, name: str) -> dict:
    """rows: [(addr, file, line)] of instructions; sources: shown -> absolute path."""
    files = []
    index = {}
    for _a, f, _l in rows:
        if f not in index:
            files.append(f)
            index[f] = len(files)          # DWARF file numbers start at 1

    # .debug_line
    header = bytearray()
    header += bytes([1, 1]) + struct.pack("<b", -5) + bytes([14, 13])
    header += bytes([0, 1, 1, 1, 1, 0, 0, 0, 1, 0, 0, 1])
    header += b"\0"                       # no include directories
    for f in files:
        header += cstr(sources.get(f, f)) + uleb(0) + uleb(0) + uleb(0)
    header += b"\0"
    prog = bytearray()
    cur_file, cur_line = 1, 1
    for addr, f, line in sorted(rows):
        if index[f] != cur_file:
            prog += b"\x04" + uleb(index[f])
            cur_file = index[f]
        prog += b"\x00\x05\x02" + struct.pack("<I", addr & 0xFFFFFFFF)
        if line != cur_line:
            prog += b"\x03" + sleb(line - cur_line)
            cur_line = line
        prog += b"\x01"                   # DW_LNS_copy
    prog += b"\x00\x05\x02" + struct.pack("<I", high & 0xFFFFFFFF)
    prog += b"\x00\x01\x01"               # DW_LNE_end_sequence
    body = struct.pack("<H", 2) + struct.pack("<I", len(header)) + header + prog
    line = struct.pack("<I", len(body)) + body

    # .debug_abbrev: 1 = compile_unit, no children
    abbrev = uleb(1) + uleb(0x11) + b"\x00"
    for at, form in ((0x10, 0x06), (0x11, 0x01), (0x12, 0x01), (0x03, 0x08), (0x1B, 0x08),
                     (0x25, 0x08), (0x13, 0x05)):
        abbrev += uleb(at) + uleb(form)
    abbrev += b"\x00\x00\x00"

    die = uleb(1) + struct.pack("<III", 0, low, high) + cstr(name) + cstr(os.getcwd()) + \
        cstr(PRODUCER) + struct.pack("<H", DW_LANG_MIPS_ASSEMBLER)
    info_body = struct.pack("<HIB", 2, 0, 4) + die + b"\0"
    info = struct.pack("<I", len(info_body)) + info_body
    return {".debug_abbrev": bytes(abbrev), ".debug_info": bytes(info), ".debug_line": bytes(line)}
