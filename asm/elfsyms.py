"""An ELF32 image's symbols, DWARF line table and code ranges, via pyelftools.

``read_elf(data) -> dict`` for any i386 ELF, not only the ones asm/ writes:
a kernel built by gcc and GNU as too.  The dict holds what asm/symfile.py's
``from_elf`` makes a ``SymbolTable`` of (this module does not import it):
``syms``, ``lines``, ``sources``, ``entry``, ``sizes``, ``objects``,
``code_ranges``, ``end``:

* symbols: every named symbol of .symtab that is defined -- functions,
  objects and plain labels are labels (with their ``st_size`` in
  ``sizes`` when not 0, and the objects listed in ``objects``); SHN_ABS
  symbols are constants (how asm/'s ELF
  writer stores ``.equ``s, so irqlab's own kernel.elf carries every
  structure offset the observer needs);
* lines: the DWARF line programs of every compilation unit (DWARF 2-5),
  statement rows only, each row covering up to the next address of its
  sequence; file names relative to the unit's compilation directory when
  they lie under it (``kernel.c``, ``guest_kernel/boot.S``), and
  ``sources`` maps each name to the file's path for ``list``;
* ``code_ranges``: (start, end) of every executable section, for the
  observer's scan of iret sites and ESP loads;
* ``end``: the end of the highest allocated section (bss included), the
  image's extent in memory: no symbol names an address at or past it
  (None when no section is allocated).

A malformed ELF or DWARF gives whatever could be read (an empty dict at
worst: no symbols); it never raises.
"""

from __future__ import annotations

import io
import os

from .image import Symbol

SHF_ALLOC, SHF_EXECINSTR = 0x2, 0x4


def read_elf(data: bytes) -> dict:
    # pyelftools is imported here, not at module import: only ELF images need it
    from elftools.common.exceptions import ELFError, DWARFError
    from elftools.elf.elffile import ELFFile
    try:
        elf = ELFFile(io.BytesIO(data))
        entry = elf.header["e_entry"]
        syms, sizes, objects = _symbols(elf)
        ranges = [(s["sh_addr"], s["sh_addr"] + s["sh_size"]) for s in elf.iter_sections()
                  if s["sh_flags"] & SHF_EXECINSTR and s["sh_size"]]
        end = max((s["sh_addr"] + s["sh_size"] for s in elf.iter_sections()
                   if s["sh_flags"] & SHF_ALLOC and s["sh_size"]), default=None)
    except (ELFError, ValueError, KeyError, IndexError, OSError, AttributeError) as e:
        del e
        return {}
    try:
        lines, sources = _lines(elf)
    except (ELFError, DWARFError, ValueError, KeyError, IndexError, OSError,
            AttributeError, TypeError, AssertionError):
        lines, sources = [], {}
    return {"syms": syms, "lines": lines, "sources": sources, "entry": entry,
            "sizes": sizes, "objects": objects, "code_ranges": ranges, "end": end}


def _symbols(elf):
    syms, sizes, objects = [], {}, set()
    for sec in elf.iter_sections():
        if sec["sh_type"] != "SHT_SYMTAB":
            continue
        for s in sec.iter_symbols():
            kind = s["st_info"]["type"]
            shndx = s["st_shndx"]
            if not s.name or kind in ("STT_SECTION", "STT_FILE") or shndx == "SHN_UNDEF":
                continue
            if shndx == "SHN_ABS":
                syms.append(Symbol(s.name, s["st_value"], "const", "", 0))
                continue
            syms.append(Symbol(s.name, s["st_value"], "label", "", 0))
            if s["st_size"]:
                sizes[s.name] = s["st_size"]
            if kind == "STT_OBJECT":
                objects.add(s.name)
    return syms, sizes, objects


def _lines(elf):
    if not elf.has_dwarf_info():
        return [], {}
    dwarf = elf.get_dwarf_info()
    rows, sources = [], {}
    for cu in dwarf.iter_CUs():
        prog = dwarf.line_program_for_CU(cu)
        if prog is None:
            continue
        top = cu.get_top_DIE()
        comp = top.attributes.get("DW_AT_comp_dir")
        comp_dir = comp.value.decode("utf-8", "replace") if comp is not None else ""
        names = _file_names(prog, comp_dir)
        for entry in prog.get_entries():
            st = entry.state
            if st is None or st.end_sequence or not st.is_stmt:
                continue
            name = names.get(st.file)
            if name is None:
                continue
            rows.append((st.address, name[0], st.line))
            sources.setdefault(name[0], name[1])
    return rows, sources


def _file_names(prog, comp_dir: str) -> dict:
    """{file index: (name to show, path on disk)} for one line program."""
    header = prog.header
    version = header["version"]
    dirs = [d.decode("utf-8", "replace") if isinstance(d, bytes) else str(d)
            for d in header["include_directory"]]
    out = {}
    for i, fe in enumerate(header["file_entry"]):
        name = fe.name.decode("utf-8", "replace") if isinstance(fe.name, bytes) else str(fe.name)
        d = fe.dir_index
        if version >= 5:
            base = dirs[d] if d < len(dirs) else comp_dir
            index = i                       # DWARF 5 numbers files from 0
        else:
            base = dirs[d - 1] if 0 < d <= len(dirs) else comp_dir
            index = i + 1                   # DWARF 2-4 from 1
        path = name if os.path.isabs(name) else os.path.join(base or comp_dir, name)
        if not os.path.isabs(path) and comp_dir:
            path = os.path.join(comp_dir, path)
        show = os.path.relpath(path, comp_dir) if comp_dir and path.startswith(comp_dir + os.sep) else path
        out[index] = (show, path)
    return out
