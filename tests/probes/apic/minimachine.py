"""A minimal SMP PC on Unicorn, to run the APIC probes before the real machine can.

NOT the machine (emulator/machine.py is the machine core's): a test double
that does the least a machine must do, so that the APIC device models and
emulator/devices/platform.py (PcInterrupts), emulator/roundrobin.py and
emulator/cpu.py's enter_real_mode can be run
against the probes and compared with QEMU now.  It counts instructions with
a Python code hook (slow, ~1 µs each, fine for probes of a few hundred
thousand instructions), vectors interrupts through a 32-bit IDT (no error
codes, no privilege change, no exceptions), honours the STI shadow, and
treats ``hlt`` as "halted until an interrupt or NMI".

Unicorn 2.1.4 (observed): ``emu_stop`` called inside an MMIO callback
leaves EIP at the accessing instruction, so resuming performs the access
again.  A stop a device asks for is therefore deferred to the code hook of
the next instruction, which stops before that instruction runs.  Devices: the 8259
pair, the 8254, the RTC, debugcon 0xE9 and isa-debug-exit 0xF4.
"""

from __future__ import annotations

import ctypes
import mmap
import struct

from unicorn import (UC_ARCH_X86, UC_HOOK_CODE, UC_HOOK_INSN, UC_MODE_32, UC_PROT_ALL, Uc)
from unicorn import x86_const as X

from emulator.clock import Clock
from emulator.devices.debugcon import DebugCon, DebugExit
from emulator.devices.i8254 import Pit
from emulator.devices.i8259 import PicPair
from emulator.devices.ioapic import IOAPIC_BASE
from emulator.devices.apic_regs import LAPIC_BASE
from emulator.devices.mc146818 import Rtc
from emulator.cpu import enter_real_mode
from emulator.devices.platform import PcInterrupts
from emulator.roundrobin import CpuState, RoundRobin

RAM_SIZE = 32 << 20
MB_MAGIC = 0x1BADB002
MB_BOOT_MAGIC = 0x2BADB002
STI, HLT = 0xFB, 0xF4
IF_FLAG, TF_FLAG = 1 << 9, 1 << 8


class GuestExit(Exception):
    pass


class MiniMachine:
    def __init__(self, image: bytes, ncpus: int, quantum: int = 1000) -> None:
        self.clock = Clock()
        self.console = bytearray()
        self.status = None
        self.pic = PicPair(self.clock)
        self.pit = Pit(self.clock)
        self.rtc = Rtc(self.clock)
        self.con = DebugCon(self.clock)
        self.exit_dev = DebugExit(self.clock)
        self.con.output = self.console.extend
        self.exit_dev.on_exit = self._on_exit
        self.apic = PcInterrupts(self.clock, ncpus, self.pic)
        self.pit.irq = self.apic.isa_line(0)
        self.rtc.irq = self.apic.isa_line(8)
        self.rr = RoundRobin(ncpus, quantum)
        self.timed = [self.pit, self.rtc, *self.apic.lapics]
        self.ports = {}
        for dev in (self.pic, self.pit, self.rtc, self.con, self.exit_dev):
            for first, count in dev.ports:
                for p in range(first, first + count):
                    self.ports[p] = dev
        self.ram = mmap.mmap(-1, RAM_SIZE)
        ptr = ctypes.addressof(ctypes.c_char.from_buffer(self.ram))
        self.cpus = [self._make_cpu(i, ptr) for i in range(ncpus)]
        self.last_insn = [0] * ncpus          # address of each CPU's last instruction
        self.current = None
        self.stop_requested = False
        self.watch = [False] * ncpus          # an interrupt may wait for IF=1
        for i, lapic in enumerate(self.apic.lapics):
            lapic.output_changed = self._changed(i)
            lapic.on_init = self._on_init(i)
            lapic.on_sipi = self._on_sipi(i)
        self._load(image)

    # -- construction ------------------------------------------------------------
    def _make_cpu(self, index: int, ptr: int) -> Uc:
        uc = Uc(UC_ARCH_X86, UC_MODE_32)
        uc.mem_map_ptr(0, RAM_SIZE, UC_PROT_ALL, ptr)
        for base in (LAPIC_BASE, IOAPIC_BASE):
            uc.mmio_map(base, 0x1000, self._mmio_read(index, base), None,
                        self._mmio_write(index, base), None)
        uc.hook_add(UC_HOOK_CODE, self._count(index))
        uc.hook_add(UC_HOOK_INSN, self._port_in, None, 1, 0, X.UC_X86_INS_IN)
        uc.hook_add(UC_HOOK_INSN, self._port_out, None, 1, 0, X.UC_X86_INS_OUT)
        return uc

    def _load(self, image: bytes) -> None:
        """Multiboot a.out kludge: header fields give where the file goes."""
        for off in range(0, min(len(image), 8192) - 32, 4):
            magic, flags, checksum = struct.unpack_from("<III", image, off)
            if magic == MB_MAGIC and (magic + flags + checksum) & 0xFFFFFFFF == 0:
                break
        else:
            raise ValueError("no Multiboot header")
        header_addr, load_addr, load_end, bss_end, entry = struct.unpack_from("<5I", image, off + 12)
        start = off - (header_addr - load_addr)
        data = image[start:start + (load_end - load_addr if load_end else len(image) - start)]
        self.ram[load_addr:load_addr + len(data)] = data
        if bss_end:
            self.ram[load_addr + len(data):bss_end] = bytes(bss_end - load_addr - len(data))
        bsp = self.cpus[0]
        bsp.reg_write(X.UC_X86_REG_EAX, MB_BOOT_MAGIC)
        bsp.reg_write(X.UC_X86_REG_EIP, entry)

    # -- hooks -----------------------------------------------------------------------
    def _count(self, index):
        def hook(uc, address, size, user):
            if self.stop_requested or self.watch[index] and self._due(index):
                self.stop_requested = False
                uc.emu_stop()               # before this instruction runs
                return
            self.clock.now += 1
            self.last_insn[index] = address
        return hook

    def _advance(self) -> None:
        for dev in self.timed:
            dev.advance(self.clock.now)

    def _mmio_read(self, index, base):
        def read(uc, offset, size, user):
            self._advance()
            return self.apic.mmio_read(index, base + offset, size)
        return read

    def _mmio_write(self, index, base):
        def write(uc, offset, size, value, user):
            self._advance()
            self.apic.mmio_write(index, base + offset, size, value)
        return write

    def _port_in(self, uc, port, size, user):
        self._advance()
        dev = self.ports.get(port)
        return dev.io_read(port, size) if dev else (1 << (8 * size)) - 1

    def _port_out(self, uc, port, size, value, user):
        self._advance()
        dev = self.ports.get(port)
        if dev:
            dev.io_write(port, size, value)

    def _on_exit(self, value: int) -> None:
        self.status = value
        self.stop_requested = True

    def _changed(self, index):
        def changed():
            if self.current == index:
                self.stop_requested = True    # look at it at the next boundary
            self.watch[index] = True          # and whenever IF may have become 1
        return changed

    def _on_init(self, index):
        def on_init():
            if index != 0:
                self.rr.wait_sipi(index)
        return on_init

    def _on_sipi(self, index):
        def on_sipi(vector):
            enter_real_mode(self.cpus[index], vector)
            self.last_insn[index] = 0
            self.rr.start(index)
        return on_sipi

    # -- interrupts ---------------------------------------------------------------------
    def _deliverable(self, index: int) -> bool:
        uc, lapic = self.cpus[index], self.apic.lapics[index]
        if lapic.nmi_pending:
            return True
        return bool(uc.reg_read(X.UC_X86_REG_EFLAGS) & IF_FLAG) and lapic.intr_pending()

    def _in_sti_shadow(self, index: int) -> bool:
        addr = self.last_insn[index]
        return bool(addr) and self.ram[addr] == STI and \
            self.cpus[index].reg_read(X.UC_X86_REG_EIP) == addr + 1

    def _vector(self, index: int, vector: int) -> None:
        """Enter the IDT gate ``vector`` (32-bit interrupt or trap gate, ring 0)."""
        uc = self.cpus[index]
        _, base, limit, _ = uc.reg_read(X.UC_X86_REG_IDTR)
        if vector * 8 + 7 > limit:
            raise RuntimeError(f"cpu{index}: vector {vector:#x} beyond the IDT limit")
        lo, hi = struct.unpack_from("<II", self.ram, base + vector * 8)
        offset, selector, kind = (lo & 0xFFFF) | (hi & 0xFFFF0000), lo >> 16, (hi >> 8) & 0xF
        eflags = uc.reg_read(X.UC_X86_REG_EFLAGS)
        esp = uc.reg_read(X.UC_X86_REG_ESP)
        frame = struct.pack("<III", uc.reg_read(X.UC_X86_REG_EIP), uc.reg_read(X.UC_X86_REG_CS), eflags)
        esp = (esp - 12) & 0xFFFFFFFF
        self.ram[esp:esp + 12] = frame
        uc.reg_write(X.UC_X86_REG_ESP, esp)
        new_flags = eflags & ~TF_FLAG
        if kind == 0xE:
            new_flags &= ~IF_FLAG
        uc.reg_write(X.UC_X86_REG_EFLAGS, new_flags)
        uc.reg_write(X.UC_X86_REG_CS, selector)
        uc.reg_write(X.UC_X86_REG_EIP, offset)

    def _due(self, index: int) -> bool:
        """From the code hook: an NMI or an accepted interrupt can be taken now.

        The machine core must re-check after every instruction that may set
        IF (sti, popf, iret); this test double simply watches, per
        instruction, while the LAPIC has something pending.
        """
        lapic = self.apic.lapics[index]
        if not (lapic.nmi_pending or lapic.intr_pending()):
            self.watch[index] = False
            return False
        if self.ram[self.last_insn[index]] == STI:
            return False                    # the STI shadow: one more instruction
        return lapic.nmi_pending or bool(self.cpus[index].reg_read(X.UC_X86_REG_EFLAGS) & IF_FLAG)

    def _take_interrupt(self, index: int) -> bool:
        """At a boundary of CPU ``index``: vector an NMI or an interrupt if one is due."""
        lapic = self.apic.lapics[index]
        if self._in_sti_shadow(index):
            return False
        if lapic.nmi_pending:
            lapic.take_nmi()
            self._vector(index, 2)
            return True
        if self.cpus[index].reg_read(X.UC_X86_REG_EFLAGS) & IF_FLAG and lapic.intr_pending():
            self._vector(index, lapic.acknowledge())
            return True
        return False

    # -- the loop --------------------------------------------------------------------------
    def _deadline(self):
        ds = [d for d in (dev.next_deadline() for dev in self.timed) if d is not None]
        return min(ds) if ds else None

    def run(self, max_insns: int = 5_000_000) -> tuple[str, int]:
        executed = 0                        # instructions run (idle jumps excluded)
        while self.status is None:
            if executed > max_insns:
                raise RuntimeError(f"probe still running after {max_insns} instructions")
            for i, state in enumerate(self.rr.state):
                if state is CpuState.HALTED and self._deliverable(i):
                    self.rr.wake(i)
            s = self.rr.next_slice(self.clock.now, self._deadline())
            if s.cpu is None:
                if s.until is None:
                    raise RuntimeError("every CPU halted and no timer is pending")
                self.clock.now = max(self.clock.now, s.until)
                self._advance()
                continue
            i = s.cpu
            self._take_interrupt(i)
            if s.count == 0:
                self._advance()
                continue
            uc = self.cpus[i]
            before = self.clock.now
            self.current = i
            pc = uc.reg_read(X.UC_X86_REG_EIP)
            uc.emu_start(pc, 0xFFFFFFFFFFFF, count=s.count)
            self.current = None
            self.stop_requested = False
            self.rr.retired(self.clock.now - before)
            executed += self.clock.now - before
            if self.ram[self.last_insn[i]] == HLT and \
                    uc.reg_read(X.UC_X86_REG_EIP) == self.last_insn[i] + 1 and self.status is None:
                self.rr.halt(i)
            self._advance()
        return self.console.decode("latin-1"), self.status
