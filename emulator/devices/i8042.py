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
lowers the line; the next pending byte, if any, is loaded at once.

The output buffer is filled as QEMU 7.2's controller fills it: the
controller's own replies (0x20, 0xAA, 0xD0, and the bytes of 0xD2/0xD3) use
one slot, and a newer one replaces an unread older one; the keyboard's and
the mouse's replies queue; a full buffer is never changed under the guest
(the byte shown is chosen when it is loaded, its value when it is read);
priority: controller, keyboard, mouse.  A disabled interface (command byte
bits 4, 5) hides its device's bytes.

Commands (port 0x64): 0x20 read command byte, 0x60 write command byte,
0xA7/0xA8 disable/enable mouse, 0xA9 mouse interface test (0x00),
0xAA self test (0x55), 0xAB keyboard interface test (0x00), 0xAD/0xAE
disable/enable keyboard, 0xC0 read input port (0x80), 0xD0 read output
port, 0xD1 write output port, 0xD2 write keyboard output buffer (the byte
comes back as if the keyboard sent it: IRQ 1), 0xD3 write mouse output
buffer (IRQ 12), 0xD4 write to the mouse (it answers 0xFA), 0xDD/0xDF A20
off/on, 0xF0-0xFF pulse output bits (bit 0 low: ``self.on_reset()``).  A
byte written to port 0x60 with no command pending goes to the keyboard,
which answers 0xFA (and 0xAA after 0xFF reset, 0xAB 0x83 after 0xF2
identify, 0xEE after 0xEE echo).  ``key(byte)`` is the keyboard sending a
byte by itself (a key pressed: ``--inject key=V``, explore's ``--key``);
it queues behind the keyboard's other bytes (QEMU's ps2_queue).

Status bits: 0 OBF, 1 IBF (always 0: the controller is instant), 2 SYS
(set by self test 0xAA), 3 CMD (always 1, as QEMU), 4 not inhibited (always
1), 5 MOBF (the buffer holds a mouse byte).

Reference: IBM PC AT Technical Reference, keyboard controller section, and
QEMU 7.2 hw/input/pckbd.c (reset state: command byte 0x03, status 0x18).
"""

from __future__ import annotations

import collections
from typing import Callable, Optional

from emulator.clock import Clock
from emulator.devices import state
from emulator.devices.base import Device, IrqLine
from emulator.devices.wire import drive

KBD_DATA, KBD_STATUS = 0x60, 0x64

STAT_OBF, STAT_IBF, STAT_SYS, STAT_CMD, STAT_UNLOCKED, STAT_MOUSE_OBF = 1, 2, 4, 8, 0x10, 0x20
MODE_KBD_INT, MODE_MOUSE_INT, MODE_SYS = 0x01, 0x02, 0x04
MODE_DISABLE_KBD, MODE_DISABLE_MOUSE = 0x10, 0x20
OUTPORT_DEFAULT = 0xCF       # reset line high, A20 on, bits 2-3 and 6-7 set (QEMU)
# sources of the output buffer's byte (QEMU's pending bits; the device bits
# equal the command byte's disable bits, which hide that device's data)
PENDING_CTRL_KBD, PENDING_CTRL_AUX, PENDING_KBD, PENDING_AUX = 0x04, 0x08, 0x10, 0x20
OBSRC_KBD, OBSRC_AUX, OBSRC_CTRL = 1, 2, 4


class Kbc(Device):
    """The 8042 controller; its keyboard and mouse only acknowledge."""

    name = "i8042"
    ports = ((KBD_DATA, 1), (KBD_STATUS, 1))

    def __init__(self, clock: Optional[Clock] = None) -> None:
        super().__init__(clock)
        self.irq1 = IrqLine(name="IRQ1")
        self.irq12 = IrqLine(name="IRQ12")
        self.on_reset: Callable[[], None] = lambda: None
        self.kbd_queue: collections.deque[int] = collections.deque()   # from the keyboard
        self.aux_queue: collections.deque[int] = collections.deque()   # from the mouse
        self.reset()

    def reset(self) -> None:
        """Command byte 0x03 (both interrupts enabled), status CMD|unlocked,
        nothing pending, no command awaiting data; nothing survives."""
        self.mode = MODE_KBD_INT | MODE_MOUSE_INT    # the command byte
        self.status = STAT_CMD | STAT_UNLOCKED
        self.outport = OUTPORT_DEFAULT
        self.write_cmd = 0                           # command awaiting its data byte
        self.pending = 0                             # PENDING_* sources with data
        self.cbdata = 0                              # the controller's own output byte
        self.obsrc = 0                               # source of the byte in the buffer
        self.obdata = 0                              # the byte last read
        self.kbd_queue.clear()
        self.aux_queue.clear()
        self._update_lines()

    def save_state(self) -> dict:
        """Registers, latches and timers, without the wiring (see state.py)."""
        return state.save(self)

    def load_state(self, saved: dict) -> None:
        state.load(self, saved)

    def describe(self) -> str:
        return (f"i8042 status={self.status:02x} mode={self.mode:02x} pending={self.pending:02x} "
                f"cbdata={self.cbdata:02x} irq1={self.irq1.level} irq12={self.irq12.level}")

    # -- port I/O ------------------------------------------------------------
    def io_read(self, port: int, size: int) -> int:
        if port == KBD_STATUS:
            return self.status
        if self.status & STAT_OBF:
            self._deassert()
            if self.obsrc == OBSRC_KBD:
                self.obdata = self._device_read(self.kbd_queue, PENDING_KBD)
            elif self.obsrc == OBSRC_AUX:
                self.obdata = self._device_read(self.aux_queue, PENDING_AUX)
            elif self.obsrc == OBSRC_CTRL:
                self.obdata = self.cbdata
                self.pending &= ~(PENDING_CTRL_KBD | PENDING_CTRL_AUX)
                if self._visible():
                    self._update()
        return self.obdata                           # an empty buffer repeats the last byte

    def io_write(self, port: int, size: int, value: int) -> None:
        value &= 0xFF
        if port == KBD_STATUS:
            self._command(value)
        else:
            self._data(value)

    def key(self, byte: int) -> None:
        """The keyboard sends ``byte`` (a key pressed): queued after its other
        bytes; IRQ 1 rises when it reaches an empty buffer (INT set, the
        keyboard interface enabled)."""
        self._device_queue(self.kbd_queue, PENDING_KBD, (byte & 0xFF,))

    def key_interrupts(self) -> bool:
        """Would a key pressed now raise IRQ 1 at once?  The buffer is empty,
        the command byte's INT bit set, the keyboard interface enabled."""
        return (not self.status & STAT_OBF and not self.pending
                and bool(self.mode & MODE_KBD_INT) and not self.mode & MODE_DISABLE_KBD)

    # -- internals -----------------------------------------------------------
    def _command(self, cmd: int) -> None:
        if cmd & 0xF0 == 0xF0:                       # pulse output bits 3-0 (active low)
            if not cmd & 1:
                self.on_reset()                      # bit 0: CPU reset
            return
        if cmd == 0x20:
            self._ctrl_queue(self.mode)
        elif cmd in (0x60, 0xD1, 0xD2, 0xD3, 0xD4):
            self.write_cmd = cmd
        elif cmd == 0xA7:
            self.mode |= MODE_DISABLE_MOUSE
        elif cmd == 0xA8:
            self.mode &= ~MODE_DISABLE_MOUSE
            self._safe_update()
        elif cmd in (0xA9, 0xAB):
            self._ctrl_queue(0x00)                   # interface tests pass
        elif cmd == 0xAA:
            self.status |= STAT_SYS
            self._ctrl_queue(0x55)                   # self test passed
        elif cmd == 0xAD:
            self.mode |= MODE_DISABLE_KBD
        elif cmd == 0xAE:
            self.mode &= ~MODE_DISABLE_KBD
            self._safe_update()
        elif cmd == 0xC0:
            self._ctrl_queue(0x80)                   # input port
        elif cmd == 0xD0:
            self._ctrl_queue(self.outport)
        elif cmd == 0xDD:
            self.outport &= ~0x02                    # A20 off
        elif cmd == 0xDF:
            self.outport |= 0x02                     # A20 on

    def _data(self, value: int) -> None:
        cmd, self.write_cmd = self.write_cmd, 0
        if cmd == 0x60:
            self.mode = value
            self._update_lines()                     # the enables act on the lines at once
            self._safe_update()                      # enabling an interface may show data
        elif cmd == 0xD1:
            self.outport = value
            if not value & 1:
                self.on_reset()
        elif cmd == 0xD2:
            self._ctrl_queue(value)
        elif cmd == 0xD3:
            self._ctrl_queue(value, aux=True)
        elif cmd == 0xD4:
            self._device_queue(self.aux_queue, PENDING_AUX, (0xFA,))   # the mouse acknowledges
        elif value == 0xFF:
            self._device_queue(self.kbd_queue, PENDING_KBD, (0xFA, 0xAA))
        elif value == 0xF2:
            self._device_queue(self.kbd_queue, PENDING_KBD, (0xFA, 0xAB, 0x83))
        elif value == 0xEE:
            self._device_queue(self.kbd_queue, PENDING_KBD, (0xEE,))
        else:
            self._device_queue(self.kbd_queue, PENDING_KBD, (0xFA,))

    def _ctrl_queue(self, value: int, aux: bool = False) -> None:
        """The controller's own byte: one slot, a newer byte replaces it."""
        self.cbdata = value & 0xFF
        self.pending &= ~(PENDING_CTRL_KBD | PENDING_CTRL_AUX)
        self.pending |= PENDING_CTRL_AUX if aux else PENDING_CTRL_KBD
        self._safe_update()

    def _device_queue(self, queue: collections.deque, bit: int, data: tuple) -> None:
        queue.extend(data)
        self.pending |= bit
        self._safe_update()

    def _device_read(self, queue: collections.deque, bit: int) -> int:
        """Take the oldest byte of a device's queue (the last one if empty)."""
        if not queue:
            return self.obdata
        value = queue.popleft()
        self.pending &= ~bit
        self._safe_update()
        if queue:
            self.pending |= bit
            self._safe_update()
        return value

    def _visible(self) -> int:
        """Pending sources not hidden by a disabled interface."""
        return self.pending & ~(self.mode & (PENDING_KBD | PENDING_AUX))

    def _safe_update(self) -> None:
        """Load the buffer only if it is empty (a full buffer is never changed)."""
        if not self.status & STAT_OBF and self._visible():
            self._update()

    def _update(self) -> None:
        """Fill the output buffer from the highest pending source: the
        controller (keyboard side, then mouse side), the keyboard, the mouse."""
        pending = self._visible()
        self.status &= ~(STAT_OBF | STAT_MOUSE_OBF)
        if pending:
            self.status |= STAT_OBF
            if pending & PENDING_CTRL_KBD:
                self.obsrc = OBSRC_CTRL
            elif pending & PENDING_CTRL_AUX:
                self.status |= STAT_MOUSE_OBF
                self.obsrc = OBSRC_CTRL
            elif pending & PENDING_KBD:
                self.obsrc = OBSRC_KBD
            else:
                self.status |= STAT_MOUSE_OBF
                self.obsrc = OBSRC_AUX
        self._update_lines()

    def _deassert(self) -> None:
        self.status &= ~(STAT_OBF | STAT_MOUSE_OBF)
        self._update_lines()

    def _update_lines(self) -> None:
        """IRQ 1 / IRQ 12 from OBF, MOBF and the command byte (QEMU's
        kbd_update_irq_lines); both driven on every update.  The output
        port's bits 4 and 5 mirror OBF and MOBF."""
        self.outport = (self.outport & ~0x30) | (0x10 if self.status & STAT_OBF else 0) \
            | (0x20 if self.status & STAT_MOUSE_OBF else 0)
        kbd = mouse = 0
        if self.status & STAT_OBF:
            if self.status & STAT_MOUSE_OBF:
                mouse = int(bool(self.mode & MODE_MOUSE_INT))
            else:
                kbd = int(bool(self.mode & MODE_KBD_INT and not self.mode & MODE_DISABLE_KBD))
        drive(self.irq1, kbd)
        drive(self.irq12, mouse)


I8042 = Kbc       # the name the brief uses for this module's device
