"""irqlab's assembler: Intel-syntax x86 through keystone, statement by statement.

    image = asm.assemble(["kernel.S"], include_dirs=["inc"], defines={"MODEL": 2})
    image.write("kernel.bin", elf="kernel.elf", sym="kernel.sym.json", lst="kernel.lst")

assemble(paths, include_dirs=(), defines=None, base=0x100000, entry="_start")
assemble_text(text, filename="<text>", ...same)
    -> Image (asm.image): base, entry, symbols {name: Symbol(name, value,
       kind "label"|"const", file, line)}, lines (LineTable: lookup(addr) ->
       (file, line) | None, entries()), text_start, data_start, bss_start,
       bss_end, load_end; flat(), elf(), symfile(), listing(), write().
Raises AsmError (file, line, col, message, source) for any mistake in the
source; str(error) is the three-line compiler-style message.

Syntax and the keystone quirks hidden: asm/SYNTAX.md and asm/encoder.py.
Command line: python -m asm build SRC.S ... -o OUT.bin (asm/cli.py).

A statement's path through the files: source.py (includes, comments,
conditionals, macros -> statements) -> assembler.py (passes until no size
moves; expressions by expr.py) -> encoder.py (one instruction through
keystone, its quirks hidden, checked by decoding it again with capstone) ->
image.py (flat and ELF images; dwarf.py its line table) -> symfile.py (the
symbol file, read back by the emulator).  operands.py: comments, splitting,
strings and directive operands, for source.py.  errors.py: ``AsmError``;
bench.py: ``python -m asm.bench``.
"""

from __future__ import annotations

import os

from .errors import AsmError
from .image import Image, LineTable, Symbol

__all__ = ["assemble", "assemble_text", "AsmError", "Image", "LineTable", "Symbol"]

DEFAULT_BASE = 0x100000


def _reader(include_dirs, defines):
    from . import expr as X
    from .source import Reader
    values = {}
    for name, v in (defines or {}).items():
        if isinstance(v, bool):
            v = int(v)
        if isinstance(v, str):
            try:
                v = X.parse(v).eval(values.__getitem__, 0) if v.strip() else 1
            except (X.ExprError, KeyError):
                raise AsmError(f"-D {name}={v}: the value must be a number or an expression of "
                               "earlier -D names", "<command line>")
        if v is None:
            v = 1
        values[name] = int(v)
    return Reader(include_dirs, values)


def assemble(paths, include_dirs=(), defines=None, base=DEFAULT_BASE, entry="_start") -> Image:
    """Assemble the files in order (as if each included the next) into an Image."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    reader = _reader(include_dirs, defines)
    for p in paths:
        reader.start_unit()
        reader.read_file(str(p))
    reader.finish()
    return _build(reader, base, entry)


def assemble_text(text, filename="<text>", include_dirs=(), defines=None, base=DEFAULT_BASE,
                  entry="_start") -> Image:
    """Assemble source text; `filename` is used in messages and for .include."""
    reader = _reader(include_dirs, defines)
    reader.read_text(text, filename)
    reader.finish()
    return _build(reader, base, entry)


def _build(reader, base, entry) -> Image:
    from .assembler import ADDRESS_LIMIT, HEADER_SIZE, Layout
    if not 0 <= base < ADDRESS_LIMIT - HEADER_SIZE:
        raise AsmError(f"base address {base:#x} must lie in 0..0xffffffdf (the image is loaded "
                       "in the 32-bit physical address space)", "<command line>")
    if base % 4:
        raise AsmError(f"base address {base:#x} must be 4-byte aligned", "<command line>")
    if not reader.stmts:
        raise AsmError("no statements to assemble", next(iter(reader.sources), "<input>"))
    layout = Layout(reader, base)
    layout.run()
    layout.roundtrip()
    vals = layout.vals
    first_file = next(iter(reader.sources), "<input>")
    if entry not in vals:
        raise AsmError(f"entry symbol '{entry}' is not defined (define the label '{entry}:' "
                       "or name another with --entry)", first_file)
    symbols, label_sections = {}, {}
    for name, v in reader.defines.items():
        symbols[name] = Symbol(name, v, "const", "<command line>", 0)
    for s in reader.stmts:
        if s.kind == "label" and not s.name.startswith("@"):
            symbols[s.name] = Symbol(s.name, vals[s.name], "label", s.loc.file, s.loc.line)
            label_sections[s.name] = s.section
        elif s.kind == "const" and s.name not in symbols:
            symbols[s.name] = Symbol(s.name, vals[s.name], "const", s.loc.file, s.loc.line)
    text_start = base + HEADER_SIZE
    data_start, data_end = layout.bounds["data"]
    bss_start, bss_end = layout.bounds["bss"]
    if max(bss_end, data_end) > ADDRESS_LIMIT:
        raise AsmError(f"the image would end at {max(bss_end, data_end):#x}, beyond 4 GiB "
                       f"(--base {base:#x} is too high for it)", "<command line>")
    body = bytearray(data_end - text_start)
    rows = []
    ordered = layout.stmts["text"] + layout.stmts["data"] + layout.stmts["bss"]
    for s in ordered:
        if s.size and s.section != "bss":
            body[s.addr - text_start:s.addr - text_start + len(s.out)] = s.out
            if s.kind != "align":
                rows.append((s.addr, s.size, s.loc.file, s.loc.line))
    if entry in symbols and symbols[entry].kind != "label":
        raise AsmError(f"entry symbol '{entry}' is a constant, not a label", first_file)
    return Image(base=base, entry=vals[entry], symbols=symbols, lines=LineTable(rows),
                 text_start=text_start, data_start=data_start, bss_start=bss_start,
                 bss_end=max(bss_end, data_end), load_end=data_end, body=bytes(body),
                 statements=ordered, sources=dict(reader.sources), label_sections=label_sections)
