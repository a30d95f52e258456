"""Find, with capstone, the instructions the observer hooks by address.

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
(``disasm_lite``, ~10x cheaper per instruction) and decodes in detail only
the few instructions that can matter -- a mnemonic naming a call or a
return (``iret``, ``sysexit`` and ``sysret`` are in capstone's IRET group)
or a ``pop``/``lss``/``xchg``/``mov``/``lea`` whose operands name ``sp``.
``scan_code_full`` classifies every instruction in detail; the two give the
same ``CodeMap`` (tests/emulator/observe/test_scan.py, on every kernel image
and on random bytes).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import capstone
from capstone import x86_const as X

_ESP = X.X86_REG_ESP
_SP = X.X86_REG_SP


@dataclass
class CodeMap:
    iret: set = field(default_factory=set)
    esp_loads: dict = field(default_factory=dict)
    returns: set = field(default_factory=set)
    insns: int = 0


def _loads_esp(insn) -> bool:
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
    cm.insns += 1
    grp = insn.groups
    if X.X86_GRP_IRET in grp or insn.mnemonic in ("iret", "iretd"):
        cm.iret.add(insn.address)
    elif X.X86_GRP_CALL in grp:
        cm.returns.add(insn.address + insn.size)
    elif _loads_esp(insn):
        cm.esp_loads[insn.address] = insn.address + insn.size


_ESP_MNEMONICS = frozenset({"pop", "lss", "xchg", "mov", "lea"})


def _maybe_site(mnemonic: str, op_str: str) -> bool:
    """Whether ``_classify`` could record the instruction (a superset: every
    call/IRET-group mnemonic names a call, a return or sysexit; every ESP
    load names sp)."""
    if "call" in mnemonic or "ret" in mnemonic or "sys" in mnemonic:
        return True
    return mnemonic in _ESP_MNEMONICS and ("sp" in op_str or mnemonic == "lss")


def _sweep(code: bytes, base: int, starts, visit) -> None:
    """Linear sweep with one-byte resynchronisation, then every address in
    ``starts`` not yet seen; ``visit(address, size, mnemonic, op_str)``
    once per instruction start."""
    md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_32)
    seen: set = set()
    off = 0
    n = len(code)
    while off < n:
        progressed = False
        for address, size, mnemonic, op_str in md.disasm_lite(code[off:], base + off):
            if address not in seen:
                seen.add(address)
                visit(address, size, mnemonic, op_str)
            off = address - base + size
            progressed = True
        if not progressed or off < n:
            off += 0 if progressed else 1
    for a in sorted(starts):
        if a in seen or not (base <= a < base + n):
            continue
        for address, size, mnemonic, op_str in md.disasm_lite(code[a - base:a - base + 16], a, 1):
            seen.add(a)
            visit(address, size, mnemonic, op_str)


def scan_code(code: bytes, base: int, starts=()) -> CodeMap:
    md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_32)
    md.detail = True
    cm = CodeMap()

    def visit(address, size, mnemonic, op_str):
        if not _maybe_site(mnemonic, op_str):
            cm.insns += 1
            return
        off = address - base
        for insn in md.disasm(code[off:off + size], address, 1):
            _classify(insn, cm)
    _sweep(code, base, starts, visit)
    return cm


def scan_code_full(code: bytes, base: int, starts=()) -> CodeMap:
    """``scan_code`` with every instruction decoded in detail (the reference
    the fast sweep is tested against)."""
    md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_32)
    md.detail = True
    cm = CodeMap()

    def visit(address, size, mnemonic, op_str):
        off = address - base
        for insn in md.disasm(code[off:off + size], address, 1):
            _classify(insn, cm)
    _sweep(code, base, starts, visit)
    return cm
