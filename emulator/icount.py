"""The instruction clock: virtual time counted block by block.

Virtual time is the count of guest instructions retired (emulator/clock.py).
A block hook -- the C one in emulator/native/blockhook.c, or ``py_block``
here, its Python twin -- adds each translation block's instruction count
(cached per block, decoded once with libcapstone: emulator/disasm.py) and stops the engine
*before* a block when the next event (device deadline, injection, budget)
would fall inside it; the run loop (emulator/runloop.py) then runs the few
instructions up to the event with ``emu_start``'s ``until`` set to the
instruction where it falls (``partial_until``).  At a port access the exact
time is the count at block entry plus the instructions before the access
plus one (the access itself is retired, as QEMU's icount does).  Unicorn
finishes the whole block after a stop requested from an I/O hook, so every
instruction that follows an ``in``/``out`` inside a block gets a post-I/O
hook that stops there when the access changed something (an interrupt
became pending, an earlier deadline, the exit port): an ``out`` that unmasks
a pending line takes effect at the very next boundary.  Pinned by
tests/emulator/test_unicorn_facts.py; the two hooks give the same traces
(tests/emulator/test_native.py).

APIC MMIO: Unicorn does not update EIP before an MMIO callback, so the
accessing instruction is found from the block (``mmio_now``): the first
instruction naming an absolute APIC address (``[0xfee000b0]``, found when
the block is decoded) at or after the place the CPU was last seen
(``last_post``: the block entry or the last post-I/O hook).  Those
instructions get post-I/O hooks like ``in``/``out``, so an EOI, TPR or ICR
write takes effect at the very next boundary.  An access through a register
(``[ebx+0x300]``) is counted at the last place seen and takes effect at the
next block (documented imprecision; the kernel and the probes use absolute
addresses).

State
-----
Per CPU (``emulator.cpu.Cpu``): ``cpu.st``, the counters the block hook
keeps (``HookState`` here, or the same fields in the C hook's struct:
``now``, ``block_start``, ``deadline``, ``cur_block``, ``last_block``,
``skip_addr``, ``last_post``, ``flags``); ``cpu.blocks``, the block last
entered at each linear address.  Blocks of a CPU started by a SIPI are
decoded as 16-bit code until it runs a 32-bit code segment
(``cpu.maybe_16bit``), and block addresses are linear.

``InstructionClock(clock, ram_view, mem_size)``, one per machine:

* ``cpu``: the acting CPU, whose engine runs (the machine sets it);
  ``cpus``: every CPU (post-I/O hooks go into every engine).
* ``block_count(addr, size)`` -- instructions in the block (0: stop, hooks
  must be installed first: ``install_io_hooks``); the C hook's miss call.
* ``sync(eip, retired_current=False)``: ``clock.now`` = the exact count at
  ``eip`` inside the acting CPU's current block.
* ``previous(cpu, eip)``: the instruction retired just before ``eip`` when
  it ended a block (``sti``, ``mov ss``, ``hlt``, ``int n``...), else "".
* ``invalidate(addr, n)``: forget every cached translation and count of
  ``[addr, addr+n)``, in every engine and hook.
* ``decoded``: (address, size[, ("phys", address)][, "16"]) -> ``Block``,
  shared by the CPUs.
* ``forget(cpu)``: forget ``cpu``'s counts cached by linear address (its
  address space changed), keeping the block it is executing.

Paging (emulator/mmu.py): blocks are read and decoded through the acting
CPU's page tables, and with paging on the decoded-block key holds the
physical address the block's linear address maps to now.  Each ``mov
cr0|cr3|cr4, r32`` a decoded block holds (``Block.crw``) gets a code hook
before the block first runs (``control``: emulator/crwrite.py
``ControlWrites``; ``block_count`` answers 0 and leaves the sites in
``pending_cr`` for the run loop to install, as it does post-I/O hooks);
so does each ``ins``/``outs`` (``Block.strio``, ``pending_strio``:
emulator/ioperm.py ``StringIoChecks`` checks its I/O permission first).
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from typing import Optional

import unicorn

from emulator.clock import Clock
from emulator.crwrite import parse as parse_cr_write
from emulator.disasm import Disasm
from emulator.devices.platform import MMIO_RANGES

INF = 1 << 62

# flags shared with the block hook (same bits in native/blockhook.c)
F_STOP = 1          # stop at the next block entry or post-I/O hook
F_WATCH_IF = 2      # an interrupt waits for IF: stop at a block entry with IF=1

IO_MNEMONICS = frozenset({"in", "out", "insb", "insw", "insd", "outsb", "outsw", "outsd"})
STRING_IO = frozenset({"insb", "insw", "insd", "outsb", "outsw", "outsd"})   # also after "rep "
_MEM_ABS = re.compile(r"\[(0x[0-9a-f]+)\]")


def _mmio_operand(op_str: str) -> bool:
    """The instruction names an absolute address in the APIC pages ([0xfee000b0])."""
    if "[0xfe" not in op_str:
        return False
    m = _MEM_ABS.search(op_str)
    if m is None:
        return False
    a = int(m.group(1), 16)
    return any(base <= a < base + size for base, size in MMIO_RANGES)


class HookState:
    """The counters the block hook keeps (mirrors ``struct bh_state`` in C)."""

    def __init__(self) -> None:
        self.now = 0            # instructions retired if the current block completes
        self.block_start = 0    # instructions retired at entry of the current block
        self.deadline = INF     # stop before a block that would run past this
        self.cur_block = 0
        self.last_block = 0
        self.skip_addr = -1     # one block entry that ignores the deadline (partial runs)
        self.last_post = 0      # the block's address, then each post-I/O hook's
        self.flags = 0


@dataclass
class Block:
    addr: int
    size: int
    offsets: tuple          # offset of each instruction from addr
    last: str               # the last instruction's mnemonic + operands
    io_next: tuple          # addresses right after in/out that are not the block's last
    mmio: tuple = ()        # indices of instructions naming an absolute APIC address
    crw: tuple = ()         # (address, cr, register) of each mov to CR0/CR3/CR4
    strio: tuple = ()       # address of each ins/outs (emulator/ioperm.py checks it first)


def block_index(blocks: dict, st, eip: int) -> Optional[int]:
    """How many instructions of the CPU's current block (``st.cur_block`` in
    ``blocks``) lie before ``eip``, or None when ``eip`` is not in it."""
    b = blocks.get(st.cur_block)
    if b is None or not b.addr <= eip <= b.addr + b.size:
        return None
    return bisect.bisect_left(b.offsets, eip - b.addr)     # offsets ascend


def partial_until(uc, block: Block, k: int) -> Optional[int]:
    """The address after exactly ``k`` instructions of ``block`` (``k`` below
    its count, so all straight-line: a block branches only at its end), as
    emu_start's ``until``; cached blocks there are dropped (they were
    translated without that exit)."""
    if k <= 0:
        return None
    addr = block.addr + block.offsets[k]
    uc.ctl_remove_cache(block.addr, addr + 1)
    return addr


class InstructionClock:
    """Block counts, post-I/O hooks and exact times for the machine's CPUs."""

    def __init__(self, clock: Clock, ram_view, mem_size: int) -> None:
        self.clock = clock
        self.ram_view = ram_view
        self.mem_size = mem_size
        self.cpus: list = []
        self.cpu = None                             # the acting CPU
        self.decoded: dict[tuple, Block] = {}       # (address, size, ...) -> decoded block
        self.post_io_hooked: set[int] = set()
        self.pending_io_hooks: list[int] = []
        self.control = None                         # crwrite.ControlWrites (the machine's)
        self.pending_cr: list = []                  # Block.crw sites to hook before running
        self.string_io = None                       # ioperm.StringIoChecks (the machine's)
        self.pending_strio: list = []               # Block.strio sites to hook before running
        self._cs = Disasm()
        self._cs16 = Disasm(mode16=True)

    # -- counting ------------------------------------------------------------
    def _decode(self, addr: int, size: int, key: tuple) -> Block:
        code = self.cpu.read_linear(addr, size) or b""
        offsets, last, io_next, mmio, crw, strio = [], "", [], [], [], []
        cs = self._cs16 if key[-1] == "16" else self._cs
        # (address, size, mnemonic, operands): no CsInsn objects, a third of the cost
        insns = cs.lite(code, addr)
        for i, (address, isize, mnemonic, op_str) in enumerate(insns):
            offsets.append(address - addr)
            is_mmio = _mmio_operand(op_str)
            if is_mmio:
                mmio.append(i)
            if i + 1 < len(insns) and (mnemonic in IO_MNEMONICS or is_mmio):
                io_next.append(address + isize)
            site = parse_cr_write(mnemonic, op_str)
            if site is not None:
                crw.append((address,) + site)
            if mnemonic.rpartition(" ")[2] in STRING_IO:
                strio.append(address)
        if insns:
            last = (insns[-1][2] + " " + insns[-1][3]).strip()
        if not offsets:
            offsets = [0]
        b = Block(addr, size, tuple(offsets), last, tuple(io_next), tuple(mmio), tuple(crw),
                  tuple(strio))
        self.decoded[key] = b
        return b

    def block_count(self, addr: int, size: int) -> int:
        """Instructions in the block at ``addr`` (0: stop, hooks must be added first)."""
        cpu = self.cpu
        key = (addr, size, "16") if cpu.maybe_16bit and cpu.code_16bit() else (addr, size)
        if cpu.paging_on:
            key = (addr, size, ("phys", cpu.mmu.physical(addr))) + key[2:]   # the code mapped there now
        b = self.decoded.get(key)
        if b is None:
            b = self._decode(addr, size, key)
        cpu.blocks[addr] = b                    # what the hook counts for this address now
        new = [a for a in b.io_next if a not in self.post_io_hooked]
        if b.crw and self.control.pending(b.crw):
            self.pending_cr.append(b.crw)
            return 0
        if b.strio and self.string_io.pending(b.strio):
            self.pending_strio.append(b.strio)
            return 0
        if new:
            self.pending_io_hooks.extend(new)
            return 0
        return len(b.offsets)

    def py_block(self, uc, addr, size, _ud) -> None:
        """The Python block hook: bh_block of native/blockhook.c, line for line."""
        cpu = self.cpu
        st = cpu.st
        n = self.block_count(addr, size)
        stop = n == 0 or st.flags & F_STOP
        if not stop and st.now + n > st.deadline:
            stop = addr != st.skip_addr
        st.skip_addr = -1
        if not stop and st.flags & F_WATCH_IF:
            stop = bool(cpu.interrupts_enabled)
        st.last_block = st.cur_block
        st.cur_block = addr
        st.block_start = st.now
        st.last_post = addr
        if stop:
            uc.emu_stop()
        else:
            st.now += n

    def post_io(self, uc, addr, size, _ud) -> None:
        """The Python post-I/O hook: bh_post_io."""
        st = self.cpu.st
        st.last_post = addr
        if st.flags & F_STOP:
            uc.emu_stop()

    def install_io_hooks(self) -> None:
        """Post-I/O hooks for the addresses ``block_count`` asked for, in every engine."""
        for a in self.pending_io_hooks:
            if a in self.post_io_hooked:
                continue
            self.post_io_hooked.add(a)
            for cpu in self.cpus:
                if cpu.native is not None:
                    cpu.native.add_post_io_hook(cpu.uc, a)
                else:
                    cpu.uc.hook_add(unicorn.UC_HOOK_CODE, self.post_io, None, a, a)
                cpu.uc.ctl_remove_cache(a, a + 1)
        self.pending_io_hooks.clear()

    def install_cr_hooks(self) -> None:
        """Code hooks on the ``mov crN`` and ``ins``/``outs`` sites ``block_count`` asked for."""
        for sites in self.pending_cr:
            self.control.install(sites)
        self.pending_cr.clear()
        for sites in self.pending_strio:
            self.string_io.install(sites)
        self.pending_strio.clear()

    def forget(self, cpu) -> None:
        """Forget ``cpu``'s instruction counts cached by linear address (its
        address space changed), keeping the block it is executing."""
        keep = cpu.blocks.get(cpu.st.cur_block)
        cpu.blocks.clear()
        if keep is not None:
            cpu.blocks[keep.addr] = keep
        if cpu.native is not None:
            cpu.native.clear_cache()

    def invalidate(self, addr: int, n: int) -> None:
        """Forget translations and block counts overlapping [addr, addr+n)."""
        for cpu in self.cpus:
            cpu.uc.ctl_remove_cache(addr, addr + max(n, 1))
        for cpu in self.cpus:
            blocks = cpu.blocks
            for a in [a for a, b in blocks.items() if a < addr + n and addr < a + b.size]:
                del blocks[a]
        for k in [k for k in self.decoded if k[0] < addr + n and addr < k[0] + k[1]]:
            del self.decoded[k]
        for cpu in self.cpus:
            if cpu.native is not None:
                cpu.native.clear_cache()

    # -- exact times ---------------------------------------------------------
    def sync(self, eip: int, retired_current: bool = False) -> None:
        """Set clock.now to the exact count at ``eip`` inside the acting CPU's block."""
        st = self.cpu.st
        idx = block_index(self.cpu.blocks, st, eip)
        if idx is None:
            self.clock.now = st.block_start
        else:
            self.clock.now = st.block_start + idx + (1 if retired_current else 0)

    def mmio_now(self) -> None:
        """Set clock.now just past the acting CPU's accessing instruction.

        EIP is not up to date inside Unicorn's MMIO callbacks: the access is
        the first instruction naming an APIC address at or after the place
        the CPU was last seen in its block (``st.last_post``, kept by the
        block and post-I/O hooks).  An access through a register (not an
        absolute address) is counted at that place and takes effect at the
        next block."""
        st = self.cpu.st
        b = self.cpu.blocks.get(st.cur_block)
        if b is None:
            self.clock.now = st.block_start
            return
        off = st.last_post - b.addr
        start = bisect.bisect_left(b.offsets, off)
        idx = next((i for i in b.mmio if i >= start), None)
        if idx is None:
            idx = start
            st.flags |= F_STOP          # no post hook there: stop at the next block
        self.clock.now = st.block_start + idx + 1

    def previous(self, cpu, eip: int) -> str:
        """The instruction retired just before ``eip`` when it ended a block, else "".

        Only block-ending instructions matter here: sti, mov ss, pop ss, hlt
        and int n all end QEMU's translation blocks."""
        kept = cpu.restored_prev
        if kept is not None:
            # a restore forgot the blocks; the snapshot said what came before
            if kept[:2] == (eip, self.clock.now):
                return kept[2]
            cpu.restored_prev = None
        blocks, st = cpu.blocks, cpu.st
        idx = block_index(blocks, st, eip)
        if idx is None:
            return ""
        if idx > 0:
            b = blocks[st.cur_block]
            return b.last if idx == len(b.offsets) else ""
        prev = blocks.get(st.last_block)
        return prev.last if prev is not None else ""
