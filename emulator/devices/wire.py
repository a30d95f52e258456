"""Driving an interrupt wire the way QEMU's devices do.

``IrqLine.set`` (base.py) tells its sink only about changes.  QEMU's
``qemu_set_irq`` calls the interrupt controller every time a device updates
its line, changed or not, and the 8259 model depends on it in two corners:
an edge input whose edge detector was reset by ICW1 latches a new request
when its device re-asserts a line that stayed high, and every update of the
slave re-drives the master's cascade input.  The PC devices (PIT, UART,
RTC, i8042) therefore drive their lines with ``drive`` at the points where
QEMU's models call ``qemu_set_irq``, so that guests see the same requests on
irqlab as on QEMU.  The PIC ignores a repeated level everywhere else.
"""

from __future__ import annotations

from emulator.devices.base import IrqLine


def drive(line: IrqLine, level: int) -> None:
    """Set ``line`` to ``level`` and tell its sink even if nothing changed."""
    level = 1 if level else 0
    line.level = level
    if line.sink is not None:
        line.sink(level)
