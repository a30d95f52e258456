"""Writes to CR0, CR3 and CR4: the checks Unicorn leaves out, and what the
machine must forget when the address space changes.

Unicorn 2.1.4 accepts any value moved to a control register.  The SDM (vol.
2A, MOV -- move to/from control registers; vol. 3A 2.5) says:

* writing a 1 to a reserved bit of CR4 is #GP(0) -- reserved are the bits of
  features CPUID does not report (emulator/cpuid.py ``CR4_ALLOWED``: no
  VME/PVI, no DE, no PAE, no MCE, no UMIP, no VMX, ...);
* setting CR0.PG with CR0.PE clear, or CR0.NW with CR0.CD clear, is #GP(0);
* CR3 has no reserved bits under 32-bit paging.

Each such instruction (``mov cr0|cr3|cr4, r32``) is found when its block is
first decoded, and gets a code hook (``ControlWrites.site``): the hook runs
before the instruction, so a #GP is raised with EIP at the ``mov`` and CR
unchanged, as on hardware.  A hook costs nothing until the instruction runs.

A write that changes CR3, CR0.PG or CR0.PE changes what linear addresses
mean, so the machine forgets the instruction counts it cached by linear
address (``Machine.forget_blocks``).  (Clearing CR0.PE does not make the
decoder expect 16-bit code: CS keeps its 32-bit attributes until the far
jump that follows.)  The hook
also keeps ``cpu.paging_on`` (CR0.PG) for readers that translate linear
addresses only when paging is on (the observer's and debugger's views).
(QEMU 7.2 departs here: it takes a reserved CR4 bit as an SVM exit and
stops, and checks neither CR0 rule; tests/probes/paging/cr.S.)
"""

from __future__ import annotations

import re
from typing import Optional

import unicorn

from emulator.cpuid import CR4_ALLOWED

CR0_PE, CR0_NW, CR0_CD, CR0_PG = 1, 1 << 29, 1 << 30, 1 << 31
VEC_GP = 13
_MOV_CR = re.compile(r"^(cr[034]), (e[a-ds][xip]|e[sd]i)$")


def parse(mnemonic: str, op_str: str) -> Optional[tuple[str, str]]:
    """("cr4", "eax") for ``mov cr4, eax``; None for anything else."""
    if mnemonic != "mov" or not op_str.startswith("cr"):
        return None
    m = _MOV_CR.match(op_str)
    return (m.group(1), m.group(2)) if m else None


def fault(cr: str, value: int) -> bool:
    """Whether writing ``value`` to ``cr`` is #GP(0)."""
    if cr == "cr4":
        return bool(value & ~CR4_ALLOWED & 0xFFFFFFFF)
    if cr == "cr0":
        return bool((value & CR0_PG and not value & CR0_PE)
                    or (value & CR0_NW and not value & CR0_CD))
    return False


class ControlWrites:
    """The machine's hooks on ``mov crN, r32`` sites (see the module docstring)."""

    def __init__(self, machine) -> None:
        self.machine = machine
        self.sites: dict = {}          # linear address -> (cr, source register)
        self.hooked: set = set()

    def pending(self, block_sites) -> list:
        return [a for a, _cr, _reg in block_sites if a not in self.hooked]

    def install(self, block_sites) -> None:
        for addr, cr, reg in block_sites:
            if addr in self.hooked:
                continue
            self.hooked.add(addr)
            self.sites[addr] = (cr, reg)
            for cpu in self.machine.cpus:
                cpu.uc.hook_add(unicorn.UC_HOOK_CODE, self._make_hook(cpu), None, addr, addr)
                cpu.uc.ctl_remove_cache(addr, addr + 1)

    def _make_hook(self, cpu):
        def on_write(uc, address, _size, _ud):
            site = self.sites.get(address)
            if site is None:
                return
            cr, reg = site
            value = cpu.read(reg)
            if fault(cr, value):
                cpu.pending_exc = (VEC_GP, "exception", 0)
                uc.emu_stop()
                return
            old = cpu.read(cr)
            if cr == "cr0":
                if value & CR0_PG and not cpu.paging_on:
                    cpu.cr2_kept = cpu.read("cr2")      # see Machine._start
                cpu.paging_on = bool(value & CR0_PG)
            if cr == "cr3" and value != old or cr == "cr0" and (value ^ old) & (CR0_PG | CR0_PE):
                self.machine.forget_blocks(cpu)
        return on_write
