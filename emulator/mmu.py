"""The MMU as the CPU's own accesses see it: 32-bit paging, page walks, #PF.

Unicorn translates the guest's instruction and data accesses itself (QEMU's
softmmu, with CR2 and the error code set on a fault).  What it leaves to the
machine are the accesses the *processor* makes while delivering an event --
reading the IDT, GDT, LDT and TSS, pushing the frame -- and the debugger's
and the block decoder's reads of code and data by linear address.  Those go
through ``Mmu`` here, as the hardware does (Intel SDM vol. 3A ch. 4):

* paging is on when CR0.PG is set; the machine models 32-bit paging only
  (CPUID reports PSE but not PAE, so CR4.PAE is a reserved bit, emulator/
  cpuid.py): CR3 -> page directory -> page table -> 4-KiB page, or, with
  CR4.PSE and PDE.PS, a 4-MiB page (PDE bit 21 reserved, SDM table 4-5);
* an access is allowed (SDM 4.6) when every level is present; a user-mode
  access needs U/S=1 at both levels, and a user write R/W=1 at both; a
  supervisor write to a read-only page faults only with CR0.WP=1.  The
  processor's own accesses to descriptor tables and the TSS, and its pushes
  while delivering, are supervisor-mode accesses whatever the CPL (SDM
  4.6, "implicit supervisor-mode accesses");
* a walk sets the accessed bit of each entry it uses, and the dirty bit of
  the page for a write (SDM 4.8), as the CPU does;
* a failed walk raises ``PageFault(linear, error_code)``; the error code
  (SDM 4.7, figure 4-12): bit 0 P (0 = not present, 1 = protection), bit 1
  W/R, bit 2 U/S, bit 3 RSVD (a reserved bit set in a paging entry); bit 4
  I/D stays 0 under 32-bit paging without SMEP, as the SDM says.
* A paging structure outside RAM is ``BusError`` (the machine reports a
  crash: there is no device behind it).

``Mmu(ram, regs)``: ``ram`` the machine's RAM (a memoryview), ``regs`` a
function returning (CR0, CR3, CR4).  ``translate(linear, write=False,
user=False)`` -> physical address; ``read(linear, n, user=False)`` and
``write(linear, data, user=False)`` cross page boundaries, and ``write``
checks every page before it stores anything.  ``read_debug`` is the
debugger's: no fault, no accessed bits, None where nothing is mapped.
"""

from __future__ import annotations

import struct
from typing import Callable, Optional

CR0_PE, CR0_WP, CR0_PG = 1, 1 << 16, 1 << 31
CR4_PSE, CR4_PAE = 1 << 4, 1 << 5

PTE_P, PTE_W, PTE_U, PTE_A, PTE_D, PTE_PS = 1, 2, 4, 1 << 5, 1 << 6, 1 << 7
PDE_4M_RESERVED = 1 << 21                      # 32-bit paging, PSE without PSE-36

PF_P, PF_W, PF_U, PF_RSVD, PF_ID = 1, 2, 4, 8, 16

_U32 = struct.Struct("<I")


class PageFault(Exception):
    """A #PF: ``linear`` goes to CR2, ``error_code`` is pushed."""

    def __init__(self, linear: int, error_code: int) -> None:
        super().__init__(f"page fault at {linear:#010x} (error code {error_code:#x})")
        self.linear = linear & 0xFFFFFFFF
        self.error_code = error_code


class BusError(Exception):
    """A paging structure (or a page) lies outside RAM."""


class Mmu:
    def __init__(self, ram, regs: Callable[[], tuple]) -> None:
        self.ram = ram
        self.regs = regs

    def paging(self) -> bool:
        return bool(self.regs()[0] & CR0_PG)

    # -- the walk --------------------------------------------------------------
    def _entry(self, addr: int) -> int:
        if addr + 4 > len(self.ram):
            raise BusError(f"a paging entry at physical {addr:#x} lies outside RAM")
        return _U32.unpack_from(self.ram, addr)[0]

    def _set(self, addr: int, value: int, bits: int) -> None:
        if value & bits != bits:
            _U32.pack_into(self.ram, addr, value | bits)

    def translate(self, linear: int, write: bool = False, user: bool = False,
                  touch: bool = True) -> int:
        """The physical address of ``linear``; raises PageFault as the CPU would."""
        cr0, cr3, cr4 = self.regs()
        linear &= 0xFFFFFFFF
        if not cr0 & CR0_PG:
            return linear
        err = (PF_W if write else 0) | (PF_U if user else 0)
        pde_addr = (cr3 & 0xFFFFF000) + ((linear >> 22) << 2)
        pde = self._entry(pde_addr)
        if not pde & PTE_P:
            raise PageFault(linear, err)
        if pde & PTE_PS and cr4 & CR4_PSE:
            if pde & PDE_4M_RESERVED:
                raise PageFault(linear, err | PF_P | PF_RSVD)
            self._check(linear, err, pde, cr0)
            if touch:
                self._set(pde_addr, pde, PTE_A | (PTE_D if write else 0))
            return (pde & 0xFFC00000) | (linear & 0x3FFFFF)
        pte_addr = (pde & 0xFFFFF000) + (((linear >> 12) & 0x3FF) << 2)
        pte = self._entry(pte_addr)
        if not pte & PTE_P:
            raise PageFault(linear, err)
        self._check(linear, err, pde & pte, cr0)
        if touch:
            self._set(pde_addr, pde, PTE_A)
            self._set(pte_addr, pte, PTE_A | (PTE_D if write else 0))
        return (pte & 0xFFFFF000) | (linear & 0xFFF)

    @staticmethod
    def _check(linear: int, err: int, rights: int, cr0: int) -> None:
        """``rights`` = the AND of the levels' entries (U/S and R/W combine so)."""
        if err & PF_U:
            if not rights & PTE_U or (err & PF_W and not rights & PTE_W):
                raise PageFault(linear, err | PF_P)
        elif err & PF_W and not rights & PTE_W and cr0 & CR0_WP:
            raise PageFault(linear, err | PF_P)

    # -- accesses ------------------------------------------------------------------
    def _pieces(self, linear: int, n: int, write: bool, user: bool, touch: bool = True):
        """(physical, length) runs covering [linear, linear+n), each within a page."""
        out = []
        while n > 0:
            take = min(n, 0x1000 - (linear & 0xFFF))
            phys = self.translate(linear, write, user, touch)
            if phys + take > len(self.ram):
                raise BusError(f"linear {linear:#010x} is physical {phys:#x}, outside RAM")
            out.append((phys, take))
            linear = (linear + take) & 0xFFFFFFFF
            n -= take
        return out

    def read(self, linear: int, n: int, user: bool = False) -> bytes:
        ram = self.ram
        return b"".join(bytes(ram[p:p + k]) for p, k in self._pieces(linear, n, False, user))

    def write(self, linear: int, data: bytes, user: bool = False) -> None:
        pieces = self._pieces(linear, len(data), True, user)      # every page first
        ram = self.ram
        i = 0
        for p, k in pieces:
            ram[p:p + k] = data[i:i + k]
            i += k

    def read_debug(self, linear: int, n: int) -> Optional[bytes]:
        """The debugger's read: no fault and no accessed bit; None if unmapped."""
        try:
            pieces = self._pieces(linear, n, False, False, touch=False)
        except (PageFault, BusError):
            return None
        return b"".join(bytes(self.ram[p:p + k]) for p, k in pieces)

    def physical(self, linear: int) -> Optional[int]:
        """Where ``linear`` lives in RAM now (None: not mapped); no side effects."""
        try:
            return self.translate(linear, touch=False)
        except (PageFault, BusError):
            return None
