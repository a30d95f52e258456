"""Accepting events at an instruction boundary: what the CPU takes next, and when.

``Cpu.deliver`` (cpu.py) vectors an event through the IDT; this module
decides which event a CPU takes at a boundary (Intel SDM vol. 3A 6.9,
priority among simultaneous events), in this order:

1. an exception or ``int n`` the last instruction raised (Unicorn reported
   it to the machine's ``UC_HOOK_INTR``; ``classify`` tells a software
   interrupt from an exception by the instruction before EIP, and
   ``selector_error`` gives a segment-load fault its error code, SDM 6.13);
2. an NMI, whatever IF says, unless an NMI handler is still running: NMIs
   are blocked from an NMI's delivery until its handler's ``iret`` (SDM
   6.7.1), seen here as ESP rising above the NMI frame (the machine steps
   the CPU one instruction at a time meanwhile; a handler that switches
   stacks would end the blocking early), or an ``iret`` that faults: the
   SDM unblocks NMIs even then, so a held NMI is taken before the fault
   handler's first instruction, on top of the exception's frame;
3. INTR from the CPU's interrupt source (its Local APIC, which also carries
   the 8259's requests through LINT0 in ExtINT mode) when IF=1 and the CPU
   is not in the shadow of ``sti``, ``mov ss`` or ``pop ss`` (SDM 6.8.3):
   the instruction right after those runs first.  QEMU ends the translation
   block after each of them, so "right after" is "the first instruction of
   the next block" and the instruction before is known from the blocks
   (emulator/icount.py ``previous``).  With IF=0 the request waits, and the
   block hook watches IF (``F_WATCH_IF``): IF only changes at block ends
   (``sti``, ``popf``, ``iret`` end blocks).

``take(cpu, previous)`` does the choosing and the delivery and returns
``(vector, kind, eip_from, error_code)`` of the event taken, or None
(``take_nmi(cpu)`` then gives a held NMI its turn before the handler of
an exception or ``int n`` runs);
``previous()`` is called only when the shadow matters.  ``kind`` is "soft",
"exception", "irq" or "nmi".  ``can_wake(cpu)``: a halted CPU has something
to take.  ``in_shadow(cpu, previous)``: INTR would wait for the next
instruction.

The CPU's own state for this (on ``Cpu``): ``pending_exc`` (vector, kind,
error code) raised but not yet delivered, ``just_delivered`` (nothing
retired since a delivery: a shadow does not carry over), ``shadow_spent``
(the one instruction in a shadow has run), ``nmi_blocked`` and ``nmi_esp``.

An interrupt from a device line to the handler's first instruction: device
``IrqLine`` -> emulator/devices/platform.py (8259 and IO APIC) -> the CPU's
Local APIC (``intr_pending``) -> ``take`` at the next boundary ->
``source.acknowledge()`` (INTA: the vector) -> ``Cpu.deliver`` (IDT gate,
frame pushed, EIP = the handler's first instruction).
"""

from __future__ import annotations

from typing import Callable, Optional

import unicorn

from emulator.cpu import Cpu, TripleFault, exception_name, reset_exception_chain
from emulator.icount import F_WATCH_IF

VEC_NMI = 2
SOFT_INT = {"int3": 3, "into": 4}     # icebp (int1) is #DB "as from hardware": no DPL check
SEGMENT_REGS = ("cs", "ds", "es", "fs", "gs", "ss")
GPR_NAMES = ("ax", "bx", "cx", "dx", "si", "di", "bp", "sp",
             "eax", "ebx", "ecx", "edx", "esi", "edi", "ebp", "esp")


def take(cpu: Cpu, previous: Callable[[], str]) -> Optional[tuple]:
    """Deliver the event ``cpu`` takes at this boundary, if any (see above)."""
    if cpu.pending_exc is not None:
        vector, kind, err = cpu.pending_exc
        cpu.pending_exc = None
        if cpu.nmi_blocked and kind == "exception" and _at_iret(cpu):
            cpu.nmi_blocked = False     # SDM 6.7.1: an iret unblocks NMIs even if it faults
        reset_exception_chain(cpu.uc)
        eip_from = cpu.eip
        try:
            cpu.deliver(vector, kind, err)
        except TripleFault as e:
            raise TripleFault(f"{exception_name(vector)} at {eip_from:#x}, then {e}") from None
        return vector, kind, eip_from, err
    source = cpu.interrupt_source
    cpu.st.flags &= ~F_WATCH_IF
    nmi = take_nmi(cpu)
    if nmi is not None:
        return nmi
    if source.intr_pending():
        if not cpu.interrupts_enabled:
            cpu.st.flags |= F_WATCH_IF
        elif not in_shadow(cpu, previous):
            eip_from = cpu.eip
            vector = source.acknowledge()
            cpu.deliver(vector, "irq")
            return vector, "irq", eip_from, None
    return None


def take_nmi(cpu: Cpu) -> Optional[tuple]:
    """Deliver a waiting NMI unless NMIs are blocked; the event or None.
    Also called right after an exception's or ``int n``'s delivery: the
    handler's first instruction is a boundary, and IF does not hold an NMI."""
    source = cpu.interrupt_source
    if not (source.nmi_pending and nmi_unblocked(cpu)):
        return None
    eip_from = cpu.eip
    source.take_nmi()
    cpu.deliver(VEC_NMI, "irq")
    cpu.nmi_blocked = True
    cpu.nmi_esp = cpu.read("esp")
    return VEC_NMI, "nmi", eip_from, None


def _at_iret(cpu: Cpu) -> bool:
    """The instruction at the CPU's EIP is an iret (cf, o16/REX.W cf)."""
    code = cpu.read_linear(cpu.pc, 2) or b""
    return code[:1] == b"\xcf" or (code[:1] in (b"\x66", b"\x48") and code[1:2] == b"\xcf")


def in_shadow(cpu: Cpu, previous: Callable[[], str]) -> bool:
    """INTR must wait one instruction: the last one was sti, mov ss or pop ss."""
    if cpu.just_delivered or cpu.shadow_spent:
        return False
    prev = previous()
    return prev == "sti" or prev.startswith("mov ss,") or prev == "pop ss"


def nmi_unblocked(cpu: Cpu) -> bool:
    """NMIs are blocked from an NMI's delivery until its handler's iret
    (SDM 6.7.1); seen here as ESP back above the NMI's frame."""
    if cpu.nmi_blocked and cpu.read("esp") > cpu.nmi_esp:
        cpu.nmi_blocked = False
    return not cpu.nmi_blocked


def can_wake(cpu: Cpu) -> bool:
    """A halted CPU has something to take: an NMI, an exception, or an
    interrupt it accepts (IF=1)."""
    source = cpu.interrupt_source
    if cpu.pending_exc is not None or (source.nmi_pending and not cpu.nmi_blocked):
        return True
    return cpu.interrupts_enabled and source.intr_pending()


# -- what Unicorn reported ---------------------------------------------------------

def classify(intno: int, previous: str) -> str:
    """"soft" when the instruction before EIP is ``int intno`` (or int3, into,
    int1), else "exception" (Unicorn reports both the same way).  Vector 4
    is always "soft": only ``into`` and ``int 4`` raise #OF (SDM vol. 3A
    6.15), and ``into`` does not end a translation block, so ``previous``
    (block-ending instructions only) does not see it -- a ring-3 ``into``
    through a DPL-0 gate went through instead of #GP(0x22): fuzz family ring."""
    if intno == 4:
        return "soft"
    if previous.startswith("int ") and _imm(previous) == intno:
        return "soft"
    if SOFT_INT.get(previous) == intno:
        return "soft"
    return "exception"


def selector_error(cpu: Cpu, eip: int, disasm, mem_read) -> int:
    """The error code of a segment-load fault at ``eip``: the selector (SDM
    6.13), else 0.  ``disasm`` is an ``emulator.disasm.Disasm``,
    ``mem_read(addr, n)`` the machine's."""
    try:
        found = disasm.lite(mem_read(eip, 16), eip, 1)
    except unicorn.UcError:
        return 0
    if not found:
        return 0
    _addr, _size, mnemonic, op_str = found[0]
    ops = op_str.replace(" ", "").split(",")
    if mnemonic == "mov" and len(ops) == 2 and ops[0] in SEGMENT_REGS:
        if ops[1] in GPR_NAMES:
            return cpu.read(ops[1]) & 0xFFFC
        return 0
    if mnemonic == "pop" and ops[0] in SEGMENT_REGS:
        esp = cpu.read("esp")
        return int.from_bytes(mem_read(esp, 2), "little") & 0xFFFC
    if mnemonic in ("ljmp", "lcall") and len(ops) == 2:
        try:
            return int(ops[0], 0) & 0xFFFC
        except ValueError:
            return 0
    return 0


def _imm(text: str) -> int:
    try:
        return int(text.split()[-1], 0)
    except ValueError:
        return -1
