"""The machine: CPUs on Unicorn, RAM, the PC devices, and the API over them.

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
  start of the next run.  (The loop: emulator/runloop.py.)
* ``step(n=1)``: retire exactly ``n`` instructions (interrupts are taken at
  boundaries in between as in ``run``; a delivery is not an instruction).
* ``stop()``: callable from a hook or another thread (Ctrl-C); the engine
  stops at the next block boundary.
* ``clock.now``: virtual time = instructions retired (emulator/clock.py,
  counted by emulator/icount.py).
* ``current_cpu``: index into ``cpus`` of the CPU that is acting (the one
  whose instruction, port/MMIO access or delivery caused the event being
  handled); device trace events are stamped with it.  Exec hooks, watches
  and ``on_interrupt`` callbacks also get the ``Cpu`` itself; ``cpu`` is
  the acting ``Cpu`` (``use(cpu)`` makes another one act: the run loop's).
* ``icount``: the instruction clock (emulator/icount.py; ``decoded``, the
  blocks decoded so far); ``loop``: the run loop (emulator/runloop.py).
* ``cpus[i]``: ``emulator.cpu.Cpu`` -- ``read(name)``/``write(name, v)``,
  ``cpu["eax"]``, ``eip``, ``pc`` (linear: CS base + EIP in real mode),
  ``halted``, ``registers()``, ``index``, and its run-loop state
  (``pending_exc``, ``shadow_spent``, ``just_delivered``, ``nmi_blocked``:
  emulator/accept.py; ``st``, ``blocks``: emulator/icount.py);
  ``ncpus`` = ``len(cpus)``.
* ``platform``: ``emulator.devices.platform.PcInterrupts`` -- ``lapics[i]``
  (CPU i's local APIC, also ``cpus[i].interrupt_source``), ``ioapic``;
  ``rr``: ``emulator.roundrobin.RoundRobin`` -- ``state[i]`` running /
  halted / wait-for-sipi, ``current``, ``turns``.
* ``mem_read(addr, n) -> bytes``, ``mem_write(addr, data)`` (physical; drops
  cached translations of that range); ``read_virtual(addr, n, cpu=None)``
  reads a linear address through the CPU's page tables when paging is on
  (None if unmapped).
* ``devices``: dict by name -- pic, pit, port61 (the PIT object, which owns
  port 0x61), uart, rtc, i8042, debugcon, debugexit, testdev, fw_cfg,
  acpi_pm, hpet (the last three from ``firmware``: emulator/firmware.py,
  which also wrote the ACPI tables into RAM).
* ``symbols``: the image's symbol table (``asm.symfile.SymbolTable``) or
  None.  The Machine does not read symbol files: whoever runs it sets this
  (``loader.image_symbols(path)``: ``python -m emulator run``/``debug``,
  guest_kernel's harness) before injections that name a symbol and before
  the observer attaches.  ``image_end``: the end of the loaded image (bss
  included).
* ``add_exec_hook(addr, fn) -> handle`` / ``remove_exec_hook(handle)``:
  ``fn(machine, cpu)`` runs when ``cpu`` is about to execute ``addr``
  (before it); ``machine.clock.now`` is exact there.  The hook may call
  ``stop()`` (the run ends before ``addr``; resuming does not call the same
  hook again at the same time); it costs nothing while not hit.  With
  ``end``, ``fn`` runs before every instruction in ``[addr, end]``.
* ``add_write_watch(addr, length, fn)`` / ``add_read_watch(...)`` ->
  handle, ``remove_watch(handle)``: ``fn(machine, cpu, addr, size, value)``
  on guest data accesses in the range (value None for reads).
* ``on_interrupt``: list of ``fn(cpu, vector, kind, eip_from, error_code)``
  called after each delivery (kind "irq", "nmi", "exception" or "soft").
* ``in_interrupt_shadow(cpu)``: an interrupt would wait one instruction.
* ``trace``: sink with ``emit(kind, cpu, **fields)`` (default: drops);
  ``set_trace(sink)`` routes the devices' ``self.trace`` through it,
  stamped with ``t=clock.now`` by the sink and ``cpu``.
* ``inject(spec)`` (a string as ``--inject`` or an ``inject.Injection``),
  ``raise_irq(n)``, ``schedule(t, fn, seq=None)``: call ``fn(machine)`` at
  the boundary where ``clock.now`` reaches ``t`` (calls due together run
  in ``seq`` order: by default the order they were scheduled in).
* ``snapshot(ram_limit=None)`` / ``restore(snap)``: each engine's whole CPU context
  (``uc.context_save``: hidden segment caches too, so stale fs/gs selectors
  restore), RAM, devices and APICs (their ``save_state()``; the wiring
  stays), the round robin, clock, pending schedule and each CPU's run-loop
  state (an exception raised but not yet delivered, the interrupt shadow —
  also the one a restore right after ``sti``/``mov ss`` is still in, which
  the decoded blocks it drops would have told — NMI blocking).  A restore
  keeps the decoded blocks and translations of code whose bytes it does not
  change.  ``ram_limit`` saves only the RAM below it; restoring such a
  snapshot leaves the RAM above as it is, so the caller must know nothing
  there changed (explore watches that range for writes).
* ``console``: callable taking bytes, stdout by default; 0xE9 and COM1
  both go there, in the order written.

Where the rest lives
--------------------
emulator/icount.py counts instructions and finds exact times (block hook,
post-I/O hooks, APIC MMIO placement); emulator/accept.py decides which event
a CPU takes at a boundary (exceptions, NMI blocking, the interrupt shadow)
and emulator/cpu.py ``Cpu.deliver`` vectors it; emulator/runloop.py is the
one run loop and emulator/roundrobin.py its turns; emulator/hooks.py holds
the exec hooks and data watches, emulator/snapshot.py snapshot and restore;
emulator/devices/platform.py wires the PIC
pair, the LAPICs and the IO APIC.
Paging, rings and tasks are the CPU's (emulator/cpu.py, delivery.py,
mmu.py, tasks.py); this file adds to each engine a CPUID hook
(emulator/cpuid.py) and the ``mov crN`` checks (emulator/crwrite.py, hooked
as blocks are decoded: a new address space forgets the block counts cached
by linear address, ``forget_blocks``).
This file builds all of them.

Ports and MMIO: emulator/portio.py (``PortIo``, mixed in) dispatches them.

Several CPUs (``cpus=N``): one Unicorn engine per CPU on the same RAM, each
with its own counters and block table; the machine makes the CPU whose turn
it is the acting one (``use``).  An INIT IPI puts an AP in wait-for-SIPI;
the SIPI loads the real-mode state (cpu.enter_real_mode) at ``vector <<
12``.  With one CPU the loop is the same loop, and a guest that never
touches the APICs sees exactly what it saw without them (the 8259 reaches
the CPU through LINT0 in ExtINT mode; the goldens pin this).
"""

from __future__ import annotations

import ctypes
import functools
import heapq
import mmap
import os
import sys
import threading
from typing import Callable, Optional

import unicorn
from unicorn import x86_const as X

from emulator import accept
from emulator import ioperm
from emulator import loader as loader_mod
from emulator import tsc
from emulator.clock import Clock
from emulator.cpu import (HOOK_REGS, REGS, Cpu, ERROR_CODE_VECTORS, enter_real_mode,
                          exception_error_code)
from emulator.crwrite import ControlWrites
from emulator.devices.base import Device, IrqLine
from emulator.devices.debugcon import DebugCon, DebugExit
from emulator.devices.i8042 import Kbc
from emulator.devices.i8254 import Pit
from emulator.devices.i8259 import PicPair
from emulator.devices.mc146818 import Rtc
from emulator.devices.platform import MAX_CPUS, MMIO_RANGES, PcInterrupts
from emulator.devices.testdev import TestDevice
from emulator.devices.uart16550 import Uart
from emulator.disasm import Disasm
from emulator.firmware import PcFirmware
from emulator.hooks import GuestHooks, in_hook, out_hook, trampolines
from emulator.portio import PortIo
from emulator.icount import F_STOP, INF, HookState, InstructionClock
from emulator.inject import Injection, parse
from emulator.native import load_block_hook
from emulator.roundrobin import RoundRobin
from emulator.runloop import STATUS_BUDGET, STATUS_CRASH, RunLoop, RunResult
from emulator.snapshot import Snapshots
from emulator.timers import DeviceTimers

__all__ = ["Machine", "MachineError", "RunResult", "MAX_CPUS", "STATUS_BUDGET", "STATUS_CRASH"]


class _NullTrace:
    def emit(self, ev, cpu=0, /, **fields):
        return None


class MachineError(Exception):
    """A bad image or argument (one line for the user)."""


class Machine(GuestHooks, PortIo, Snapshots):
    """The PC: CPUs, RAM, devices, clock.  See the module docstring."""

    def __init__(self, mem_mib: int = 32, cpus: int = 1, native: bool = True) -> None:
        if not 1 <= cpus <= MAX_CPUS:
            raise MachineError(f"--cpus must be between 1 and {MAX_CPUS} (got {cpus})")
        self.current_cpu = 0           # index of the CPU acting now (stamps trace events)
        self.cpu: Optional[Cpu] = None  # the acting CPU itself
        self.ncpus = cpus
        self.mem_size = mem_mib << 20
        # anonymous mmap: the kernel zero-fills pages on first touch, where a
        # ctypes array would memset all 32 MiB up front (65 ms of start-up)
        self.ram = (ctypes.c_ubyte * self.mem_size).from_buffer(mmap.mmap(-1, self.mem_size))
        self.ram_view = memoryview(self.ram).cast("B")
        self.clock = Clock()
        self.icount = InstructionClock(self.clock, self.ram_view, self.mem_size)
        self.icount.control = ControlWrites(self)   # mov crN checks (emulator/crwrite.py)
        self.icount.string_io = ioperm.StringIoChecks(self)     # ins/outs (emulator/ioperm.py)
        self.loop = RunLoop(self)
        self.trace = _NullTrace()
        self.console: Callable[[bytes], None] = _stdout_console
        self.symbols = None            # set by whoever runs the machine (module docstring)
        self.image_end = 0
        self.on_interrupt: list = []
        self.cpus: list[Cpu] = []
        self.native = None             # CPU 0's C block hook (None: Python hook)
        self._disasm = Disasm()            # a fault's instruction (accept.selector_error)
        self._schedule: list = []      # a heap of (t, seq, n, fn); n: the order of the calls
        self._seq = 0
        self._init_hooks()             # exec hooks and watches (emulator/hooks.py)
        self.rr = RoundRobin(cpus)     # whose turn (one CPU: always its own)
        self._make_devices()
        for i in range(cpus):
            self._make_cpu(i, native)
        self.icount.cpus = self.cpus
        self.use(self.cpus[0])

    def use(self, cpu: Cpu) -> None:
        """Make ``cpu`` the acting CPU (its engine runs, its accesses are dispatched)."""
        self.cpu = cpu
        self.current_cpu = cpu.index
        self.icount.cpu = cpu

    # -- construction --------------------------------------------------------
    @classmethod
    def from_image(cls, path, append: str = "", mem_mib: int = 32, cpus: int = 1,
                   serial_in=None, native: bool = True) -> "Machine":
        try:
            data = loader_mod.read_image(path, mem_mib << 20)
            m = cls.from_bytes(data, append=append, mem_mib=mem_mib, cpus=cpus,
                               serial_in=serial_in, native=native,
                               image_path=os.path.basename(str(path)))
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
        self.platform = PcInterrupts(c, self.ncpus, pic)
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
        self._timed = [d for d in self._device_list
                       if type(d).next_deadline is not Device.next_deadline]
        self._timed.extend(self.platform.lapics)   # their timers (cheaper than the platform's loop)
        self.timers = DeviceTimers(self._timed)    # their deadlines, cached (emulator/timers.py)
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
        uc.reg_write(X.UC_X86_REG_CR4, 0)      # the reset value (Unicorn starts with 0x50200)
        cpu = Cpu(index, uc)
        cpu.ram = self.ram_view
        cpu.interrupt_source = self.platform.lapics[index]
        self.cpus.append(cpu)
        if native and (index == 0 or self.native is not None):
            try:
                cpu.native = load_block_hook(uc, self.icount.block_count,
                                             [REGS[name] for name in HOOK_REGS])
            except OSError:                 # not built: the Python hook (run says so)
                cpu.native = None
        if index == 0:
            self.native = cpu.native
        if cpu.native is not None:
            cpu.st = cpu.native.state
        else:
            cpu.st = HookState()
            uc.hook_add(unicorn.UC_HOOK_BLOCK, self.icount.py_block)
        for base, size in MMIO_RANGES:
            uc.mmio_map(base, size, self._mmio_read, base, self._mmio_write, base)
        uc.hook_add(unicorn.UC_HOOK_INTR, self._on_intr)
        from emulator.cpuid import hook as cpuid_hook
        uc.hook_add(unicorn.UC_HOOK_INSN, cpuid_hook(cpu), None, 1, 0, X.UC_X86_INS_CPUID)
        # through the C hook's bh_in/bh_out where there is one: CS and EIP
        # come read with the call (HOOK_REGS), not asked for one by one
        native = trampolines(cpu)
        regs = native.captured if native is not None else None
        in_hook(uc, functools.partial(self._on_in, regs), native)
        out_hook(uc, functools.partial(self._on_out, regs), native)
        tsc.install(self, cpu)                 # rdtsc reads virtual time (emulator/tsc.py)

    def _boot(self, boot) -> None:
        self.image_end = boot.image_end
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

    # -- running -----------------------------------------------------------------
    def run(self, max_instructions: Optional[int] = None) -> RunResult:
        end = INF if max_instructions is None else self.clock.now + max_instructions
        return self.loop.run(end)

    def step(self, n: int = 1) -> Optional[RunResult]:
        """Retire exactly ``n`` instructions; returns a RunResult only if the run ended."""
        r = self.loop.run(self.clock.now + n)
        return None if r.reason == "budget" else r

    def stop(self) -> None:
        """Stop the run: at once from a hook, at the next block from another thread."""
        self.loop.stop_requested = True
        self.cpu.st.flags |= F_STOP
        if threading.get_ident() == self.loop.thread:
            for cpu in self.cpus:
                cpu.uc.emu_stop()

    def stop_engine(self, cpu: Cpu) -> None:
        """From a hook: end this emu_start at once (the run loop continues)."""
        cpu.uc.emu_stop()

    def in_interrupt_shadow(self, cpu: Cpu) -> bool:
        return accept.in_shadow(cpu, lambda: self.icount.previous(cpu, cpu.pc))

    # -- memory --------------------------------------------------------------------
    def mem_read(self, addr: int, n: int) -> bytes:
        if 0 <= addr and addr + n <= self.mem_size:
            return bytes(self.ram_view[addr:addr + n])
        return bytes(self.cpus[0].uc.mem_read(addr, n))

    def read_virtual(self, addr: int, n: int, cpu: Optional[int] = None) -> Optional[bytes]:
        """``n`` bytes at linear address ``addr`` as CPU ``cpu`` (default: the
        acting one) sees them: through its page tables when paging is on,
        else physical.  None where nothing is mapped; no fault, no side effect."""
        c = self.cpus[self.current_cpu if cpu is None else cpu]
        if c.paging_on:
            return c.read_linear(addr, n)
        try:
            return self.mem_read(addr, n)
        except unicorn.UcError:
            return None

    def mem_write(self, addr: int, data: bytes) -> None:
        self.cpus[0].uc.mem_write(addr, bytes(data))
        self.invalidate_code(addr, len(data))

    def forget_blocks(self, cpu: Cpu) -> None:
        """Forget ``cpu``'s instruction counts cached by linear address (its
        address space changed; emulator/crwrite.py)."""
        self.icount.forget(cpu)

    def invalidate_code(self, addr: int, n: int) -> None:
        """Forget translations and block counts overlapping [addr, addr+n)."""
        self.icount.invalidate(addr, n)

    # -- events from outside -------------------------------------------------------
    def set_trace(self, sink) -> None:
        self.trace = sink if sink is not None else _NullTrace()
        for dev in self._device_list:
            dev.trace = _route(self, self.trace)
        self.platform.set_trace(_route(self, self.trace))

    def schedule(self, t: int, fn: Callable, seq: Optional[float] = None) -> None:
        """Call ``fn(machine)`` at the boundary where ``clock.now`` reaches ``t``;
        calls due at one time run in ``seq`` order (default: after all so far)."""
        self._seq += 1
        heapq.heappush(self._schedule, (t, self._seq if seq is None else seq, self._seq, fn))

    def inject(self, spec) -> None:
        inj = parse(spec) if isinstance(spec, str) else spec
        assert isinstance(inj, Injection)
        inj.install(self)

    def raise_irq(self, irq: int) -> None:
        """Pulse ISA line ``irq`` (an edge at the PIC and at the IO APIC input
        of that line), keeping a device's own level."""
        level = self._lines[irq].level if irq in self._lines else 0
        self.platform.isa_irq(irq, 1)
        self.platform.isa_irq(irq, level)

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
        self.loop.result = RunResult(value, "exit")
        self.cpu.st.flags |= F_STOP

    def _on_sleep(self, state: str) -> None:
        """SLP_EN in PM1a_CNT (emulator/devices/acpi_pm.py): S5 and S4 power
        the machine off (status 0, as QEMU's process exits 0); S3 ends the
        run with a report (the wake-up is not modelled; QEMU -icount does
        not wake either: its virtual clock stands still while suspended)."""
        if state == "S3":
            self.loop.result = RunResult(STATUS_CRASH, "suspend", (
                f"irqlab: the guest entered ACPI S3 (suspend to RAM) at t={self.clock.now}; "
                "waking from S3 is not modelled"))
        else:
            self.loop.result = RunResult(0, "poweroff")
        self.cpu.st.flags |= F_STOP

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
        if self.cpu is cpu:
            cpu.st.flags |= F_STOP

    def _on_sipi(self, index: int, vector: int) -> None:
        """A start-up IPI: the AP starts in real mode at ``vector << 12``."""
        self.platform.lapics[index].take_sipi()
        if index == 0:
            return
        cpu = self.cpus[index]
        enter_real_mode(cpu.uc, vector)
        cpu.maybe_16bit = True
        cpu.paging_on = False
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

    def next_event(self) -> int:
        """The earliest device deadline or scheduled call (INF: none)."""
        t = self.timers.next_deadline()
        if self._schedule and self._schedule[0][0] < t:
            t = self._schedule[0][0]
        return t

    def devices_at_boundary(self) -> None:
        """Devices due advanced to clock.now, then the scheduled calls due."""
        now = self.clock.now
        self.timers.advance(now)
        while self._schedule and self._schedule[0][0] <= now:
            fn = heapq.heappop(self._schedule)[3]
            fn(self)
            self.timers.changed()          # a call may touch any device

    def _on_intr(self, uc, intno, _ud) -> None:
        """Unicorn's report of ``int n`` or an exception: delivered at the boundary."""
        cpu = self.cpu
        eip = cpu.pc
        kind = accept.classify(intno, self.icount.previous(cpu, eip))
        err = None
        if kind == "exception" and intno in ERROR_CODE_VECTORS:
            # what the engine raised it with (a #PF's P, W/R, U/S, RSVD bits);
            # decoding the instruction is the fallback for a segment fault
            err = exception_error_code(uc)
            if err is None:
                err = (accept.selector_error(cpu, eip, self._disasm, self.mem_read)
                       if intno in (10, 11, 12, 13) else 0)
        if intno == 14 and cpu.cr2_kept is not None:
            cpu.cr2_kept = cpu.read("cr2")          # this #PF's, not the run's end's
        cpu.pending_exc = (intno, kind, err)
        uc.emu_stop()


def _route(machine, sink):
    def trace(ev, /, **fields):
        sink.emit(ev, machine.current_cpu, **fields)
    return trace


def _stdout_console(data: bytes) -> None:
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
