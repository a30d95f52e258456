"""Find, with libcapstone, the instructions the observer hooks by address.

Contract
--------
``scan_code(code, base, starts=())`` disassembles ``code`` (loaded at
``base``) by linear sweep, resynchronising one byte at a time over bytes
that do not decode, and additionally from every address in ``starts`` (the
assembler's line table, which knows exactly where instructions begin).  It
returns a ``CodeMap``:

- ``iret``: addresses of ``iret``/``iretd`` instructions (the observer hooks
  the instruction itself and reads the frame it is about to pop);
- ``esp_loads``: {address of an instruction that loads ESP from somewhere
  other than ESP itself (``mov esp, r/m``, ``xchg`` with ESP, ``pop esp``,
  ``lss``, ``lea esp, [x]`` with x not ESP-relative) : the address of the
  instruction after it}.  The observer hooks the *following* address, where
  the new ESP is visible; a hook there that finds the same owner emits
  nothing, so a false hit costs one callback and no event;
- ``returns``: the set of addresses right after a ``call``, used to tell
  return addresses from other words when a backtrace scans a stack.

A linear sweep can decode data as code; a false site is only ever hooked,
never patched, and an address that is not an instruction start is never
executed as one, so the only cost of a false site is nothing.

Speed: the sweep decodes without capstone's operand detail
(emulator/disasm.py: the library's ``disasm_lite``, ~10x cheaper per
instruction, without importing the capstone package) and classifies from
the instruction's text (``_classify_text``): capstone's IRET and CALL
groups by mnemonic (``IRET_GROUP``, ``CALL_GROUP``: every mnemonic the
32-bit decoder gives, with its prefixes, was checked against the groups),
the ESP loads by their operands; and it turns into text only the
instructions whose text names ``call``, ``ret``, ``sys``, ``sp`` or ``lss``
(``Disasm.find``: a search in C over capstone's output), a superset of the
sites (``_maybe_site``).  ``scan_code_full`` classifies every
instruction from capstone's operand detail (the package, imported there);
the two give the same ``CodeMap`` (tests/emulator/observe/test_scan.py, on
every kernel image and on random bytes).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from emulator.disasm import Disasm

# capstone's X86_GRP_IRET and X86_GRP_CALL, by the mnemonic's last word
# (prefixes print first: "bnd call", "notrack call")
IRET_GROUP = frozenset({"iret", "iretd", "sysexit", "sysret"})
CALL_GROUP = frozenset({"call", "lcall"})


@dataclass
class CodeMap:
    iret: set = field(default_factory=set)
    esp_loads: dict = field(default_factory=dict)
    returns: set = field(default_factory=set)
    insns: int = 0


def _loads_esp(insn) -> bool:
    from capstone import x86_const as X   # noqa: PLC0415 (the reference only: 80 ms to import)
    _ESP, _SP = X.X86_REG_ESP, X.X86_REG_SP
    m = insn.mnemonic
    ops = insn.operands
    if m == "pop":
        return len(ops) == 1 and ops[0].type == X.X86_OP_REG and ops[0].reg == _ESP
    if m == "lss":
        return True
    if m == "xchg":
        return any(o.type == X.X86_OP_REG and o.reg in (_ESP, _SP) for o in ops)
    if m in ("mov", "lea") and len(ops) == 2:
        dst, src = ops
        if not (dst.type == X.X86_OP_REG and dst.reg == _ESP):
            return False
        if src.type == X.X86_OP_REG:
            return src.reg != _ESP
        if src.type == X.X86_OP_MEM:
            # mov esp, [esp+4] is a load; lea esp, [esp+8] only adjusts
            return m == "mov" or src.mem.base != _ESP
        return True     # mov esp, imm
    return False


def _classify(insn, cm: CodeMap) -> None:
    from capstone import x86_const as X   # noqa: PLC0415 (the reference only)
    grp = insn.groups
    if X.X86_GRP_IRET in grp or insn.mnemonic in ("iret", "iretd"):
        cm.iret.add(insn.address)
    elif X.X86_GRP_CALL in grp:
        cm.returns.add(insn.address + insn.size)
    elif _loads_esp(insn):
        cm.esp_loads[insn.address] = insn.address + insn.size


def _loads_esp_text(m: str, op_str: str) -> bool:
    """``_loads_esp`` from the instruction's text (Intel syntax: operands
    separated by ", ", a memory operand in brackets with its base first)."""
    ops = op_str.split(", ") if op_str else []
    if m == "pop":
        return ops == ["esp"]
    if m == "lss":
        return True
    if m == "xchg":
        return any(o in ("esp", "sp") for o in ops)
    if m in ("mov", "lea") and len(ops) == 2:
        dst, src = ops
        if dst != "esp":
            return False
        if "[" in src:
            inner = src[src.index("[") + 1:]
            return m == "mov" or not (inner.startswith("esp") and inner[3:4] in ("]", " ", "+", "-"))
        return src != "esp"     # a register other than ESP, or an immediate
    return False


def _classify_text(address: int, size: int, mnemonic: str, op_str: str, cm: CodeMap) -> None:
    """``_classify`` from ``disasm_lite``'s text (the caller counts the instruction)."""
    last = mnemonic.rsplit(" ", 1)[-1]
    if last in IRET_GROUP:
        cm.iret.add(address)
    elif last in CALL_GROUP:
        cm.returns.add(address + size)
    elif _loads_esp_text(mnemonic, op_str):
        cm.esp_loads[address] = address + size


_ESP_MNEMONICS = frozenset({"pop", "lss", "xchg", "mov", "lea"})
# every instruction ``_maybe_site`` keeps names one of these in its text
_SITE_WORDS = ("call", "ret", "sys", "sp", "lss")


def _maybe_site(mnemonic: str, op_str: str) -> bool:
    """Whether ``_classify`` could record the instruction (a superset: every
    call/IRET-group mnemonic names a call, a return or sysexit; every ESP
    load names sp)."""
    if "call" in mnemonic or "ret" in mnemonic or "sys" in mnemonic:
        return True
    return mnemonic in _ESP_MNEMONICS and ("sp" in op_str or mnemonic == "lss")


def _sweep(code: bytes, base: int, starts, words, visit) -> int:
    """Linear sweep with one-byte resynchronisation, then every address in
    ``starts`` not yet seen; ``visit(address, size, mnemonic, op_str)`` once
    per instruction start whose text names one of ``words`` (every one when
    ``words`` is None).  Returns the number of instruction starts decoded."""
    md = Disasm()
    seen: set = set()
    off, n = 0, len(code)
    while off < n:
        if words is None:
            insns = md.lite(code[off:], base + off)
            addresses, sizes = [i[0] for i in insns], [i[1] for i in insns]
        else:
            addresses, sizes, insns = md.find(code[off:], base + off, words)
        if not addresses:
            off += 1
            continue
        seen.update(addresses)      # a sweep only moves forward: each start is new
        for insn in insns:
            visit(*insn)
        off = addresses[-1] - base + sizes[-1]
    for a in sorted(starts):
        if a in seen or not (base <= a < base + n):
            continue
        for insn in md.lite(code[a - base:a - base + 16], a, 1):
            seen.add(a)
            visit(*insn)
    return len(seen)


def scan_code(code: bytes, base: int, starts=()) -> CodeMap:
    cm = CodeMap()

    def visit(address, size, mnemonic, op_str):
        if _maybe_site(mnemonic, op_str):
            _classify_text(address, size, mnemonic, op_str, cm)
    # the text is read only of instructions naming one of _SITE_WORDS
    cm.insns = _sweep(code, base, starts, _SITE_WORDS, visit)
    return cm


def scan_code_full(code: bytes, base: int, starts=()) -> CodeMap:
    """``scan_code`` with every instruction decoded in detail (the reference
    the fast sweep is tested against)."""
    import capstone     # noqa: PLC0415 (the reference only: 80 ms to import)
    md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_32)
    md.detail = True
    cm = CodeMap()

    def visit(address, size, mnemonic, op_str):
        off = address - base
        for insn in md.disasm(code[off:off + size], address, 1):
            _classify(insn, cm)
    cm.insns = _sweep(code, base, starts, None, visit)
    return cm
