"""Source reading: includes, comments, conditionals, macros -> statements.

read_sources(paths | texts, include_dirs, defines) turns assembly text into a
flat list of Stmt, one per statement, each knowing its file, line, column
and source line (for errors, the listing and the line table) and its
section (.text/.data/.bss) and code size (.code32/.code16).

Handled here, before any layout: `.include "f"` (relative to the including
file, then each -I directory; missing or recursive includes are errors),
`#` and `/* */` comments, `;` statement separators, labels (`name:` and
numeric `1:`), `.if/.elif/.else/.endif/.ifdef/.ifndef` (on -D definitions
and on `.equ` constants known at that point), `.macro/.endm` (with
`\\arg`, defaults `arg=val`, `\\@` expansion counter), `.rept/.endr`,
`.irp/.endr`, and `.error "msg"`.  Numeric local labels (`1:`, `1b`,
`1f`) are renamed to unique internal names ("@1.<n>").  Directives that
lay out bytes are parsed into Stmt here and evaluated in asm.assembler.

Bad input is an AsmError at its place, never a Python error or a hang: a
`/* comment` or a string left open, a non-ASCII character outside comments
and strings (a UTF-8 byte-order mark at the start of a file is skipped),
a source that is not a regular file, includes nested more than
MAX_INCLUDE_DEPTH deep, more than MAX_REPEATS repetitions in one
`.rept`/`.irp`, or more than MAX_STATEMENTS statements in all (a runaway
`.rept` or macro).  Bytes in strings are the source's own bytes (a file
that is not valid UTF-8 is read with surrogate escapes, as GAS copies them).

The character-level reading (comments, splitting at commas and `;`,
strings, the ASCII check) and the checks on a directive's operands live in
asm.operands; Loc, where a statement came from, in asm.errors.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from . import expr as X
from .errors import AsmError, Loc, suggest
from .operands import (check_ascii, directive_args, incbin_slice, parse_string, read_incbin,
                       split_top, strip_comment)


@dataclass
class Stmt:
    kind: str          # label const insn data bytes align fill space
    loc: Loc
    col: int           # column (1-based) of the statement in loc.src
    text: str          # the statement text (after the label, if any)
    section: str = "text"
    mode: int = 32
    name: str = ""             # label / const name
    redefinable: bool = False  # .set / '='
    exprs: list = field(default_factory=list)   # [(Expr, col)]
    width: int = 0             # data item size
    data: bytes = b""          # .ascii bytes
    extra: dict = field(default_factory=dict)
    # filled by the assembler
    addr: int = 0
    size: int = 0
    out: bytes = b""


LABEL = re.compile(r"\s*([A-Za-z_.@][\w.@$]*|\d+)\s*:(?!:)")
IDENT = re.compile(r"[A-Za-z_.@][\w.@]*$")
WORD = re.compile(r"\s*([.A-Za-z_][\w.]*)")
LOCALREF = re.compile(r"(?<![\w.@$'\\])(\d+)([bf])(?![\w.@])")
ASSIGN = re.compile(r"\s*([A-Za-z_.@][\w.@]*)\s*=(?!=)\s*")
LOCAL_NAME = re.compile(r"@(\d+)\.(\d+|none)\Z")      # a numeric local label, renamed

DATA_WIDTH = {".byte": 1, ".short": 2, ".word": 2, ".hword": 2, ".value": 2,
              ".2byte": 2, ".long": 4, ".int": 4, ".4byte": 4, ".quad": 8,
              ".8byte": 8}
SECTIONS = {".text": "text", ".data": "data", ".rodata": "data", ".bss": "bss"}
IGNORED = {".global", ".globl", ".extern", ".type", ".size", ".file", ".ident",
           ".intel_syntax", ".arch", ".local", ".weak", ".hidden", ".p2alignw",
           ".cfi_startproc", ".cfi_endproc", ".loc", ".func", ".endfunc"}
COND_OPEN = {".if", ".ifdef", ".ifndef"}


@dataclass
class Macro:
    name: str
    params: list          # [(name, default or None)]
    body: list            # [(Loc, col, text)]
    loc: Loc


class Reader:
    """One reading of a program; .stmts holds the result."""

    MAX_DEPTH = 64               # macro/.rept expansions inside each other (plus includes)
    MAX_INCLUDE_DEPTH = 32       # .include inside .include
    MAX_REPEATS = 100_000        # iterations of one .rept / items of one .irp
    MAX_STATEMENTS = 2_000_000   # source lines read and replayed, in all

    def __init__(self, include_dirs=(), defines=None):
        self.include_dirs = [str(d) for d in include_dirs]
        self.defines = dict(defines or {})
        self.stmts: list[Stmt] = []
        self.sources: dict[str, str] = {}          # shown path -> absolute path
        self.section = "text"
        self.mode = 32
        self.macros: dict[str, Macro] = {}
        self.values: dict[str, int] = dict(self.defines)   # known before layout
        self.late: set[str] = set()                # consts/labels known only at layout
        self.defined: dict[str, Loc] = {}          # every label/const name
        self.cond: list = []      # stack of [taking, any_taken, loc, col, seen_else]
        self.collect = None       # active .macro/.rept/.irp collector
        self.include_stack: list[str] = []
        self.expansions = 0
        self.labels: set[str] = set()
        self.local_count: dict[str, int] = {}
        self._stack: list = []
        self.equ_text: dict[str, str] = {}    # .equ name -> its expression text
        self.lines_seen = 0                   # statements read or replayed (MAX_STATEMENTS)

    # ----- input -------------------------------------------------------
    def read_file(self, path: str, loc: Loc | None = None, col: int = 1):
        def fail(msg):
            return loc.error(msg, col) if loc else AsmError(msg, path)
        absolute = os.path.abspath(path)
        if absolute in self.include_stack:
            chain = " -> ".join(os.path.basename(p) for p in self.include_stack + [absolute])
            raise (loc.error(f"recursive include of '{path}' ({chain})", col) if loc
                   else AsmError(f"recursive include of '{path}'", path))
        if len(self.include_stack) >= self.MAX_INCLUDE_DEPTH:
            raise fail(f"includes nested more than {self.MAX_INCLUDE_DEPTH} deep")
        if os.path.exists(path) and not os.path.isfile(path):
            raise fail(f"cannot read '{path}': not a regular file")
        try:
            # surrogateescape: bytes that are not UTF-8 survive into strings as
            # themselves (and are refused elsewhere as non-ASCII)
            with open(path, encoding="utf-8", errors="surrogateescape") as f:
                text = f.read()
        except OSError as e:
            raise fail(f"cannot read '{path}': {e.strerror}") from None
        if text.startswith("\ufeff"):        # a UTF-8 byte-order mark (editors write one)
            text = text[1:]
        shown = os.path.normpath(path)
        self.sources[shown] = absolute
        self.include_stack.append(absolute)
        self.read_text(text, shown)
        self.include_stack.pop()

    def start_unit(self):
        """A new top-level source file starts in .text, 32-bit, as with GAS."""
        self.section = "text"
        self.mode = 32

    def read_text(self, text: str, filename: str):
        self.sources.setdefault(filename, os.path.abspath(filename) if os.path.exists(filename) else filename)
        in_block, opened = False, None
        for number, raw in enumerate(text.splitlines(), 1):
            was_in_block = in_block
            line, in_block = strip_comment(raw, in_block)
            if in_block and not was_in_block:
                opened = (Loc(filename, number, raw), raw.rfind("/*") + 1)
            if not line.strip():
                continue
            loc = Loc(filename, number, raw)
            check_ascii(line, loc)
            for piece, off in split_top(line, ";"):
                if piece:
                    self.count_statement(loc, off + 1)
                    self.statement(loc, off + 1, piece)
        if in_block:
            loc, col = opened
            raise loc.error("unterminated /* comment (no */ before the end of the file)", col)

    def count_statement(self, loc: Loc, col: int):
        self.lines_seen += 1
        if self.lines_seen > self.MAX_STATEMENTS:
            raise loc.error(f"more than {self.MAX_STATEMENTS:,} statements "
                            "(a runaway .rept, .irp or macro?)", col)

    def finish(self):
        if self.collect is not None:
            kind, loc, col = self.collect["kind"], self.collect["loc"], self.collect["col"]
            end = ".endm" if kind == ".macro" else ".endr"
            raise loc.error(f"unterminated {kind} (no {end} before the end of input)", col)
        if self.cond:
            loc, col = self.cond[-1][2], self.cond[-1][3]
            raise loc.error("unterminated .if (no .endif before the end of input)", col)
        check_names(self)

    # ----- one statement ------------------------------------------------
    def statement(self, loc: Loc, col: int, text: str):
        if self.collect is not None:
            self.collect_line(loc, col, text)
            return
        word_m = WORD.match(text)
        word = word_m.group(1).lower() if word_m else ""
        if self.conditional(word, loc, col, text):
            return
        if self.cond and not self.cond[-1][0]:
            return
        # labels
        while True:
            m = LABEL.match(text)
            if not m or (m.group(1).lower() in SEGREGS and "[" in text):
                break
            self.label(m.group(1), loc, col + m.start(1))
            col += m.end()
            rest = text[m.end():]
            lead = len(rest) - len(rest.lstrip())
            col += lead
            text = rest.strip()
            if not text:
                return
        if "b" in text or "f" in text:
            text = self.local_refs(text)
        m = ASSIGN.match(text)
        if m:
            self.constant(m.group(1), text[m.end():], loc, col + m.start(1), col + m.end(), True)
            return
        word_m = WORD.match(text)
        word = word_m.group(1) if word_m else ""
        if word.startswith("."):
            self.directive(word.lower(), text[word_m.end():], loc, col, col + word_m.end())
            return
        if word in self.macros:
            self.expand(self.macros[word], text[word_m.end():], loc, col + word_m.end())
            return
        self.stmts.append(Stmt("insn", loc, col, text, self.section, self.mode))

    def local_refs(self, text):
        """Rewrite `Nb`/`Nf` (outside strings) to the internal label names."""
        def fix(m):
            n, d = m.group(1), m.group(2)
            k = self.local_count.get(n, 0)
            if d == "b":
                return f"@{n}.{k - 1}" if k else f"@{n}.none"
            return f"@{n}.{k}"
        if '"' not in text and "'" not in text:
            return LOCALREF.sub(fix, text)
        out, last = [], 0
        for m in re.finditer(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'', text):
            out.append(LOCALREF.sub(fix, text[last:m.start()]))
            out.append(m.group())
            last = m.end()
        out.append(LOCALREF.sub(fix, text[last:]))
        return "".join(out)

    def conditional(self, word, loc, col, text) -> bool:
        if word not in COND_OPEN and word not in (".elif", ".else", ".endif"):
            return False
        rest = text[len(text) - len(text.lstrip()) + len(word):]
        argcol = col + len(text) - len(text.lstrip()) + len(word)
        lead = len(rest) - len(rest.lstrip())
        argcol += lead
        rest = rest.strip()
        outer = all(c[0] for c in self.cond)
        if word in COND_OPEN:
            take = outer and self.truth(word, rest, loc, argcol)
            self.cond.append([take, take, loc, col, False])
            return True
        if not self.cond:
            raise loc.error(f"{word} without .if", col)
        top = self.cond[-1]
        outer = all(c[0] for c in self.cond[:-1])
        if top[4] and word != ".endif":
            raise loc.error(f"{word} after .else", col)
        if word == ".endif":
            self.cond.pop()
        elif word == ".else":
            top[0] = outer and not top[1]
            top[1] = top[1] or top[0]
            top[4] = True
        else:  # .elif
            take = outer and not top[1] and self.truth(".if", rest, loc, argcol)
            top[0] = take
            top[1] = top[1] or take
        return True

    def truth(self, word, rest, loc, col) -> bool:
        if word in (".ifdef", ".ifndef"):
            if not IDENT.match(rest):
                raise loc.error(f"{word} needs a symbol name", col)
            known = rest in self.values or rest in self.defined
            return known if word == ".ifdef" else not known
        return self.pp_eval(rest, loc, col, ".if") != 0

    def pp_eval(self, text, loc, col, what) -> int:
        try:
            e = X.parse(text)
        except X.ExprError as err:
            raise loc.error(str(err), col + err.offset)

        def lookup(name):
            if name in self.values:
                return self.values[name]
            if name in self.late or name in self.defined:
                raise loc.error(f"{what} needs a value known before layout, but '{name}' "
                                "depends on a label address", col + text.find(name))
            if name.startswith("@"):
                raise KeyError(name)
            raise loc.error(f"undefined symbol '{name}' in {what}"
                            + suggest(name, list(self.values) + list(self.defined)),
                            col + max(0, text.find(name)))
        try:
            return e.eval(lookup, 0)
        except X.ExprError as err:
            raise loc.error(str(err), col + err.offset)
        except KeyError as err:
            raise loc.error(f"undefined symbol {err}", col)

    # ----- definitions ----------------------------------------------------
    def label(self, name, loc, col):
        if name.isdigit():
            k = self.local_count.get(name, 0)
            self.local_count[name] = k + 1
            self.stmts.append(Stmt("label", loc, col, name + ":", self.section, self.mode,
                                   name=f"@{name}.{k}", extra={"numeric": True}))
            return
        self.define(name, loc, col)
        self.labels.add(name)
        self.late.add(name)
        self.values.pop(name, None)
        self.stmts.append(Stmt("label", loc, col, name + ":", self.section, self.mode, name=name))

    def define(self, name, loc, col):
        if name in self.defines:
            raise loc.error(f"'{name}' is already defined on the command line (-D {name})", col)
        prev = self.defined.get(name)
        if prev is not None:
            raise loc.error(f"duplicate definition of '{name}' (first defined at {prev.file}:{prev.line})", col)
        self.defined[name] = loc

    def constant(self, name, rest, loc, namecol, argcol, redefinable):
        if not IDENT.match(name):
            raise loc.error(f"bad symbol name '{name}'", namecol)
        text = " ".join(rest.split())
        if name in self.defined and not redefinable:
            # The same header included by several source files defines the
            # same constants again (each file is its own unit for GAS):
            # an identical .equ is accepted, a different one is an error.
            if self.equ_text.get(name) == text and name not in self.labels:
                return
            prev = self.defined[name]
            raise loc.error(f"duplicate definition of '{name}' (first defined at {prev.file}:{prev.line})", namecol)
        if name in self.defined and redefinable and name in self.labels:
            raise loc.error(f"'{name}' is a label and cannot be redefined", namecol)
        if name in self.defines:
            raise loc.error(f"'{name}' is already defined on the command line (-D {name})", namecol)
        self.defined.setdefault(name, loc)
        if not redefinable:
            self.equ_text[name] = text
        try:
            e = X.parse(rest)
        except X.ExprError as err:
            raise loc.error(str(err), argcol + err.offset)
        st = Stmt("const", loc, namecol, f"{name} = {rest}", self.section, self.mode, name=name,
                  redefinable=redefinable, exprs=[(e, argcol)])
        self.stmts.append(st)
        # Value now, if it needs no label: then .if can use it.
        if not e.uses_here and all(n in self.values for n in e.names):
            try:
                self.values[name] = e.eval(self.values.__getitem__, 0)
                self.late.discard(name)
                return
            except X.ExprError:
                pass
        self.values.pop(name, None)
        self.late.add(name)

    # ----- directives -------------------------------------------------------
    def directive(self, d, rest, loc, col, argcol):
        lead = len(rest) - len(rest.lstrip())
        argcol += lead
        rest = rest.strip()
        sect = SECTIONS.get(d)
        if sect:
            self.section = sect
            return
        if d == ".section":
            name = split_top(rest, ",")[0][0].split()[0] if rest else ""
            for prefix, s in (( ".text", "text"), (".rodata", "data"), (".data", "data"), (".bss", "bss")):
                if name == prefix or name.startswith(prefix + "."):
                    self.section = s
                    return
            raise loc.error(f"unknown section '{name}' (use .text, .data, .rodata or .bss)", argcol)
        if d in (".code32", ".code16"):
            self.mode = 32 if d == ".code32" else 16
            return
        if d == ".att_syntax":
            raise loc.error("AT&T syntax is not supported (keystone's AT&T mode corrupts "
                            "later decimal numbers); write Intel syntax", col)
        if d in IGNORED:
            return
        if d == ".include":
            self.include(rest, loc, argcol)
            return
        if d in (".equ", ".set", ".equiv"):
            parts = split_top(rest, ",", argcol)
            if len(parts) != 2 or not parts[0][0]:
                raise loc.error(f"{d} needs NAME, VALUE", argcol)
            (name, ncol), (val, vcol) = parts
            self.constant(name, val, loc, ncol, vcol, d == ".set")
            return
        if d in (".macro",):
            self.start_macro(rest, loc, col, argcol)
            return
        if d in (".rept", ".irp", ".irpc"):
            self.collect = {"kind": d, "loc": loc, "col": col, "arg": rest, "argcol": argcol,
                            "body": [], "depth": 0}
            return
        if d in (".endm", ".endr"):
            raise loc.error(f"{d} without a matching {'.macro' if d == '.endm' else '.rept/.irp'}", col)
        if d in (".error", ".err"):
            msg = parse_string(rest, loc, argcol).decode("latin-1") if rest else ".error directive"
            raise loc.error(msg, col)
        if d in (".print", ".warning"):
            return
        self.layout_directive(d, rest, loc, col, argcol)

    def layout_directive(self, d, rest, loc, col, argcol):
        def exprs(min_n, max_n):
            return directive_args(d, rest, loc, argcol, min_n, max_n)

        st = Stmt("data", loc, col, f"{d} {rest}".strip(), self.section, self.mode)
        if d in DATA_WIDTH:
            st.width = DATA_WIDTH[d]
            st.exprs = exprs(1, 10 ** 6)
        elif d in (".ascii", ".asciz", ".string"):
            st.kind = "bytes"
            data = b""
            for text, c in split_top(rest, ",", argcol):
                data += parse_string(text, loc, c) + (b"\0" if d != ".ascii" else b"")
            st.data = data
        elif d in (".align", ".balign", ".p2align"):
            st.kind = "align"
            st.exprs = exprs(1, 3)
            st.extra["p2"] = d == ".p2align"
        elif d == ".fill":
            st.kind = "fill"
            st.exprs = exprs(1, 3)
        elif d in (".space", ".skip", ".zero"):
            st.kind = "space"
            st.exprs = exprs(1, 1 if d == ".zero" else 2)
        elif d == ".org":
            st.kind = "org"
            st.exprs = exprs(1, 2)
        elif d == ".incbin":
            parts = split_top(rest, ",", argcol)
            name = parse_string(parts[0][0], loc, parts[0][1]).decode("utf-8", errors="replace")
            path = self.find_file(name, loc, parts[0][1])
            data = read_incbin(path, name, loc, parts[0][1])
            nums = [self.pp_eval(t, loc, c, ".incbin") for t, c in parts[1:3]]
            st.kind = "bytes"
            st.data = incbin_slice(data, nums, name, loc, parts[1][1] if nums else argcol)
        elif d in (".lcomm", ".comm"):
            parts = split_top(rest, ",", argcol)
            if len(parts) not in (2, 3) or not IDENT.match(parts[0][0]):
                raise loc.error(f"{d} needs NAME, SIZE[, ALIGN]", argcol)
            saved = self.section
            self.section = "bss"
            if len(parts) == 3:
                self.layout_directive(".balign", parts[2][0], loc, col, parts[2][1])
            self.label(parts[0][0], loc, parts[0][1])
            self.layout_directive(".space", parts[1][0], loc, col, parts[1][1])
            self.section = saved
            return
        else:
            raise loc.error(f"unknown directive '{d}'", col)
        self.stmts.append(st)

    def include(self, rest, loc, col):
        name = parse_string(rest, loc, col).decode("utf-8", errors="replace")
        self.read_file(self.find_file(name, loc, col), loc, col)

    def find_file(self, name, loc, col) -> str:
        """`name` relative to the including file, then each -I directory."""
        here = os.path.dirname(loc.file) if loc.file and not loc.file.startswith("<") else "."
        candidates = [os.path.join(here, name)] + [os.path.join(d, name) for d in self.include_dirs]
        if os.path.isabs(name):
            candidates = [name]
        for path in candidates:
            if os.path.isfile(path):
                return path
        where = ", ".join(os.path.normpath(os.path.dirname(p) or ".") for p in candidates)
        what = "include file" if loc.src.lstrip().lower().startswith(".include") else "file"
        raise loc.error(f"{what} '{name}' not found (looked in {where})", col)

    # ----- macros and repetition ----------------------------------------
    def start_macro(self, rest, loc, col, argcol):
        m = re.match(r"([A-Za-z_.][\w.]*)\s*,?\s*(.*)$", rest)
        if not m:
            raise loc.error(".macro needs a name", argcol)
        name, params_text = m.group(1), m.group(2)
        params = []
        for p, pc in (split_top(params_text, ",") if params_text.strip() else []):
            for q in (p.split() if "=" not in p else [p]):
                pname, _, default = q.partition("=")
                pname = pname.strip().split(":")[0]
                if not IDENT.match(pname):
                    raise loc.error(f"bad macro parameter '{pname}'", argcol)
                params.append((pname, default.strip() if _ else None))
        self.collect = {"kind": ".macro", "loc": loc, "col": col, "name": name, "params": params,
                        "body": [], "depth": 0}

    def collect_line(self, loc, col, text):
        c = self.collect
        w = WORD.match(text)
        word = w.group(1).lower() if w else ""
        opens = (".macro",) if c["kind"] == ".macro" else (".rept", ".irp", ".irpc")
        closes = ".endm" if c["kind"] == ".macro" else ".endr"
        if word in opens:
            c["depth"] += 1
        elif word == closes or (c["kind"] == ".macro" and word == ".endmacro"):
            if c["depth"] == 0:
                self.collect = None
                self.end_collect(c)
                return
            c["depth"] -= 1
        c["body"].append((loc, col, text))

    def end_collect(self, c):
        if c["kind"] == ".macro":
            self.macros[c["name"]] = Macro(c["name"], c["params"], c["body"], c["loc"])
            return
        loc, argcol = c["loc"], c["argcol"]
        if c["kind"] == ".rept":
            n = self.pp_eval(c["arg"], loc, argcol, ".rept")
            if n > self.MAX_REPEATS:
                raise loc.error(f".rept {n} repeats more than {self.MAX_REPEATS:,} times", argcol)
            for _ in range(n):
                self.replay(c["body"], {}, loc, ".rept")
            return
        parts = split_top(c["arg"], ",", argcol)
        var = parts[0][0]
        if not IDENT.match(var):
            raise loc.error(f"{c['kind']} needs a parameter name", argcol)
        items = [p for p, _ in parts[1:]]
        if c["kind"] == ".irpc":
            items = list("".join(items))
        if len(items) > self.MAX_REPEATS:
            raise loc.error(f"{c['kind']} has more than {self.MAX_REPEATS:,} items", argcol)
        for item in items:
            self.replay(c["body"], {var: item}, loc, c["kind"])

    def expand(self, macro: Macro, rest, loc, col):
        args = split_top(rest, ",", col) if rest.strip() else []
        if len(args) > len(macro.params):
            raise loc.error(f"macro '{macro.name}' takes {len(macro.params)} argument(s), got {len(args)}", col)
        binding = {}
        for i, (pname, default) in enumerate(macro.params):
            if i < len(args) and args[i][0] != "":
                binding[pname] = args[i][0]
            elif default is not None:
                binding[pname] = default
            else:
                raise loc.error(f"macro '{macro.name}' is missing argument '{pname}'", col)
        self.replay(macro.body, binding, loc, f"macro '{macro.name}'")

    def replay(self, body, binding, use_loc, what):
        self.expansions += 1
        if len(self.include_stack) + self._depth() > self.MAX_DEPTH:
            raise use_loc.error(f"{what} expands too deeply (recursive macro?)")
        counter = str(self.expansions)
        names = sorted(binding, key=len, reverse=True)
        pattern = re.compile(r"\\(" + "|".join(re.escape(n) for n in names) + r")(?![\w])|\\@|\\\(\)") \
            if names else re.compile(r"\\@|\\\(\)")

        def sub(m):
            if m.group(0) == "\\@":
                return counter
            if m.group(0) == "\\()":
                return ""
            return binding[m.group(1)]
        note = f"in {what} used at {use_loc.file}:{use_loc.line}"
        self._stack.append(what)
        try:
            for loc, col, text in body:
                new_loc = Loc(loc.file, loc.line, loc.src, note if loc.note is None else loc.note + "; " + note)
                self.count_statement(new_loc, col)
                self.statement(new_loc, col, pattern.sub(sub, text))
        finally:
            self._stack.pop()

    def _depth(self):
        return len(self._stack)


SEGREGS = {"cs", "ds", "es", "fs", "gs", "ss"}


def check_names(reader: Reader):
    """Every symbol an expression uses must be defined somewhere."""
    known = set(reader.defined) | set(reader.defines) | {s.name for s in reader.stmts if s.kind == "label"}
    for s in reader.stmts:
        for e, c in s.exprs:
            for name in e.names:
                if name not in known:
                    off = max(0, e.text.find(name))
                    local = LOCAL_NAME.match(name)
                    if local:
                        n, k = local.groups()
                        where = "before" if k == "none" else "after"
                        raise s.loc.error(f"no local label '{n}:' {where} this point "
                                          f"(for '{n}{where[0]}')", c)
                    raise s.loc.error(f"undefined symbol '{name}'"
                                      + suggest(name, [k for k in known if not k.startswith("@")]),
                                      c + off)
