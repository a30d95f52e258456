"""Where the debugger is: expressions, locations, decoding, the stop display.

Contract
--------
``Locating`` is mixed into ``Debugger`` (control.py) and uses its ``t``
(Target), ``syms`` (the image's symbols or None), ``cpu`` (the selected
CPU), ``env`` and the decoders ``cs``/``cs16``.  ``eval(text)`` and
``location(text)`` evaluate expressions (expr.py) against ``Env``: the
selected CPU's registers, the symbols, memory; errors are ``DebugError``.
``line_addr(file, line)`` is the lowest address of code at that line.
``pc`` is the selected CPU's linear address (Target.pc: CS base + IP in
real mode); ``insn_at`` decodes as that CPU decodes (16- or 32-bit);
``where()`` is the stop display (symbol+offset, file:line, the source
line, the next instruction; CS:IP too while the CPU runs 16-bit code).
"""

from __future__ import annotations

from typing import Optional

from emulator.debugger import expr as E
from emulator.debugger.stops import DebugError
from emulator.debugger.target import TargetError


class Env:
    """What expressions see: registers of the selected CPU, symbols, memory."""

    def __init__(self, dbg):
        self.d = dbg

    def reg(self, name):
        if name == "pc":
            return self.d.pc
        return self.d.t.reg(name, self.d.cpu)

    def symbol(self, name):
        if self.d.syms is None:
            raise KeyError(f"no symbol '{name}' (the image has no symbols)")
        return self.d.syms.addr(name)

    def read_u32(self, addr):
        try:
            return self.d.t.read_u32(addr)
        except TargetError as e:
            raise E.ExprError(str(e)) from None

    def line_addr(self, file, line):
        return self.d.line_addr(file, line)


class Locating:
    # expressions and locations ---------------------------------------------
    def eval(self, text: str) -> int:
        try:
            return E.evaluate(text, self.env)
        except TargetError as e:
            raise DebugError(str(e)) from None
        except E.ExprError as e:
            raise DebugError(str(e)) from None

    def location(self, text: str) -> int:
        try:
            return E.location(text, self.env)
        except (E.ExprError, TargetError) as e:
            raise DebugError(str(e)) from None

    def line_addr(self, file: str, line: int) -> int:
        if self.syms is None:
            raise KeyError("the image has no line table")
        best = None
        for a, f, ln in self.syms.lines.entries():
            if ln == line and (f == file or f.endswith("/" + file)):
                if best is None or a < best:
                    best = a
        if best is None:
            raise KeyError(f"no code at {file}:{line}")
        return best

    def symbolize(self, addr: int) -> str:
        return self.syms.symbolize(addr) if self.syms is not None else f"{addr:#x}"

    def line_of(self, addr: int):
        return self.syms.line_of(addr) if self.syms is not None else None

    @property
    def pc(self) -> int:
        """The selected CPU's next instruction, linear (Target.pc): what
        breakpoints, disassembly and stops are in terms of."""
        return self.t.pc(self.cpu)

    def reg(self, name: str) -> int:
        return self.t.reg(name, self.cpu)

    # decoding ---------------------------------------------------------------
    def insn_at(self, addr: int, bits: Optional[int] = None):
        """The instruction at linear ``addr``, decoded as the selected CPU
        decodes code now (16-bit in real mode) unless ``bits`` says."""
        try:
            code = self.t.mem_read(addr, 16)
        except TargetError:
            return None
        bits = bits or self.t.code_bits(self.cpu)
        return next((self.cs16 if bits == 16 else self.cs).disasm(code, addr, 1), None)

    def insn_text(self, addr: int) -> str:
        i = self.insn_at(addr)
        if i is None:
            return f"{addr:#010x}: (cannot decode)"
        op = f"{i.mnemonic} {i.op_str}".strip()
        return f"{addr:#010x} <{self.symbolize(addr)}>: {op}"

    def where(self) -> str:
        pc = self.pc
        head = self.symbolize(pc)
        fl = self.line_of(pc)
        lines = []
        if fl:
            lines.append(f"{head} ({fl[0]}:{fl[1]})")
            src = self.syms.source_line(*fl)
            if src is not None:
                lines.append(f"{fl[1]}\t{src}")
        else:
            lines.append(head)
        lines.append("=> " + self.insn_text(pc))
        if self.t.code_bits(self.cpu) == 16:
            lines[0] += (f" [16-bit, cs:ip {self.reg('cs'):04x}:{self.reg('eip') & 0xFFFF:04x}]")
        if self.t.ncpus > 1:
            lines[0] = f"[cpu {self.cpu}] " + lines[0]
        return "\n".join(lines)
