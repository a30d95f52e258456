"""The small interface every device model offers the machine.

Devices never import unicorn: the machine wires them to the CPU (port and
MMIO dispatch, interrupt lines, time).  A device is unit-tested on its own by
calling these methods directly.

Time: a device is handed the machine's ``Clock`` (``clock.now`` is virtual
time in instructions, see emulator/clock.py).  A device with timers reports
the earliest instruction count at which it must act (``next_deadline``);
the machine runs the CPU no further than that and then calls ``advance``.
Before every port or MMIO access to a device the machine also calls its
``advance(now)``, so a device always sees accesses in time order.  Before
its deadline a device has nothing to do: what it derives from the time (a
count, the RTC's clock bytes and flags) it catches up on when next advanced
or accessed, with the same result, so the machine advances the others only
once a deadline is due (emulator/timers.py).

Interrupt lines: the machine gives each device an ``IrqLine`` per output.
``IrqLine.set(level)`` drives the line (1 asserted, 0 deasserted); edge
devices pulse it.  Lines that are not connected are a ``IrqLine`` with no
sink, so a device can always call them.

Tracing: ``self.trace(kind, **fields)`` emits a trace event (``pic.eoi``,
``irq.raise`` ...); the machine replaces the default no-op with the writer.
"""

from __future__ import annotations

from typing import Callable, Optional

from emulator.clock import Clock


def _no_trace(kind: str, **fields) -> None:
    """Default trace sink: drop the event."""


class IrqLine:
    """One interrupt wire from a device to an interrupt controller input."""

    def __init__(self, sink: Optional[Callable[[int], None]] = None, name: str = "") -> None:
        self.sink = sink    # called with the new level on every change
        self.name = name
        self.level = 0

    def set(self, level: int) -> None:
        """Drive the wire; the sink is called only when the level changes."""
        level = 1 if level else 0
        if level == self.level:
            return
        self.level = level
        if self.sink is not None:
            self.sink(level)

    def raise_(self) -> None:
        self.set(1)

    def lower(self) -> None:
        self.set(0)

    def pulse(self) -> None:
        """An edge: high then low (what an edge-triggered device does)."""
        self.set(1)
        self.set(0)


class Device:
    """Base class: port I/O, reset, describe, and optional timers."""

    name = "device"
    ports: tuple[tuple[int, int], ...] = ()     # (first port, count) ranges
    mmio: tuple[tuple[int, int], ...] = ()      # (base address, length) ranges

    def __init__(self, clock: Optional[Clock] = None) -> None:
        self.clock = clock if clock is not None else Clock()
        self.trace: Callable[..., None] = _no_trace

    # -- port I/O (size is 1, 2 or 4 bytes) --------------------------------
    def io_read(self, port: int, size: int) -> int:
        return (1 << (8 * size)) - 1    # an unclaimed read floats high

    def io_write(self, port: int, size: int, value: int) -> None:
        pass

    # -- MMIO (offset from the range's base) -------------------------------
    def mmio_read(self, offset: int, size: int) -> int:
        return 0

    def mmio_write(self, offset: int, size: int, value: int) -> None:
        pass

    # -- time ---------------------------------------------------------------
    def next_deadline(self) -> Optional[int]:
        """Earliest virtual time (instructions) at which the device must act."""
        return None

    def advance(self, now: int) -> None:
        """Process every internal event up to and including time ``now``."""

    # -- housekeeping --------------------------------------------------------
    def reset(self) -> None:
        raise NotImplementedError

    def describe(self) -> str:
        """One line for the debugger's ``info`` command."""
        return self.name
