"""Hardware task switches through a task gate in the IDT (SDM vol. 3A 7.3).

Unicorn performs the task switches an instruction asks for -- ``jmp`` or
``call`` to a TSS or task gate, ``iret`` with EFLAGS.NT set -- with QEMU's
own code (busy bits, back link, NT, CR3, LDT and segments), because those
are instructions it executes.  What it cannot do is the switch an *event*
makes when its IDT gate is a task gate, since it does not deliver events.
``switch_through_gate(cpu, selector, ext, error_code)`` makes that switch as
a CALL-type switch (SDM 7.3, table 7-2):

1. the gate's selector must name a TSS descriptor in the GDT: an LDT
   selector is #TS(selector), outside the GDT or not a TSS #GP(selector), a
   busy TSS #GP(selector), not present #NP(selector), a limit below 0x67
   (32-bit) or 0x2B (16-bit) #TS(selector) -- each with EXT;
2. the current state is saved in the current TSS (TR): EIP (the return
   point the event would push), EFLAGS, the general registers and the
   segment selectors; the current task stays busy;
3. the new TSS's back link gets the old TR selector, its descriptor is
   marked busy, TR is loaded; CR3 (32-bit TSS, paging on), the LDT, EFLAGS
   with NT set, EIP, the general registers and the segments come from the
   new TSS; CR0.TS is set;
4. an error code, if the event has one, is pushed on the new task's stack.

Faults in steps 1-2 happen in the old task (nothing has changed yet); from
step 3 on they happen in the new one, as the SDM says.  The new task's
``iret`` (NT set) is an instruction, so the switch back is Unicorn's.
Only 32-bit TSSs are switched to; a 16-bit one is ``Unsupported``.
"""

from __future__ import annotations

import struct

from unicorn import x86_const as X

from emulator.x86 import (EFLAGS_NT, VEC_GP, VEC_NP, VEC_SS, VEC_TS, DeliveryFault, Unsupported)

TSS_AVAILABLE16, TSS_AVAILABLE32, TSS_BUSY32 = 0x01, 0x09, 0x0B
BUSY_BIT = 1 << 9                      # type bit 1 of the descriptor's high word
CR0_TS = 1 << 3
SEGS = ("es", "cs", "ss", "ds", "fs", "gs")     # TSS order, 0x48..0x5C
GPRS = ("eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi")   # 0x28..0x44


def switch_through_gate(cpu, selector: int, ext: int, error_code) -> None:
    err = (selector & 0xFFFC) | ext
    if selector & 4:
        raise DeliveryFault(VEC_TS, err)
    d = cpu.descriptor(selector)
    if d is None or d.type not in (TSS_AVAILABLE16, TSS_AVAILABLE32):
        raise DeliveryFault(VEC_GP, err)          # not a TSS, or a busy one
    if not d.present:
        raise DeliveryFault(VEC_NP, err)
    if d.type == TSS_AVAILABLE16:
        raise Unsupported("a task switch to a 16-bit TSS")
    if d.limit < 0x67:
        raise DeliveryFault(VEC_TS, err)
    new = _read_tss(cpu, d.base)
    old_sel, old_base, _old_limit, _old_flags = cpu.task_register()
    _save_state(cpu, old_base)
    # the commit point: what follows happens in the new task
    cpu.sys_write(d.base, struct.pack("<H", old_sel), (VEC_TS, err))      # back link
    cpu.sys_write(d.addr + 4, struct.pack("<I", d.hi | BUSY_BIT), (VEC_GP, err))
    cpu.uc.reg_write(X.UC_X86_REG_TR, (selector, d.base, d.limit, (d.hi | BUSY_BIT) & 0x00F0FF00))
    _load_state(cpu, new, ext)
    if error_code is not None:
        esp = (cpu.read("esp") - 4) & 0xFFFFFFFF
        ss = cpu.read("ss")
        cpu.sys_write((cpu.segment_base(ss) + esp) & 0xFFFFFFFF, struct.pack("<I", error_code),
                      (VEC_SS, (ss & 0xFFFC) | ext))
        cpu.write("esp", esp)


def _read_tss(cpu, base: int) -> dict:
    raw = cpu.sys_read(base, 0x68)
    words = struct.unpack("<26I", raw)
    return {"cr3": words[7], "eip": words[8], "eflags": words[9],
            "gprs": words[10:18], "segs": [w & 0xFFFF for w in words[18:24]],
            "ldt": words[24] & 0xFFFF}


def _save_state(cpu, base: int) -> None:
    """EIP, EFLAGS, the general registers and the selectors into the old TSS."""
    regs = [cpu.eip, cpu.eflags] + [cpu.read(r) for r in GPRS]
    blob = struct.pack("<10I", *(r & 0xFFFFFFFF for r in regs))
    segs = b"".join(struct.pack("<I", cpu.read(s) & 0xFFFF) for s in SEGS)
    cpu.sys_write(base + 0x20, blob + segs, (VEC_TS, 0))


def _load_state(cpu, new: dict, ext: int) -> None:
    if cpu.paging():
        cpu.write("cr3", new["cr3"])
    cpu.write("cr0", cpu.read("cr0") | CR0_TS)
    cpu.hold_control_registers(True)           # the new task's CR3 from here on
    ldt = new["ldt"]
    if ldt & 4:
        raise DeliveryFault(VEC_TS, (ldt & 0xFFFC) | ext)
    if ldt & 0xFFFC:
        d = cpu.descriptor(ldt & ~4)
        if d is None or d.type != 0x02:
            raise DeliveryFault(VEC_TS, (ldt & 0xFFFC) | ext)
        if not d.present:
            raise DeliveryFault(VEC_TS, (ldt & 0xFFFC) | ext)
        cpu.uc.reg_write(X.UC_X86_REG_LDTR, (ldt, d.base, d.limit, d.hi & 0x00F0FF00))
    else:
        cpu.uc.reg_write(X.UC_X86_REG_LDTR, (0, 0, 0, 0))
    for name, value in zip(GPRS, new["gprs"]):
        cpu.write(name, value)
    cs, ss = new["segs"][1], new["segs"][2]
    cpu.set_cpl(cs & 3)
    cpu.load_segment("cs", cs, (VEC_TS, (cs & 0xFFFC) | ext))
    cpu.load_segment("ss", ss, (VEC_TS, (ss & 0xFFFC) | ext))
    for name, value in zip(SEGS, new["segs"]):
        if name not in ("cs", "ss"):
            cpu.load_segment(name, value, (VEC_TS, (value & 0xFFFC) | ext))
    cpu.write("eflags", new["eflags"] | EFLAGS_NT | 2)
    cpu.eip = new["eip"]
