"""CPUID: the processor the machine says it is (SDM vol. 2A, CPUID).

Unicorn's own CPUID describes a recent Intel core (AVX, PAE, SEP, MTRR,
...), much of which the machine does not model around the instruction set:
no PAE paging in emulator/mmu.py, no machine-check architecture, no MTRRs,
no SYSENTER MSRs the observer knows of.  ``cpuid(cpu, leaf)`` answers
instead with only what the machine models, shaped like QEMU's ``qemu32``
(family 6, model 6, stepping 3; vendor GenuineIntel) without the features
irqlab leaves out -- so ``qemu-system-i386 -cpu QEMU_CPU`` reports the
same (tests/probes/paging/cr.S):

* leaf 0: EAX = 1 (the highest basic leaf), EBX:EDX:ECX = "GenuineIntel";
* leaf 1: EAX = 0x663; EBX bits 31-24 = the local APIC ID (the CPU index),
  bits 23-16 = 1 logical processor; ECX = 0; EDX = FPU, PSE (4-MiB pages),
  TSC, CX8, APIC (the xAPIC of emulator/devices/lapic.py), PGE, CMOV, MMX,
  FXSR, SSE, SSE2 (instruction sets Unicorn executes);
* any higher basic leaf answers as leaf 1, the highest (what Intel CPUs
  do); extended leaves 0x80000000+ report none (EAX = 0x80000000).

``CR4_ALLOWED`` is the set of CR4 bits these features allow; the others are
reserved, and writing one is #GP(0) (emulator/crwrite.py).
"""

from __future__ import annotations

FAMILY_MODEL_STEPPING = 0x663
VENDOR = (0x756E6547, 0x49656E69, 0x6C65746E)      # "Genu" "ineI" "ntel" (EBX, EDX, ECX)
FEATURES_EDX = sum(1 << b for b in (
    0,      # FPU
    3,      # PSE: 4-MiB pages (mmu.py)
    4,      # TSC
    8,      # CX8
    9,      # APIC
    13,     # PGE
    15,     # CMOV
    23,     # MMX
    24,     # FXSR
    25,     # SSE
    26,     # SSE2
))
QEMU_CPU = "qemu32,de=off,msr=off,pae=off,mce=off,sep=off,pat=off,sse3=off"

CR4_TSD, CR4_PSE, CR4_PGE, CR4_PCE, CR4_OSFXSR, CR4_OSXMMEXCPT = 4, 0x10, 0x80, 0x100, 0x200, 0x400
CR4_ALLOWED = CR4_TSD | CR4_PSE | CR4_PGE | CR4_PCE | CR4_OSFXSR | CR4_OSXMMEXCPT


def cpuid(index: int, leaf: int) -> tuple[int, int, int, int]:
    """(EAX, EBX, ECX, EDX) for CPU ``index`` asked for ``leaf``."""
    if leaf >= 0x80000000:
        return 0x80000000, 0, 0, 0
    if leaf == 0:
        return 1, VENDOR[0], VENDOR[2], VENDOR[1]
    return FAMILY_MODEL_STEPPING, (index << 24) | (1 << 16), 0, FEATURES_EDX


def hook(cpu):
    """A UC_HOOK_INSN callback for CPUID on ``cpu`` (returns 1: the engine's
    own CPUID is skipped)."""
    def on_cpuid(uc, _user_data) -> int:
        eax, ebx, ecx, edx = cpuid(cpu.index, cpu.read("eax"))
        for name, value in (("eax", eax), ("ebx", ebx), ("ecx", ecx), ("edx", edx)):
            cpu.write(name, value)
        return 1
    return on_cpuid
