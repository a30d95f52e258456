"""QEMU's debug console (port 0xE9) and isa-debug-exit (port 0xF4).

Contract
--------
``DebugCon``: every byte written to 0xE9 goes to ``self.output(data)`` (the
console sink, a no-op by default); a read returns 0xE9, QEMU's readback value,
which is how a guest detects the port.  ``DebugExit``: a write to 0xF4 of
any width calls ``self.on_exit(exit_status(value))`` and keeps the value in
``written``; a read returns 0.  QEMU exits with ``(value << 1) | 1`` (with
``iosize=1`` a 16- or 32-bit write still reaches the device whole, so 0x100
gives 0x201, status 1: never 0).  irqlab keeps the guest's own value as the
status when it fits in a status byte (0..255) and gives 255
(``STATUS_TOO_WIDE``) otherwise: a wide write such as 0x100 or 0x12345600,
whose low byte is 0, must never read as a pass.

Reference: QEMU hw/char/debugcon.c (readback 0xe9) and hw/misc/debugexit.c.
The console has no state; the exit port's only state is the value last
written (``written``, None before any), which reset() clears.
"""

from __future__ import annotations

from typing import Callable, Optional

from emulator.clock import Clock
from emulator.devices.base import Device

DEBUGCON_PORT = 0xE9
DEBUGCON_READBACK = 0xE9
DEBUG_EXIT_PORT = 0xF4
STATUS_TOO_WIDE = 255      # the status for a value that does not fit in a status byte


def exit_status(value: int) -> int:
    """The exit status for ``value`` written to 0xF4: itself if 0..255, else 255."""
    return value if 0 <= value <= 0xFF else STATUS_TOO_WIDE


class DebugCon(Device):
    """Port 0xE9: a write-only console that answers 0xE9 to reads."""

    name = "debugcon"
    ports = ((DEBUGCON_PORT, 1),)

    def __init__(self, clock: Optional[Clock] = None) -> None:
        super().__init__(clock)
        self.output: Callable[[bytes], None] = lambda data: None

    def reset(self) -> None:
        """Stateless: nothing to reset."""

    def save_state(self) -> dict:
        """Stateless: an empty snapshot."""
        return {}

    def load_state(self, saved: dict) -> None:
        """Stateless: nothing to restore."""

    def describe(self) -> str:
        return f"debugcon port {DEBUGCON_PORT:#x}"

    def io_read(self, port: int, size: int) -> int:
        return DEBUGCON_READBACK

    def io_write(self, port: int, size: int, value: int) -> None:
        self.output(bytes([value & 0xFF]))     # the low byte, as QEMU's 1-byte port


class DebugExit(Device):
    """Port 0xF4: the guest asks the machine to stop with a status."""

    name = "debug-exit"
    ports = ((DEBUG_EXIT_PORT, 1),)

    def __init__(self, clock: Optional[Clock] = None) -> None:
        super().__init__(clock)
        self.on_exit: Callable[[int], None] = lambda status: None
        self.written: Optional[int] = None     # the value last written, whole

    def reset(self) -> None:
        """Forget the value written."""
        self.written = None

    def save_state(self) -> dict:
        return {"written": self.written}

    def load_state(self, saved: dict) -> None:
        self.written = saved.get("written")

    def describe(self) -> str:
        shown = "nothing written" if self.written is None else f"written {self.written:#x}"
        return f"debug-exit port {DEBUG_EXIT_PORT:#x}, {shown}"

    def io_read(self, port: int, size: int) -> int:
        return 0

    def io_write(self, port: int, size: int, value: int) -> None:
        self.written = value & ((1 << (8 * size)) - 1)
        self.on_exit(exit_status(self.written))
