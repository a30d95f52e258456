"""A tiny stand-in for the machine, with the API the observer uses.

One Unicorn CPU stepped one instruction at a time (tests run a few hundred),
exec hooks by address, and an ``interrupt(vector)`` that vectors like the
real machine does (push EFLAGS, CS, EIP; clear IF; jump) and tells the
``on_interrupt`` listeners.  It lets the observer be tested on real code
without depending on the whole machine.

``FakeMachine(asm, cpus=N)`` gives N such CPUs, one Unicorn engine each,
sharing one RAM buffer as the real machine's do; ``step(n, cpu=i)`` and
``interrupt(vector, cpu=i)`` act on CPU ``i``, and ``start(cpu, eip)`` sets
where a CPU begins.  Tests interleave the CPUs by hand.
"""

import ctypes
import re

from keystone import KS_ARCH_X86, KS_MODE_32, KS_OPT_SYNTAX_INTEL, Ks
from unicorn import UC_ARCH_X86, UC_HOOK_CODE, UC_MODE_32, Uc
from unicorn import x86_const as R

from emulator.clock import Clock

BASE = 0x100000


class Cpu:
    def __init__(self, uc, index=0):
        self.uc = uc
        self.index = index


class Image:
    def __init__(self, code, base):
        self.data = code
        self.base = base


class FakeSymbols:
    def __init__(self, table):
        self.table = table

    def addr(self, name):
        return self.table[name]

    def symbolize(self, addr):
        best = None
        for n, a in self.table.items():
            if a <= addr and (best is None or a > best[1]):
                best = (n, a)
        if best is None:
            return None
        return best[0] if best[1] == addr else f"{best[0]}+{addr - best[1]:#x}"

    def line_of(self, addr):
        return None

    def constants(self):
        return {}


class FakeMachine:
    RAM = 0x200000

    def __init__(self, asm, symbols=True, handlers=None, cpus=1):
        ks = Ks(KS_ARCH_X86, KS_MODE_32)
        # keystone's radix is left unset (heap garbage) until an option sets
        # it to 16, as asm/encoder.py does: decimal numbers go in as 0x...
        ks.syntax = KS_OPT_SYNTAX_INTEL
        asm = re.sub(r"(?<![\w.])\d+(?![\w.])", lambda m: hex(int(m.group())), asm)
        # assemble once to find label addresses (keystone resolves them)
        enc, _ = ks.asm(asm, BASE)
        self.code = bytes(enc)
        self.uc = Uc(UC_ARCH_X86, UC_MODE_32)
        if cpus == 1:
            self.uc.mem_map(0, self.RAM)
            self.cpus = [Cpu(self.uc)]
        else:
            self._ram = ctypes.create_string_buffer(self.RAM)
            self.cpus = []
            for i in range(cpus):
                uc = self.uc if i == 0 else Uc(UC_ARCH_X86, UC_MODE_32)
                uc.mem_map_ptr(0, self.RAM, 7, ctypes.addressof(self._ram))
                self.cpus.append(Cpu(uc, i))
        self.uc.mem_write(BASE, self.code)
        self.clock = Clock()
        self.image = Image(self.code, BASE)
        self.on_interrupt = []
        self.trace = None
        self.hooks = {}
        self.devices = {}
        self.symbols = FakeSymbols(symbols) if isinstance(symbols, dict) else None
        for c in self.cpus:
            c.uc.hook_add(UC_HOOK_CODE, self._code, c)
            c.uc.reg_write(R.UC_X86_REG_EIP, BASE)
        self.handlers = handlers or {}

    def start(self, cpu, eip):
        self.cpus[cpu].uc.reg_write(R.UC_X86_REG_EIP, eip)

    def _code(self, uc, addr, size, cpu):
        for fn in self.hooks.get(addr, ()):
            fn(self, cpu if isinstance(cpu, Cpu) else self.cpus[0])

    def add_exec_hook(self, addr, fn):
        self.hooks.setdefault(addr, []).append(fn)

    def mem_read(self, addr, n):
        return self.uc.mem_read(addr, n)

    def step(self, n=1, cpu=0):
        c = self.cpus[cpu]
        uc = c.uc
        for _ in range(n):
            eip = uc.reg_read(R.UC_X86_REG_EIP)
            if uc.mem_read(eip, 1) == b"\xcf":
                # iret, done by hand: this CPU has no GDT to reload CS from
                self._code(uc, eip, 1, c)
                esp = uc.reg_read(R.UC_X86_REG_ESP)
                frame = uc.mem_read(esp, 12)
                uc.reg_write(R.UC_X86_REG_EIP, int.from_bytes(frame[0:4], "little"))
                uc.reg_write(R.UC_X86_REG_EFLAGS, int.from_bytes(frame[8:12], "little"))
                uc.reg_write(R.UC_X86_REG_ESP, esp + 12)
            else:
                uc.emu_start(eip, 0xFFFFFFFF, count=1)
            self.clock.now += 1

    def interrupt(self, vector, kind="irq", cpu=0):
        uc = self.cpus[cpu].uc
        esp = uc.reg_read(R.UC_X86_REG_ESP)
        eflags = uc.reg_read(R.UC_X86_REG_EFLAGS)
        eip = uc.reg_read(R.UC_X86_REG_EIP)
        for v in (eflags, 8, eip):
            esp -= 4
            uc.mem_write(esp, v.to_bytes(4, "little"))
        uc.reg_write(R.UC_X86_REG_ESP, esp)
        uc.reg_write(R.UC_X86_REG_EFLAGS, eflags & ~0x200)
        uc.reg_write(R.UC_X86_REG_EIP, self.handlers[vector])
        for fn in self.on_interrupt:
            fn(cpu, vector, kind, eip, None)
