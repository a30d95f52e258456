"""One x86 instruction statement -> bytes, through keystone, quirks hidden.

prepare(stmt) parses the statement once (prefix, mnemonic, operands, the
symbols it names); encode(stmt, lookup, addr) builds the operand text with
every symbol replaced by its value and asks keystone (Intel syntax, never
AT&T) for the bytes, caching by (text, address).  The keystone 0.9.2
quirks (see ../shared/KEYSTONE.md) are fixed here, each so the result is
the encoding GAS gives in 32-bit code (Intel SDM vol. 2):

  lgdt/lidt/sgdt/sidt m    keystone adds 0x66 (a 24-bit base): dropped -> 0F 01 /2 /3 /0 /1
  jmp/call SEL:label       keystone fails: emitted as EA/9A cd(offset) cw(selector)
  push label               keystone fails: emitted as 68 id
  mov Sreg, r16 / m16      keystone adds 0x66: dropped -> 8E /r
  push/pop ds|es|ss|cs     keystone adds 0x66 (a 16-bit push!): dropped -> 1E 1F 06 07 16 17 0E
  iret pushf popf          keystone gives the 16-bit forms (66 CF ...): iretd pushfd popfd
  lret retn xlat movsd     spelled retf ret xlatb and A5 (keystone rejects them)
  jmp short X              keystone rejects 'short': dropped, the result must be 2 bytes
  jmp|call far [m], fword ptr [m]   -> ljmp/lcall [m] (FF /5, FF /3)
  offset X                 'offset' dropped (keystone rejects it; `mov eax, X` is the address)
  [ ... without ]          keystone silently accepts it: an error here
  numbers                  a new engine's radix is whatever the heap held (`16` was read
                           as 0x16 in one process out of many) and ks_option sets it to
                           16: it is set to 16 and every number is written 0x...

Every encoding is decoded again with capstone: the length must match
(roundtrip_length), plain-expression operands must come back with their
value (keystone truncates `mov al, 0x100` to B0 00) and memory operands with
the registers written (keystone turns `[ebx+esp]` into [ebx] and `[esp*1]`
into [0]) -- check_immediates.  The constant part of a memory operand
(`[ebx + 1/0]`: keystone silently makes it [ebx]) is evaluated by asm.expr
every pass, so a division by zero is an error at its column, and the
displacement capstone reads back must equal it.

Nothing reaches keystone that asm/guard.py has not checked (keystone loops
for ever on some malformed statements), and each call runs under guard's
watchdog as a backstop.
"""

from __future__ import annotations

import re

from capstone import CS_ARCH_X86, CS_MODE_16, CS_MODE_32, Cs
from capstone.x86 import X86_OP_IMM, X86_OP_MEM
from keystone import (KS_ARCH_X86, KS_ERR_ASM_MNEMONICFAIL, KS_MODE_16, KS_MODE_32,
                      KS_OPT_SYNTAX_INTEL, Ks, KsError)

from . import expr as X
from . import guard
from .operands import split_top

REGISTERS = set("""
al ah ax eax bl bh bx ebx cl ch cx ecx dl dh dx edx si esi di edi sp esp bp ebp
sil dil spl bpl cs ds es fs gs ss ip eip flags eflags
cr0 cr1 cr2 cr3 cr4 cr5 cr6 cr7 cr8 dr0 dr1 dr2 dr3 dr4 dr5 dr6 dr7 tr3 tr4 tr5 tr6 tr7
st st0 st1 st2 st3 st4 st5 st6 st7 mm0 mm1 mm2 mm3 mm4 mm5 mm6 mm7
xmm0 xmm1 xmm2 xmm3 xmm4 xmm5 xmm6 xmm7 ymm0 ymm1 ymm2 ymm3 ymm4 ymm5 ymm6 ymm7
""".split())
KEYWORDS = set("byte word dword fword qword tbyte tword oword xmmword ymmword ptr near far short".split())
PREFIXES = {"rep", "repe", "repz", "repne", "repnz", "lock", "data16", "addr16"}
SEGREGS = {"cs", "ds", "es", "fs", "gs", "ss"}
RELATIVE = {"call", "loop", "loope", "loopz", "loopne", "loopnz", "jecxz", "jcxz", "xbegin"}
ALIASES32 = {"iret": "iretd", "pushf": "pushfd", "popf": "popfd", "lret": "retf",
             "retn": "ret", "xlat": "xlatb"}
FIXED32 = {"movsd": b"\xa5"}          # string movsd without operands (keystone: SSE)
PREFIX_BYTES = {"rep": 0xF3, "repe": 0xF3, "repz": 0xF3, "repne": 0xF2, "repnz": 0xF2,
                "lock": 0xF0, "data16": 0x66, "addr16": 0x67}
STRIP66 = {"lgdt", "lidt", "sgdt", "sidt"}
CACHE_LIMIT = 200_000
ADDRESS_REGS = set("eax ebx ecx edx esi edi esp ebp ax bx cx dx si di sp bp".split())
LEGACY_PREFIX = {0x26, 0x2E, 0x36, 0x3E, 0x64, 0x65, 0x66, 0x67, 0xF0, 0xF2, 0xF3}

TOKEN = re.compile(r"""'(?:\\x[0-9a-fA-F]{1,2}|\\[0-7]{1,3}|\\.|[^\\'])'|\d[\w]*|[A-Za-z_.@][\w.@]*|\$""")
FAR = re.compile(r"^\s*(?:far\s+)?([^\[\]:]+?)\s*:\s*([^\[\]:]+?)\s*$", re.I)


def _split_operands(ops: str):
    return split_top(ops, ",")


SIMPLE_REG_TERM = re.compile(r"([a-z]{2,3})(?:\s*\*\s*(\d+))?\Z|(\d+)\s*\*\s*([a-z]{2,3})\Z", re.I)


def _memory_terms(inside: str, base: int):
    """The constant terms of a memory operand: [(sign, Expr, offset)], or None.

    ``inside`` is the text between the brackets, ``base`` its offset in the
    operands.  Terms are split at top-level + and -; a term naming a
    register must be `reg`, `reg*N` or `N*reg` added (else None: no check).
    A term that asm.expr cannot parse also gives None, unless the mistake is
    certain (a bad number), which is raised."""
    if ":" in inside or "[" in inside:
        return None
    pieces, depth, start, sign = [], 0, 0, 1
    for i, c in enumerate(inside + "+"):
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c in "+-" and depth == 0:
            term = inside[start:i]
            if term.strip() and term.rstrip()[-1] not in "*/%<>&|^~!(":
                pieces.append((sign, term, start))
                sign, start = (1 if c == "+" else -1), i + 1
            elif not term.strip():
                sign, start = sign * (1 if c == "+" else -1), i + 1
    out = []
    for sign, term, start in pieces:
        lead = len(term) - len(term.lstrip())
        text = term.strip()
        words = {m.group().lower() for m in TOKEN.finditer(text)}
        if words & REGISTERS:
            if sign < 0 or not SIMPLE_REG_TERM.match(text):
                return None
            continue
        try:
            out.append((sign, X.parse(text), base + start + lead))
        except X.ExprError as e:
            if e.certain:
                raise X.ExprError(str(e), base + start + lead + e.offset, certain=True) from None
            return None
    return out


def _template(ops: str, base: int):
    """Text pieces of one operand, with ("sym", name, off) / ("here",) holes."""
    template, refs, last = [], [], 0
    for m in TOKEN.finditer(ops):
        tok = m.group()
        c = tok[0]
        if c == "'":
            template.append(ops[last:m.start()])
            template.append(fmt(X.char_value(tok, base + m.start())))
        elif c.isdigit():
            # every number reaches keystone as 0x...: its radix is fixed at 16 (Encoder.ks)
            template.append(ops[last:m.start()])
            template.append(fmt(X.parse_number(tok, base + m.start())))
        else:
            low_tok = tok.lower()
            if low_tok in REGISTERS or low_tok in KEYWORDS:
                continue
            template.append(ops[last:m.start()])
            if low_tok == "offset":
                template.append("")
            elif tok in (".", "$"):
                template.append(("here",))
            else:
                template.append(("sym", tok, base + m.start()))
                refs.append((tok, base + m.start()))
        last = m.end()
    template.append(ops[last:])
    return template, refs


class EncodeError(Exception):
    """message; .where is 'mnemonic' or 'operands' (where the caret goes)."""

    def __init__(self, message: str, where: str = "operands", offset: int | None = None):
        super().__init__(message)
        self.where = where
        self.offset = offset      # column offset in the statement, when known


class Insn:
    """A parsed instruction statement (built once)."""

    __slots__ = ("prefix", "mnemonic", "ops", "ops_off", "mn_off", "template", "refs",
                 "kind", "exprs", "relative", "short", "fixed", "imm_checks", "mem_checks",
                 "disp_checks")


def fmt(v: int) -> str:
    return f"0x{v:x}" if v >= 0 else f"(-0x{-v:x})"


class Encoder:
    """keystone + capstone, one of each per mode, created on first use."""

    def __init__(self):
        self._ks = {}
        self._cs = {}
        self.cache: dict = {}
        self.calls = 0
        self.watchdog = guard.Watchdog()
        self.where = ""          # "file:line:col" of the statement being encoded (watchdog)

    def ks(self, mode: int) -> Ks:
        if mode not in self._ks:
            ks = Ks(KS_ARCH_X86, KS_MODE_32 if mode == 32 else KS_MODE_16)
            # keystone 0.9.2 never initialises the radix of a new engine (what
            # the heap held decides: a run in CI read `[esi + 16]` as 0x16) and
            # every ks_option sets it to 16.  Setting the syntax makes it 16 in
            # every process; _template writes every number as 0x...
            ks.syntax = KS_OPT_SYNTAX_INTEL
            self._ks[mode] = ks
        return self._ks[mode]

    def cs(self, mode: int) -> Cs:
        if mode not in self._cs:
            self._cs[mode] = Cs(CS_ARCH_X86, CS_MODE_32 if mode == 32 else CS_MODE_16)
        return self._cs[mode]

    # ----- parsing (once per statement) ------------------------------------
    def prepare(self, text: str, mode: int) -> Insn:
        ins = Insn()
        words = re.match(r"\s*(\S+)", text)
        pos = words.end()
        mnemonic = words.group(1).lower()
        ins.mn_off = words.start(1)
        prefix = ""
        while mnemonic in PREFIXES:
            m = re.match(r"\s*(\S+)", text[pos:])
            if not m:
                break
            prefix += mnemonic + " "
            ins.mn_off = pos + m.start(1)
            mnemonic = m.group(1).lower()
            pos += m.end()
        ops = text[pos:]
        lead = len(ops) - len(ops.lstrip())
        ins.ops_off = pos + lead
        ops = ops.strip()
        ins.prefix, ins.mnemonic, ins.ops = prefix, mnemonic, ops
        ins.kind, ins.exprs, ins.short, ins.fixed = "ks", [], False, None
        problem = guard.check_statement(mnemonic, ops, ins.ops_off)
        if problem is not None:
            message, where, offset = problem
            raise EncodeError(message, where, ins.mn_off if offset is None else offset)
        if ops.count("[") != ops.count("]"):
            raise EncodeError("unbalanced brackets in operand", offset=ins.ops_off)
        if ops.count("(") != ops.count(")"):
            raise EncodeError("unbalanced parentheses in operand", offset=ins.ops_off)
        low = ops.lower()
        if mode == 32:
            mnemonic = ALIASES32.get(mnemonic, mnemonic)
            if mnemonic in FIXED32 and not ops:
                ins.fixed = bytes(PREFIX_BYTES[p] for p in prefix.split()) + FIXED32[mnemonic]
        ins.mnemonic = mnemonic
        if mnemonic in ("jmp", "call", "ljmp", "lcall") and "[" in ops:
            m = re.match(r"(far\s+|fword\s+ptr\s+|far\s+fword\s+ptr\s+)(.*)$", ops, re.I)
            if m or mnemonic in ("ljmp", "lcall"):
                ins.mnemonic = "ljmp" if mnemonic in ("jmp", "ljmp") else "lcall"
                ops = m.group(2) if m else ops
                ins.ops = ops
        elif mnemonic in ("jmp", "call", "ljmp", "lcall") and ":" in ops:
            m = FAR.match(ops)
            if m and m.group(1).strip().lower() not in SEGREGS:
                ins.kind = "far"
                ins.exprs = [X.parse(m.group(1)), X.parse(m.group(2))]
                ins.mnemonic = "jmp" if mnemonic in ("jmp", "ljmp") else "call"
        if re.match(r"short\s", low) and (mnemonic == "jmp" or mnemonic.startswith("j")):
            ins.short = True
            rest = ops[5:]
            ins.ops_off += len(ops) - len(rest.lstrip())
            ops = rest.lstrip()
            ins.ops = ops
        ins.relative = mnemonic.startswith("j") or mnemonic in RELATIVE
        try:
            self._operands(ins, ops, mnemonic)
        except X.ExprError as e:
            raise EncodeError(str(e), offset=ins.ops_off + e.offset) from None
        return ins

    def _operands(self, ins: Insn, ops: str, mnemonic: str) -> None:
        """Templates, symbol references and the read-back checks of the operands."""
        # Operands that are plain expressions are evaluated here (C precedence,
        # every operator of asm.expr) and handed to keystone as numbers; the
        # others keep their text with each symbol replaced by its value.
        pure = dict(self._immediates(ops)) if ins.kind == "ks" else {}
        template, refs = [], []
        for i, (text, off) in enumerate(_split_operands(ops) if ops else []):
            if i:
                template.append(", ")
            if i in pure:
                template.append(("expr", pure[i]))
                refs += [(n, off + max(0, text.find(n))) for n in pure[i].names]
            else:
                t, r = _template(text, off)
                template += t
                refs += r
        ins.template = [t for t in template if t != ""]
        ins.refs = refs
        ins.imm_checks = list(pure.items()) if not ins.relative else []
        ins.mem_checks, ins.disp_checks = [], []
        if ins.kind == "ks" and "[" in ops:
            for i, (text, off) in enumerate(_split_operands(ops)):
                inside = text[text.find("[") + 1:text.rfind("]")] if "[" in text else None
                if inside is not None:
                    regs = {m.group().lower() for m in TOKEN.finditer(inside)} & ADDRESS_REGS
                    ins.mem_checks.append((i, regs))
                    terms = _memory_terms(inside, off + text.find("[") + 1)
                    if terms is not None:
                        ins.disp_checks.append((i, terms))
        if ins.kind == "ks" and mnemonic == "push" and 0 in pure and (pure[0].names or pure[0].uses_here):
            ins.exprs = [pure[0]]
            ins.kind = "push"

    @staticmethod
    def _immediates(ops: str):
        """[(operand index, Expr)] for operands that are plain expressions.

        keystone truncates an immediate that does not fit (`mov al, 0x100`
        gives B0 00); these are checked against capstone's reading."""
        if not ops:
            return []
        out = []
        for i, (text, _col) in enumerate(_split_operands(ops)):
            if not text or "[" in text or ":" in text:
                continue
            words = [m.group().lower() for m in TOKEN.finditer(text) if m.group()[0] not in "'0123456789"]
            if any(w in REGISTERS or w in KEYWORDS for w in words):
                continue
            try:
                out.append((i, X.parse(re.sub(r"(?i)\boffset\b", " ", text))))
            except X.ExprError as e:
                if e.certain:                  # a bad number whatever the syntax
                    raise X.ExprError(str(e), _col + e.offset, certain=True) from None
                continue
        return out

    # ----- encoding (every pass) ----------------------------------------------
    def encode(self, ins: Insn, lookup, addr: int, mode: int) -> bytes:
        if ins.fixed is not None:
            return ins.fixed
        if ins.kind == "far":
            sel = ins.exprs[0].eval(lookup, addr)
            off = ins.exprs[1].eval(lookup, addr)
            opcode = b"\xea" if ins.mnemonic == "jmp" else b"\x9a"
            if not 0 <= sel <= 0xFFFF:
                raise EncodeError(f"segment selector {sel:#x} does not fit in 16 bits")
            if not 0 <= off < 1 << 32:
                raise EncodeError(f"far target {off:#x} does not fit in 32 bits")
            if mode == 16 and off > 0xFFFF:
                # From real mode into a 32-bit segment (an AP trampoline):
                # operand-size prefix, ptr16:32 (SDM JMP: 66 EA cd cw in 16-bit code).
                opcode = b"\x66" + opcode
                width = 4
            else:
                width = 4 if mode == 32 else 2
            return opcode + off.to_bytes(width, "little") + sel.to_bytes(2, "little")
        if ins.kind == "push":
            v = ins.exprs[0].eval(lookup, addr)
            width = 4 if mode == 32 else 2
            if not -(1 << (8 * width - 1)) <= v < (1 << 8 * width):
                raise EncodeError(f"value {v:#x} does not fit in {8 * width} bits")
            return b"\x68" + (v & (1 << 8 * width) - 1).to_bytes(width, "little")
        for _index, terms in ins.disp_checks:
            self.displacement(terms, lookup, addr)     # a division by zero is an error here
        parts = []
        for t in ins.template:
            if type(t) is str:
                parts.append(t)
            elif t[0] == "expr":
                v = t[1].eval(lookup, addr)
                if not -(1 << 31) <= v < (1 << 32):
                    raise EncodeError(f"value {v:#x} does not fit in 32 bits")
                parts.append(fmt(v))
            elif t[0] == "here":
                parts.append(fmt(addr))
            else:
                parts.append(fmt(lookup(t[1])))
        ops = "".join(parts)
        text = f"{ins.prefix}{ins.mnemonic} {ops}" if ops else ins.prefix + ins.mnemonic
        key = (text, addr if ins.relative else 0, mode)
        out = self.cache.get(key)
        if out is None:
            out = self._keystone(text, addr, mode, ins)
            if len(self.cache) >= CACHE_LIMIT:     # many images in one process
                self.cache.clear()
            self.cache[key] = out
        if ins.short and len(out) != 2:
            raise EncodeError("short jump target is out of range (-128..127 bytes)")
        return out

    @staticmethod
    def displacement(terms, lookup, addr: int) -> int:
        """The sum of a memory operand's constant terms (ExprError at its term)."""
        total = 0
        for sign, e, off in terms:
            try:
                total += sign * e.eval(lookup, addr)
            except X.ExprError as err:
                raise X.ExprError(str(err), off + err.offset) from None
        return total

    def _keystone(self, text, addr, mode, ins) -> bytes:
        text = text.replace("\t", " ")          # keystone reads both alike; the gate wants one
        if not guard.keystone_text_ok(text):
            # check_statement passed it, so this is the assembler's own mistake
            raise EncodeError(f"internal: not handing keystone the unchecked text {text!r}",
                              "mnemonic")
        self.calls += 1
        ks = self.ks(mode)
        try:
            data, _count = self.watchdog.run(lambda: ks.asm(text, addr, as_bytes=True),
                                             self.where or text)
        except KsError as e:
            if e.errno == KS_ERR_ASM_MNEMONICFAIL:
                raise EncodeError(f"unknown mnemonic '{ins.mnemonic}'", "mnemonic")
            msg = str(e).split(" (KS_ERR")[0]
            raise EncodeError(f"{msg.lower()} for '{ins.mnemonic}'" + (f": {ins.ops}" if ins.ops else ""))
        if not data:
            raise EncodeError(f"keystone produced no code for '{text}'", "mnemonic")
        if mode == 32 and data[0] in LEGACY_PREFIX and self._strip66(ins):
            i = 0
            while i < len(data) and data[i] in LEGACY_PREFIX:
                i += 1
            data = bytes(b for b in data[:i] if b != 0x66) + data[i:]
        return data

    @staticmethod
    def _strip66(ins) -> bool:
        mn = ins.mnemonic
        if mn in STRIP66:
            return True
        low = ins.ops.lower().replace(" ", "")
        if mn == "mov":
            first = low.split(",")[0]
            return first in SEGREGS
        if mn in ("push", "pop"):
            return low in ("ds", "es", "ss", "cs")
        return False

    def check_immediates(self, ins: Insn, data: bytes, addr: int, mode: int, lookup) -> str | None:
        """None if every plain-expression operand was encoded with its value
        and every memory operand uses the registers written (keystone drops
        ESP used as an index: `[ebx+esp]` becomes [ebx], `[esp*1]` [0])."""
        if not ins.imm_checks and not ins.mem_checks and not ins.disp_checks:
            return None
        key = ("detail", mode)
        if key not in self._cs:
            cs = Cs(CS_ARCH_X86, CS_MODE_32 if mode == 32 else CS_MODE_16)
            cs.detail = True
            self._cs[key] = cs
        decoded = next(self._cs[key].disasm(data, addr, 1), None)
        if decoded is None:
            return None
        operands = decoded.operands
        if len(operands) != len(_split_operands(ins.ops)):
            return None
        for index, regs in ins.mem_checks:
            op = operands[index]
            if op.type != X86_OP_MEM:
                continue
            used = {decoded.reg_name(r) for r in (op.mem.base, op.mem.index) if r}
            if used != regs:
                hint = " (esp cannot be an index register: write it first, unscaled)" \
                    if "esp" in regs else ""
                return (f"keystone encoded the memory operand with {sorted(used) or 'no'} registers "
                        f"instead of {sorted(regs)}{hint}")
        for index, terms in ins.disp_checks:
            op = operands[index]
            if op.type != X86_OP_MEM:
                continue
            want = self.displacement(terms, lookup, addr)
            if (op.mem.disp - want) % (1 << 32) and (mode == 32 or (op.mem.disp - want) % (1 << 16)):
                return (f"keystone encoded the displacement {fmt(op.mem.disp)} instead of "
                        f"{fmt(want)}")
        for index, e in ins.imm_checks:
            op = operands[index]
            if op.type != X86_OP_IMM:
                continue
            try:
                v = e.eval(lookup, addr)
            except (X.ExprError, KeyError):
                continue
            bits = 8 * op.size
            if not -(1 << (bits - 1)) <= v < (1 << bits):
                return f"value {v:#x} does not fit in the {bits}-bit immediate of '{ins.mnemonic}'"
            if (op.imm - v) % (1 << bits):
                return f"keystone encoded {op.imm:#x} for {v:#x} in '{ins.mnemonic}'"
        return None

    def roundtrip_length(self, data: bytes, addr: int, mode: int) -> int:
        """Length capstone decodes for the first instruction of data (0: none)."""
        for insn in self.cs(mode).disasm(data, addr, 1):
            return insn.size
        return 0
