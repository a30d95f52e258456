"""National Semiconductor PC16550D UART, as COM1 (ports 0x3F8-0x3FF, IRQ 4).

Contract
--------
Registers by offset: 0 RBR (read) / THR (write) / DLL (DLAB=1), 1 IER / DLM
(DLAB=1), 2 IIR (read) / FCR (write), 3 LCR, 4 MCR, 5 LSR, 6 MSR, 7 SCR.
``self.output(data)`` receives every byte the guest transmits (the console
sink; a no-op by default); ``feed(data)`` queues bytes arriving on the
serial input, delivered into RBR or the receive FIFO as room appears (the
outside world waits, like QEMU's chardev, so a file fed at once is never
overrun).  ``self.irq`` is IRQ 4.

Reference: PC16550D datasheet (National, June 1995): table II (register
summary), §8.4 FCR, §8.5 LCR, §8.6 IIR with table IV (priority: receiver
line status > received data available / character timeout > THR empty >
modem status), §8.7 IER, §8.8 MCR (loopback: TX looped to RX, DTR->DSR,
RTS->CTS, OUT1->RI, OUT2->DCD, modem outputs forced inactive), §8.9 LSR,
§8.10 MSR (delta bits, TERI on RI's trailing edge).

Timing-free, as QEMU's hw/char/serial.c: a byte written to THR is sent at
once (THRE and TEMT set again before the next instruction); the only timer
is the FIFO character timeout, four character times after the last byte
arrived or was read (QEMU's fifo_timeout_timer, same arithmetic).  The THRE
interrupt follows QEMU: it is re-armed after each transmission, cleared by
reading IIR when IIR shows it or by writing THR, and re-armed by setting
IER.ETBEI while THR is empty.

On a PC the UART's INTR reaches the PIC through a buffer enabled by OUT2
(MCR bit 3); in loopback the OUT2 pin is forced inactive, so no interrupt
reaches the PIC.  ``self.irq`` models the wire after that buffer:
``irq = interrupt pending and MCR.OUT2 and not MCR.LOOP``.  Two
differences from QEMU 7.2 (which ignores OUT2 and has MCR=OUT2 after reset
and no delta bits in loopback): irqlab follows the datasheet and the PC here.
After reset MCR=0, MSR shows DCD, DSR, CTS (the lines of an idle null
modem, as QEMU's null backend), LCR=0, divisor 12 (9600 baud).
"""

from __future__ import annotations

import collections
import struct
from typing import Callable, Optional

from emulator.clock import Clock, NS_PER_SECOND, insn_to_ns, ns_to_insn
from emulator.devices import state
from emulator.devices.base import Device, IrqLine
from emulator.devices.wire import drive

COM1 = 0x3F8
FIFO_SIZE = 16
BAUD_BASE = 115200

IER_RDI, IER_THRI, IER_RLSI, IER_MSI = 0x01, 0x02, 0x04, 0x08
IIR_NO_INT, IIR_MSI, IIR_THRI, IIR_RDI, IIR_RLSI, IIR_CTI = 0x01, 0x00, 0x02, 0x04, 0x06, 0x0C
IIR_FIFO = 0xC0
FCR_FE, FCR_RFR, FCR_XFR = 0x01, 0x02, 0x04
LCR_DLAB = 0x80
MCR_DTR, MCR_RTS, MCR_OUT1, MCR_OUT2, MCR_LOOP = 0x01, 0x02, 0x04, 0x08, 0x10
LSR_DR, LSR_OE, LSR_PE, LSR_FE, LSR_BI, LSR_THRE, LSR_TEMT = 1, 2, 4, 8, 16, 32, 64
LSR_INT_ANY = LSR_OE | LSR_PE | LSR_FE | LSR_BI
MSR_DCTS, MSR_DDSR, MSR_TERI, MSR_DDCD = 1, 2, 4, 8
MSR_CTS, MSR_DSR, MSR_RI, MSR_DCD = 0x10, 0x20, 0x40, 0x80
MSR_ANY_DELTA = 0x0F
MSR_IDLE_LINES = MSR_DCD | MSR_DSR | MSR_CTS   # external lines (no modem attached)


def _f32(x: float) -> float:
    """Round to single precision (QEMU computes the baud rate in float)."""
    return struct.unpack("f", struct.pack("f", x))[0]


class Uart(Device):
    """A 16550A with FIFOs; COM1 by default."""

    name = "uart"

    def __init__(self, clock: Optional[Clock] = None, base: int = COM1) -> None:
        super().__init__(clock)
        self.base = base
        self.ports = ((base, 8),)
        self.irq = IrqLine(name="IRQ4")
        self.output: Callable[[bytes], None] = lambda data: None
        self.backlog: collections.deque[int] = collections.deque()   # input not yet received
        self.reset()

    # -- housekeeping --------------------------------------------------------
    def reset(self) -> None:
        """Master reset (datasheet table V): IER, IIR, FCR, LCR, MCR cleared,
        LSR = THRE|TEMT, FIFOs emptied.  SCR and the divisor are not reset by
        the chip; QEMU sets the divisor to 12 and SCR to 0, and so does this
        model.  Input waiting in ``backlog`` survives (it is outside the chip)."""
        self.rbr = 0                      # receiver buffer register
        self.thr = 0                      # transmitter holding register
        self.tsr = 0                      # transmitter shift register
        self.ier = 0                      # interrupt enable register
        self.iir = IIR_NO_INT             # interrupt identification register
        self.fcr = 0                      # FIFO control register (sticky bits)
        self.lcr = 0                      # line control register
        self.mcr = 0                      # modem control register
        self.lsr = LSR_TEMT | LSR_THRE    # line status register
        self.msr = MSR_IDLE_LINES         # modem status register
        self.scr = 0                      # scratch register
        self.divider = 12                 # DLM:DLL
        self.recv_fifo: collections.deque[int] = collections.deque()
        self.recv_fifo_itl = 1            # receive trigger level (FCR bits 7-6)
        self.thr_ipending = 0             # THRE interrupt armed (QEMU's thr_ipending)
        self.timeout_ipending = 0         # character timeout indication
        self.timeout_ns: Optional[int] = None
        self.char_transmit_ns = (NS_PER_SECOND // 9600) * 10
        self._update_irq()

    def save_state(self) -> dict:
        """Registers, latches and timers, without the wiring (see state.py)."""
        return state.save(self)

    def load_state(self, saved: dict) -> None:
        state.load(self, saved)

    def describe(self) -> str:
        return (f"uart {self.base:#x} ier={self.ier:02x} iir={self.iir:02x} "
                f"lcr={self.lcr:02x} mcr={self.mcr:02x} lsr={self.lsr:02x} "
                f"msr={self.msr:02x} fifo={len(self.recv_fifo)} backlog={len(self.backlog)} "
                f"irq={self.irq.level}")

    # -- input from outside ----------------------------------------------------
    def feed(self, data: bytes) -> None:
        """Bytes arriving on SIN; received as soon as RBR or the FIFO has room."""
        self.backlog.extend(data)
        self._pull_input()

    # -- time ---------------------------------------------------------------
    def next_deadline(self) -> Optional[int]:
        return None if self.timeout_ns is None else ns_to_insn(self.timeout_ns)

    def advance(self, now: int) -> None:
        if self.timeout_ns is not None and self.timeout_ns <= insn_to_ns(now):
            self.timeout_ns = None
            if self.recv_fifo:            # character timeout (QEMU's fifo_timeout_int)
                self.timeout_ipending = 1
                self._update_irq()

    # -- port I/O ------------------------------------------------------------
    def io_read(self, port: int, size: int) -> int:
        reg = port - self.base
        if reg == 0:
            if self.lcr & LCR_DLAB:
                return self.divider & 0xFF
            return self._read_rbr()
        if reg == 1:
            return (self.divider >> 8) & 0xFF if self.lcr & LCR_DLAB else self.ier
        if reg == 2:
            ret = self.iir
            if ret & 0x0F == IIR_THRI:    # reading IIR showing THRE clears it
                self.thr_ipending = 0
                self._update_irq()
            return ret
        if reg == 3:
            return self.lcr
        if reg == 4:
            return self.mcr
        if reg == 5:
            ret = self.lsr
            if self.lsr & (LSR_BI | LSR_OE):   # error bits clear on read
                self.lsr &= ~(LSR_BI | LSR_OE)
                self._update_irq()
            return ret
        if reg == 6:
            ret = self.msr
            if self.msr & MSR_ANY_DELTA:       # delta bits clear on read
                self.msr &= 0xF0
                self._update_irq()
            return ret
        return self.scr

    def io_write(self, port: int, size: int, value: int) -> None:
        reg = port - self.base
        value &= 0xFF
        if reg == 0:
            if self.lcr & LCR_DLAB:
                self._set_divider((self.divider & 0xFF00) | value)
            else:
                self._write_thr(value)
        elif reg == 1:
            if self.lcr & LCR_DLAB:
                self._set_divider((self.divider & 0x00FF) | (value << 8))
            else:
                self._write_ier(value)
        elif reg == 2:
            self._write_fcr(value)
        elif reg == 3:
            self.lcr = value
            self._update_parameters()
        elif reg == 4:
            was_loop = self.mcr & MCR_LOOP
            self.mcr = value & 0x1F
            self._update_modem_inputs()
            if was_loop and not self.mcr & MCR_LOOP:
                self._pull_input()
            self._update_irq(redrive=False)   # QEMU's MCR write updates no IRQ
        elif reg == 7:
            self.scr = value
        # LSR and MSR writes are ignored (factory test only)

    # -- internals -----------------------------------------------------------
    def _read_rbr(self) -> int:
        if self.fcr & FCR_FE:
            ret = self.recv_fifo.popleft() if self.recv_fifo else 0
            if not self.recv_fifo:
                self.lsr &= ~(LSR_DR | LSR_BI)
            else:
                self.timeout_ns = self.clock.ns() + 4 * self.char_transmit_ns
            self.timeout_ipending = 0
        else:
            ret = self.rbr
            self.lsr &= ~(LSR_DR | LSR_BI)
        self._update_irq()
        self._pull_input()
        return ret

    def _write_thr(self, value: int) -> None:
        """THR written: sent at once, THR and TSR empty again (QEMU)."""
        self.thr = value
        self.thr_ipending = 0
        self.lsr &= ~(LSR_THRE | LSR_TEMT)
        self._update_irq()
        self.tsr = value
        self.lsr |= LSR_THRE
        if not self.thr_ipending:
            self.thr_ipending = 1
            self._update_irq()
        if self.mcr & MCR_LOOP:
            self._receive(value)          # TX is looped back to RX
        else:
            self.output(bytes([value]))
        self.lsr |= LSR_TEMT

    def _write_ier(self, value: int) -> None:
        changed = (self.ier ^ value) & 0x0F
        self.ier = value & 0x0F
        if changed & IER_THRI:
            # setting ETBEI while THR is empty raises THRE again (QEMU, Windows)
            self.thr_ipending = int(bool(self.ier & IER_THRI and self.lsr & LSR_THRE))
        if changed:
            self._update_irq()

    def _write_fcr(self, value: int) -> None:
        if (value ^ self.fcr) & FCR_FE:   # toggling FIFO enable clears both FIFOs
            value |= FCR_RFR | FCR_XFR
        if value & FCR_RFR:
            self.lsr &= ~(LSR_DR | LSR_BI)
            self.timeout_ns = None
            self.timeout_ipending = 0
            self.recv_fifo.clear()
        if value & FCR_XFR:
            self.lsr |= LSR_THRE
            self.thr_ipending = 1
        self.fcr = value & 0xC9
        if self.fcr & FCR_FE:
            self.iir |= IIR_FIFO
            self.recv_fifo_itl = {0x00: 1, 0x40: 4, 0x80: 8, 0xC0: 14}[self.fcr & 0xC0]
        else:
            self.iir &= ~IIR_FIFO
        self._update_irq()
        self._pull_input()

    def _set_divider(self, divider: int) -> None:
        self.divider = divider
        self._update_parameters()

    def _update_parameters(self) -> None:
        """Character time from LCR and the divisor (QEMU's arithmetic, in float)."""
        frame = 1                                   # start bit
        if self.lcr & 0x08:
            frame += 1                              # parity bit
        frame += (self.lcr & 0x03) + 5              # data bits
        frame += 2 if self.lcr & 0x04 else 1        # stop bits
        speed = 3500.0 if self.divider == 0 else _f32(_f32(float(BAUD_BASE)) / self.divider)
        self.char_transmit_ns = int(_f32(_f32(NS_PER_SECOND / speed) * frame))

    def _can_receive(self) -> bool:
        if self.mcr & MCR_LOOP:
            return False                            # SIN is disconnected in loopback
        if self.fcr & FCR_FE:
            return len(self.recv_fifo) < FIFO_SIZE
        return not self.lsr & LSR_DR

    def _pull_input(self) -> None:
        """Move waiting input into the receiver while it has room."""
        while self.backlog and self._can_receive():
            self._receive(self.backlog.popleft())

    def _receive(self, byte: int) -> None:
        """One character assembled by the receiver (QEMU's serial_receive1)."""
        if self.fcr & FCR_FE:
            if len(self.recv_fifo) < FIFO_SIZE:
                self.recv_fifo.append(byte)
            else:
                self.lsr |= LSR_OE                  # an overrun keeps the FIFO's contents
            self.lsr |= LSR_DR
            self.timeout_ns = self.clock.ns() + 4 * self.char_transmit_ns
        else:
            if self.lsr & LSR_DR:
                self.lsr |= LSR_OE
            self.rbr = byte
            self.lsr |= LSR_DR
        self._update_irq()

    def _update_modem_inputs(self) -> None:
        """MSR bits 7-4 from the modem inputs; set the delta bits (§8.10)."""
        if self.mcr & MCR_LOOP:
            m = self.mcr
            lines = (((m & MCR_OUT2) and MSR_DCD) | ((m & MCR_OUT1) and MSR_RI)
                     | ((m & MCR_DTR) and MSR_DSR) | ((m & MCR_RTS) and MSR_CTS))
        else:
            lines = MSR_IDLE_LINES
        old = self.msr & 0xF0
        changed = old ^ lines
        delta = 0
        if changed & MSR_CTS:
            delta |= MSR_DCTS
        if changed & MSR_DSR:
            delta |= MSR_DDSR
        if changed & MSR_DCD:
            delta |= MSR_DDCD
        if old & MSR_RI and not lines & MSR_RI:
            delta |= MSR_TERI                       # trailing edge of RI only
        self.msr = lines | (self.msr & MSR_ANY_DELTA) | delta

    def _update_irq(self, redrive: bool = True) -> None:
        """Recompute IIR (table IV priority order) and the IRQ wire: driven
        again even if unchanged where QEMU calls qemu_set_irq (``redrive``),
        otherwise changed only (an MCR write: QEMU updates no IRQ there, and
        an IO APIC edge input would take a repeated level as a new request)."""
        ier, lsr = self.ier, self.lsr
        if ier & IER_RLSI and lsr & LSR_INT_ANY:
            ident = IIR_RLSI
        elif ier & IER_RDI and self.timeout_ipending:
            ident = IIR_CTI
        elif (ier & IER_RDI and lsr & LSR_DR
              and (not self.fcr & FCR_FE or len(self.recv_fifo) >= self.recv_fifo_itl)):
            ident = IIR_RDI
        elif ier & IER_THRI and self.thr_ipending:
            ident = IIR_THRI
        elif ier & IER_MSI and self.msr & MSR_ANY_DELTA:
            ident = IIR_MSI
        else:
            ident = IIR_NO_INT
        self.iir = ident | (self.iir & 0xF0)
        gate = self.mcr & MCR_OUT2 and not self.mcr & MCR_LOOP
        level = 1 if ident != IIR_NO_INT and gate else 0
        if redrive:
            drive(self.irq, level)            # as QEMU, every update
        else:
            self.irq.set(level)
