"""QEMU's debug console (port 0xE9) and isa-debug-exit (port 0xF4).

Contract
--------
``DebugCon``: every byte written to 0xE9 goes to ``self.output(data)`` (the
console sink, a no-op by default); a read returns 0xE9, QEMU's readback value,
which is how a guest detects the port.  ``DebugExit``: a write to 0xF4 calls
``self.on_exit(value)`` with the value written (QEMU then exits with
``(value << 1) | 1``; irqlab keeps the guest's own value); a read returns 0.

Reference: QEMU hw/char/debugcon.c (readback 0xe9) and hw/misc/debugexit.c.
Neither device has state, so reset() does nothing and nothing needs to survive.
"""

from __future__ import annotations

from typing import Callable, Optional

from emulator.clock import Clock
from emulator.devices.base import Device

DEBUGCON_PORT = 0xE9
DEBUGCON_READBACK = 0xE9
DEBUG_EXIT_PORT = 0xF4


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
        self.on_exit: Callable[[int], None] = lambda value: None

    def reset(self) -> None:
        """Stateless: nothing to reset."""

    def save_state(self) -> dict:
        """Stateless: an empty snapshot."""
        return {}

    def load_state(self, saved: dict) -> None:
        """Stateless: nothing to restore."""

    def describe(self) -> str:
        return f"debug-exit port {DEBUG_EXIT_PORT:#x}"

    def io_read(self, port: int, size: int) -> int:
        return 0

    def io_write(self, port: int, size: int, value: int) -> None:
        self.on_exit(value & ((1 << (8 * size)) - 1))
