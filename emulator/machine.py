"""The machine: CPUs on Unicorn, RAM, the PC devices, virtual time, the run loop.

API (what the debugger, observer, checkers and scenario scripts build on)
-------------------------------------------------------------------------
``Machine.from_image(path, append="", mem_mib=32, cpus=1, serial_in=None,
native=True)`` loads a Multiboot v1 image (emulator/loader.py) and returns a
machine at the kernel's entry.  ``Machine.from_bytes(data, ...)`` likewise.

* ``run(max_instructions=None) -> RunResult(status, reason, report)``:
  runs until the guest writes port 0xF4 (status = value, reason "exit"),
  the budget is spent (124, "budget"), the guest crashes or deadlocks (126,
  "crash" / "triple-fault" / "deadlock", ``report`` a paragraph), or
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
  whose instruction, access or delivery caused the event being handled);
  always 0 while only one CPU is supported.
* ``cpus[i]``: ``emulator.cpu.Cpu`` -- ``read(name)``/``write(name, v)``,
  ``cpu["eax"]``, ``eip``, ``halted``, ``registers()``.
* ``mem_read(addr, n) -> bytes``, ``mem_write(addr, data)`` (drops cached
  translations of that range).
* ``devices``: dict by name -- pic, pit, port61 (the PIT object, which owns
  port 0x61), uart, rtc, i8042, debugcon, debugexit, testdev.
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
* ``snapshot()`` / ``restore(snap)``: CPU registers, RAM, devices (their
  ``save_state()``; the wiring stays), clock, pending schedule and the run
  loop's state (an exception raised but not yet delivered, the interrupt
  shadow).
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

import ctypes
import os
import sys
import threading
from dataclasses import dataclass
from typing import Callable, Optional

import capstone
import unicorn
from unicorn import x86_const as X

from emulator import loader as loader_mod
from emulator.clock import Clock
from emulator.cpu import (Cpu, EFLAGS_IF, TripleFault, Unsupported, VEC_UD,
                          exception_name, reset_exception_chain)
from emulator.devices.base import IrqLine

INF = 1 << 62
STATUS_BUDGET = 124
STATUS_CRASH = 126

# flags shared with the block hook (same bits in native/blockhook.c)
F_STOP = 1          # stop at the next block entry or post-I/O hook
F_WATCH_IF = 2      # an interrupt waits for IF: stop at a block entry with IF=1

SHADOW_MNEMONICS = ("sti",)
IO_MNEMONICS = frozenset({"in", "out", "insb", "insw", "insd", "outsb", "outsw", "outsd"})
SOFT_INT = {"int3": 3, "into": 4, "int1": 1}


@dataclass
class RunResult:
    status: Optional[int]        # exit status for the command line (None: stopped)
    reason: str                  # exit, budget, crash, triple-fault, deadlock, stopped
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
        self.flags = 0


@dataclass
class Block:
    addr: int
    size: int
    offsets: tuple          # offset of each instruction from addr
    last: str               # the last instruction's mnemonic + operands
    io_next: tuple          # addresses right after in/out that are not the block's last


class _NullTrace:
    def emit(self, ev, cpu=0, /, **fields):
        return None


MAX_CPUS = 8                           # --cpus accepts 1..MAX_CPUS


class MachineError(Exception):
    """A bad image or argument (one line for the user)."""


class Machine:
    """The PC: CPUs, RAM, devices, clock.  See the module docstring."""

    def __init__(self, mem_mib: int = 32, cpus: int = 1, native: bool = True) -> None:
        if not 1 <= cpus <= MAX_CPUS:
            raise MachineError(f"--cpus must be between 1 and {MAX_CPUS} (got {cpus})")
        if cpus != 1:
            raise MachineError("only --cpus 1 is supported so far (SMP wiring is the APIC issue)")
        self.current_cpu = 0           # index of the CPU acting now (stamps trace events)
        self.mem_size = mem_mib << 20
        self.ram = (ctypes.c_ubyte * self.mem_size)()
        self.ram_view = memoryview(self.ram).cast("B")
        self.clock = Clock()
        self.trace = _NullTrace()
        self.console: Callable[[bytes], None] = _stdout_console
        self.symbols = None
        self.on_interrupt: list = []
        self.cpus: list[Cpu] = []
        self.st = HookState()
        self.native = None
        self._blocks: dict[int, Block] = {}     # address -> the block last entered there
        self._decoded: dict[tuple, Block] = {}  # (address, size) -> decoded block
        self._post_io_hooked: set[int] = set()
        self._pending_io_hooks: list[int] = []
        self._cs = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_32)
        self._result: Optional[RunResult] = None
        self._schedule: list = []      # (t, seq, fn)
        self._seq = 0
        self._exec_hooks: dict = {}
        self._watch_hooks: dict = {}
        self._pending_exc = None       # (vector, kind, error_code)
        self._stop_requested = False
        self._lock = threading.Lock()
        self._just_delivered = True
        self._exec_last: dict = {}     # exec hook -> (address, time) it last ran at
        self._run_thread = None
        self._shadow_spent = False     # the last instruction ran in a shadow: none follows
        self._make_devices()
        self._make_cpu(0, native)

    # -- construction --------------------------------------------------------
    @classmethod
    def from_image(cls, path, append: str = "", mem_mib: int = 32, cpus: int = 1,
                   serial_in=None, native: bool = True) -> "Machine":
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            raise MachineError(f"cannot read image {path}: {e.strerror}") from None
        m = cls.from_bytes(data, append=append, mem_mib=mem_mib, cpus=cpus,
                           serial_in=serial_in, native=native,
                           image_path=os.path.basename(str(path)))
        try:
            from asm.symfile import load_symbols
            m.symbols = load_symbols(str(path))
        except (ImportError, ValueError, OSError):
            m.symbols = None
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
        self.pic = pic
        self.devices = {"pic": pic, "pit": pit, "port61": pit, "uart": uart, "rtc": rtc,
                        "i8042": kbc, "debugcon": con, "debugexit": ext, "testdev": tdev}
        self._device_list = [pic, pit, uart, rtc, kbc, con, ext, tdev]
        self._lines: dict[int, IrqLine] = {}
        for irq, wire in ((0, pit.irq), (1, kbc.irq1), (4, uart.irq), (tdev.irq_number, tdev.irq),
                          (8, rtc.irq), (12, kbc.irq12)):
            wire.sink = (lambda n: lambda level: pic.set_irq(n, level))(irq)
            self._lines[irq] = wire
        self._ports: dict[int, object] = {}
        for dev in self._device_list:
            for first, count in dev.ports:
                for p in range(first, first + count):
                    self._ports[p] = dev
        con.output = self._console_out
        uart.output = self._console_out
        ext.on_exit = self._guest_exit
        pic.output_changed = self._intr_changed
        self._timed = [d for d in self._device_list if type(d).next_deadline is not _base_deadline]

    def _make_cpu(self, index: int, native: bool) -> None:
        uc = unicorn.Uc(unicorn.UC_ARCH_X86, unicorn.UC_MODE_32)
        uc.mem_map_ptr(0, self.mem_size, unicorn.UC_PROT_ALL, ctypes.addressof(self.ram))
        cpu = Cpu(index, uc)
        cpu.ram = self.ram_view
        cpu.interrupt_source = _PicSource(self.pic)
        self.cpus.append(cpu)
        if native:
            try:
                from emulator.native import load_block_hook
                self.native = load_block_hook(self, uc)
            except (ImportError, OSError):
                self.native = None
        if self.native is not None:
            self.st = self.native.state
        else:
            uc.hook_add(unicorn.UC_HOOK_BLOCK, self._py_block)
        uc.hook_add(unicorn.UC_HOOK_INTR, self._on_intr)
        uc.hook_add(unicorn.UC_HOOK_INSN, self._on_in, None, 1, 0, X.UC_X86_INS_IN)
        uc.hook_add(unicorn.UC_HOOK_INSN, self._on_out, None, 1, 0, X.UC_X86_INS_OUT)

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
        for a in [a for a, b in self._blocks.items() if a < addr + n and addr < a + b.size]:
            del self._blocks[a]
        for k in [k for k in self._decoded if k[0] < addr + n and addr < k[0] + k[1]]:
            del self._decoded[k]
        if self.native is not None:
            self.native.clear_cache()

    def set_trace(self, sink) -> None:
        self.trace = sink if sink is not None else _NullTrace()
        for dev in self._device_list:
            dev.trace = _route(self.trace)

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
        """Pulse ISA line ``irq`` at the PIC (an edge), keeping a device's own level."""
        level = self._lines[irq].level if irq in self._lines else 0
        self.pic.set_irq(irq, 1)
        self.pic.set_irq(irq, level)

    def add_exec_hook(self, addr: int, fn) -> object:
        last = self._exec_last
        handle = object()

        def cb(uc, address, size, _ud, _fn=fn, _key=id(handle)):
            self._sync_now(address)
            when = (address, self.clock.now)
            if last.get(_key) == when:
                return                  # it ran here before a stop: this is the resume
            last[_key] = when
            _fn(self, self.cpus[0])
        hs = [cpu.uc.hook_add(unicorn.UC_HOOK_CODE, cb, None, addr, addr) for cpu in self.cpus]
        self.invalidate_code(addr, 1)
        self._exec_hooks[handle] = (addr, hs)
        return handle

    def remove_exec_hook(self, handle) -> None:
        addr, hs = self._exec_hooks.pop(handle)
        self._exec_last.pop(id(handle), None)
        for cpu, h in zip(self.cpus, hs):
            cpu.uc.hook_del(h)
        self.invalidate_code(addr, 1)

    def add_write_watch(self, addr: int, length: int, fn) -> object:
        return self._watch(unicorn.UC_HOOK_MEM_WRITE, addr, length, fn)

    def add_read_watch(self, addr: int, length: int, fn) -> object:
        return self._watch(unicorn.UC_HOOK_MEM_READ, addr, length, fn)

    def _watch(self, kind, addr, length, fn) -> object:
        def cb(uc, access, address, size, value, _ud):
            eip = uc.reg_read(X.UC_X86_REG_EIP)
            self._sync_now(eip)
            fn(self, self.cpus[0], address, size, value if access == unicorn.UC_MEM_WRITE else None)
        hs = [cpu.uc.hook_add(kind, cb, None, addr, addr + length - 1) for cpu in self.cpus]
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
                "ram": bytes(self.ram_view), "devices": [d.save_state() for d in self._device_list],
                "pending_exc": self._pending_exc, "shadow_spent": self._shadow_spent,
                "now": self.clock.now, "schedule": list(self._schedule),
                "just_delivered": self._just_delivered, "last_block": self.st.last_block,
                "cur_block": self.st.cur_block}

    def restore(self, snap: dict) -> None:
        self.ram_view[:] = snap["ram"]
        for c, regs in zip(self.cpus, snap["regs"]):
            c.uc.reg_write(X.UC_X86_REG_GDTR, regs["gdtr"])
            c.uc.reg_write(X.UC_X86_REG_IDTR, regs["idtr"])
            c.load_registers(regs)
            c.halted = regs["halted"]
        for dev, saved in zip(self._device_list, snap["devices"]):
            dev.load_state(saved)               # registers only: the wiring stays
        self._make_wiring_again()
        self._pending_exc = snap.get("pending_exc")
        self._shadow_spent = snap.get("shadow_spent", False)
        self.clock.now = snap["now"]
        self.st.now = self.st.block_start = snap["now"]
        self.st.last_block, self.st.cur_block = snap["last_block"], snap["cur_block"]
        self._schedule = list(snap["schedule"])
        self._just_delivered = snap["just_delivered"]
        self._exec_last.clear()                 # time runs again: hooks fire again
        self._result = None
        self.invalidate_code(0, self.mem_size)

    def _make_wiring_again(self) -> None:
        pic = self.pic
        d = self.devices
        for irq, wire in ((0, d["pit"].irq), (1, d["i8042"].irq1), (4, d["uart"].irq),
                          (d["testdev"].irq_number, d["testdev"].irq), (8, d["rtc"].irq),
                          (12, d["i8042"].irq12)):
            wire.sink = (lambda n: lambda level: pic.set_irq(n, level))(irq)
            self._lines[irq] = wire
        d["debugcon"].output = self._console_out
        d["uart"].output = self._console_out
        d["debugexit"].on_exit = self._guest_exit
        pic.output_changed = self._intr_changed
        self.set_trace(self.trace if not isinstance(self.trace, _NullTrace) else None)

    # -- device side ---------------------------------------------------------------
    def _console_out(self, data: bytes) -> None:
        self.console(data)

    def _guest_exit(self, value: int) -> None:
        self._result = RunResult(value, "exit")
        self.st.flags |= F_STOP

    def _intr_changed(self, level: int) -> None:
        """The PIC's INTR moved; during I/O ``_io_end`` decides whether to stop."""

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
    def _decode(self, addr: int, size: int) -> Block:
        code = bytes(self.ram_view[addr:addr + size]) if addr + size <= self.mem_size else b""
        offsets, last, io_next = [], "", []
        insns = list(self._cs.disasm(code, addr))
        for i, ins in enumerate(insns):
            offsets.append(ins.address - addr)
            if ins.mnemonic in IO_MNEMONICS and i + 1 < len(insns):
                io_next.append(ins.address + ins.size)
        if insns:
            last = (insns[-1].mnemonic + " " + insns[-1].op_str).strip()
        if not offsets:
            offsets = [0]
        b = Block(addr, size, tuple(offsets), last, tuple(io_next))
        self._decoded[(addr, size)] = b
        self._blocks[addr] = b
        return b

    def block_count(self, addr: int, size: int) -> int:
        """Instructions in the block at ``addr`` (0: stop, hooks must be added first)."""
        b = self._decoded.get((addr, size))
        if b is None:
            b = self._decode(addr, size)
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
            stop = bool(self.cpus[0].eflags & EFLAGS_IF)
        st.last_block = st.cur_block
        st.cur_block = addr
        st.block_start = st.now
        if stop:
            uc.emu_stop()
        else:
            st.now += n

    def _post_io(self, uc, addr, size, _ud) -> None:
        if self.st.flags & F_STOP:
            uc.emu_stop()

    def _install_io_hooks(self) -> None:
        for a in self._pending_io_hooks:
            if a in self._post_io_hooked:
                continue
            self._post_io_hooked.add(a)
            for cpu in self.cpus:
                if self.native is not None:
                    self.native.add_post_io_hook(cpu.uc, a)
                else:
                    cpu.uc.hook_add(unicorn.UC_HOOK_CODE, self._post_io, None, a, a)
                cpu.uc.ctl_remove_cache(a, a + 1)
        self._pending_io_hooks.clear()

    def _index_in_block(self, eip: int) -> Optional[int]:
        b = self._blocks.get(self.st.cur_block)
        if b is None or not b.addr <= eip <= b.addr + b.size:
            return None
        off = eip - b.addr
        return sum(1 for o in b.offsets if o < off)

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
        idx = self._index_in_block(eip)
        if idx is None:
            return ""
        if idx > 0:
            b = self._blocks[self.st.cur_block]
            return b.last if idx == len(b.offsets) else ""
        prev = self._blocks.get(self.st.last_block)
        return prev.last if prev is not None else ""

    def in_interrupt_shadow(self, cpu: Cpu) -> bool:
        if self._just_delivered or self._shadow_spent:
            return False
        prev = self._previous_instruction(cpu.eip)
        return prev == "sti" or prev.startswith("mov ss,") or prev == "pop ss"

    # -- port I/O ---------------------------------------------------------------------
    def _io_begin(self, uc) -> None:
        self._sync_now(self.cpus[0].eip, retired_current=True)
        self._advance_devices()

    def _io_end(self) -> None:
        st = self.st
        t = self._next_event()
        if t < st.deadline:
            st.deadline = t
        if t < st.now or self._result is not None:
            st.flags |= F_STOP
        elif self.cpus[0].interrupt_source.intr_pending():
            # deliverable now: stop after this instruction; else wait for IF
            st.flags |= F_STOP if self.cpus[0].eflags & EFLAGS_IF else F_WATCH_IF

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
        eip = self.cpus[0].eip
        prev = self._previous_instruction(eip)
        kind = "exception"
        if prev.startswith("int ") and _imm(prev) == intno:
            kind = "soft"
        elif SOFT_INT.get(prev) == intno:
            kind = "soft"
        err = None
        if kind == "exception" and intno in (10, 11, 12, 13):
            err = self._selector_error(uc, eip)
        self._pending_exc = (intno, kind, err)
        uc.emu_stop()

    def _selector_error(self, uc, eip: int) -> int:
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
                return self.cpus[0].read(src) & 0xFFFC
            return 0
        if ins.mnemonic == "pop" and ops[0] in sregs:
            esp = self.cpus[0].read("esp")
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

    def _boundary(self, cpu: Cpu) -> None:
        """Everything that happens between two instructions at clock.now."""
        now = self.clock.now
        self._advance_devices()
        while self._schedule and self._schedule[0][0] <= now:
            _t, _s, fn = self._schedule.pop(0)
            fn(self)
        if self._pending_exc is not None:
            vector, kind, err = self._pending_exc
            self._pending_exc = None
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
        if source.intr_pending():
            if cpu.interrupts_enabled:
                if not self.in_interrupt_shadow(cpu):
                    eip_from = cpu.eip
                    vector = source.acknowledge()
                    cpu.deliver(vector, "irq")
                    self._after_delivery(cpu, vector, "irq", eip_from, None)
            else:
                self.st.flags |= F_WATCH_IF

    def _after_delivery(self, cpu, vector, kind, eip_from, err) -> None:
        cpu.halted = False
        self._just_delivered = True
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
        shadow_step = (st.flags & F_WATCH_IF) == 0 and cpu.interrupt_source.intr_pending() \
            and cpu.interrupts_enabled and not self._just_delivered
        self._shadow_spent = False
        if shadow_step:
            limit = min(limit, now + 1)        # the instruction in the shadow, then deliver
            self._shadow_spent = True          # (a mov ss there opens no second shadow)
        st.deadline = limit
        until = None
        b = self._blocks.get(eip)
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
        self._sync_now(cpu.eip)
        self.st.now = self.st.block_start = self.clock.now
        self.st.skip_addr = -1
        if self.clock.now != before:
            self._just_delivered = False
        else:
            self._shadow_spent = False         # nothing ran: the shadow is still ahead
        prev = self._previous_instruction(cpu.eip)
        if prev == "hlt" and self._pending_exc is None and self.clock.now != before:
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


class _PicSource:
    """CPU 0's interrupt source: the 8259 pair's INTR (an APIC replaces it later)."""

    def __init__(self, pic) -> None:
        self.pic = pic

    def intr_pending(self) -> bool:
        return bool(self.pic.intr_level())

    def acknowledge(self) -> int:
        return self.pic.acknowledge()


def _stop_here(uc, address, size, _ud) -> None:
    uc.emu_stop()


def _route(sink):
    def trace(ev, /, **fields):
        sink.emit(ev, 0, **fields)
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
