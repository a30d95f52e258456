"""A small stand-in machine for the debugger's tests until emulator.machine lands.

One Unicorn engine, RAM at 0, the image's memory at its base, EIP at the entry,
virtual time counted by a per-instruction hook; the API subset of
emulator/machine.py the debugger uses (step, run, stop, clock.now, cpus,
mem_read/mem_write, exec hooks, write watches, snapshot/restore, symbols).
"""

from __future__ import annotations

import struct
from types import SimpleNamespace

from unicorn import UC_ARCH_X86, UC_HOOK_CODE, UC_HOOK_INTR, UC_HOOK_MEM_WRITE, UC_HOOK_MEM_READ, UC_MODE_32, Uc
from unicorn import x86_const as X

from asm.symfile import from_image
from emulator.clock import Clock

RAM = 4 << 20


class FakeCpu:
    def __init__(self, uc, index):
        self.uc, self.index = uc, index


class FakeMachine:
    def __init__(self, image):
        self.uc = Uc(UC_ARCH_X86, UC_MODE_32)
        self.uc.mem_map(0, RAM)
        self.uc.mem_write(image.base, image.memory())
        self.uc.reg_write(X.UC_X86_REG_EIP, image.entry)
        self.uc.reg_write(X.UC_X86_REG_ESP, 0x80000)
        self.image = SimpleNamespace(base=image.base, load_end=image.load_end)
        self.symbols = from_image(image)
        self.clock = Clock()
        self.cpus = [FakeCpu(self.uc, 0)]
        self.devices = {}
        self.on_interrupt = []
        self.hooks = {}
        self._stop = False
        self._target = 0
        self.exited = None
        self.uc.hook_add(UC_HOOK_CODE, self._code)
        self.uc.hook_add(UC_HOOK_INTR, self._intr)

    def _intr(self, uc, vector, _data):
        # `int n` only: push EFLAGS, CS, EIP (EIP is already past the int),
        # clear IF for an interrupt gate, jump through the IDT gate.
        _sel, base, _limit, _f = uc.reg_read(X.UC_X86_REG_IDTR)
        lo, hi = struct.unpack("<II", uc.mem_read(base + 8 * vector, 8))
        eip = uc.reg_read(X.UC_X86_REG_EIP)
        esp = uc.reg_read(X.UC_X86_REG_ESP)
        fl = uc.reg_read(X.UC_X86_REG_EFLAGS)
        cs = uc.reg_read(X.UC_X86_REG_CS)
        esp -= 12
        uc.mem_write(esp, struct.pack("<III", eip, cs, fl))
        uc.reg_write(X.UC_X86_REG_ESP, esp)
        if hi >> 8 & 0xF == 0xE:
            uc.reg_write(X.UC_X86_REG_EFLAGS, fl & ~0x200)
        uc.reg_write(X.UC_X86_REG_EIP, (lo & 0xFFFF) | (hi & 0xFFFF0000))
        for fn in self.on_interrupt:
            fn(0, vector, "int", eip, None)

    def _code(self, uc, addr, size, _data):
        if self._stop or self.clock.now >= self._target:
            uc.emu_stop()
            return
        for fn in list(self.hooks.get(addr, ())):
            fn(self, 0)
            if self._stop:
                uc.emu_stop()
                return
        self.clock.now += 1

    def add_exec_hook(self, addr, fn):
        self.hooks.setdefault(addr, []).append(fn)
        return (addr, fn)

    def remove_exec_hook(self, h):
        self.hooks[h[0]].remove(h[1])

    def add_write_watch(self, addr, length, fn):
        def cb(uc, access, a, size, value, _d):
            if a < addr + length and addr < a + size:
                fn(self, 0, a, size, value)
        return self.uc.hook_add(UC_HOOK_MEM_WRITE, cb)

    def add_read_watch(self, addr, length, fn):
        def cb(uc, access, a, size, value, _d):
            if a < addr + length and addr < a + size:
                fn(self, 0, a, size, value)
        return self.uc.hook_add(UC_HOOK_MEM_READ, cb)

    def remove_watch(self, h):
        self.uc.hook_del(h)

    def step(self, n):
        self._stop = False
        self._target = self.clock.now + n
        pc = self.uc.reg_read(X.UC_X86_REG_EIP)
        self.uc.emu_start(pc, 0xFFFFFFFF)
        return SimpleNamespace(reason="limit")

    def run(self, max_instructions):
        return self.step(max_instructions)

    def stop(self):
        self._stop = True
        self.uc.emu_stop()

    def mem_read(self, addr, n):
        return self.uc.mem_read(addr, n)

    def mem_write(self, addr, data):
        self.uc.mem_write(addr, data)

    def snapshot(self):
        return (self.uc.context_save(), bytes(self.uc.mem_read(0, RAM)), self.clock.now)

    def restore(self, snap):
        ctx, mem, now = snap
        self.uc.context_restore(ctx)
        self.uc.mem_write(0, mem)
        self.clock.now = now
