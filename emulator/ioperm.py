"""I/O permission: the check a port access makes below IOPL (SDM vol. 1 19.5).

In protected mode an ``in``/``out``/``ins``/``outs`` (with or without
``rep``) at CPL > EFLAGS.IOPL may reach its port only when the TSS's I/O
permission bit map allows it (SDM vol. 1 19.5.2, vol. 3A 8.2.1 / 8.7 "I/O
permission bit map"); otherwise it is #GP(0) and
nothing happens: no device is touched, no register or flag changes, the
instruction does not retire (EIP stays at it).  The map:

* TR must hold a present 32-bit TSS (type 9 available or 11 busy) whose
  limit is at least 103, else every checked access faults;
* the 16-bit I/O map base is at TSS offset 0x66; port ``p`` is bit
  ``p & 7`` of the byte at ``base + p // 8``; every port a multi-byte
  access covers (``p .. p+size-1``) must have its bit clear;
* two bytes are read there, and both must lie within the TSS limit, else
  the bits count as set (hence the 0xFF byte that ends a map);
* the map is read as a supervisor read at TR's linear base: a #PF there is
  the fault the access raises instead.
QEMU does the same (target/i386/tcg/seg_helper.c ``check_io``, called when
``pe && cpl > iopl``); QEMU's TR cache holds type 9, irqlab's task
switches leave 11 there, and both mean a 32-bit TSS.

Unicorn 2.1.4 does not check (tests/emulator/test_unicorn_facts.py): its
in/out hook runs and the instruction completes (and an ``ins`` has already
stored 0 at ES:[EDI] when the hook runs).  So irqlab checks in two places:

* ``ins``/``outs``, with or without ``rep``: ``StringIoChecks`` puts a code
  hook before each one as its block is first decoded (emulator/icount.py
  ``Block.strio``, installed by the run loop as the ``mov crN`` hooks are);
  a refusal makes #GP(0) pending and stops the engine before the
  instruction, so nothing of it happens.  The check comes before REP's
  count, so ``rep outs`` with ECX = 0 is refused too (QEMU and Bochs check
  before the loop; the SDM puts the check first in INS/OUTS and is silent
  on a zero count).  A ``rep`` form is checked before every element (the
  port is the same, so it is refused at the first or never).
* ``in``/``out``: the machine's port hooks ask ``refused(cpu, port, size)``
  first (one register read when CPL is 0), and on a refusal call
  ``refuse(machine, cpu, is_in)``, which records what to put back (EIP at
  the instruction, EAX, the time before the instruction) in
  ``cpu.io_refused``, makes #GP(0) pending (``cpu.pending_exc``: delivered
  at the next boundary by emulator/accept.py, as an engine-raised
  exception is), asks the engine to stop right after the instruction
  (``F_STOP``: the post-I/O hook on the next instruction, or the next
  block's entry) and returns what an ``in`` reads: EAX's own bits, so the
  destination is left as it was.  After the engine stops, the run loop
  calls ``undo(machine, cpu)``, which puts the registers and the clock
  back: the instruction did not retire.

Not modelled: virtual-8086 mode, where every access is checked whatever
the IOPL (irqlab does not run it).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Optional

import unicorn

from emulator.icount import F_STOP
from emulator.x86 import VEC_GP, VEC_PF, DeliveryFault

IOPL_SHIFT = 12                  # EFLAGS bits 13:12
TSS_AVAILABLE32, TSS_BUSY32 = 0x9, 0xB
TSS_MIN_LIMIT = 103              # a 32-bit TSS is at least 104 bytes
TSS_IOMAP_BASE = 0x66            # offset of the 16-bit I/O map base
DESC_P = 1 << 15                 # present bit in TR's flags (descriptor high word)
STRING_OPCODES = (0x6C, 0x6D, 0x6E, 0x6F)          # insb, insw/d, outsb, outsw/d
PREFIXES = frozenset({0x26, 0x2E, 0x36, 0x3E, 0x64, 0x65, 0x66, 0x67, 0xF0, 0xF2, 0xF3})
SAVED = ("eax",)                 # what an in/out may change besides EIP


@dataclass
class Refusal:
    """What a refused access changed that ``undo`` puts back."""
    eip: int
    time: int                    # virtual time before the instruction
    regs: dict


def refused(cpu, port: int, size: int, cs: Optional[int] = None) -> bool:
    """Whether the acting CPU's access of ``size`` bytes at ``port`` is #GP(0)
    (a #PF reading the map is made pending here and counts as refused);
    ``cs``: the CS selector when the caller has it, else it is read."""
    cpl = (cpu.read("cs") if cs is None else cs) & 3     # CS.RPL: the CPL in protected mode
    if cpl == 0 or not cpu.protected():
        return False                         # ring 0 (or real mode): never checked
    if cpl <= (cpu.eflags >> IOPL_SHIFT) & 3:
        return False
    try:
        return not _map_allows(cpu, port, size)
    except DeliveryFault as fault:
        cpu.pending_exc = (fault.vector, "exception", fault.error_code)
        if fault.vector == VEC_PF and fault.cr2 is not None:
            cpu.write("cr2", fault.cr2)
        return True


def _map_allows(cpu, port: int, size: int) -> bool:
    """The TSS's I/O permission bit map allows every port of the access."""
    _sel, base, limit, flags = cpu.task_register()
    if not flags & DESC_P or (flags >> 8) & 0xF not in (TSS_AVAILABLE32, TSS_BUSY32) \
            or limit < TSS_MIN_LIMIT:
        return False
    (map_base,) = struct.unpack("<H", cpu.sys_read(base + TSS_IOMAP_BASE, 2))
    offset = map_base + (port >> 3)
    if offset + 1 > limit:           # both bytes read must be inside the TSS
        return False
    (bits,) = struct.unpack("<H", cpu.sys_read(base + offset, 2))
    return (bits >> (port & 7)) & ((1 << size) - 1) == 0


class StringIoChecks:
    """Code hooks before each ``ins``/``outs`` (emulator/icount.py finds them
    as blocks are decoded, ``Block.strio``): the check runs before the
    instruction, so a refusal stops the engine with nothing done."""

    def __init__(self, machine) -> None:
        self.machine = machine
        self.hooked: set = set()

    def pending(self, sites) -> list:
        return [a for a in sites if a not in self.hooked]

    def install(self, sites) -> None:
        for addr in sites:
            if addr in self.hooked:
                continue
            self.hooked.add(addr)
            for cpu in self.machine.cpus:
                cpu.uc.hook_add(unicorn.UC_HOOK_CODE, self._make_hook(cpu), None, addr, addr)
                cpu.uc.ctl_remove_cache(addr, addr + 1)

    @staticmethod
    def _make_hook(cpu):
        def before(uc, address, _size, _ud):
            if cpu.read("cs") & 3 == 0:
                return                               # ring 0: nothing to check
            size = string_io_size(cpu.read_linear(address, 15) or b"")
            if size and refused(cpu, cpu.read("edx") & 0xFFFF, size):
                if cpu.pending_exc is None:          # (a #PF reading the map comes instead)
                    cpu.pending_exc = (VEC_GP, "exception", 0)
                uc.emu_stop()                        # before the instruction (code hook)
        return before


def string_io_size(code: bytes) -> int:
    """The element size of the ``ins``/``outs`` that ``code`` (32-bit code)
    starts with, else 0 (the linear address may hold other code by now)."""
    size = 4
    for b in code:
        if b == 0x66:
            size = 2
        elif b not in PREFIXES:
            return 0 if b not in STRING_OPCODES else 1 if b in (0x6C, 0x6E) else size
    return 0


def refuse(machine, cpu, is_in: bool) -> int:
    """Make the access at EIP fault (see the module docstring); the value an
    ``in`` hook returns."""
    eip, clock = cpu.eip, machine.clock
    now = clock.now
    machine.icount.sync(cpu.pc)              # the time before the instruction
    before, clock.now = clock.now, now
    regs = {name: cpu.read(name) for name in SAVED}
    cpu.io_refused = Refusal(eip, before, regs)
    if cpu.pending_exc is None:              # (a #PF reading the map comes instead)
        cpu.pending_exc = (VEC_GP, "exception", 0)
    cpu.st.flags |= F_STOP
    return regs["eax"] if is_in else 0       # the engine writes AL/AX/EAX back as it was


def undo(machine, cpu) -> None:
    """After the engine stopped: the refused instruction did not happen."""
    r = cpu.io_refused
    if r is None:
        return
    cpu.io_refused = None
    for name, value in r.regs.items():
        cpu.write(name, value)
    cpu.eip = r.eip
    machine.clock.now = r.time
    cpu.st.now = cpu.st.block_start = r.time
