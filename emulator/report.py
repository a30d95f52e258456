"""The crash and deadlock report: one paragraph on stderr, never a traceback.

``crash_report(machine, cpu, what)`` says what happened, at which virtual
time, the registers, the instruction at EIP disassembled (libcapstone), and a
backtrace through the EBP chain (saved EBP at [EBP], return address at
[EBP+4]), symbolised when the image has symbols.  With paging on, EIP and
the EBP chain are linear addresses read through the page tables, and the
paragraph adds CR2, CR3 and the CPL.
"""

from __future__ import annotations

from emulator.disasm import Disasm

_CS = Disasm()


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


def _read(machine, cpu, addr: int, n: int):
    """``n`` bytes at ``addr`` as ``cpu`` sees it (linear when paging), or None."""
    if cpu is not None and getattr(cpu, "paging_on", False):
        return cpu.read_linear(addr, n)
    try:
        return machine.mem_read(addr, n)
    except Exception:                      # noqa: BLE001 -- unicorn raises UcError outside RAM
        return None


def disassemble_at(machine, addr: int, cpu=None) -> str:
    code = _read(machine, cpu, addr, 16)
    if code is None:
        return "(not in memory)"
    found = _CS.lite(code, addr, 1)
    if not found:
        return "(bytes " + code[:4].hex(" ") + ": not an instruction)"
    _a, _n, mnemonic, op_str = found[0]
    return f"{mnemonic} {op_str}".strip()


def backtrace(machine, cpu, depth: int = 16) -> list:
    frames, ebp = [], cpu.read("ebp")
    paged = getattr(cpu, "paging_on", False)
    for _ in range(depth):
        if ebp == 0 or (ebp + 8 > machine.mem_size and not paged) or ebp & 3:
            break
        raw = _read(machine, cpu, ebp, 8)
        if raw is None or len(raw) < 8:
            break
        saved, ret = int.from_bytes(raw[:4], "little"), int.from_bytes(raw[4:], "little")
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
    if getattr(cpu, "paging_on", False):
        segs += f" cr2={cpu.read('cr2'):08x} cr3={cpu.read('cr3'):08x} cpl={r['cs'] & 3}"
    return (f"irqlab: {what}, CPU {cpu.index} at t={machine.clock.now}; "
            f"eip={_sym(machine, eip)}: {disassemble_at(machine, eip, cpu)}; {regs} {segs}; "
            f"backtrace: {bt}.")
