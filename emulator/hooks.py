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

        def make_cb(cpu):
            def cb(uc, address, size, _ud, _fn=fn, _key=(id(handle), cpu.index)):
                self.icount.sync(address)
                when = (address, self.clock.now)
                if last.get(_key) == when:
                    return                  # it ran here before a stop: this is the resume
                last[_key] = when
                _fn(self, cpu)
                self.timers.changed()       # the hook may have touched a device
            return cb
        end = addr if end is None else end
        hs = [cpu.uc.hook_add(unicorn.UC_HOOK_CODE, make_cb(cpu), None, addr, end)
              for cpu in self.cpus]
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
