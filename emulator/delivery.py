"""Delivering an interrupt or exception the way the processor does.

Unicorn reports ``int n`` and exceptions through UC_HOOK_INTR and vectors
nothing; ``deliver(cpu, vector, kind, error_code)`` does it (Intel SDM vol.
3A 6.12 "Exception and interrupt handling", 6.13 error codes, 6.15 table
6-5; 20.1.4 real-address mode).  ``kind`` is "irq" (an external interrupt
or NMI), "exception" (a fault, trap or abort the CPU raised; ``icebp``'s #DB
too) or "soft" (``int n``, ``int3``, ``into``).

Protected mode (emulator/cpu.py reads the tables through the MMU):

* gate ``vector`` of the IDT: past the IDT's limit, or not an interrupt,
  trap or task gate, is #GP(vector*8+2+EXT); for a "soft" event a gate
  DPL below the CPL is #GP(vector*8+2) -- so ``int 0x80`` from ring 3
  through a DPL 0 gate is #GP((0x80 << 3) | 2); not present is #NP(same);
* a task gate switches tasks (emulator/tasks.py);
* the target code segment: null is #GP(EXT), outside its table or not code
  is #GP(selector+EXT), DPL above the CPL #GP(selector+EXT), not present
  #NP(selector+EXT);
* to a more privileged level (a handler of DPL < CPL: an interrupt from
  ring 3) the CPU takes SS and ESP for that level from the TSS (TR) --
  #TS(TR selector+EXT) when the TSS is too short, #TS(SS selector+EXT) for
  an SS that is null, of the wrong privilege or not writable data,
  #SS(SS selector+EXT) when it is not present -- and pushes the old SS and
  ESP before EFLAGS, CS, EIP (and the error code for #DF #TS #NP #SS #GP
  #PF #AC);
* the pushes are supervisor-mode writes through the MMU, one by one in
  push order (a #PF's CR2 is the first push that faults); nothing in the
  CPU changes before the frame is complete, so a fault in delivery leaves
  the state of the interrupted program for the next event;
* then CS:EIP from the gate, SS:ESP for a privilege change, TF, NT, RF, VM
  cleared, and IF too for an interrupt gate (not a trap gate).

A fault while delivering becomes the next event (table 6-5): contributory
on contributory, or #PF then contributory or #PF, is #DF (error code 0); a
fault while delivering #DF is ``TripleFault``; any other pair is handled
serially.  A #PF sets CR2 when it is detected, even when it becomes #DF.
The EXT bit (bit 0) of a selector error code is 1 unless the first event was
a "soft" one.  When the event that faulted was ``int n``/``int3``/``into``,
EIP goes back to that instruction: once the handler has fixed the gate or
the stack, ``iret`` runs the ``int`` again.

Real mode: the IVT at the IDTR base (4-byte entries, offset then segment);
FLAGS, CS and IP are pushed (16-bit, no error code) and IF, TF and AC are
cleared.
"""

from __future__ import annotations

import struct
from typing import Optional

from unicorn import x86_const as X

from emulator.tasks import switch_through_gate
from emulator.x86 import (CONTRIBUTORY, EFLAGS_AC, EFLAGS_IF, EFLAGS_NT, EFLAGS_RF, EFLAGS_TF,
                          EFLAGS_VM, ERROR_CODE_VECTORS, VEC_DF, VEC_GP, VEC_NP, VEC_PF, VEC_SS,
                          VEC_TS, DeliveryFault, TripleFault, Unsupported, exception_name)

GATE_TASK, GATE_INT16, GATE_TRAP16, GATE_INT32, GATE_TRAP32 = 0x05, 0x06, 0x07, 0x0E, 0x0F
GATES = (GATE_TASK, GATE_INT16, GATE_TRAP16, GATE_INT32, GATE_TRAP32)
SOFT_ONE_BYTE = {3: 0xCC, 4: 0xCE}          # int3, into (every other int n is CD ib)
# the handler's ESP, EFLAGS and EIP, written in one call (Cpu.write_batch)
HANDLER_REGS = (X.UC_X86_REG_ESP, X.UC_X86_REG_EFLAGS, X.UC_X86_REG_EIP)


def deliver(cpu, vector: int, kind: str, error_code: Optional[int] = None) -> None:
    """Vector one event; faults in delivery are combined by table 6-5."""
    try:
        _once(cpu, vector, kind, error_code)
        return
    except DeliveryFault as fault:
        second = fault
    if second.vector == VEC_PF and second.cr2 is not None:
        cpu.write("cr2", second.cr2)
    if kind == "soft":
        # nothing changed before the fault: EIP is still past the int
        cpu.eip = (cpu.eip - _soft_length(cpu, vector)) & 0xFFFFFFFF
    if vector == VEC_DF and kind == "exception":
        raise TripleFault(f"{exception_name(second.vector)} while delivering #DF")
    if kind == "exception" and _is_double(vector, second.vector):
        deliver(cpu, VEC_DF, "exception", 0)
        return
    deliver(cpu, second.vector, "exception", second.error_code)


def _is_double(first: int, second: int) -> bool:
    if first in CONTRIBUTORY and second in CONTRIBUTORY:
        return True
    return first == VEC_PF and (second in CONTRIBUTORY or second == VEC_PF)


def _soft_length(cpu, vector: int) -> int:
    """Bytes of the int instruction just executed (EIP is past it)."""
    one = SOFT_ONE_BYTE.get(vector)
    if one is not None:
        prev = cpu.read_linear((cpu.pc - 1) & 0xFFFFFFFF, 1)
        if prev is not None and prev[0] == one:
            return 1
    return 2


def _once(cpu, vector: int, kind: str, error_code: Optional[int]) -> None:
    if not cpu.protected():
        _real_mode(cpu, vector)
        return
    ext = 0 if kind == "soft" else 1
    cs, eflags, eip, esp, ss_now, (base, limit), gdtr = cpu.frame_state()
    gate_err = vector * 8 + 2 + ext
    if vector * 8 + 7 > limit:
        raise DeliveryFault(VEC_GP, gate_err)
    lo, hi = struct.unpack("<II", cpu.sys_read(base + vector * 8, 8))
    gtype = (hi >> 8) & 0x1F
    if gtype not in GATES:
        raise DeliveryFault(VEC_GP, gate_err)
    cpl = cs & 3                        # protected mode: CS.RPL
    if kind == "soft" and (hi >> 13) & 3 < cpl:
        raise DeliveryFault(VEC_GP, vector * 8 + 2)
    if not (hi >> 15) & 1:
        raise DeliveryFault(VEC_NP, gate_err)
    pushed = (error_code or 0) if kind == "exception" and vector in ERROR_CODE_VECTORS else None
    if gtype == GATE_TASK:
        switch_through_gate(cpu, lo >> 16, ext, pushed)
        return
    offset = (lo & 0xFFFF) | (hi & 0xFFFF0000)
    if gtype in (GATE_INT16, GATE_TRAP16):
        offset &= 0xFFFF
    selector = lo >> 16
    dpl = _check_code_segment(cpu, selector, cpl, ext, gdtr)
    if eflags & EFLAGS_VM:
        raise Unsupported("an interrupt in virtual-8086 mode")
    words = [eflags, cs, eip]
    if dpl < cpl:
        words = [ss_now, esp] + words
        ss, esp, ss_base = _inner_stack(cpu, dpl, ext)
        stack_fault = (VEC_SS, (ss & 0xFFFC) | ext)
    else:
        ss = None
        ss_base = cpu.segment_base(ss_now, gdtr)
        stack_fault = (VEC_SS, ext)
    if pushed is not None:
        words.append(pushed)
    wide = gtype in (GATE_INT32, GATE_TRAP32)
    size, fmt, mask = (4, "<I", 0xFFFFFFFF) if wide else (2, "<H", 0xFFFF)
    new_esp = (esp - size * len(words)) & 0xFFFFFFFF
    frame = b"".join(struct.pack(fmt, w & mask) for w in reversed(words))
    bottom = (ss_base + new_esp) & 0xFFFFFFFF
    if cpu.paging():
        # the pushes go down from the top: of the (at most two) pages, the
        # higher one is written first, so a #PF there names its first push
        first = (ss_base + esp - size) & 0xFFFFFFFF
        cpu.translate_write(first)
        if bottom & ~0xFFF != first & ~0xFFF:
            cpu.translate_write(((first & ~0xFFF) - size) & 0xFFFFFFFF)
    cpu.sys_write(bottom, frame, stack_fault)
    # the frame is complete: now the CPU changes
    target_cs = (selector & 0xFFFC) | dpl
    if ss is not None:
        cpu.set_cpl(dpl)
        cpu.load_segment("cs", target_cs, (VEC_GP, (selector & 0xFFFC) | ext))
        cpu.load_segment("ss", (ss & 0xFFFC) | dpl, (VEC_TS, (ss & 0xFFFC) | ext))
    elif words[1] != target_cs:
        cpu.load_segment("cs", target_cs, (VEC_GP, (selector & 0xFFFC) | ext))
    flags = eflags & ~(EFLAGS_TF | EFLAGS_NT | EFLAGS_RF | EFLAGS_VM)
    if gtype in (GATE_INT16, GATE_INT32):
        flags &= ~EFLAGS_IF
    cpu.write_batch(HANDLER_REGS, (new_esp, flags, offset))


def _check_code_segment(cpu, selector: int, cpl: int, ext: int, gdtr: tuple) -> int:
    """The handler's code segment; returns the privilege level it runs at."""
    if selector & 0xFFFC == 0:
        raise DeliveryFault(VEC_GP, ext)
    err = (selector & 0xFFFC) | ext
    d = cpu.descriptor(selector, gdtr)
    if d is None or not d.is_code():
        raise DeliveryFault(VEC_GP, err)
    if d.dpl > cpl:
        raise DeliveryFault(VEC_GP, err)
    if not d.present:
        raise DeliveryFault(VEC_NP, err)
    return cpl if d.is_conforming() else d.dpl


def _inner_stack(cpu, dpl: int, ext: int) -> tuple[int, int, int]:
    """SS, ESP and SS's base for privilege level ``dpl``, from the TSS."""
    tr_sel, tr_base, tr_limit, tr_flags = cpu.task_register()
    wide = (tr_flags >> 8) & 0x8                   # a 32-bit TSS (type 9 or 11)
    off, n = (4 + dpl * 8, 8) if wide else (2 + dpl * 4, 4)
    if off + n - 1 > tr_limit:
        raise DeliveryFault(VEC_TS, (tr_sel & 0xFFFC) | ext)
    raw = cpu.sys_read(tr_base + off, n)
    esp, ss = struct.unpack("<IH", raw[:6]) if wide else struct.unpack("<HH", raw)
    err = (ss & 0xFFFC) | ext
    if ss & 0xFFFC == 0 or ss & 3 != dpl:
        raise DeliveryFault(VEC_TS, err)
    d = cpu.descriptor(ss)
    if d is None or d.dpl != dpl or not d.is_writable_data():
        raise DeliveryFault(VEC_TS, err)
    if not d.present:
        raise DeliveryFault(VEC_SS, err)
    return ss, esp, d.base


def _real_mode(cpu, vector: int) -> None:
    base, limit = cpu.idtr()
    if vector * 4 + 3 > limit:
        raise DeliveryFault(VEC_GP, 0)
    ip, cs = struct.unpack("<HH", cpu.sys_read(base + vector * 4, 4))
    ss, esp = cpu.read("ss"), cpu.read("esp")
    flags = cpu.eflags
    sp = (esp - 6) & 0xFFFF
    frame = struct.pack("<HHH", cpu.eip & 0xFFFF, cpu.read("cs"), flags & 0xFFFF)
    for i in range(3):
        cpu.sys_write(((ss << 4) + ((sp + 2 * i) & 0xFFFF)) & 0xFFFFF,
                      frame[2 * i:2 * i + 2], (VEC_SS, 0))
    cpu.write("esp", (esp & 0xFFFF0000) | sp)
    cpu.write("cs", cs)
    cpu.eip = ip
    cpu.write("eflags", flags & ~(EFLAGS_IF | EFLAGS_TF | EFLAGS_AC))
