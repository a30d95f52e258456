"""A tiny stand-in for the machine, with the API the observer uses.

One Unicorn CPU stepped one instruction at a time (tests run a few hundred),
exec hooks by address, and an ``interrupt(vector)`` that vectors like the
real machine does (push EFLAGS, CS, EIP; clear IF; jump) and tells the
``on_interrupt`` listeners.  It lets the observer be tested on real code
without depending on the whole machine.
"""

from keystone import KS_ARCH_X86, KS_MODE_32, Ks
from unicorn import UC_ARCH_X86, UC_HOOK_CODE, UC_MODE_32, Uc
from unicorn import x86_const as R

from emulator.clock import Clock

BASE = 0x100000


class Cpu:
    def __init__(self, uc):
        self.uc = uc
        self.index = 0


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
    def __init__(self, asm, symbols=True, handlers=None):
        ks = Ks(KS_ARCH_X86, KS_MODE_32)
        # assemble once to find label addresses (keystone resolves them)
        enc, _ = ks.asm(asm, BASE)
        self.code = bytes(enc)
        self.uc = Uc(UC_ARCH_X86, UC_MODE_32)
        self.uc.mem_map(0, 0x200000)
        self.uc.mem_write(BASE, self.code)
        self.cpus = [Cpu(self.uc)]
        self.clock = Clock()
        self.image = Image(self.code, BASE)
        self.on_interrupt = []
        self.trace = None
        self.hooks = {}
        self.devices = {}
        self.symbols = FakeSymbols(symbols) if isinstance(symbols, dict) else None
        self.uc.hook_add(UC_HOOK_CODE, self._code)
        self.uc.reg_write(R.UC_X86_REG_EIP, BASE)
        self.handlers = handlers or {}

    def _code(self, uc, addr, size, _):
        for fn in self.hooks.get(addr, ()):
            fn(self, self.cpus[0])

    def add_exec_hook(self, addr, fn):
        self.hooks.setdefault(addr, []).append(fn)

    def mem_read(self, addr, n):
        return self.uc.mem_read(addr, n)

    def step(self, n=1):
        for _ in range(n):
            eip = self.uc.reg_read(R.UC_X86_REG_EIP)
            if self.uc.mem_read(eip, 1) == b"\xcf":
                # iret, done by hand: this CPU has no GDT to reload CS from
                self._code(self.uc, eip, 1, None)
                esp = self.uc.reg_read(R.UC_X86_REG_ESP)
                frame = self.uc.mem_read(esp, 12)
                self.uc.reg_write(R.UC_X86_REG_EIP, int.from_bytes(frame[0:4], "little"))
                self.uc.reg_write(R.UC_X86_REG_EFLAGS, int.from_bytes(frame[8:12], "little"))
                self.uc.reg_write(R.UC_X86_REG_ESP, esp + 12)
            else:
                self.uc.emu_start(eip, 0xFFFFFFFF, count=1)
            self.clock.now += 1

    def interrupt(self, vector, kind="irq"):
        uc = self.uc
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
            fn(0, vector, kind, eip, None)
