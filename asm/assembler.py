"""Layout: statements -> addresses and bytes, in passes until nothing moves.

The image is laid out as

    base            Multiboot v1 header (32 bytes, written by asm.image)
    text_start      .text  (base + 32)
    data_start      .data  (.text end rounded up to 16)
    bss_start       .bss   (.data end rounded up to 16; not stored)

Statements keep their source order within a section.  Each pass walks
every statement once, giving labels their address and constants their
value; a symbol used before it is defined takes its value from the previous
pass (or, in the first pass, the current address as a stand-in).  The
passes stop when a pass used no stand-in and no size or symbol value
changed; only errors from that last pass are reported, so a forward
reference is never mistaken for a mistake.

Sizes are checked before any bytes are made: a statement may not take the
image past 4 GiB, nor make it store more than MAX_IMAGE bytes (`.space`,
`.fill`, `.org`, `.align`), and `.bss` reservations cost nothing.  A
constant that depends on itself (`.equ A, B` / `.equ B, A`) is an error,
not a value found by the passes' stand-ins.
"""

from __future__ import annotations

from . import expr as X
from .encoder import Encoder, EncodeError
from .errors import AsmError, suggest
from .operands import MAX_IMAGE
from .source import LOCAL_NAME, Reader, Stmt

HEADER_SIZE = 32
ADDRESS_LIMIT = 1 << 32          # the image must end at or below 4 GiB
MAX_FILL_SIZE = 8                # .fill's size, as GAS
MAX_PASSES = 40
SECTION_ORDER = ("text", "data", "bss")

_encoder: Encoder | None = None


def encoder() -> Encoder:
    """The process's one Encoder (one Ks object per mode, shared cache)."""
    global _encoder
    if _encoder is None:
        _encoder = Encoder()
    return _encoder


def align_up(v: int, a: int) -> int:
    return (v + a - 1) // a * a


class Layout:
    """The result of assembling: statements with addresses, symbol values."""

    def __init__(self, reader: Reader, base: int):
        self.reader = reader
        self.base = base
        self.enc = encoder()
        self.stmts = {s: [st for st in reader.stmts if st.section == s] for s in SECTION_ORDER}
        self.all_names = (set(reader.defined) | set(reader.defines)
                          | {st.name for st in reader.stmts if st.kind == "label"})
        self.vals: dict[str, int] = {}
        self.stand_in = False
        self.here = 0
        self.bounds: dict[str, tuple[int, int]] = {}
        self.passes = 0
        self.prepare()

    # ----- once -------------------------------------------------------------
    def prepare(self):
        check_constant_cycles(self.reader.stmts)
        for s in self.reader.stmts:
            if s.kind != "insn":
                continue
            try:
                s.extra["insn"] = self.enc.prepare(s.text, s.mode)
            except EncodeError as e:
                raise s.loc.error(str(e), s.col + (e.offset or 0))
            except X.ExprError as e:
                raise s.loc.error(str(e), s.col)
            ins = s.extra["insn"]
            for name, off in ins.refs:
                if name not in self.all_names:
                    col = s.col + ins.ops_off + off
                    local = LOCAL_NAME.match(name)
                    if local:
                        n, k = local.groups()
                        where = "before" if k == "none" else "after"
                        raise s.loc.error(f"no local label '{n}:' {where} this point", col)
                    raise s.loc.error(f"undefined symbol '{name}'" + suggest(
                        name, [k for k in self.all_names if not k.startswith("@")]), col)
            for e in ins.exprs:
                for name in e.names:
                    if name not in self.all_names:
                        raise s.loc.error(f"undefined symbol '{name}'" + suggest(
                            name, [k for k in self.all_names if not k.startswith("@")]),
                            s.col + ins.ops_off + max(0, ins.ops.find(name)))

    def lookup(self, name: str) -> int:
        v = self.vals.get(name)
        if v is None:
            if name in self.all_names:
                self.stand_in = True
                return self.here
            raise KeyError(name)
        return v

    # ----- passes ---------------------------------------------------------------
    def run(self):
        for defn, value in self.reader.defines.items():
            self.vals[defn] = value
        previous = None
        for n in range(1, MAX_PASSES + 1):
            self.passes = n
            self.stand_in = False
            changed, error = self.one_pass()
            snapshot = dict(self.vals)
            if not self.stand_in and not changed and snapshot == previous:
                if error is not None:
                    raise error
                return
            previous = snapshot
        raise AsmError(f"layout did not settle after {MAX_PASSES} passes "
                       "(a size that depends on itself?)", self.reader.stmts[0].loc.file)

    def one_pass(self):
        changed, error = False, None
        addr = self.base + HEADER_SIZE
        for sect in SECTION_ORDER:
            if sect != "text":
                addr = align_up(addr, 16)
            start = self.section_start = addr
            for s in self.stmts[sect]:
                s.addr = addr
                self.here = addr
                try:
                    size = self.emit(s, addr)
                except AsmError as e:
                    error = error or e
                    size = s.size
                if size != s.size:
                    changed = True
                    s.size = size
                addr += size
            self.bounds[sect] = (start, addr)
        return changed, error

    def emit(self, s: Stmt, addr: int) -> int:
        k = s.kind
        if k == "label":
            self.vals[s.name] = addr
            return 0
        if k == "const":
            e, col = s.exprs[0]
            self.vals[s.name] = s.extra["value"] = self.value(s, e, col, addr)
            return 0
        if k == "insn":
            self.no_bss(s)
            try:
                self.enc.where = f"{s.loc.file}:{s.loc.line}:{s.col}"
                s.out = self.enc.encode(s.extra["insn"], self.lookup, addr, s.mode)
            except EncodeError as e:
                ins = s.extra["insn"]
                off = ins.mn_off if e.where == "mnemonic" else ins.ops_off
                raise s.loc.error(str(e), s.col + off)
            except X.ExprError as e:
                raise s.loc.error(str(e), s.col + s.extra["insn"].ops_off + e.offset)
            return len(s.out)
        if k == "data":
            self.no_bss(s)
            out = bytearray()
            w = s.width
            lo, hi = -(1 << (8 * w - 1)), 1 << (8 * w)
            for e, col in s.exprs:
                v = self.value(s, e, col, addr + len(out))
                if not lo <= v < hi and not self.stand_in:
                    raise s.loc.error(f"value {v:#x} does not fit in {w} byte{'s' * (w > 1)}", col)
                out += (v & (hi - 1)).to_bytes(w, "little")
            s.out = bytes(out)
            return len(out)
        if k == "bytes":
            self.no_bss(s)
            s.out = s.data
            return len(s.data)
        if k == "align":
            (e, col), rest = s.exprs[0], s.exprs[1:]
            n = self.value(s, e, col, addr)
            if s.extra.get("p2"):
                if not 0 <= n < 32:
                    raise s.loc.error(f".p2align {n} is out of range (0..31)", col)
                n = 1 << n
            if n <= 0 or n & (n - 1):
                raise s.loc.error(f"alignment {n} is not a power of two", col)
            pad = (-addr) % n
            fill = self.value(s, *rest[0], addr) if rest and rest[0][0].text.strip() else (
                0x90 if s.section == "text" else 0)
            if len(rest) > 1 and pad > self.value(s, *rest[1], addr):
                pad = 0
            self.check_size(s, addr, pad, col)
            s.out = bytes([fill & 0xFF]) * pad if s.section != "bss" else b""
            return pad
        if k == "fill":
            count = self.value(s, *s.exprs[0], addr)
            size = self.value(s, *s.exprs[1], addr) if len(s.exprs) > 1 else 1
            val = self.value(s, *s.exprs[2], addr) if len(s.exprs) > 2 else 0
            if count < 0 or size < 0:
                raise s.loc.error(".fill count and size must not be negative", s.exprs[0][1])
            if size > MAX_FILL_SIZE:
                raise s.loc.error(f".fill size {size} is larger than {MAX_FILL_SIZE}", s.exprs[1][1])
            self.check_size(s, addr, count * size, s.exprs[0][1])
            # GAS: the low 4 bytes are the value, the high 4 bytes zero
            unit = (val & 0xFFFFFFFF).to_bytes(4, "little")[:size].ljust(size, b"\0")
            if s.section == "bss":
                self.zero_bss(s, unit if count else b"")
                s.out = b""
            else:
                s.out = unit * count
            return count * size
        if k == "space":
            n = self.value(s, *s.exprs[0], addr)
            fill = self.value(s, *s.exprs[1], addr) if len(s.exprs) > 1 else 0
            if n < 0:
                raise s.loc.error(f"{s.text.split()[0]} size {n} is negative", s.exprs[0][1])
            self.check_size(s, addr, n, s.exprs[0][1])
            if s.section == "bss":
                self.zero_bss(s, bytes([fill & 0xFF]) if n else b"")
                s.out = b""
            else:
                s.out = bytes([fill & 0xFF]) * n
            return n
        if k == "org":
            target = self.section_start + self.value(s, *s.exprs[0], addr)
            fill = self.value(s, *s.exprs[1], addr) if len(s.exprs) > 1 else 0
            if target < addr and not self.stand_in:
                raise s.loc.error(f".org {target - self.section_start:#x} would move backwards "
                                  f"(already at offset {addr - self.section_start:#x} of .{s.section})",
                                  s.exprs[0][1])
            n = max(0, target - addr)
            self.check_size(s, addr, n, s.exprs[0][1])
            s.out = bytes([fill & 0xFF]) * n if s.section != "bss" else b""
            return n
        raise s.loc.error(f"internal: unknown statement kind {k}", s.col)

    def value(self, s: Stmt, e, col: int, here: int) -> int:
        try:
            return e.eval(self.lookup, here)
        except X.ExprError as err:
            raise s.loc.error(str(err), col + err.offset)
        except KeyError as err:
            raise s.loc.error(f"undefined symbol {err}", col)

    def check_size(self, s: Stmt, addr: int, n: int, col: int):
        """``n`` bytes at ``addr`` must end below 4 GiB and, stored, fit MAX_IMAGE."""
        if addr + n > ADDRESS_LIMIT:
            raise s.loc.error(f"{n:#x} bytes at {addr:#x} would end beyond 4 GiB", col)
        stored = addr + n - (self.base + HEADER_SIZE)
        if s.section != "bss" and stored > MAX_IMAGE:
            raise s.loc.error(f"{n:#x} bytes here would make the image store more than "
                              f"{MAX_IMAGE >> 20} MiB (put large reservations in .bss)", col)

    @staticmethod
    def no_bss(s: Stmt):
        if s.section == "bss":
            raise s.loc.error(".bss holds no initialised data (use .space/.fill/.align there, "
                              "or put this in .data)", s.col)

    @staticmethod
    def zero_bss(s: Stmt, out: bytes):
        if any(out):
            raise s.loc.error(".bss can only be filled with zeros", s.col)

    # ----- after convergence --------------------------------------------------
    def roundtrip(self):
        """Every instruction must decode (capstone) to the length emitted."""
        for s in self.stmts["text"] + self.stmts["data"]:
            if s.kind != "insn":
                continue
            n = self.enc.roundtrip_length(s.out, s.addr, s.mode)
            if n != len(s.out):
                raise s.loc.error(
                    f"round-trip check failed: emitted {len(s.out)} bytes ({s.out.hex(' ')}) but "
                    f"capstone decodes {n} at {s.addr:#x}", s.col)
            ins = s.extra["insn"]
            problem = self.enc.check_immediates(ins, s.out, s.addr, s.mode, self.lookup)
            if problem:
                raise s.loc.error(problem, s.col + ins.ops_off)


def check_constant_cycles(stmts):
    """A constant defined once whose value depends on itself is an error.

    (The passes would otherwise settle on the stand-in value: `.equ A, B` /
    `.equ B, A` gave A = B = the address of the first statement.)  Names
    defined more than once (`.set X, X + 1`) refer to the earlier value and
    are left out.  Iterative, so a long chain of constants is no problem."""
    defs: dict = {}
    for st in stmts:
        if st.kind == "const":
            defs.setdefault(st.name, []).append(st)
    single = {name: sts[0] for name, sts in defs.items() if len(sts) == 1}
    deps = {name: sorted(n for n in st.exprs[0][0].names if n in single)
            for name, st in single.items()}
    done: set = set()
    for root in single:
        if root in done:
            continue
        path, on_path, todo = [root], {root}, [iter(deps[root])]
        while todo:
            used = next(todo[-1], None)
            if used is None:
                done.add(path[-1])
                on_path.discard(path.pop())
                todo.pop()
            elif used in on_path:
                chain = path[path.index(used):] + [used]
                first = single[chain[0]]
                raise first.loc.error("constant defined in terms of itself: "
                                      + " -> ".join(chain), first.col)
            elif used not in done:
                path.append(used)
                on_path.add(used)
                todo.append(iter(deps[used]))
