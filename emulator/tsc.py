"""RDTSC and RDTSCP read virtual time, never the host's clock.

Contract
--------
``install(machine, cpu)`` hooks RDTSC (0F 31) and RDTSCP (0F 01 F9) on the
CPU's engine.  Either returns in EDX:EAX the time-stamp counter, which on
irqlab is the machine's virtual time at that instruction: the guest
instructions retired before it (emulator/clock.py: one instruction = one
virtual nanosecond, so the TSC ticks at 1 GHz).  RDTSCP also sets ECX to
IA32_TSC_AUX, which irqlab does not model: 0.  So a guest that prints its
TSC prints the same thing on every run, as on QEMU with ``-icount
shift=0`` (whose counter also counts the BIOS's instructions, so only
differences of two readings compare).  There is one clock for all CPUs.

Without the hook Unicorn's helper returns the host's TSC, different on
every run (issue 16).  Unicorn 2.1.4's C library calls UC_HOOK_INSN hooks
for RDTSC/RDTSCP (callback ``int (uc, user_data)``, a non-zero return skips
the instruction's own helper; EIP is at the instruction), but its Python
binding only accepts IN, OUT, SYSCALL, SYSENTER and CPUID there, so the
hook is registered through the binding's own registration call with the
CPUID callback type.  tests/emulator/test_unicorn_facts.py pins all of
this for the pinned unicorn.
"""

from __future__ import annotations

import unicorn
from unicorn import x86_const as X
from unicorn.unicorn_py3.arch.intel import HOOK_INSN_CPUID_CFUNC
from unicorn.unicorn_py3.unicorn import uccallback

TSC_AUX = 0          # IA32_TSC_AUX, read by RDTSCP into ECX (not modelled)


def register_insn_hook(uc, fn, insn: int) -> int:
    """Add ``fn(uc) -> int`` as a UC_HOOK_INSN for ``insn`` (RDTSC/RDTSCP).

    The binding's exception guard (``uccallback``) wraps it, so an error in
    ``fn`` stops the engine and is raised by ``emu_start``, as for any hook."""
    callback = uccallback(uc, HOOK_INSN_CPUID_CFUNC)(lambda uc_, _user: fn(uc_))
    return uc._Uc__do_hook_add(unicorn.UC_HOOK_INSN, callback, 1, 0, insn)


def install(machine, cpu) -> None:
    """RDTSC/RDTSCP on ``cpu`` return ``machine``'s virtual time at the instruction."""
    def read_tsc(uc, aux: bool) -> int:
        machine.icount.sync(machine.cpu.pc)    # the exact count inside the block
        now = machine.clock.now
        uc.reg_write(X.UC_X86_REG_EAX, now & 0xFFFFFFFF)
        uc.reg_write(X.UC_X86_REG_EDX, (now >> 32) & 0xFFFFFFFF)
        if aux:
            uc.reg_write(X.UC_X86_REG_ECX, TSC_AUX)
        return 1                               # done: skip Unicorn's host-clock helper
    register_insn_hook(cpu.uc, lambda uc: read_tsc(uc, False), X.UC_X86_INS_RDTSC)
    register_insn_hook(cpu.uc, lambda uc: read_tsc(uc, True), X.UC_X86_INS_RDTSCP)
