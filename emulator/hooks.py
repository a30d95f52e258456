"""Exec hooks and data watches: the Machine's ``add_exec_hook``,
``remove_exec_hook``, ``add_write_watch``, ``add_read_watch``,
``remove_watch`` (contracts in emulator/machine.py's docstring).

Contract
--------
``GuestHooks`` is mixed into ``Machine`` and uses its ``cpus``, ``clock``, ``timers``,
``icount`` (the exact time inside a block) and ``invalidate_code``.  A hook
or watch is installed on every CPU's engine; its handle removes it from all
of them.  An exec hook remembers the (address, time) it last ran at on each
CPU, so resuming after a stop it made does not call it again at the same
time; ``hooks_fire_again()`` forgets that (a restore: time runs again).
"""

from __future__ import annotations

from typing import Optional

import unicorn
from unicorn import x86_const as X
from unicorn.unicorn_py3.arch.intel import HOOK_INSN_IN_CFUNC, HOOK_INSN_OUT_CFUNC
from unicorn.unicorn_py3.unicorn import HOOK_CODE_CFUNC


# -- the engine's hooks, one Python frame deep ------------------------------------
# The binding's hook_add puts two frames between the engine and the callback
# (its exception guard, which takes *args and **kwargs, then an adapter per
# kind); these put one, with the same guard: an exception in ``fn`` stops the
# engine and emu_start raises it (the first one, if several).  About 0.7 us
# less per call; the exec hooks (every observer event) and the port hooks
# (every in/out) are called the most.  With the CPU's C block hook
# (emulator/native) they go through its trampolines, which read the
# registers the callbacks use (cpu.HOOK_REGS) first: one call into
# libunicorn from C instead of one or two from Python.  Without it (the
# Python block hook) a lambda adapts the binding's arguments: two frames.
# ``uc.hook_del`` removes them.

def code_hook(uc, fn, begin: int, end: int, native=None) -> int:
    """``fn(address, size)`` before each instruction in ``[begin, end]``.
    With ``native`` (the CPU's C block hook, emulator/native; ``can_call``)
    it goes through its ``bh_call``, which first reads ``cpu.HOOK_REGS``
    into ``native.captured``."""
    def guarded(address, size):
        try:
            fn(address, size)
        except BaseException as e:      # noqa: BLE001 (emu_start raises it)
            _stop(uc, e)
    if native is not None:
        return native.call_hook(uc, guarded, begin, end)
    return uc._Uc__do_hook_add(unicorn.UC_HOOK_CODE,
                               HOOK_CODE_CFUNC(lambda _h, address, size, _ud:
                                               guarded(address, size)), begin, end)


def in_hook(uc, fn, native=None) -> int:
    """``fn(port, size) -> value`` at every ``in`` (with ``native``, as for
    ``code_hook``: through its ``bh_in``, the registers read first)."""
    def guarded(port, size):
        try:
            return fn(port, size)
        except BaseException as e:      # noqa: BLE001
            _stop(uc, e)
            return 0
    if native is not None:
        return native.port_hook(uc, guarded, out=False)
    return uc._Uc__do_hook_add(unicorn.UC_HOOK_INSN,
                               HOOK_INSN_IN_CFUNC(lambda _h, port, size, _ud:
                                                  guarded(port, size)),
                               1, 0, X.UC_X86_INS_IN)


def out_hook(uc, fn, native=None) -> int:
    """``fn(port, size, value)`` at every ``out`` (``native``: ``bh_out``)."""
    def guarded(port, size, value):
        try:
            fn(port, size, value)
        except BaseException as e:      # noqa: BLE001
            _stop(uc, e)
    if native is not None:
        return native.port_hook(uc, guarded, out=True)
    return uc._Uc__do_hook_add(unicorn.UC_HOOK_INSN,
                               HOOK_INSN_OUT_CFUNC(lambda _h, port, size, value, _ud:
                                                   guarded(port, size, value)),
                               1, 0, X.UC_X86_INS_OUT)


def trampolines(cpu):
    """The CPU's C block hook when it has the exec and in/out trampolines
    (emulator/native ``can_call``), else None: its hooks then go the
    binding's way and read their registers themselves."""
    native = cpu.native
    return native if native is not None and native.can_call else None


def _stop(uc, e: BaseException) -> None:
    if uc._hook_exception is None:
        uc._hook_exception = e
    uc.emu_stop()


class GuestHooks:
    def _init_hooks(self) -> None:
        self._exec_hooks: dict = {}
        self._watch_hooks: dict = {}
        self._exec_last: dict = {}     # (exec hook, cpu) -> (address, time) it last ran at

    def hooks_fire_again(self) -> None:
        self._exec_last.clear()

    def add_exec_hook(self, addr: int, fn, end: Optional[int] = None) -> object:
        last = self._exec_last
        handle = object()

        def make_cb(cpu, captured):
            def cb(address, size, _fn=fn, _key=(id(handle), cpu.index)):
                self.icount.sync(address)
                when = (address, self.clock.now)
                if last.get(_key) == when:
                    return                  # it ran here before a stop: this is the resume
                last[_key] = when
                cpu.captured = captured     # the registers bh_call read just now, if it did
                try:
                    _fn(self, cpu)
                finally:
                    cpu.captured = None
                self.timers.changed()       # the hook may have touched a device
            return cb
        end = addr if end is None else end
        hs = []
        for cpu in self.cpus:
            # through the C hook's bh_call where there is one (the registers
            # read there); else the Python hook reads what it needs itself
            native = trampolines(cpu)
            hs.append(code_hook(cpu.uc, make_cb(cpu, native.captured if native else None),
                                addr, end, native))
        self.invalidate_code(addr, end - addr + 1)
        self._exec_hooks[handle] = (addr, end, hs)
        return handle

    def remove_exec_hook(self, handle) -> None:
        addr, end, hs = self._exec_hooks.pop(handle)
        for cpu in self.cpus:
            self._exec_last.pop((id(handle), cpu.index), None)
        for cpu, h in zip(self.cpus, hs):
            cpu.uc.hook_del(h)
        self.invalidate_code(addr, end - addr + 1)

    def add_write_watch(self, addr: int, length: int, fn) -> object:
        return self._watch(unicorn.UC_HOOK_MEM_WRITE, addr, length, fn)

    def add_read_watch(self, addr: int, length: int, fn) -> object:
        return self._watch(unicorn.UC_HOOK_MEM_READ, addr, length, fn)

    def _watch(self, kind, addr, length, fn) -> object:
        def make_cb(cpu):
            def cb(uc, access, address, size, value, _ud):
                self.icount.sync(cpu.pc)
                fn(self, cpu, address, size, value if access == unicorn.UC_MEM_WRITE else None)
                self.timers.changed()
            return cb
        hs = [cpu.uc.hook_add(kind, make_cb(cpu), None, addr, addr + length - 1)
              for cpu in self.cpus]
        handle = object()
        self._watch_hooks[handle] = hs
        return handle

    def remove_watch(self, handle) -> None:
        for cpu, h in zip(self.cpus, self._watch_hooks.pop(handle)):
            cpu.uc.hook_del(h)
