"""Intel 8042 keyboard controller: just enough to raise IRQ 1 and IRQ 12.

Contract
--------
Port 0x60 is the data port (output buffer on read, a command's argument or a
byte for the keyboard on write), port 0x64 the status register (read) and the
command register (write).  ``self.irq1`` and ``self.irq12`` are the keyboard
and mouse interrupt lines: IRQ 1 is high while the output buffer holds a
keyboard byte, the command byte's INT bit (bit 0) is set and the keyboard is
not disabled (bit 4); IRQ 12 while it holds a mouse byte and INT2 (bit 1) is
set — QEMU's kbd_update_irq_lines.  Reading port 0x60 empties the buffer and
lowers the line; the next queued byte, if any, is loaded at once.

Commands (port 0x64): 0x20 read command byte, 0x60 write command byte,
0xA7/0xA8 disable/enable mouse, 0xA9 mouse interface test (0x00),
0xAA self test (0x55), 0xAB keyboard interface test (0x00), 0xAD/0xAE
disable/enable keyboard, 0xD0 read output port, 0xD1 write output port,
0xD2 write keyboard output buffer (the byte comes back as if the keyboard
sent it: IRQ 1), 0xD3 write mouse output buffer (IRQ 12), 0xD4 write to the
mouse (it answers 0xFA), 0xFE pulse reset (``self.on_reset()``).  A byte
written to port 0x60 with no command pending goes to the keyboard, which
answers 0xFA (and 0xAA after 0xFF reset, 0xAB 0x83 after 0xF2 identify,
0xEE after 0xEE echo).  No scancodes are generated: there is no keyboard.

Status bits: 0 OBF, 1 IBF (always 0: the controller is instant), 2 SYS
(self-test passed; set by command byte bit 2 or 0xAA), 3 CMD (last write was
to 0x64), 4 not inhibited (always 1), 5 MOBF (the buffer holds a mouse byte).

Reference: IBM PC AT Technical Reference, keyboard controller section, and
QEMU hw/input/pckbd.c (reset state: command byte 0x03, status 0x18).
"""

from __future__ import annotations

import collections
from typing import Callable, Optional

from emulator.clock import Clock
from emulator.devices.base import Device, IrqLine
from emulator.devices.wire import drive

KBD_DATA, KBD_STATUS = 0x60, 0x64

STAT_OBF, STAT_IBF, STAT_SYS, STAT_CMD, STAT_UNLOCKED, STAT_MOUSE_OBF = 1, 2, 4, 8, 0x10, 0x20
MODE_KBD_INT, MODE_MOUSE_INT, MODE_SYS = 0x01, 0x02, 0x04
MODE_DISABLE_KBD, MODE_DISABLE_MOUSE = 0x10, 0x20
OUTPORT_DEFAULT = 0xCF       # reset line high, A20 on, both buffers' bits as QEMU's ones


class Kbc(Device):
    """The 8042 controller with a keyboard and a mouse that only acknowledge."""

    name = "i8042"
    ports = ((KBD_DATA, 1), (KBD_STATUS, 1))

    def __init__(self, clock: Optional[Clock] = None) -> None:
        super().__init__(clock)
        self.irq1 = IrqLine(name="IRQ1")
        self.irq12 = IrqLine(name="IRQ12")
        self.on_reset: Callable[[], None] = lambda: None
        self.queue: collections.deque[tuple[int, bool]] = collections.deque()
        self.reset()

    def reset(self) -> None:
        """Command byte 0x03 (both interrupts enabled), status CMD|unlocked,
        output buffer and queue empty, no command pending; nothing survives."""
        self.mode = MODE_KBD_INT | MODE_MOUSE_INT    # the command byte
        self.status = STAT_CMD | STAT_UNLOCKED
        self.outport = OUTPORT_DEFAULT
        self.obuf = 0                                # output buffer
        self.obuf_aux = False                        # the buffer holds a mouse byte
        self.pending_cmd = 0                         # command awaiting its data byte
        self.queue.clear()
        self._update()

    def describe(self) -> str:
        return (f"i8042 status={self.status:02x} mode={self.mode:02x} obuf={self.obuf:02x} "
                f"queued={len(self.queue)} irq1={self.irq1.level} irq12={self.irq12.level}")

    def io_read(self, port: int, size: int) -> int:
        if port == KBD_STATUS:
            return self.status
        value = self.obuf                            # an empty buffer repeats the last byte
        self.status &= ~(STAT_OBF | STAT_MOUSE_OBF)
        self._update()
        return value

    def io_write(self, port: int, size: int, value: int) -> None:
        value &= 0xFF
        if port == KBD_STATUS:
            self.status |= STAT_CMD
            self._command(value)
        else:
            self.status &= ~STAT_CMD
            self._data(value)

    # -- internals -----------------------------------------------------------
    def _queue(self, value: int, aux: bool = False) -> None:
        self.queue.append((value & 0xFF, aux))
        self._update()

    def _command(self, cmd: int) -> None:
        if cmd == 0x20:
            self._queue(self.mode)
        elif cmd in (0x60, 0xD1, 0xD2, 0xD3, 0xD4):
            self.pending_cmd = cmd
        elif cmd == 0xA7:
            self.mode |= MODE_DISABLE_MOUSE
        elif cmd == 0xA8:
            self.mode &= ~MODE_DISABLE_MOUSE
        elif cmd in (0xA9, 0xAB):
            self._queue(0x00)
        elif cmd == 0xAA:
            self.status |= STAT_SYS
            self._queue(0x55)
        elif cmd == 0xAD:
            self.mode |= MODE_DISABLE_KBD
            self._update()
        elif cmd == 0xAE:
            self.mode &= ~MODE_DISABLE_KBD
            self._update()
        elif cmd == 0xD0:
            self._queue(self.outport)
        elif cmd == 0xFE or (0xF0 <= cmd <= 0xFF and not cmd & 1):
            self.on_reset()                          # pulse output bit 0: CPU reset
        # the lines are updated where QEMU updates them: when a byte is
        # queued and when the keyboard is disabled or enabled

    def _data(self, value: int) -> None:
        cmd, self.pending_cmd = self.pending_cmd, 0
        if cmd == 0x60:
            self.mode = value
            self.status = (self.status & ~STAT_SYS) | (value & MODE_SYS)
        elif cmd == 0xD1:
            self.outport = value
            if not value & 1:
                self.on_reset()
        elif cmd == 0xD2:
            self._queue(value)
        elif cmd == 0xD3:
            self._queue(value, aux=True)
        elif cmd == 0xD4:
            self._queue(0xFA, aux=True)              # the mouse acknowledges
        elif value == 0xFF:
            self._queue(0xFA)
            self._queue(0xAA)
        elif value == 0xF2:
            for b in (0xFA, 0xAB, 0x83):
                self._queue(b)
        elif value == 0xEE:
            self._queue(0xEE)
        else:
            self._queue(0xFA)
        self._update()

    def _update(self) -> None:
        """Load the next byte if the buffer is free, then drive both lines."""
        if not self.status & STAT_OBF and self.queue:
            self.obuf, self.obuf_aux = self.queue.popleft()
            self.status |= STAT_OBF | (STAT_MOUSE_OBF if self.obuf_aux else 0)
        full = self.status & STAT_OBF
        kbd = bool(full and not self.obuf_aux and self.mode & MODE_KBD_INT
                   and not self.mode & MODE_DISABLE_KBD)
        mouse = bool(full and self.obuf_aux and self.mode & MODE_MOUSE_INT)
        drive(self.irq1, int(kbd))             # both, every update (QEMU)
        drive(self.irq12, int(mouse))


I8042 = Kbc       # the name the brief uses for this module's device
