"""Port I/O and APIC MMIO: the Machine's dispatch (``PortIo``, mixed into
``Machine``, which has the ``cpu``, ``clock``, ``icount``, ``timers``,
``platform``, ``firmware``, ``loop`` and ``_ports`` it uses).

A port access at CPL > IOPL that the TSS's I/O map refuses is #GP(0)
instead, with nothing done (emulator/ioperm.py; Unicorn does not check).
Each other port access (``UC_HOOK_INSN`` in/out) first sets ``clock.now``
to the access's exact time and advances the devices (those whose deadline
is due, and the one accessed: emulator/timers.py), then calls the device,
then (``_io_end``) asks the engine to stop right after the instruction
when the access changed what happens next: an earlier deadline, the exit
port, an NMI, or an interrupt the CPU would take (or, with IF=0, to watch
IF).  APIC MMIO (0xFEE00000 the acting CPU's LAPIC, 0xFEC00000 the IO
APIC) and the HPET are mapped in every engine with ``mmio_map`` and go
through the same steps.

The in/out hooks are ``functools.partial(_on_in, regs)``: ``regs`` is the
CPU's capture array when its C hook reads ``cpu.HOOK_REGS`` before the
call (emulator/native ``bh_in``/``bh_out``), else None (the CPU's
registers are read here).
"""

from __future__ import annotations

from emulator import ioperm
from emulator.cpu import HOOK_REGS
from emulator.devices.hpet import HPET_BASE
from emulator.icount import F_STOP, F_WATCH_IF

_CS_AT, _EIP_AT = HOOK_REGS.index("cs"), HOOK_REGS.index("eip")


def _cs_and_pc(cpu, regs) -> tuple:
    """(CS, or None: ``refused`` reads it; the PC) at a port access, from
    ``regs`` when the native hook read them (real mode reads its linear PC)."""
    if regs is None:
        return None, cpu.pc
    return regs[_CS_AT], (cpu.pc if cpu.maybe_16bit else regs[_EIP_AT])


class PortIo:
    def _io_end(self, timed: bool = True) -> None:
        """After an access: stop right after it when it changed what happens next
        (``timed``: the access may have moved a device deadline)."""
        if timed:
            self.timers.changed()
        cpu = self.cpu
        st = cpu.st
        t = self.next_event()
        if t < st.deadline:
            st.deadline = t
        source = cpu.interrupt_source
        if t < st.now or self.loop.result is not None:
            st.flags |= F_STOP
        elif source.nmi_pending:
            st.flags |= F_STOP                 # take it, or step until its handler's iret
        elif source.intr_pending():
            # deliverable now: stop after this instruction; else wait for IF
            st.flags |= F_STOP if cpu.interrupts_enabled else F_WATCH_IF

    def _mmio_device(self, base: int):
        """The timed device an MMIO access at ``base`` reaches: the HPET, else the
        acting CPU's LAPIC (an IO APIC access reaches none; its LAPIC is harmless)."""
        return self.firmware.hpet if base == HPET_BASE else self.platform.lapics[self.current_cpu]

    def _mmio_read(self, uc, offset, size, base) -> int:
        self.icount.mmio_now()
        self.timers.access(self._mmio_device(base), self.clock.now)
        if base == HPET_BASE:
            value = self.firmware.hpet.mmio_read(offset, size)
        else:
            value = self.platform.mmio_read(self.current_cpu, base + offset, size)
        self._io_end()
        return value

    def _mmio_write(self, uc, offset, size, value, base) -> None:
        self.icount.mmio_now()
        self.timers.access(self._mmio_device(base), self.clock.now)
        if base == HPET_BASE:
            self.firmware.hpet.mmio_write(offset, size, value)
        else:
            self.platform.mmio_write(self.current_cpu, base + offset, size, value)
        self._io_end()

    def _on_in(self, regs, port, size) -> int:
        cpu = self.cpu
        cs, pc = _cs_and_pc(cpu, regs)
        if ioperm.refused(cpu, port, size, cs):         # #GP(0) instead (emulator/ioperm.py)
            return ioperm.refuse(self, cpu, True)
        self.icount.sync(pc, retired_current=True)
        dev = self._ports.get(port)
        self.timers.access(dev, self.clock.now)
        value = dev.io_read(port, size) if dev is not None else (1 << (8 * size)) - 1
        self._io_end(self.timers.timed(dev))
        return value

    def _on_out(self, regs, port, size, value) -> None:
        cpu = self.cpu
        cs, pc = _cs_and_pc(cpu, regs)
        if ioperm.refused(cpu, port, size, cs):
            ioperm.refuse(self, cpu, False)
            return
        self.icount.sync(pc, retired_current=True)
        dev = self._ports.get(port)
        self.timers.access(dev, self.clock.now)
        if dev is not None:
            dev.io_write(port, size, value)
        self._io_end(self.timers.timed(dev))
