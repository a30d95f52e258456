"""The crash and deadlock report: one paragraph on stderr, never a traceback.

``crash_report(machine, cpu, what)`` says what happened, at which virtual
time, the registers, the instruction at EIP disassembled (capstone), and a
backtrace through the EBP chain (saved EBP at [EBP], return address at
[EBP+4]), symbolised when the image has symbols.
"""

from __future__ import annotations

import capstone

_CS = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_32)


def _sym(machine, addr: int) -> str:
    syms = machine.symbols
    if syms is not None:
        try:
            name = syms.symbolize(addr)
        except (KeyError, ValueError, AttributeError):
            name = ""
        if name and not name.startswith("0x"):
            return f"{addr:#x} <{name}>"
    return f"{addr:#x}"


def disassemble_at(machine, addr: int) -> str:
    try:
        code = machine.mem_read(addr, 16)
    except Exception:                      # noqa: BLE001 -- unicorn raises UcError outside RAM
        return "(not in memory)"
    ins = next(_CS.disasm(code, addr, 1), None)
    if ins is None:
        return "(bytes " + code[:4].hex(" ") + ": not an instruction)"
    return f"{ins.mnemonic} {ins.op_str}".strip()


def backtrace(machine, cpu, depth: int = 16) -> list:
    frames, ebp = [], cpu.read("ebp")
    for _ in range(depth):
        if ebp == 0 or ebp + 8 > machine.mem_size or ebp & 3:
            break
        saved, ret = int.from_bytes(machine.mem_read(ebp, 4), "little"), \
            int.from_bytes(machine.mem_read(ebp + 4, 4), "little")
        if ret == 0:
            break
        frames.append(ret)
        if saved <= ebp:
            break
        ebp = saved
    return frames


def crash_report(machine, cpu, what: str) -> str:
    r = cpu.registers()
    regs = " ".join(f"{n}={r[n]:08x}" for n in ("eax", "ebx", "ecx", "edx", "esi", "edi",
                                                  "ebp", "esp", "eflags"))
    segs = " ".join(f"{n}={r[n]:04x}" for n in ("cs", "ds", "ss"))
    eip = r["eip"]
    frames = backtrace(machine, cpu)
    bt = " <- ".join(_sym(machine, a) for a in frames) if frames else "(no EBP frames)"
    return (f"irqlab: {what}, CPU {cpu.index} at t={machine.clock.now}; "
            f"eip={_sym(machine, eip)}: {disassemble_at(machine, eip)}; {regs} {segs}; "
            f"backtrace: {bt}.")
