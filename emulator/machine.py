"""The machine: CPUs on Unicorn, RAM, the PC devices, virtual time, the run loop.

API (what the debugger, observer, checkers and scenario scripts build on)
-------------------------------------------------------------------------
``Machine.from_image(path, append="", mem_mib=32, cpus=1, serial_in=None,
native=True)`` loads a Multiboot v1 image (emulator/loader.py) and returns a
machine at the kernel's entry.  ``Machine.from_bytes(data, ...)`` likewise.

* ``run(max_instructions=None) -> RunResult(status, reason, report)``:
  runs until the guest writes port 0xF4 (status = value, reason "exit"),
  the budget is spent (124, "budget"), the guest crashes or deadlocks (126,
  "crash" / "triple-fault" / "deadlock", ``report`` a paragraph), powers
  off through ACPI (0, "poweroff"; S3: 126, "suspend"), or
  ``stop()`` is called (status None, reason "stopped").  ``run`` may be
  called again to continue.  ``max_instructions`` counts from this call;
  events due exactly at the end (an interrupt, an exec hook) happen at the
  start of the next run.
* ``step(n=1)``: retire exactly ``n`` instructions (interrupts are taken at
  boundaries in between as in ``run``; a delivery is not an instruction).
* ``stop()``: callable from a hook or another thread (Ctrl-C); the engine
  stops at the next block boundary.
* ``clock.now``: virtual time = instructions retired (emulator/clock.py).
* ``current_cpu``: index into ``cpus`` of the CPU that is acting (the one
  whose instruction, port/MMIO access or delivery caused the event being
  handled); device trace events are stamped with it.  Exec hooks, watches
  and ``on_interrupt`` callbacks also get the ``Cpu`` itself.
* ``cpus[i]``: ``emulator.cpu.Cpu`` -- ``read(name)``/``write(name, v)``,
  ``cpu["eax"]``, ``eip``, ``pc`` (linear: CS base + EIP in real mode),
  ``halted``, ``registers()``, ``index``; ``ncpus`` = ``len(cpus)``.
* ``platform``: ``emulator.smp.ApicPlatform`` -- ``lapics[i]`` (CPU i's
  local APIC, also ``cpus[i].interrupt_source``), ``ioapic``;
  ``rr``: ``emulator.smp.RoundRobin`` -- ``state[i]`` running / halted /
  wait-for-sipi, ``current``, ``turns``.
* ``mem_read(addr, n) -> bytes``, ``mem_write(addr, data)`` (drops cached
  translations of that range).
* ``devices``: dict by name -- pic, pit, port61 (the PIT object, which owns
  port 0x61), uart, rtc, i8042, debugcon, debugexit, testdev, fw_cfg,
  acpi_pm, hpet (the last three from ``firmware``: emulator/firmware.py,
  which also wrote the ACPI tables into RAM).
* ``symbols``: ``asm.symfile.load_symbols(image)`` (empty table if none).
* ``add_exec_hook(addr, fn) -> handle`` / ``remove_exec_hook(handle)``:
  ``fn(machine, cpu)`` runs when ``cpu`` is about to execute ``addr``
  (before it); ``machine.clock.now`` is exact there.  The hook may call
  ``stop()`` (the run ends before ``addr``; resuming does not call the same
  hook again at the same time); it costs nothing while not hit.
* ``add_write_watch(addr, length, fn)`` / ``add_read_watch(...)`` ->
  handle, ``remove_watch(handle)``: ``fn(machine, cpu, addr, size, value)``
  on guest data accesses in the range (value None for reads).
* ``on_interrupt``: list of ``fn(cpu, vector, kind, eip_from, error_code)``
  called after each delivery (kind "irq", "exception" or "soft").
* ``trace``: sink with ``emit(kind, cpu, **fields)`` (default: drops);
  ``set_trace(sink)`` routes the devices' ``self.trace`` through it,
  stamped with ``t=clock.now`` by the sink and ``cpu``.
* ``inject(spec)`` (a string as ``--inject`` or an ``inject.Injection``),
  ``schedule(t, fn)``: call ``fn(machine)`` at the boundary where
  ``clock.now`` reaches ``t``.
* ``snapshot()`` / ``restore(snap)``: each engine's whole CPU context
  (``uc.context_save``: hidden segment caches too, so stale fs/gs selectors
  restore), RAM, devices and APICs (their ``save_state()``; the wiring
  stays), the round robin, clock, pending schedule and each CPU's run-loop
  state (an exception raised but not yet delivered, the interrupt shadow —
  also the one a restore right after ``sti``/``mov ss`` is still in, which
  the decoded blocks it drops would have told — NMI blocking).
* ``console``: callable taking bytes, stdout by default; 0xE9 and COM1
  both go there, in the order written.

How time is counted
-------------------
A block hook (the C one in emulator/native/, or the same logic in Python)
adds each translation block's instruction count (cached per block, decoded
once with capstone) and stops the engine *before* a block when the next
event (device deadline, injection, budget) would fall inside it; the few
instructions up to the event are then run with a temporary code hook on
the instruction where it falls.  At a port access the exact time is the
count at block entry plus the instructions before the access plus one (the
access itself is retired, as QEMU's icount does).  Unicorn finishes the
whole block after a stop requested from an I/O hook, so every instruction
that follows an ``in``/``out`` inside a block gets a code hook that stops
there when the access changed something (an interrupt became pending, an
earlier deadline, the exit port): an ``out`` that unmasks a pending line
takes effect at the very next boundary.  Pinned by tests/emulator/
test_unicorn_facts.py.

APIC MMIO (0xFEE00000 the acting CPU's LAPIC, 0xFEC00000 the IO APIC) is
mapped in every engine with ``mmio_map``.  Unicorn does not update EIP
before an MMIO callback, so the accessing instruction is found from the
block: the first instruction naming an absolute APIC address (``[0xfee000b0]``,
found when the block is decoded) at or after the place the CPU was last
seen (``last_post``: the block entry or the last post-I/O hook).  Those
instructions get post-I/O hooks like ``in``/``out``, so an EOI, TPR or ICR
write takes effect at the very next boundary.  An access through a register
(``[ebx+0x300]``) is counted at the last place seen and takes effect at the
next block (documented imprecision; the kernel and the probes use absolute
addresses).

Several CPUs (``cpus=N``, emulator/smp.py): one Unicorn engine per CPU on the
same RAM, each with its own block-hook counters (``cpu.st``), block table
and loop state (``cpu.pending_exc``, ``shadow_spent``, ``just_delivered``,
``nmi_blocked``); the machine switches ``st``/``current_cpu`` to the CPU
whose turn it is.  Turns go in index order, ``RoundRobin.quantum`` (1000)
instructions each, on one clock (the instructions of all CPUs); a turn cut
short by an event resumes with the rest of its quantum.  Halted CPUs and
APs waiting for a start-up IPI are skipped; a halted CPU wakes when it has
something to take (an NMI, or an interrupt with IF=1); when no CPU can run,
time jumps to the next deadline, and when nothing can ever wake one it is a
deadlock naming every CPU's state.  An INIT IPI puts an AP in
wait-for-SIPI; the SIPI loads the real-mode state (smp.enter_real_mode) at
``vector << 12``; blocks are decoded as 16-bit code (capstone CS_MODE_16)
until the CPU runs a 32-bit code segment, and block addresses are linear.
With one CPU the loop is the single-CPU loop of before, and a guest that
never touches the APICs sees exactly what it saw without them (the 8259
reaches the CPU through LINT0 in ExtINT mode; the goldens pin this).

NMI (vector 2) is taken at the next boundary whatever IF says, and further
NMIs wait until the handler's ``iret``, seen as ESP rising above the NMI
frame (the CPU single-steps meanwhile; a handler that switches stacks
would end the blocking early).

Interrupt rules (Intel SDM vol. 3A 6.8.3, 6.12): external interrupts only
at a boundary with IF=1 and not right after ``sti``/``mov ss``/``pop ss``
(QEMU ends the translation block after each of those, so "right after" is
"the last instruction of the previous block").  While a request waits for
IF the block hook checks IF at each block (IF only changes at block ends:
``sti``, ``popf``, ``iret`` end blocks).  ``hlt`` ends ``emu_start``; a
halted CPU lets time jump to the next deadline; halted with IF=0, or with
nothing left that could wake it, is a deadlock.
"""

from __future__ import annotations

import bisect
import ctypes
import os
import re
import sys
import threading
from dataclasses import dataclass
from typing import Callable, Optional

import capstone
import unicorn
from unicorn import x86_const as X

from emulator import loader as loader_mod
from emulator import tsc
from emulator.clock import Clock
from emulator.cpu import (Cpu, EFLAGS_IF, TripleFault, Unsupported, VEC_UD,
                          exception_name, reset_exception_chain)
from emulator.devices.base import IrqLine
from emulator.devices.ioapic import IOAPIC_BASE, IOAPIC_SIZE
from emulator.devices.hpet import HPET_BASE
from emulator.devices.lapic import LAPIC_BASE, LAPIC_SIZE
from emulator.firmware import PcFirmware
from emulator.smp import ApicPlatform, CpuState, RoundRobin, enter_real_mode

INF = 1 << 62
STATUS_BUDGET = 124
STATUS_CRASH = 126

# flags shared with the block hook (same bits in native/blockhook.c)
F_STOP = 1          # stop at the next block entry or post-I/O hook
F_WATCH_IF = 2      # an interrupt waits for IF: stop at a block entry with IF=1

SHADOW_MNEMONICS = ("sti",)
IO_MNEMONICS = frozenset({"in", "out", "insb", "insw", "insd", "outsb", "outsw", "outsd"})
SOFT_INT = {"int3": 3, "into": 4, "int1": 1}
VEC_NMI = 2
MMIO_RANGES = ((LAPIC_BASE, LAPIC_SIZE), (IOAPIC_BASE, IOAPIC_SIZE), (HPET_BASE, 0x1000))
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


@dataclass
class RunResult:
    status: Optional[int]        # exit status for the command line (None: stopped)
    reason: str                  # exit, budget, crash, triple-fault, deadlock, stopped,
                                 # poweroff (ACPI S5/S4), suspend (ACPI S3)
    report: str = ""             # the crash/deadlock paragraph


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


class _NullTrace:
    def emit(self, ev, cpu=0, /, **fields):
        return None


MAX_CPUS = 8                           # --cpus accepts 1..MAX_CPUS


def _block_index(blocks: dict, st, eip: int) -> Optional[int]:
    """How many instructions of the CPU's current block (``st.cur_block`` in
    ``blocks``) lie before ``eip``, or None when ``eip`` is not in it."""
    b = blocks.get(st.cur_block)
    if b is None or not b.addr <= eip <= b.addr + b.size:
        return None
    return bisect.bisect_left(b.offsets, eip - b.addr)     # offsets ascend


class MachineError(Exception):
    """A bad image or argument (one line for the user)."""


class Machine:
    """The PC: CPUs, RAM, devices, clock.  See the module docstring."""

    def __init__(self, mem_mib: int = 32, cpus: int = 1, native: bool = True) -> None:
        if not 1 <= cpus <= MAX_CPUS:
            raise MachineError(f"--cpus must be between 1 and {MAX_CPUS} (got {cpus})")
        self.current_cpu = 0           # index of the CPU acting now (stamps trace events)
        self.ncpus = cpus
        self.mem_size = mem_mib << 20
        self.ram = (ctypes.c_ubyte * self.mem_size)()
        self.ram_view = memoryview(self.ram).cast("B")
        self.clock = Clock()
        self.trace = _NullTrace()
        self.console: Callable[[bytes], None] = _stdout_console
        self.symbols = None
        self.on_interrupt: list = []
        self.cpus: list[Cpu] = []
        self.st = HookState()                   # the acting CPU's counters (cpu.st)
        self.native = None                      # CPU 0's C block hook (None: Python hook)
        self._blocks: dict[int, Block] = {}     # the acting CPU's cpu.blocks
        self._decoded: dict[tuple, Block] = {}  # (address, size, 16-bit) -> decoded block
        self._post_io_hooked: set[int] = set()
        self._pending_io_hooks: list[int] = []
        self._cs = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_32)
        self._cs16 = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_16)
        self._result: Optional[RunResult] = None
        self._schedule: list = []      # (t, seq, fn)
        self._seq = 0
        self._exec_hooks: dict = {}
        self._watch_hooks: dict = {}
        self._stop_requested = False
        self._lock = threading.Lock()
        self._exec_last: dict = {}     # (exec hook, cpu) -> (address, time) it last ran at
        self._run_thread = None
        self.rr = RoundRobin(cpus)     # turns of several CPUs (unused with one)
        self._make_devices()
        for i in range(cpus):
            self._make_cpu(i, native)
        self._use(self.cpus[0])

    def _use(self, cpu: Cpu) -> None:
        """Make ``cpu`` the acting CPU: its counters, block table and index."""
        self._cur = cpu
        self.current_cpu = cpu.index
        self.st = cpu.st
        self._blocks = cpu.blocks

    # the acting CPU's loop state, under the names single-CPU code used
    @property
    def _pending_exc(self):
        return self._cur.pending_exc

    @_pending_exc.setter
    def _pending_exc(self, value) -> None:
        self._cur.pending_exc = value

    @property
    def _shadow_spent(self) -> bool:
        return self._cur.shadow_spent

    @_shadow_spent.setter
    def _shadow_spent(self, value: bool) -> None:
        self._cur.shadow_spent = value

    @property
    def _just_delivered(self) -> bool:
        return self._cur.just_delivered

    @_just_delivered.setter
    def _just_delivered(self, value: bool) -> None:
        self._cur.just_delivered = value

    # -- construction --------------------------------------------------------
    @classmethod
    def from_image(cls, path, append: str = "", mem_mib: int = 32, cpus: int = 1,
                   serial_in=None, native: bool = True) -> "Machine":
        try:
            data = loader_mod.read_image(path, mem_mib << 20)
            m = cls.from_bytes(data, append=append, mem_mib=mem_mib, cpus=cpus,
                               serial_in=serial_in, native=native,
                               image_path=os.path.basename(str(path)))
            m.symbols = loader_mod.image_symbols(path)
        except OSError as e:
            raise MachineError(f"cannot read image {path}: {e.strerror}") from None
        except loader_mod.ImageError as e:
            raise MachineError(str(e)) from None
        return m

    @classmethod
    def from_bytes(cls, data: bytes, append: str = "", mem_mib: int = 32, cpus: int = 1,
                   serial_in=None, native: bool = True, image_path: str = "") -> "Machine":
        m = cls(mem_mib=mem_mib, cpus=cpus, native=native)
        try:
            boot = loader_mod.load(data, m.ram_view, append=append, image_path=image_path)
        except loader_mod.ImageError as e:
            raise MachineError(str(e)) from None
        m._boot(boot)
        if serial_in is not None:
            m.devices["uart"].feed(serial_in if isinstance(serial_in, bytes) else serial_in.read())
        return m

    def _make_devices(self) -> None:
        from emulator.devices.debugcon import DebugCon, DebugExit
        from emulator.devices.i8042 import Kbc
        from emulator.devices.i8254 import Pit
        from emulator.devices.i8259 import PicPair
        from emulator.devices.mc146818 import Rtc
        from emulator.devices.testdev import TestDevice
        from emulator.devices.uart16550 import Uart
        c = self.clock
        pic, pit, uart, rtc, kbc = PicPair(c), Pit(c), Uart(c), Rtc(c), Kbc(c)
        con, ext, tdev = DebugCon(c), DebugExit(c), TestDevice(c)
        rtc.set_memory_size(self.mem_size)
        rtc.set_pc_config(self.ncpus)
        self.pic = pic
        self.devices = {"pic": pic, "pit": pit, "port61": pit, "uart": uart, "rtc": rtc,
                        "i8042": kbc, "debugcon": con, "debugexit": ext, "testdev": tdev}
        self._device_list = [pic, pit, uart, rtc, kbc, con, ext, tdev]
        # the APICs, always (also for one CPU): the PIC's INT reaches the CPUs
        # through LINT0 (ExtINT), each ISA line the PIC and the IO APIC
        self.platform = ApicPlatform(c, self.ncpus, pic)
        # fw_cfg, the ACPI tables and PM registers, the HPET (emulator/firmware.py)
        self.firmware = PcFirmware(c, self.ncpus, self.mem_size, self.ram_view, self.platform,
                                   invalidate=lambda addr, n: self.invalidate_code(addr, n))
        self.devices.update(self.firmware.devices)
        self._device_list.extend(self.firmware.devices.values())
        self.firmware.pm.on_sleep = self._on_sleep
        self._lines: dict[int, IrqLine] = {}
        self._wire_lines()
        self._ports: dict[int, object] = {}
        for dev in self._device_list:
            for first, count in dev.ports:
                for p in range(first, first + count):
                    self._ports[p] = dev
        con.output = self._console_out
        uart.output = self._console_out
        ext.on_exit = self._guest_exit
        self._timed = [d for d in self._device_list if type(d).next_deadline is not _base_deadline]
        self._timed.extend(self.platform.lapics)   # their timers (cheaper than the platform's loop)
        for i, lapic in enumerate(self.platform.lapics):
            lapic.on_init = (lambda k: lambda: self._on_init(k))(i)
            lapic.on_sipi = (lambda k: lambda vector: self._on_sipi(k, vector))(i)

    def _wire_lines(self) -> None:
        """Each device's ISA line to the PIC and IO APIC input of its number."""
        d = self.devices
        for irq, wire in ((0, d["pit"].irq), (1, d["i8042"].irq1), (4, d["uart"].irq),
                          (d["testdev"].irq_number, d["testdev"].irq), (8, d["rtc"].irq),
                          (12, d["i8042"].irq12)):
            wire.sink = self.platform.isa_sink(irq)
            self._lines[irq] = wire
        self.firmware.wire(d["pit"], d["rtc"])   # PIT and RTC through the HPET; the SCI

    def _make_cpu(self, index: int, native: bool) -> None:
        uc = unicorn.Uc(unicorn.UC_ARCH_X86, unicorn.UC_MODE_32)
        uc.mem_map_ptr(0, self.mem_size, unicorn.UC_PROT_ALL, ctypes.addressof(self.ram))
        cpu = Cpu(index, uc)
        cpu.ram = self.ram_view
        cpu.interrupt_source = self.platform.lapics[index]
        self.cpus.append(cpu)
        if native and (index == 0 or self.native is not None):
            try:
                from emulator.native import load_block_hook
                cpu.native = load_block_hook(self, uc)
            except (ImportError, OSError):
                cpu.native = None
        if index == 0:
            self.native = cpu.native
        if cpu.native is not None:
            cpu.st = cpu.native.state
        else:
            cpu.st = HookState()
            uc.hook_add(unicorn.UC_HOOK_BLOCK, self._py_block)
        for base, size in MMIO_RANGES:
            uc.mmio_map(base, size, self._mmio_read, base, self._mmio_write, base)
        uc.hook_add(unicorn.UC_HOOK_INTR, self._on_intr)
        uc.hook_add(unicorn.UC_HOOK_INSN, self._on_in, None, 1, 0, X.UC_X86_INS_IN)
        uc.hook_add(unicorn.UC_HOOK_INSN, self._on_out, None, 1, 0, X.UC_X86_INS_OUT)
        tsc.install(self, cpu)                 # rdtsc reads virtual time (emulator/tsc.py)

    def _boot(self, boot) -> None:
        cpu = self.cpus[0]
        uc = cpu.uc
        uc.reg_write(X.UC_X86_REG_GDTR, (0, boot.gdt_base, boot.gdt_limit, 0))
        uc.reg_write(X.UC_X86_REG_CS, boot.code_sel)
        for seg in (X.UC_X86_REG_DS, X.UC_X86_REG_ES, X.UC_X86_REG_FS, X.UC_X86_REG_GS,
                    X.UC_X86_REG_SS):
            uc.reg_write(seg, boot.data_sel)
        uc.reg_write(X.UC_X86_REG_EAX, boot.eax)
        uc.reg_write(X.UC_X86_REG_EBX, boot.ebx)
        uc.reg_write(X.UC_X86_REG_ESP, boot.esp)
        uc.reg_write(X.UC_X86_REG_EFLAGS, 0x2)
        uc.reg_write(X.UC_X86_REG_EIP, boot.entry)

    # -- public helpers ---------------------------------------------------------
    def mem_read(self, addr: int, n: int) -> bytes:
        if 0 <= addr and addr + n <= self.mem_size:
            return bytes(self.ram_view[addr:addr + n])
        return bytes(self.cpus[0].uc.mem_read(addr, n))

    def mem_write(self, addr: int, data: bytes) -> None:
        self.cpus[0].uc.mem_write(addr, bytes(data))
        self.invalidate_code(addr, len(data))

    def invalidate_code(self, addr: int, n: int) -> None:
        """Forget translations and block counts overlapping [addr, addr+n)."""
        for cpu in self.cpus:
            cpu.uc.ctl_remove_cache(addr, addr + max(n, 1))
        for cpu in self.cpus:
            blocks = cpu.blocks
            for a in [a for a, b in blocks.items() if a < addr + n and addr < a + b.size]:
                del blocks[a]
        for k in [k for k in self._decoded if k[0] < addr + n and addr < k[0] + k[1]]:
            del self._decoded[k]
        for cpu in self.cpus:
            if cpu.native is not None:
                cpu.native.clear_cache()

    def set_trace(self, sink) -> None:
        self.trace = sink if sink is not None else _NullTrace()
        for dev in self._device_list:
            dev.trace = _route(self, self.trace)
        self.platform.set_trace(_route(self, self.trace))

    def stop(self) -> None:
        """Stop the run: at once from a hook, at the next block from another thread."""
        self._stop_requested = True
        self.st.flags |= F_STOP
        if threading.get_ident() == self._run_thread:
            for cpu in self.cpus:
                cpu.uc.emu_stop()

    def stop_engine(self, cpu: Cpu) -> None:
        """From a hook: end this emu_start at once (the run loop continues)."""
        cpu.uc.emu_stop()

    def schedule(self, t: int, fn: Callable) -> None:
        """Call ``fn(machine)`` at the boundary where ``clock.now`` reaches ``t``."""
        self._seq += 1
        self._schedule.append((t, self._seq, fn))
        self._schedule.sort(key=lambda e: (e[0], e[1]))

    def inject(self, spec) -> None:
        from emulator.inject import Injection, parse
        inj = parse(spec) if isinstance(spec, str) else spec
        assert isinstance(inj, Injection)
        inj.install(self)

    def raise_irq(self, irq: int) -> None:
        """Pulse ISA line ``irq`` (an edge at the PIC and at the IO APIC input
        of that line), keeping a device's own level."""
        level = self._lines[irq].level if irq in self._lines else 0
        self.platform.isa_irq(irq, 1)
        self.platform.isa_irq(irq, level)

    def add_exec_hook(self, addr: int, fn) -> object:
        last = self._exec_last
        handle = object()

        def make_cb(cpu):
            def cb(uc, address, size, _ud, _fn=fn, _key=(id(handle), cpu.index)):
                self._sync_now(address)
                when = (address, self.clock.now)
                if last.get(_key) == when:
                    return                  # it ran here before a stop: this is the resume
                last[_key] = when
                _fn(self, cpu)
            return cb
        hs = [cpu.uc.hook_add(unicorn.UC_HOOK_CODE, make_cb(cpu), None, addr, addr)
              for cpu in self.cpus]
        self.invalidate_code(addr, 1)
        self._exec_hooks[handle] = (addr, hs)
        return handle

    def remove_exec_hook(self, handle) -> None:
        addr, hs = self._exec_hooks.pop(handle)
        for cpu in self.cpus:
            self._exec_last.pop((id(handle), cpu.index), None)
        for cpu, h in zip(self.cpus, hs):
            cpu.uc.hook_del(h)
        self.invalidate_code(addr, 1)

    def add_write_watch(self, addr: int, length: int, fn) -> object:
        return self._watch(unicorn.UC_HOOK_MEM_WRITE, addr, length, fn)

    def add_read_watch(self, addr: int, length: int, fn) -> object:
        return self._watch(unicorn.UC_HOOK_MEM_READ, addr, length, fn)

    def _watch(self, kind, addr, length, fn) -> object:
        def make_cb(cpu):
            def cb(uc, access, address, size, value, _ud):
                self._sync_now(cpu.pc)
                fn(self, cpu, address, size, value if access == unicorn.UC_MEM_WRITE else None)
            return cb
        hs = [cpu.uc.hook_add(kind, make_cb(cpu), None, addr, addr + length - 1)
              for cpu in self.cpus]
        handle = object()
        self._watch_hooks[handle] = hs
        return handle

    def remove_watch(self, handle) -> None:
        for cpu, h in zip(self.cpus, self._watch_hooks.pop(handle)):
            cpu.uc.hook_del(h)

    def snapshot(self) -> dict:
        return {"regs": [c.registers() | {"idtr": c.uc.reg_read(X.UC_X86_REG_IDTR),
                                          "gdtr": c.uc.reg_read(X.UC_X86_REG_GDTR),
                                          "halted": c.halted} for c in self.cpus],
                "contexts": [c.uc.context_save() for c in self.cpus],
                "ram": bytes(self.ram_view), "devices": [d.save_state() for d in self._device_list],
                "platform": self.platform.save_state(), "rr": self.rr.save_state(),
                "loop": [{"pending_exc": c.pending_exc, "shadow_spent": c.shadow_spent,
                          "just_delivered": c.just_delivered, "last_block": c.st.last_block,
                          "cur_block": c.st.cur_block, "nmi_blocked": c.nmi_blocked,
                          "nmi_esp": c.nmi_esp, "maybe_16bit": c.maybe_16bit,
                          # the instruction before this one (an interrupt
                          # shadow): the restore drops the blocks that say it
                          "prev": (c.pc, self.clock.now, self._previous_of(c, c.pc))}
                         for c in self.cpus],
                "current_cpu": self.current_cpu,
                "now": self.clock.now, "schedule": list(self._schedule)}

    def restore(self, snap: dict) -> None:
        self.ram_view[:] = snap["ram"]
        for c, regs, loop in zip(self.cpus, snap["regs"], snap["loop"]):
            c.maybe_16bit = loop["maybe_16bit"]
            c.pending_exc, c.shadow_spent = loop["pending_exc"], loop["shadow_spent"]
            c.just_delivered, c.nmi_blocked = loop["just_delivered"], loop["nmi_blocked"]
            c.nmi_esp = loop["nmi_esp"]
            c.restored_prev = loop["prev"]
            c.st.now = c.st.block_start = snap["now"]
            c.st.last_block, c.st.cur_block = loop["last_block"], loop["cur_block"]
            c.st.skip_addr = -1
            # the whole CPU state, hidden segment bases and limits included:
            # a selector that is stale in today's GDT (fs/gs the guest never
            # reloaded) cannot be loaded again, but its cached descriptor can
            c.uc.context_restore(snap["contexts"][c.index])
            c.halted = regs["halted"]
        for dev, saved in zip(self._device_list, snap["devices"]):
            dev.load_state(saved)               # registers only: the wiring stays
        self.platform.load_state(snap["platform"])
        self.rr.load_state(snap["rr"])
        self._make_wiring_again()
        self._use(self.cpus[snap["current_cpu"]])
        self.clock.now = snap["now"]
        self._schedule = list(snap["schedule"])
        self._exec_last.clear()                 # time runs again: hooks fire again
        self._result = None
        self.invalidate_code(0, self.mem_size)

    def _make_wiring_again(self) -> None:
        d = self.devices
        self._wire_lines()
        self.platform.wire_pic(self.pic)
        d["debugcon"].output = self._console_out
        d["uart"].output = self._console_out
        d["debugexit"].on_exit = self._guest_exit
        self.set_trace(self.trace if not isinstance(self.trace, _NullTrace) else None)

    # -- device side ---------------------------------------------------------------
    def _console_out(self, data: bytes) -> None:
        self.console(data)

    def _guest_exit(self, value: int) -> None:
        self._result = RunResult(value, "exit")
        self.st.flags |= F_STOP

    def _on_sleep(self, state: str) -> None:
        """SLP_EN in PM1a_CNT (emulator/devices/acpi_pm.py): S5 and S4 power
        the machine off (status 0, as QEMU's process exits 0); S3 ends the
        run with a report (the wake-up is not modelled; QEMU -icount does
        not wake either: its virtual clock stands still while suspended)."""
        if state == "S3":
            self._result = RunResult(STATUS_CRASH, "suspend", (
                f"irqlab: the guest entered ACPI S3 (suspend to RAM) at t={self.clock.now}; "
                "waking from S3 is not modelled"))
        else:
            self._result = RunResult(0, "poweroff")
        self.st.flags |= F_STOP

    def _on_init(self, index: int) -> None:
        """An INIT reached CPU ``index``'s LAPIC: an AP waits for a start-up IPI.

        (INIT to the BSP resets only its LAPIC: irqlab does not reboot.)"""
        self.platform.lapics[index].take_init()     # acted on here: no latch left
        if index == 0:
            return
        cpu = self.cpus[index]
        cpu.halted = False
        cpu.pending_exc = None
        self.rr.wait_sipi(index)
        if self._cur is cpu:
            self.st.flags |= F_STOP

    def _on_sipi(self, index: int, vector: int) -> None:
        """A start-up IPI: the AP starts in real mode at ``vector << 12``."""
        self.platform.lapics[index].take_sipi()
        if index == 0:
            return
        cpu = self.cpus[index]
        enter_real_mode(cpu.uc, vector)
        cpu.maybe_16bit = True
        cpu.halted = False
        cpu.pending_exc = None
        cpu.shadow_spent = False
        cpu.just_delivered = True
        cpu.nmi_blocked = False
        cpu.st.cur_block = cpu.st.last_block = 0
        cpu.blocks.clear()
        base = (vector & 0xFF) << 12
        self.invalidate_code(base, 0x1000)      # the BSP wrote the trampoline
        self.rr.start(index)
        self.trace.emit("cpu.start", index, vector=vector, eip=base)

    def _advance_devices(self) -> None:
        now = self.clock.now
        for dev in self._timed:
            dev.advance(now)

    def _next_event(self) -> int:
        t = INF
        for dev in self._timed:
            d = dev.next_deadline()
            if d is not None and d < t:
                t = d
        if self._schedule and self._schedule[0][0] < t:
            t = self._schedule[0][0]
        return t

    # -- block accounting --------------------------------------------------------------
    def _decode(self, addr: int, size: int, key: tuple) -> Block:
        code = bytes(self.ram_view[addr:addr + size]) if addr + size <= self.mem_size else b""
        offsets, last, io_next, mmio = [], "", [], []
        cs = self._cs16 if len(key) == 3 else self._cs
        insns = list(cs.disasm(code, addr))
        for i, ins in enumerate(insns):
            offsets.append(ins.address - addr)
            is_mmio = _mmio_operand(ins.op_str)
            if is_mmio:
                mmio.append(i)
            if i + 1 < len(insns) and (ins.mnemonic in IO_MNEMONICS or is_mmio):
                io_next.append(ins.address + ins.size)
        if insns:
            last = (insns[-1].mnemonic + " " + insns[-1].op_str).strip()
        if not offsets:
            offsets = [0]
        b = Block(addr, size, tuple(offsets), last, tuple(io_next), tuple(mmio))
        self._decoded[key] = b
        self._blocks[addr] = b
        return b

    def block_count(self, addr: int, size: int) -> int:
        """Instructions in the block at ``addr`` (0: stop, hooks must be added first)."""
        key = (addr, size, 16) if self._cur.maybe_16bit and self._cur.code_16bit() else (addr, size)
        b = self._decoded.get(key)
        if b is None:
            b = self._decode(addr, size, key)
        self._blocks[addr] = b                  # what the hook counts for this address now
        new = [a for a in b.io_next if a not in self._post_io_hooked]
        if new:
            self._pending_io_hooks.extend(new)
            return 0
        return len(b.offsets)

    def _py_block(self, uc, addr, size, _ud) -> None:
        st = self.st
        n = self.block_count(addr, size)
        stop = n == 0 or st.flags & F_STOP
        if not stop and st.now + n > st.deadline:
            stop = addr != st.skip_addr
        st.skip_addr = -1
        if not stop and st.flags & F_WATCH_IF:
            stop = bool(self._cur.eflags & EFLAGS_IF)
        st.last_block = st.cur_block
        st.cur_block = addr
        st.block_start = st.now
        st.last_post = addr
        if stop:
            uc.emu_stop()
        else:
            st.now += n

    def _post_io(self, uc, addr, size, _ud) -> None:
        self.st.last_post = addr
        if self.st.flags & F_STOP:
            uc.emu_stop()

    def _install_io_hooks(self) -> None:
        for a in self._pending_io_hooks:
            if a in self._post_io_hooked:
                continue
            self._post_io_hooked.add(a)
            for cpu in self.cpus:
                if cpu.native is not None:
                    cpu.native.add_post_io_hook(cpu.uc, a)
                else:
                    cpu.uc.hook_add(unicorn.UC_HOOK_CODE, self._post_io, None, a, a)
                cpu.uc.ctl_remove_cache(a, a + 1)
        self._pending_io_hooks.clear()

    def _index_in_block(self, eip: int) -> Optional[int]:
        return _block_index(self._blocks, self.st, eip)

    def _sync_now(self, eip: int, retired_current: bool = False) -> None:
        """Set clock.now to the exact count at ``eip`` inside the current block."""
        idx = self._index_in_block(eip)
        if idx is None:
            self.clock.now = self.st.block_start
        else:
            self.clock.now = self.st.block_start + idx + (1 if retired_current else 0)

    def _previous_instruction(self, eip: int) -> str:
        """The instruction retired just before ``eip`` when it ended a block, else "".

        Only block-ending instructions matter here: sti, mov ss, pop ss, hlt
        and int n all end QEMU's translation blocks."""
        return self._previous_of(self._cur, eip)

    def _previous_of(self, cpu: Cpu, eip: int) -> str:
        kept = cpu.restored_prev
        if kept is not None:
            # a restore forgot the blocks; the snapshot said what came before
            if kept[:2] == (eip, self.clock.now):
                return kept[2]
            cpu.restored_prev = None
        blocks, st = cpu.blocks, cpu.st
        idx = _block_index(blocks, st, eip)
        if idx is None:
            return ""
        if idx > 0:
            b = blocks[st.cur_block]
            return b.last if idx == len(b.offsets) else ""
        prev = blocks.get(st.last_block)
        return prev.last if prev is not None else ""

    def in_interrupt_shadow(self, cpu: Cpu) -> bool:
        if cpu.just_delivered or cpu.shadow_spent:
            return False
        prev = self._previous_instruction(cpu.pc)
        return prev == "sti" or prev.startswith("mov ss,") or prev == "pop ss"

    # -- port I/O ---------------------------------------------------------------------
    def _io_begin(self, uc) -> None:
        self._sync_now(self._cur.pc, retired_current=True)
        self._advance_devices()

    def _io_end(self) -> None:
        st = self.st
        cpu = self._cur
        t = self._next_event()
        if t < st.deadline:
            st.deadline = t
        source = cpu.interrupt_source
        if t < st.now or self._result is not None:
            st.flags |= F_STOP
        elif source.nmi_pending:
            st.flags |= F_STOP                 # take it, or step until its handler's iret
        elif source.intr_pending():
            # deliverable now: stop after this instruction; else wait for IF
            st.flags |= F_STOP if cpu.eflags & EFLAGS_IF else F_WATCH_IF

    # -- APIC MMIO (0xFEE00000 the acting CPU's LAPIC, 0xFEC00000 the IO APIC) ----------
    def _mmio_begin(self) -> None:
        """Set clock.now just past the accessing instruction.

        EIP is not up to date inside Unicorn's MMIO callbacks: the access is
        the first instruction naming an APIC address at or after the place
        the CPU was last seen in its block (``st.last_post``, kept by the
        block and post-I/O hooks).  An access through a register (not an
        absolute address) is counted at that place and takes effect at the
        next block."""
        st = self.st
        b = self._blocks.get(st.cur_block)
        if b is None:
            self.clock.now = st.block_start
        else:
            off = st.last_post - b.addr
            start = bisect.bisect_left(b.offsets, off)
            idx = next((i for i in b.mmio if i >= start), None)
            if idx is None:
                idx = start
                st.flags |= F_STOP          # no post hook there: stop at the next block
            self.clock.now = st.block_start + idx + 1
        self._advance_devices()

    def _mmio_read(self, uc, offset, size, base) -> int:
        self._mmio_begin()
        if base == HPET_BASE:
            value = self.firmware.hpet.mmio_read(offset, size)
        else:
            value = self.platform.mmio_read(self.current_cpu, base + offset, size)
        self._io_end()
        return value

    def _mmio_write(self, uc, offset, size, value, base) -> None:
        self._mmio_begin()
        if base == HPET_BASE:
            self.firmware.hpet.mmio_write(offset, size, value)
        else:
            self.platform.mmio_write(self.current_cpu, base + offset, size, value)
        self._io_end()

    def _on_in(self, uc, port, size, _ud) -> int:
        self._io_begin(uc)
        dev = self._ports.get(port)
        value = dev.io_read(port, size) if dev is not None else (1 << (8 * size)) - 1
        self._io_end()
        return value

    def _on_out(self, uc, port, size, value, _ud) -> None:
        self._io_begin(uc)
        dev = self._ports.get(port)
        if dev is not None:
            dev.io_write(port, size, value)
        self._io_end()

    def _on_intr(self, uc, intno, _ud) -> None:
        cpu = self._cur
        eip = cpu.pc
        prev = self._previous_instruction(eip)
        kind = "exception"
        if prev.startswith("int ") and _imm(prev) == intno:
            kind = "soft"
        elif SOFT_INT.get(prev) == intno:
            kind = "soft"
        err = None
        if kind == "exception" and intno in (10, 11, 12, 13):
            err = self._selector_error(cpu, eip)
        self._pending_exc = (intno, kind, err)
        uc.emu_stop()

    def _selector_error(self, cpu: Cpu, eip: int) -> int:
        """The error code of a segment-load fault: the selector (SDM 6.13), else 0."""
        try:
            ins = next(self._cs.disasm(self.mem_read(eip, 16), eip, 1), None)
        except unicorn.UcError:
            return 0
        if ins is None:
            return 0
        ops = ins.op_str.replace(" ", "").split(",")
        sregs = ("cs", "ds", "es", "fs", "gs", "ss")
        if ins.mnemonic == "mov" and len(ops) == 2 and ops[0] in sregs:
            src = ops[1]
            if src in ("ax", "bx", "cx", "dx", "si", "di", "bp", "sp",
                       "eax", "ebx", "ecx", "edx", "esi", "edi", "ebp", "esp"):
                return cpu.read(src) & 0xFFFC
            return 0
        if ins.mnemonic == "pop" and ops[0] in sregs:
            esp = cpu.read("esp")
            return int.from_bytes(self.mem_read(esp, 2), "little") & 0xFFFC
        if ins.mnemonic in ("ljmp", "lcall") and len(ops) == 2:
            try:
                return int(ops[0], 0) & 0xFFFC
            except ValueError:
                return 0
        return 0

    # -- the run loop ---------------------------------------------------------------------
    def run(self, max_instructions: Optional[int] = None) -> RunResult:
        end = INF if max_instructions is None else self.clock.now + max_instructions
        return self._loop(end, stepping=False)

    def step(self, n: int = 1) -> Optional[RunResult]:
        """Retire exactly ``n`` instructions; returns a RunResult only if the run ended."""
        r = self._loop(self.clock.now + n, stepping=True)
        return None if r.reason == "budget" else r

    def _loop(self, end: int, stepping: bool) -> RunResult:
        self._stop_requested = False
        self.st.flags &= ~F_STOP
        self._run_thread = threading.get_ident()
        if len(self.cpus) > 1:
            return self._smp_loop(end)
        cpu = self.cpus[0]
        try:
            while True:
                if self._result is not None:
                    r, self._result = self._result, None
                    return r
                if self._stop_requested:
                    self._stop_requested = False
                    return RunResult(None, "stopped")
                if self.clock.now >= end:
                    return RunResult(STATUS_BUDGET, "budget")   # events at `end` wait for the next run
                self._boundary(cpu)
                if self._result is not None:
                    continue
                if cpu.halted:
                    t = self._next_event()
                    if not cpu.interrupts_enabled or t >= INF:
                        return self._deadlock(cpu)
                    if t >= end:
                        self.clock.now = end
                        return RunResult(STATUS_BUDGET, "budget")
                    self.clock.now = t
                    self.st.now = self.st.block_start = t
                    continue
                if self.clock.now >= end:
                    return RunResult(STATUS_BUDGET, "budget")
                self._execute(cpu, min(self._next_event(), end))
        except TripleFault as e:
            return self._crash(cpu, "triple-fault", f"triple fault: {e}")
        except Unsupported as e:
            return self._crash(cpu, "crash", f"unsupported: {e}")

    def _smp_loop(self, end: int) -> RunResult:
        """Several CPUs: turns in index order (emulator/smp.py RoundRobin), one clock."""
        rr = self.rr
        cpus = self.cpus
        cpu = self._cur
        try:
            while True:
                if self._result is not None:
                    r, self._result = self._result, None
                    return r
                if self._stop_requested:
                    self._stop_requested = False
                    return RunResult(None, "stopped")
                if self.clock.now >= end:
                    return RunResult(STATUS_BUDGET, "budget")
                for c in cpus:
                    if rr.state[c.index] is CpuState.HALTED and self._can_wake(c):
                        rr.wake(c.index)
                s = rr.next_slice(self.clock.now, None)
                if s.cpu is None:                       # nobody can run: time jumps
                    self._devices_at_boundary()
                    if self._result is not None:
                        continue
                    if any(rr.state[c.index] is CpuState.HALTED and self._can_wake(c)
                           for c in cpus):
                        continue
                    t = self._next_event()
                    halted = [c for c in cpus if rr.state[c.index] is CpuState.HALTED]
                    if t >= INF or all(not c.interrupts_enabled for c in halted):
                        return self._smp_deadlock()
                    if t >= end:
                        self.clock.now = end
                        return RunResult(STATUS_BUDGET, "budget")
                    self.clock.now = t
                    continue
                cpu = cpus[s.cpu]
                if cpu is not self._cur:
                    self._use(cpu)
                self.st.now = self.st.block_start = self.clock.now
                self._boundary(cpu)
                if self._result is not None:
                    continue
                if cpu.halted:
                    rr.halt(cpu.index)
                    continue
                if rr.state[cpu.index] is not CpuState.RUNNING:
                    continue                            # an INIT from a device or itself
                if self.clock.now >= end:
                    return RunResult(STATUS_BUDGET, "budget")
                before = self.clock.now
                self._execute(cpu, min(self._next_event(), end, before + s.count))
                rr.retired(self.clock.now - before)
                if cpu.halted and rr.state[cpu.index] is CpuState.RUNNING:
                    rr.halt(cpu.index)
        except TripleFault as e:
            return self._crash(cpu, "triple-fault", f"triple fault on CPU {cpu.index}: {e}")
        except Unsupported as e:
            return self._crash(cpu, "crash", f"unsupported on CPU {cpu.index}: {e}")

    def _can_wake(self, cpu: Cpu) -> bool:
        """A halted CPU has something to take: an NMI, an exception, or an
        interrupt it accepts (IF=1)."""
        source = cpu.interrupt_source
        if cpu.pending_exc is not None or (source.nmi_pending and not cpu.nmi_blocked):
            return True
        return cpu.interrupts_enabled and source.intr_pending()

    def _smp_deadlock(self) -> RunResult:
        states = ", ".join(
            f"CPU {c.index} " + ("waits for a start-up IPI"
                                 if self.rr.state[c.index] is CpuState.WAIT_SIPI else
                                 f"halted with IF={int(c.interrupts_enabled)}")
            for c in self.cpus)
        return self._crash(self.cpus[0], "deadlock",
                           f"deadlock: no CPU can run and nothing is left to wake one ({states})")

    def _devices_at_boundary(self) -> None:
        """Devices and scheduled calls at clock.now (no CPU involved)."""
        now = self.clock.now
        self._advance_devices()
        while self._schedule and self._schedule[0][0] <= now:
            _t, _s, fn = self._schedule.pop(0)
            fn(self)

    def _boundary(self, cpu: Cpu) -> None:
        """Everything that happens between two instructions at clock.now."""
        now = self.clock.now
        self._advance_devices()
        while self._schedule and self._schedule[0][0] <= now:
            _t, _s, fn = self._schedule.pop(0)
            fn(self)
        if cpu.pending_exc is not None:
            vector, kind, err = cpu.pending_exc
            cpu.pending_exc = None
            reset_exception_chain(cpu.uc)
            eip_from = cpu.eip
            try:
                cpu.deliver(vector, kind, err)
            except TripleFault as e:
                raise TripleFault(f"{exception_name(vector)} at {eip_from:#x}, then {e}") from None
            self._after_delivery(cpu, vector, kind, eip_from, err)
            return
        source = cpu.interrupt_source
        self.st.flags &= ~F_WATCH_IF
        if source.nmi_pending and self._nmi_unblocked(cpu):
            # NMI: vector 2 whatever IF says; further NMIs wait for its iret
            eip_from = cpu.eip
            source.take_nmi()
            cpu.deliver(VEC_NMI, "irq")
            cpu.nmi_blocked = True
            cpu.nmi_esp = cpu.read("esp")
            self._after_delivery(cpu, VEC_NMI, "nmi", eip_from, None)
            return
        if source.intr_pending():
            if cpu.interrupts_enabled:
                if not self.in_interrupt_shadow(cpu):
                    eip_from = cpu.eip
                    vector = source.acknowledge()
                    cpu.deliver(vector, "irq")
                    self._after_delivery(cpu, vector, "irq", eip_from, None)
            else:
                self.st.flags |= F_WATCH_IF

    def _nmi_unblocked(self, cpu: Cpu) -> bool:
        """NMIs are blocked from an NMI's delivery until its handler's iret
        (SDM 6.7.1); seen here as ESP back above the NMI's frame."""
        if cpu.nmi_blocked and cpu.read("esp") > cpu.nmi_esp:
            cpu.nmi_blocked = False
        return not cpu.nmi_blocked

    def _after_delivery(self, cpu, vector, kind, eip_from, err) -> None:
        cpu.halted = False
        cpu.just_delivered = True
        self.trace.emit("intr.enter", cpu.index, vector=vector, kind=kind, eip=eip_from)
        for fn in list(self.on_interrupt):
            fn(cpu, vector, kind, eip_from, err)

    def _execute(self, cpu: Cpu, limit: int) -> None:
        """Run the engine from clock.now until at most ``limit``, then fix the count."""
        st = self.st
        uc = cpu.uc
        now = self.clock.now
        st.now = st.block_start = now
        eip = cpu.eip
        pc = cpu.pc if cpu.maybe_16bit else eip
        shadow_step = (st.flags & F_WATCH_IF) == 0 and cpu.interrupt_source.intr_pending() \
            and cpu.interrupts_enabled and not cpu.just_delivered
        cpu.shadow_spent = False
        if shadow_step:
            limit = min(limit, now + 1)        # the instruction in the shadow, then deliver
            cpu.shadow_spent = True            # (a mov ss there opens no second shadow)
        elif cpu.nmi_blocked and cpu.interrupt_source.nmi_pending:
            limit = min(limit, now + 1)        # an NMI waits for the handler's iret: step
        st.deadline = limit
        until = None
        b = self._blocks.get(pc)
        if b is not None and now + len(b.offsets) > limit:
            until = self._partial_until(uc, b, limit - now)
        if self._stop_requested or self._result is not None:
            return
        st.flags &= ~F_STOP
        try:
            uc.emu_start(eip, 0xFFFFFFFFFFFF if until is None else until)
        except unicorn.UcError as e:
            self._after_run(cpu)
            self._engine_error(cpu, e)
            return
        self._after_run(cpu)

    def _partial_until(self, uc, block: Block, k: int) -> Optional[int]:
        """The address after exactly ``k`` instructions of ``block`` (``k`` below
        its count, so all straight-line: a block branches only at its end), as
        emu_start's ``until``; cached blocks there are dropped (they were
        translated without that exit)."""
        if k <= 0:
            return None
        addr = block.addr + block.offsets[k]
        uc.ctl_remove_cache(block.addr, addr + 1)
        return addr

    def _after_run(self, cpu: Cpu) -> None:
        uc = cpu.uc
        if self._pending_io_hooks:
            self._install_io_hooks()
            cur = self._blocks.get(self.st.cur_block)
            if cur is not None:
                uc.ctl_remove_cache(cur.addr, cur.addr + cur.size)
        before = self.clock.now
        pc = cpu.pc
        self._sync_now(pc)
        self.st.now = self.st.block_start = self.clock.now
        self.st.skip_addr = -1
        if self.clock.now != before:
            cpu.just_delivered = False
        else:
            cpu.shadow_spent = False           # nothing ran: the shadow is still ahead
            if not cpu.maybe_16bit and not cpu.read("cr0") & 1:
                # the guest left protected mode (CR0.PE clear, CS reloaded in
                # real mode): EIP is an offset now, so nothing was found where
                # it pointed; count and decode its code as 16-bit from here
                cpu.maybe_16bit = True
        prev = self._previous_instruction(pc)
        if prev == "hlt" and cpu.pending_exc is None and self.clock.now != before:
            cpu.halted = True

    def _engine_error(self, cpu: Cpu, e: "unicorn.UcError") -> None:
        if e.errno == unicorn.UC_ERR_INSN_INVALID:
            self._pending_exc = (VEC_UD, "exception", None)
            return
        what = {unicorn.UC_ERR_READ_UNMAPPED: "read of unmapped memory",
                unicorn.UC_ERR_WRITE_UNMAPPED: "write to unmapped memory",
                unicorn.UC_ERR_FETCH_UNMAPPED: "fetch from unmapped memory"}.get(e.errno, str(e))
        self._result = self._crash(cpu, "crash", f"the guest crashed: {what} (no paging: "
                                   f"outside the {self.mem_size >> 20} MiB of RAM)")

    # -- reports -----------------------------------------------------------------------
    def _crash(self, cpu: Cpu, reason: str, what: str) -> RunResult:
        from emulator.report import crash_report
        return RunResult(STATUS_CRASH, reason, crash_report(self, cpu, what))

    def _deadlock(self, cpu: Cpu) -> RunResult:
        why = ("halted with interrupts disabled (IF=0)" if not cpu.interrupts_enabled
               else "halted with IF=1 but no device deadline or injection left to wake it")
        return self._crash(cpu, "deadlock", f"deadlock: CPU {cpu.index} {why}")


def _stop_here(uc, address, size, _ud) -> None:
    uc.emu_stop()


def _route(machine, sink):
    def trace(ev, /, **fields):
        sink.emit(ev, machine.current_cpu, **fields)
    return trace


def _imm(text: str) -> int:
    try:
        return int(text.split()[-1], 0)
    except ValueError:
        return -1


def _stdout_console(data: bytes) -> None:
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


from emulator.devices.base import Device as _Device  # noqa: E402
_base_deadline = _Device.next_deadline
