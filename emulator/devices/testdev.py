"""irqlab's test device: a FIFO of 32-bit packets that raises an interrupt.

Contract
--------
Python puts packets in with ``push(value)`` (a scenario, an ``--inject
packet=V``); the guest driver takes them out.  The interrupt line
``self.irq`` (IRQ 5 by default) is asserted — a level, not a pulse — while
the FIFO is non-empty and the interrupt is enabled, and falls when the driver
empties the FIFO or disables the interrupt.  The FIFO holds ``FIFO_DEPTH``
(64) packets; a push into a full FIFO drops the packet and counts it, so a
test can prove that nothing was lost (``overflow == 0``) or that something was.

Register map (base 0x520, 8 ports)::

    0x520  DATA      r   32-bit: pops and returns the oldest packet
                         (0 when the FIFO is empty; use ``in eax, dx``)
    0x524  STATUS    r   bit 0 FIFO non-empty, bit 1 line asserted,
                         bit 2 an overflow was counted (OVERFLOW != 0)
    0x525  CONTROL   rw  bit 0 interrupt enable (0 after reset);
                         bit 7 (write 1) empties the FIFO and clears OVERFLOW,
                         reads as 0
    0x526  COUNT     r   packets waiting (0-64)
    0x527  OVERFLOW  r   packets dropped because the FIFO was full
                         (saturates at 255; ``overflow`` holds the exact count)

Writes to read-only registers are ignored; reads of 0x521-0x523 return 0.
The range is one QEMU's PC leaves free (``info mtree`` on qemu-system-i386
7.2 after SeaBIOS: fw_cfg 0x510-0x511 and its DMA 0x514-0x51B, then nothing
until the ACPI PM block at 0x600), so a guest finds the device by reading
0x521: 0 here, 0xFF (an unclaimed port) on QEMU.  Until issue 20 the device
sat on 0x510, where QEMU has fw_cfg (emulator/devices/fw_cfg.py now).
A driver's loop: ``while STATUS & 1: packet = DATA``; it may read COUNT
first to take a batch.  The line is a level: with IRQ 5 edge-triggered at the
PIC (ELCR bit clear, the default) a handler must drain the FIFO before its
EOI, or a packet pushed meanwhile makes no new edge and waits; with the ELCR
bit set (level) the PIC requests again after EOI while packets remain.
There is no QEMU counterpart: the device exists for irqlab's scenarios.  ``reset()`` empties the FIFO, clears OVERFLOW and
CONTROL and lowers the line; nothing survives.
"""

from __future__ import annotations

import collections
from typing import Optional

from emulator.clock import Clock
from emulator.devices import state
from emulator.devices.base import Device, IrqLine

TESTDEV_BASE = 0x520          # the kernel's TESTDEV (guest_kernel/layout.py imports it)
TESTDEV_IRQ = 5
FIFO_DEPTH = 64

DATA, STATUS, CONTROL, COUNT, OVERFLOW = 0, 4, 5, 6, 7
STATUS_NONEMPTY, STATUS_LINE, STATUS_OVERFLOW = 0x01, 0x02, 0x04
CONTROL_IE, CONTROL_FLUSH = 0x01, 0x80


class TestDevice(Device):
    """The packet FIFO with its interrupt line."""

    __test__ = False             # not a pytest test class
    name = "testdev"

    def __init__(self, clock: Optional[Clock] = None, base: int = TESTDEV_BASE,
                 irq: int = TESTDEV_IRQ) -> None:
        super().__init__(clock)
        self.base = base
        self.irq_number = irq    # the ISA line the machine wires ``self.irq`` to
        self.ports = ((base, 8),)
        self.irq = IrqLine(name=f"IRQ{irq}")
        self.fifo: collections.deque[int] = collections.deque()
        self.reset()

    def reset(self) -> None:
        """Empty FIFO, OVERFLOW 0, interrupt disabled, line low."""
        self.fifo.clear()
        self.overflow = 0        # exact count of dropped packets
        self.control = 0
        self.pushed = 0          # packets accepted since reset
        self.popped = 0          # packets the guest read since reset
        self._update()

    def save_state(self) -> dict:
        """Registers, latches and timers, without the wiring (see state.py)."""
        return state.save(self)

    def load_state(self, saved: dict) -> None:
        state.load(self, saved)

    def describe(self) -> str:
        return (f"testdev {self.base:#x} count={len(self.fifo)} overflow={self.overflow} "
                f"ie={self.control & CONTROL_IE} irq={self.irq.level}")

    def push(self, value: int) -> bool:
        """Queue a packet; False (and OVERFLOW counted) when the FIFO is full."""
        if len(self.fifo) >= FIFO_DEPTH:
            self.overflow += 1
            self.trace("testdev.overflow", value=value & 0xFFFFFFFF, overflow=self.overflow)
            return False
        self.fifo.append(value & 0xFFFFFFFF)
        self.pushed += 1
        self._update()
        return True

    def io_read(self, port: int, size: int) -> int:
        reg = port - self.base
        if reg == DATA:
            if not self.fifo:
                return 0
            value = self.fifo.popleft()
            self.popped += 1
            self._update()
            return value & ((1 << (8 * size)) - 1)
        if reg == STATUS:
            return ((STATUS_NONEMPTY if self.fifo else 0) | (STATUS_LINE if self.irq.level else 0)
                    | (STATUS_OVERFLOW if self.overflow else 0))
        if reg == CONTROL:
            return self.control
        if reg == COUNT:
            return len(self.fifo)
        if reg == OVERFLOW:
            return min(self.overflow, 255)
        return 0

    def io_write(self, port: int, size: int, value: int) -> None:
        if port - self.base != CONTROL:
            return
        if value & CONTROL_FLUSH:
            self.fifo.clear()
            self.overflow = 0
        self.control = value & CONTROL_IE
        self._update()

    def _update(self) -> None:
        """The line: FIFO non-empty and interrupt enabled."""
        self.irq.set(1 if self.fifo and self.control & CONTROL_IE else 0)
