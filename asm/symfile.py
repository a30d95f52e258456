"""Reading an image's symbols back: the emulator, observer and debugger use this.

load_symbols(image_path) -> SymbolTable, from (in order of preference)
  1. IMAGE's stem + ".sym.json" beside it (kernel.bin and kernel.elf both
     read kernel.sym.json), format "irqlab-sym-1":
       {"format", "base", "entry", "end" (optional: the image's end in
        memory, bss included),
        "symbols": [{"name", "value", "kind": "label"|"const", "file", "line"}],
        "lines": [[addr, "file", line], ...],  "sources": {"file": "absolute path"}}
  2. the ELF itself, if the image is an ELF (asm/elfsyms.py, pyelftools):
     labels (symbols in a section, with ELF sizes and which are objects),
     constants (SHN_ABS), the DWARF line table and sources, code ranges,
  3. nothing: an empty table (every lookup answers "0x...").
A symbol file that is not a good irqlab-sym-1 file (not JSON, `[]`, a
symbol without a name or value, ...) raises ValueError with one line.
A good one's checked contents are cached beside it, keyed by its bytes
(asm/symcache.py: DIR/__pycache__/NAME.irqlab.marshal), and read back by
the next run of the same file.

SymbolTable: addr(name) (KeyError naming close matches), get(name),
symbolize(addr) -> "name+0xoff" (nearest label at or below, inside the
image when its end is known -- an MMIO or heap address past it is not
"last_label+0xfecd7718", though a label at the end, a stack top, names
it; constants never) or "0x...", line_of(addr) -> (file, line) | None, source_line(file, line),
names(), constants() -> {name: value}; from an ELF also ``sizes`` {name:
st_size}, ``objects`` (data object names) and ``code_ranges`` [(start, end)].
"""

from __future__ import annotations

import bisect
import json
import os
import struct

from . import symcache
from .elfsyms import read_elf
from .image import SYM_FORMAT, LineTable, Symbol


class SymbolTable:
    def __init__(self, symbols=(), lines=(), sources=None, base=None, entry=None,
                 sizes=None, objects=(), code_ranges=(), end=None):
        self.symbols: dict[str, Symbol] = {s.name: s for s in symbols}
        self.base, self.entry, self.end = base, entry, end
        self.sources = dict(sources or {})
        self.sizes: dict[str, int] = dict(sizes or {})     # st_size of ELF symbols
        self.objects = set(objects)                        # ELF data objects (STT_OBJECT)
        self.code_ranges = list(code_ranges)               # [(start, end)] of executable sections
        # Stable sort: of labels at one address, the last defined names it.
        labels = sorted((s for s in self.symbols.values() if s.kind == "label"),
                        key=lambda s: s.value)
        self._label_addrs = [s.value for s in labels]
        self._label_names = [s.name for s in labels]
        # lines: [(addr, file, line)]; each row covers up to the next row's address.
        rows = sorted(lines)
        nexts = [r[0] for r in rows[1:]] + [rows[-1][0] + 16] if rows else []
        self.lines = LineTable([(a, nxt - a if nxt > a else 1, f, l)
                                for (a, f, l), nxt in zip(rows, nexts)])
        self._text_cache: dict[str, list[str] | None] = {}

    def __len__(self):
        return len(self.symbols)

    def __contains__(self, name):
        return name in self.symbols

    def addr(self, name: str) -> int:
        s = self.symbols.get(name)
        if s is None:
            import difflib  # noqa: PLC0415 (mistakes only: 3 M instructions a start)
            close = difflib.get_close_matches(name, list(self.symbols), n=3, cutoff=0.6)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise KeyError(f"no symbol '{name}'{hint}")
        return s.value

    def get(self, name: str):
        return self.symbols.get(name)

    def names(self):
        return list(self.symbols)

    def constants(self) -> dict:
        return {s.name: s.value for s in self.symbols.values() if s.kind == "const"}

    def symbolize(self, addr: int) -> str:
        i = bisect.bisect_right(self._label_addrs, addr) - 1
        if i < 0 or (self.end is not None and addr >= self.end
                     and addr != self._label_addrs[i]):     # a label at the end names it
            return f"{addr:#x}"
        base = self._label_addrs[i]
        name = self._label_names[i]
        off = addr - base
        return f"{name}+{off:#x}" if off else name

    def line_of(self, addr: int):
        return self.lines.lookup(addr)

    def source_line(self, file: str, line: int):
        if file not in self._text_cache:
            path = self.sources.get(file, file)
            try:
                with open(path, encoding="utf-8", errors="replace") as f:
                    self._text_cache[file] = f.read().splitlines()
            except OSError:
                self._text_cache[file] = None
        text = self._text_cache[file]
        if text is None or not 1 <= line <= len(text):
            return None
        return text[line - 1]


def sym_path(image_path) -> str:
    image_path = str(image_path)
    stem, _ext = os.path.splitext(image_path)
    return stem + ".sym.json"


def load_symbols(image_path) -> SymbolTable:
    path = sym_path(image_path)
    if os.path.isfile(path):
        return from_symfile(path)
    try:
        with open(image_path, "rb") as f:
            data = f.read()
    except OSError:
        return SymbolTable()
    if data[:4] == b"\x7fELF":
        return from_elf(data)
    return SymbolTable()


def from_symfile(path) -> SymbolTable:
    """The table of a symbol file; ValueError (one line) if it is not a good one.
    A good file's checked contents are kept beside it (asm/symcache.py) and
    read back while its bytes are the same."""
    with open(path, "rb") as f:
        raw = f.read()
    key = symcache.key_of(raw)
    parts = symcache.load(path, key)
    if parts is None:
        parts = _parse(raw, path)
        symcache.store(path, key, parts)
    syms, lines, sources, base, entry, end = parts
    return SymbolTable([Symbol(*s) for s in syms], lines, sources, base, entry, end=end)


def _parse(raw: bytes, path) -> tuple:
    """The checked contents of a symbol file's bytes: (symbols as tuples,
    line rows, sources, base, entry, end)."""
    try:
        # as a text-mode open() reads it: UTF-8, universal newlines
        text = raw.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
        d = json.loads(text)
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not an {SYM_FORMAT} symbol file (not UTF-8 text)") from None
    except RecursionError:
        raise ValueError(f"{path}: not an {SYM_FORMAT} symbol file (nested too deeply)") from None
    except ValueError as e:
        raise ValueError(f"{path}: not an {SYM_FORMAT} symbol file ({_first_line(e)})") from None
    if not isinstance(d, dict) or d.get("format") != SYM_FORMAT:
        raise ValueError(f"{path}: not an {SYM_FORMAT} symbol file")
    syms = [tuple(_symbol(s, path, i)) for i, s in enumerate(_list(d, "symbols", path))]
    lines = _line_rows(_list(d, "lines", path), path)
    names: dict = {}        # one string per file name: the cache stores it once
    lines = [(a, names.setdefault(f, f), n) for a, f, n in lines]
    syms = [(s[0], s[1], s[2], names.setdefault(s[3], s[3]), s[4]) for s in syms]
    sources = d.get("sources") or {}
    if not isinstance(sources, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                for k, v in sources.items()):
        raise ValueError(f"{path}: 'sources' must map file names to paths")
    for key in ("base", "entry"):
        if d.get(key) is not None and not _is_address(d[key]):
            raise ValueError(f"{path}: '{key}' must be an address (0..0xffffffff)")
    end = d.get("end")
    if end is not None and not (type(end) is int and 0 <= end <= 1 << 32):
        raise ValueError(f"{path}: 'end' must be an address (0..0x100000000)")
    return syms, lines, sources, d.get("base"), d.get("entry"), end


def _first_line(e: Exception) -> str:
    return str(e).splitlines()[0][:120] if str(e) else type(e).__name__


def _is_address(v) -> bool:
    return type(v) is int and 0 <= v < 1 << 32


def _list(d: dict, key: str, path) -> list:
    v = d.get(key, [])
    if not isinstance(v, list):
        raise ValueError(f"{path}: '{key}' must be a list")
    return v


def _symbol(s, path, i: int) -> Symbol:
    """One entry of "symbols", checked: a name, an address-sized value, a kind."""
    if not isinstance(s, dict):
        raise ValueError(f"{path}: symbol {i} is not an object")
    name, value, kind = s.get("name"), s.get("value"), s.get("kind")
    if not isinstance(name, str) or not name or not name.isprintable() or " " in name:
        raise ValueError(f"{path}: symbol {i} has no usable name ({name!r})")
    if kind not in ("label", "const"):
        raise ValueError(f"{path}: symbol '{name}' has kind {kind!r} (label or const)")
    if not (_is_address(value) if kind == "label" else
            type(value) is int and -(1 << 63) <= value < 1 << 64):
        raise ValueError(f"{path}: symbol '{name}' has no usable value ({str(value)[:40]})")
    file, line = s.get("file", ""), s.get("line", 0)
    if not isinstance(file, str) or type(line) is not int or line < 0:
        raise ValueError(f"{path}: symbol '{name}' has a bad file or line")
    return Symbol(name, value, kind, file, line)


def _line_rows(rows: list, path) -> list:
    """Every row of "lines" as a tuple, checked: one pass over the list when
    all are good (the kernel's file has 4,096 rows; a call per row cost
    twice as much), else ``_line_row``'s error for the first bad one."""
    if all(type(r) is list and len(r) == 3 and type(r[0]) is int and 0 <= r[0] < 1 << 32
           and type(r[1]) is str and type(r[2]) is int and r[2] >= 0 for r in rows):
        return [tuple(r) for r in rows]
    return [_line_row(r, path, i) for i, r in enumerate(rows)]


def _line_row(r, path, i: int) -> tuple:
    if (not isinstance(r, list) or len(r) != 3 or not _is_address(r[0])
            or not isinstance(r[1], str) or type(r[2]) is not int or r[2] < 0):
        raise ValueError(f"{path}: line-table row {i} is not [address, file, line]")
    return tuple(r)


def from_image(image) -> SymbolTable:
    """A SymbolTable straight from an asm.Image (no files)."""
    d = image.symfile()
    syms = [Symbol(s["name"], s["value"], s["kind"], s["file"], s["line"]) for s in d["symbols"]]
    return SymbolTable(syms, [tuple(r) for r in d["lines"]], d["sources"], d["base"], d["entry"],
                       end=d.get("end"))


def from_elf(data: bytes) -> SymbolTable:
    """Symbols, DWARF lines and code ranges of any i386 ELF (asm/elfsyms.py)."""
    got = read_elf(data)
    if not got:
        return SymbolTable()
    return SymbolTable(got["syms"], got["lines"], got["sources"], None, got["entry"],
                       sizes=got["sizes"], objects=got["objects"],
                       code_ranges=got["code_ranges"], end=got.get("end"))


def _from_elf_symtab(data: bytes) -> SymbolTable:
    """The .symtab alone, read by hand (kept for images pyelftools refuses)."""
    if data[4] != 1 or data[5] != 1:
        return SymbolTable()
    (shoff,) = struct.unpack_from("<I", data, 32)
    shentsize, shnum, _shstrndx = struct.unpack_from("<HHH", data, 46)
    entry = struct.unpack_from("<I", data, 24)[0]
    sections = [struct.unpack_from("<10I", data, shoff + i * shentsize) for i in range(shnum)]
    syms = []
    for sh in sections:
        if sh[1] != 2:      # SHT_SYMTAB
            continue
        strtab = sections[sh[6]]
        str_off = strtab[4]
        for off in range(sh[4] + 16, sh[4] + sh[5], 16):
            name_off, value, _size, info, _other, shndx = struct.unpack_from("<IIIBBH", data, off)
            if info & 0xF in (3, 4):    # STT_SECTION, STT_FILE
                continue
            end = data.index(b"\0", str_off + name_off)
            name = data[str_off + name_off:end].decode("utf-8", "replace")
            if not name:
                continue
            kind = "const" if shndx == 0xFFF1 else "label"
            syms.append(Symbol(name, value, kind, "", 0))
    return SymbolTable(syms, (), None, None, entry)
