"""A machine's exact snapshots: ``Machine.snapshot`` and ``Machine.restore``.

The contract is the Machine's (emulator/machine.py, ``snapshot(ram_limit=None)``
/ ``restore(snap)``): each engine's whole CPU context, RAM (all of it or
below ``ram_limit``), devices and APICs (their registers; the wiring stays),
the round robin, the clock, the pending schedule and each CPU's run-loop
state.  A restore keeps the decoded blocks and translations of code whose
bytes it does not change.  ``Snapshots`` is a mixin of ``Machine``: it uses
the machine's ``cpus``, ``ram_view``, ``icount``, ``platform``, ``rr``,
``_device_list``, ``timers``, ``_schedule`` and ``_make_wiring_again``.
"""

from __future__ import annotations

from typing import Optional

from unicorn import x86_const as X


class Snapshots:
    """snapshot/restore for ``Machine`` (see the module docstring)."""

    def snapshot(self, ram_limit: Optional[int] = None) -> dict:
        return {"regs": [c.registers() | {"idtr": c.uc.reg_read(X.UC_X86_REG_IDTR),
                                          "gdtr": c.uc.reg_read(X.UC_X86_REG_GDTR),
                                          "halted": c.halted} for c in self.cpus],
                "contexts": [c.uc.context_save() for c in self.cpus],
                "ram": bytes(self.ram_view[:ram_limit]), "devices": [d.save_state() for d in self._device_list],
                "platform": self.platform.save_state(), "rr": self.rr.save_state(),
                # with the instruction before this one (an interrupt shadow):
                # the restore drops the blocks that say it
                "loop": [c.save_loop_state() | {"prev": (c.pc, self.clock.now,
                                                         self.icount.previous(c, c.pc))}
                         for c in self.cpus],
                "current_cpu": self.current_cpu,
                "now": self.clock.now, "schedule": list(self._schedule)}

    def restore(self, snap: dict) -> None:
        ram = snap["ram"]
        stale = self._code_changed_by(ram)
        self.ram_view[:len(ram)] = ram
        for c, regs, loop in zip(self.cpus, snap["regs"], snap["loop"]):
            c.load_loop_state(loop, snap["now"])
            c.restored_prev = loop["prev"]
            # the whole CPU state, hidden segment bases and limits included:
            # a selector that is stale in today's GDT (fs/gs the guest never
            # reloaded) cannot be loaded again, but its cached descriptor can
            c.uc.context_restore(snap["contexts"][c.index])
            c.halted = regs["halted"]
            c.paging_on = c.paging()
        for dev, saved in zip(self._device_list, snap["devices"]):
            dev.load_state(saved)               # registers only: the wiring stays
        self.platform.load_state(snap["platform"])
        self.rr.load_state(snap["rr"])
        self._make_wiring_again()
        self.use(self.cpus[snap["current_cpu"]])
        self.clock.now = snap["now"]
        self._schedule = list(snap["schedule"])
        self.hooks_fire_again()                 # time runs again
        self.loop.result = None
        self.timers.changed()                   # every device's deadline is the snapshot's
        for addr, size in stale:                # translations of unchanged code stay
            self.invalidate_code(addr, size)

    def _code_changed_by(self, ram: bytes) -> list:
        """The (address, size) of decoded blocks whose bytes differ in ``ram``:
        a restore drops only those (re-decoding and re-translating the rest
        cost most of a short replay), and keeps them all when no code moved."""
        cur, end = self.ram_view, min(len(ram), self.mem_size)
        return [(a, n) for a, n, *_ in self.icount.decoded
                if a < end and bytes(cur[a:a + n]) != ram[a:a + n]]
