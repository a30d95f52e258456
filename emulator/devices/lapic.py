"""The Local APIC (xAPIC mode), one per CPU, MMIO at 0xFEE00000.

Reference: Intel SDM Vol. 3A, chapter 10 "Advanced Programmable Interrupt
Controller (APIC)" (10.4 local APIC registers, 10.5 LVT, timer and ESR,
10.6 IPIs and destinations, 10.8 handling interrupts, 10.9 spurious
interrupt).  Where the SDM leaves a choice open, QEMU's hw/intc/apic.c and
apic_common.c (QEMU 7.2, the version the cross-checks run) are the reference,
and each such choice is marked "QEMU:" below.

Contract with the machine (the CPU-facing API; keep these names):

* ``intr_pending()`` -- a maskable interrupt is deliverable to the CPU now:
  an ExtINT request from the 8259 pair on LINT0, or the highest IRR vector
  whose priority class is above the PPR (software-enabled APIC only).
* ``acknowledge() -> vector`` -- the INTA cycle.  ExtINT first (it ignores
  the TPR): the vector comes from ``extint_ack()``, which the machine sets to
  the PIC's acknowledge.  Otherwise the highest deliverable IRR bit moves to
  the ISR and its vector is returned.  If the request vanished below the PPR
  (the TPR was raised after the CPU saw ``intr_pending``), the spurious vector
  (SVR[7:0]) is returned and nothing moves (SDM 10.9).
* ``nmi_pending`` / ``take_nmi()`` -- NMI from an IPI, LINT1 or an LVT entry
  in NMI mode; ``take_nmi`` clears the latch and says whether it was set.
* ``init_pending`` / ``take_init()``, ``sipi_pending`` / ``take_sipi()`` and
  the callbacks ``on_init()`` / ``on_sipi(vector)``: an INIT resets the APIC
  (except its ID) and leaves an AP waiting for a start-up IPI; only the first
  SIPI after an INIT is taken (QEMU: ``wait_for_sipi``), later ones are
  ignored.  The callbacks run synchronously inside the sender's ICR write;
  a machine that cannot act there uses the latches at the next boundary.
* ``output_changed()`` -- called after every change that may alter the above;
  the machine stops the running CPU at the next instruction boundary.
* ``set_lint0(level)`` (wired to the PIC pair's INT output) and
  ``set_lint1(level)`` (NMI input).
* ``next_deadline()`` / ``advance(now)`` -- the LVT timer.

The MMIO page is per CPU: the machine dispatches 0xFEE00000-0xFEE00FFF to the
LAPIC of the CPU that made the access.  Only aligned 32-bit accesses reach
registers (QEMU: narrower reads give 0, narrower writes are dropped).

Choices (SDM silent or QEMU differs):

* Version register 0x00050014: version 0x14, 6 LVT entries (QEMU).
* Timer: the APIC bus clock is the virtual clock, one tick per nanosecond,
  i.e. per instruction (QEMU's apic timer counts QEMU_CLOCK_VIRTUAL ns).
  Divide configuration gives ``count_shift`` (divide by 2**shift, 1 for
  0b1011).  One-shot: current count = initial - elapsed ticks, 0 after; the
  interrupt fires when ``initial + 1`` ticks have elapsed.  Periodic: the
  period is ``initial + 1`` ticks and current count = initial - (ticks mod
  period).  A divide-configuration write does not re-arm a running timer
  (QEMU).  After reset the DCR reads 0 (divide by 2) but the timer counts
  undivided until the DCR is written (QEMU's count_shift starts at 0).
  TSC-deadline mode is not modelled.
* A software-disabled APIC (SVR bit 8 clear, the reset state) still passes
  the PIC's ExtINT through an unmasked LINT0 and still latches vectors into
  the IRR, but delivers none of them (QEMU; the SDM would force LVT masks).
  The BSP resets with LINT0 = ExtINT unmasked (0x700), every other LVT
  masked, as QEMU's reset does, so a guest that never touches the APIC sees
  the 8259 exactly as without one.
* ESR follows the SDM (QEMU does not): errors accumulate internally; a write
  to the ESR copies them into the readable register and clears them, and
  re-arms the LVT error interrupt, which fires once per accumulation.
  Errors logged: send/receive illegal vector (a fixed vector below 16) and
  illegal register address.
* Arbitration priority (APR) reads 0 (QEMU).  SVR keeps bits 0-9 (vector,
  APIC enable, focus-checking disable); bit 12 (EOI-broadcast suppression)
  is not implemented, so a level EOI always reaches the IO APIC.
* ICR delivery status (bit 12) always reads idle: an IPI is delivered inside
  the ICR-low write.
"""

from __future__ import annotations

from typing import Callable, Optional

from emulator.clock import Clock, insn_to_ns, ns_to_insn
from emulator.devices.apic_regs import (APICBASE_BSP, APICBASE_ENABLE, DM_EXTINT, DM_FIXED,
                                        DM_INIT, DM_LOWEST, DM_NAMES, DM_NMI, DM_SIPI,
                                        ESR_ILLEGAL_REGISTER, ESR_RECV_ILLEGAL_VECTOR,
                                        ESR_SEND_ILLEGAL_VECTOR, ICR_DELIVERY_STATUS,
                                        ICR_DEST_LOGICAL, ICR_LEVEL_ASSERT, ICR_TRIGGER_LEVEL,
                                        LAPIC_BASE, LAPIC_SIZE, LAPIC_VERSION, LVT_COUNT,
                                        LVT_ERROR, LVT_LEVEL, LVT_LINT0, LVT_LINT1, LVT_MASKED,
                                        LVT_NAMES, LVT_TIMER, LVT_TIMER_PERIODIC, REG_APR, REG_DFR,
                                        REG_EOI, REG_ESR, REG_ICR_HI, REG_ICR_LO, REG_ID, REG_IRR,
                                        REG_ISR, REG_LDR, REG_LVT_ERROR, REG_LVT_TIMER, REG_PPR,
                                        REG_RRD, REG_SVR, REG_TIMER_CCR, REG_TIMER_DCR,
                                        REG_TIMER_ICR, REG_TMR, REG_TPR, REG_VERSION, SVR_ENABLE,
                                        SVR_WRITABLE, highest_bit, priority_class)
from emulator.devices.base import Device

class LocalApic(Device):
    """One CPU's local APIC.  State = the registers, by their SDM names."""

    name = "lapic"
    mmio = ((LAPIC_BASE, LAPIC_SIZE),)

    def __init__(self, clock: Optional[Clock] = None, apic_id: int = 0, bus=None,
                 bsp: Optional[bool] = None) -> None:
        super().__init__(clock)
        self.initial_id = apic_id & 0xFF
        self.bsp = (apic_id == 0) if bsp is None else bsp
        self.bus = bus
        # Wiring the machine sets (all optional).
        self.output_changed: Callable[[], None] = lambda: None
        self.extint_ack: Optional[Callable[[], int]] = None
        self.on_init: Optional[Callable[[], None]] = None
        self.on_sipi: Optional[Callable[[int], None]] = None
        self.lint0_level = 0            # the PIC pair's INT output, as last seen
        self.lint1_level = 0
        self.reset()
        if bus is not None:
            bus.attach(self)

    # -- reset ---------------------------------------------------------------
    def reset(self) -> None:
        """Power-on reset: APIC base and ID to their initial values, then INIT."""
        self.apicbase = LAPIC_BASE | APICBASE_ENABLE | (APICBASE_BSP if self.bsp else 0)
        self.id = self.initial_id       # APIC ID register bits 31-24
        self.init_reset()
        if self.bsp:
            # QEMU: "LINT0 delivery mode on CPU #0 is set to ExtInt at
            # initialization time", so the 8259 reaches the BSP untouched.
            self.lvt[LVT_LINT0] = DM_EXTINT << 8
        self.init_pending = False
        self.sipi_pending = False
        self.sipi_vector = 0
        self.nmi_pending = False

    def init_reset(self) -> None:
        """The state an INIT leaves (SDM 10.4.7.3): all but ID and APIC base."""
        self.tpr = 0                    # task priority register
        self.svr = 0xFF                 # spurious vector, APIC software-disabled
        self.ldr = 0                    # logical APIC ID (bits 31-24)
        self.dfr_model = 0xF            # DFR bits 31-28: 0xF flat, 0x0 cluster
        self.isr = 0                    # in-service register, 256 bits
        self.tmr = 0                    # trigger mode register, 256 bits
        self.irr = 0                    # interrupt request register, 256 bits
        self.lvt = [LVT_MASKED] * LVT_COUNT
        self.esr = 0                    # what an ESR read returns
        self.esr_pending = 0            # errors since the last ESR write
        self.error_armed = True         # LVT error fires once per ESR write
        self.icr_lo = 0
        self.icr_hi = 0
        self.divide_conf = 0            # timer divide configuration (bits 0,1,3)
        self.count_shift = 0            # divide by 2**count_shift (QEMU: 0 at reset)
        self.initial_count = 0
        self.initial_count_load_time = 0    # ns
        self.next_time: Optional[int] = None   # ns of the next timer expiry
        self.wait_for_sipi = not self.bsp

    # -- priorities (SDM 10.8.3) ----------------------------------------------
    def ppr(self) -> int:
        """Processor priority: the TPR, or the ISR's highest class if above it."""
        isrv = max(highest_bit(self.isr), 0)
        if priority_class(self.tpr) >= priority_class(isrv):
            return self.tpr
        return isrv & 0xF0

    @property
    def software_enabled(self) -> bool:
        return bool(self.svr & SVR_ENABLE)

    @property
    def hardware_enabled(self) -> bool:
        return bool(self.apicbase & APICBASE_ENABLE)

    def _irq_pending(self) -> int:
        """Highest IRR vector if deliverable, -1 if held off by the PPR, 0 if none."""
        if not self.software_enabled:
            return 0
        irrv = highest_bit(self.irr)
        if irrv < 0:
            return 0
        if priority_class(irrv) <= priority_class(self.ppr()):
            return -1
        return irrv

    def accepts_pic(self) -> bool:
        """The 8259's INT reaches this CPU: APIC globally off, or LINT0 unmasked."""
        return not self.hardware_enabled or not (self.lvt[LVT_LINT0] & LVT_MASKED)

    def extint_pending(self) -> bool:
        """The PIC pair asserts INT and LINT0 passes it as ExtINT."""
        if not self.lint0_level or not self.accepts_pic():
            return False
        return not self.hardware_enabled or (self.lvt[LVT_LINT0] >> 8) & 7 == DM_EXTINT

    # -- the CPU-facing API ------------------------------------------------------
    def intr_pending(self) -> bool:
        """A maskable interrupt is deliverable to the CPU (INTR asserted)."""
        if not self.irr:                    # the common case on one CPU: the 8259 only
            return bool(self.lint0_level) and self.extint_pending()
        return self.extint_pending() or self._irq_pending() > 0

    def acknowledge(self) -> int:
        """The INTA cycle: the vector the CPU takes (see the module contract)."""
        if self.extint_pending():
            return self._pic_acknowledge()
        intno = self._irq_pending()
        if intno > 0:
            self.irr &= ~(1 << intno)
            self.isr |= 1 << intno
            self.trace("apic.ack", apic=self.id, vector=intno)
            self._update()
            return intno
        if intno == 0 and self.accepts_pic() and self.extint_ack is not None:
            return self._pic_acknowledge()   # QEMU: nothing here, ask the PIC
        self.trace("apic.spurious", apic=self.id, vector=self.svr & 0xFF)
        return self.svr & 0xFF

    def _pic_acknowledge(self) -> int:
        if self.extint_ack is None:
            raise RuntimeError("LAPIC: ExtINT acknowledged but no PIC is wired "
                               "(set LocalApic.extint_ack to the PIC's acknowledge)")
        return self.extint_ack()

    def take_nmi(self) -> bool:
        """Consume the NMI latch; True if an NMI was pending."""
        pending, self.nmi_pending = self.nmi_pending, False
        if pending:
            self._update()
        return pending

    def take_init(self) -> bool:
        pending, self.init_pending = self.init_pending, False
        return pending

    def take_sipi(self) -> Optional[int]:
        """Consume a pending start-up IPI: its vector (start at vector << 12)."""
        if not self.sipi_pending:
            return None
        self.sipi_pending = False
        return self.sipi_vector

    def set_lint0(self, level: int) -> None:
        """LINT0 input (the 8259 pair's INT output); QEMU apic_deliver_pic_intr."""
        level = 1 if level else 0
        self.lint0_level = level
        lvt = self.lvt[LVT_LINT0]
        if level:
            self._local_deliver(LVT_LINT0)
        elif (lvt >> 8) & 7 == DM_FIXED and lvt & LVT_LEVEL:
            self.irr &= ~(1 << (lvt & 0xFF))
        self._update()

    def set_lint1(self, level: int) -> None:
        """LINT1 input (NMI on the PC); delivers on the rising edge."""
        level = 1 if level else 0
        rising = level and not self.lint1_level
        self.lint1_level = level
        if rising:
            self._local_deliver(LVT_LINT1)

    # -- the bus-facing API (apicbus.py calls these) ---------------------------
    def accept(self, delivery_mode: int, vector: int, trigger_level: bool) -> None:
        """A message from the APIC bus (an IPI or an IO APIC redirection)."""
        if delivery_mode in (DM_FIXED, DM_LOWEST, DM_EXTINT):
            self.set_irq(vector, trigger_level)
        elif delivery_mode == DM_NMI:
            self.nmi_pending = True
            self.trace("apic.nmi", apic=self.id)
            self._update()
        elif delivery_mode == DM_INIT:
            self._init()
        elif delivery_mode == DM_SIPI:
            self._startup(vector)
        else:
            self.trace("apic.ignored", apic=self.id, mode=DM_NAMES.get(delivery_mode, delivery_mode))

    def set_irq(self, vector: int, trigger_level: bool) -> None:
        """Latch a fixed interrupt into the IRR (and its trigger mode into the TMR)."""
        vector &= 0xFF
        if vector < 16:
            self._error(ESR_RECV_ILLEGAL_VECTOR)
            return
        bit = 1 << vector
        self.irr |= bit
        if trigger_level:
            self.tmr |= bit
        else:
            self.tmr &= ~bit
        self.trace("apic.irr", apic=self.id, vector=vector, level=int(bool(trigger_level)))
        self._update()

    def _init(self) -> None:
        """An INIT: reset all but the ID; an AP then waits for a SIPI."""
        self.init_reset()
        self.init_pending = True
        self.sipi_pending = False
        self.trace("apic.init", apic=self.id)
        if self.on_init is not None:
            self.on_init()
        self._update()

    def _startup(self, vector: int) -> None:
        """A start-up IPI: taken only while waiting for one (QEMU wait_for_sipi)."""
        if not self.wait_for_sipi:
            self.trace("apic.sipi_ignored", apic=self.id, vector=vector)
            return
        self.wait_for_sipi = False
        self.sipi_vector = vector & 0xFF
        self.sipi_pending = True
        self.trace("apic.sipi", apic=self.id, vector=self.sipi_vector)
        if self.on_sipi is not None:
            self.on_sipi(self.sipi_vector)
        self._update()

    # -- internal ------------------------------------------------------------------
    def _update(self) -> None:
        """Tell the machine the INTR/NMI/INIT state may have changed (QEMU apic_update_irq)."""
        self.output_changed()

    def _local_deliver(self, index: int) -> None:
        """Deliver a local interrupt through LVT entry ``index`` (QEMU apic_local_deliver)."""
        lvt = self.lvt[index]
        if lvt & LVT_MASKED:
            return
        mode = (lvt >> 8) & 7
        if mode == DM_NMI:
            self.nmi_pending = True
            self.trace("apic.nmi", apic=self.id, source=LVT_NAMES[index])
            self._update()
        elif mode == DM_EXTINT:
            self._update()                  # the PIC supplies the vector at INTA
        elif mode == DM_FIXED:
            level = index in (LVT_LINT0, LVT_LINT1) and bool(lvt & LVT_LEVEL)
            self.set_irq(lvt & 0xFF, level)
        else:
            self.trace("apic.ignored", apic=self.id, mode=DM_NAMES.get(mode, mode),
                       source=LVT_NAMES[index])

    def _error(self, bit: int) -> None:
        """Log an error (SDM 10.5.3) and raise the LVT error interrupt once."""
        self.esr_pending |= bit
        self.trace("apic.error", apic=self.id, esr=bit)
        if self.error_armed:
            self.error_armed = False
            self._local_deliver(LVT_ERROR)

    def _eoi(self) -> None:
        """EOI: retire the highest ISR bit; a level vector is broadcast to the IO APICs."""
        isrv = highest_bit(self.isr)
        if isrv < 0:
            return
        self.isr &= ~(1 << isrv)
        self.trace("apic.eoi", apic=self.id, vector=isrv)
        if self.tmr & (1 << isrv) and self.bus is not None:
            self.bus.eoi_broadcast(isrv)
        self._update()

    def _send_ipi(self) -> None:
        """The ICR-low write: hand the message to the bus."""
        lo = self.icr_lo
        mode = (lo >> 8) & 7
        vector = lo & 0xFF
        if mode in (DM_FIXED, DM_LOWEST) and vector < 16:
            self._error(ESR_SEND_ILLEGAL_VECTOR)
            return
        if self.bus is None:
            return
        self.bus.send_ipi(self, dest=(self.icr_hi >> 24) & 0xFF,
                          logical=bool(lo & ICR_DEST_LOGICAL), delivery_mode=mode,
                          vector=vector, trigger_level=bool(lo & ICR_TRIGGER_LEVEL),
                          assert_=bool(lo & ICR_LEVEL_ASSERT), shorthand=(lo >> 18) & 3)

    # -- timer (QEMU apic_next_timer / apic_get_current_count) ----------------------
    def _timer_update(self, now_ns: int) -> None:
        """Compute the next expiry strictly after ``now_ns`` (or none)."""
        self.next_time = None
        lvt = self.lvt[LVT_TIMER]
        if lvt & LVT_MASKED:
            return
        d = (now_ns - self.initial_count_load_time) >> self.count_shift
        period = self.initial_count + 1
        if lvt & LVT_TIMER_PERIODIC:
            if self.initial_count == 0:
                return
            d = (d // period + 1) * period
        else:
            if d >= self.initial_count:
                return
            d = period
        self.next_time = self.initial_count_load_time + (d << self.count_shift)

    def current_count(self) -> int:
        """The timer's current-count register at the present virtual time."""
        d = (self.clock.ns() - self.initial_count_load_time) >> self.count_shift
        if self.lvt[LVT_TIMER] & LVT_TIMER_PERIODIC:
            return self.initial_count - d % (self.initial_count + 1)
        return 0 if d >= self.initial_count else self.initial_count - d

    def next_deadline(self) -> Optional[int]:
        return None if self.next_time is None else ns_to_insn(self.next_time)

    def advance(self, now: int) -> None:
        """Fire the timer if it expired by ``now``; several missed periods coalesce."""
        if self.next_time is None or ns_to_insn(self.next_time) > now:
            return
        self.trace("apic.timer", apic=self.id, vector=self.lvt[LVT_TIMER] & 0xFF)
        self._local_deliver(LVT_TIMER)
        self._timer_update(insn_to_ns(now))

    # -- MMIO (SDM Table 10-1) --------------------------------------------------------
    def mmio_read(self, offset: int, size: int) -> int:
        if size != 4:
            return 0
        reg = offset & 0xFF0
        if reg == REG_ID:
            return self.id << 24
        if reg == REG_VERSION:
            return LAPIC_VERSION | ((LVT_COUNT - 1) << 16)
        if reg == REG_TPR:
            return self.tpr
        if reg == REG_APR:
            return 0
        if reg == REG_PPR:
            return self.ppr()
        if reg == REG_EOI:
            return 0
        if reg == REG_LDR:
            return self.ldr << 24
        if reg == REG_DFR:
            return (self.dfr_model << 28) | 0x0FFFFFFF
        if reg == REG_SVR:
            return self.svr
        if REG_ISR <= reg < REG_ISR + 0x80:
            return (self.isr >> (32 * ((reg - REG_ISR) >> 4))) & 0xFFFFFFFF
        if REG_TMR <= reg < REG_TMR + 0x80:
            return (self.tmr >> (32 * ((reg - REG_TMR) >> 4))) & 0xFFFFFFFF
        if REG_IRR <= reg < REG_IRR + 0x80:
            return (self.irr >> (32 * ((reg - REG_IRR) >> 4))) & 0xFFFFFFFF
        if reg == REG_ESR:
            return self.esr
        if reg == REG_ICR_LO:
            return self.icr_lo
        if reg == REG_ICR_HI:
            return self.icr_hi
        if REG_LVT_TIMER <= reg <= REG_LVT_ERROR:
            return self.lvt[(reg - REG_LVT_TIMER) >> 4]
        if reg == REG_TIMER_ICR:
            return self.initial_count
        if reg == REG_TIMER_CCR:
            return self.current_count()
        if reg == REG_TIMER_DCR:
            return self.divide_conf
        self._error(ESR_ILLEGAL_REGISTER)
        return 0

    def mmio_write(self, offset: int, size: int, value: int) -> None:
        if size != 4:
            return
        value &= 0xFFFFFFFF
        reg = offset & 0xFF0
        if reg == REG_ID:
            self.id = value >> 24
        elif reg == REG_TPR:
            self.tpr = value & 0xFF
            self._update()
        elif reg == REG_EOI:
            self._eoi()
        elif reg == REG_LDR:
            self.ldr = value >> 24
        elif reg == REG_DFR:
            self.dfr_model = value >> 28
        elif reg == REG_SVR:
            self.svr = value & SVR_WRITABLE
            self._update()
        elif reg == REG_ESR:
            self.esr, self.esr_pending = self.esr_pending, 0
            self.error_armed = True
        elif reg == REG_ICR_HI:
            self.icr_hi = value & 0xFF000000
        elif reg == REG_ICR_LO:
            self.icr_lo = value & ~ICR_DELIVERY_STATUS
            self._send_ipi()
        elif REG_LVT_TIMER <= reg <= REG_LVT_ERROR:
            index = (reg - REG_LVT_TIMER) >> 4
            self.lvt[index] = value
            if index == LVT_TIMER:
                self._timer_update(self.clock.ns())
            elif index == LVT_LINT0:
                if self.lint0_level:
                    self._local_deliver(LVT_LINT0)
                self._update()
        elif reg == REG_TIMER_ICR:
            self.initial_count = value
            self.initial_count_load_time = self.clock.ns()
            self._timer_update(self.initial_count_load_time)
        elif reg == REG_TIMER_DCR:
            self.divide_conf = value & 0xB
            v = (self.divide_conf & 3) | ((self.divide_conf >> 1) & 4)
            self.count_shift = (v + 1) & 7
        elif reg in (REG_VERSION, REG_APR, REG_PPR, REG_RRD, REG_TIMER_CCR) or \
                REG_ISR <= reg < REG_IRR + 0x80:
            pass                            # read-only registers ignore writes
        else:
            self._error(ESR_ILLEGAL_REGISTER)

    # -- IA32_APIC_BASE MSR (the machine's rdmsr/wrmsr 0x1B) ----------------------------
    def read_apicbase(self) -> int:
        return self.apicbase

    def write_apicbase(self, value: int) -> None:
        """Relocation is not modelled; clearing the enable bit is permanent (QEMU)."""
        self.apicbase = (value & 0xFFFFF000) | (self.apicbase & (APICBASE_BSP | APICBASE_ENABLE))
        if not value & APICBASE_ENABLE:
            self.apicbase &= ~APICBASE_ENABLE
            self.svr &= ~SVR_ENABLE
        self._update()

    # -- snapshots (the debugger's reverse stepping) ----------------------------------
    STATE_FIELDS = ("apicbase", "id", "tpr", "svr", "ldr", "dfr_model", "isr", "tmr", "irr",
                    "lvt", "esr", "esr_pending", "error_armed", "icr_lo", "icr_hi",
                    "divide_conf", "count_shift", "initial_count", "initial_count_load_time",
                    "next_time", "wait_for_sipi", "init_pending", "sipi_pending", "sipi_vector",
                    "nmi_pending", "lint0_level", "lint1_level")

    def save_state(self) -> dict:
        """The registers and latches, without the wiring (callbacks, bus, clock)."""
        return {f: list(v) if isinstance(v := getattr(self, f), list) else v
                for f in self.STATE_FIELDS}

    def load_state(self, state: dict) -> None:
        for f in self.STATE_FIELDS:
            v = state[f]
            setattr(self, f, list(v) if isinstance(v, list) else v)

    # -- housekeeping -------------------------------------------------------------------
    def describe(self) -> str:
        isrv, irrv = highest_bit(self.isr), highest_bit(self.irr)
        timer = "off" if self.next_time is None else f"next={ns_to_insn(self.next_time)}"
        return (f"lapic id={self.id} {'on' if self.software_enabled else 'off'} "
                f"tpr={self.tpr:#04x} ppr={self.ppr():#04x} "
                f"isr={'-' if isrv < 0 else hex(isrv)} irr={'-' if irrv < 0 else hex(irrv)} "
                f"timer={timer} lint0={'extint' if (self.lvt[LVT_LINT0] >> 8) & 7 == DM_EXTINT else (self.lvt[LVT_LINT0] >> 8) & 7}"
                f"{'/masked' if self.lvt[LVT_LINT0] & LVT_MASKED else ''}"
                f"{' nmi' if self.nmi_pending else ''}{' wait-sipi' if self.wait_for_sipi else ''}")

    def vectors(self, bits: int) -> list[int]:
        """The vectors set in a 256-bit register, highest first (for the debugger)."""
        return [v for v in range(255, -1, -1) if bits >> v & 1]

    def dump(self) -> list[str]:
        """Every register decoded, for the debugger's ``info lapic`` (as QEMU's monitor)."""
        def vecs(bits):
            return " ".join(f"{v:#04x}" for v in self.vectors(bits)) or "-"

        lines = [f"apic id {self.id} ({'BSP' if self.bsp else 'AP'}), version {LAPIC_VERSION | ((LVT_COUNT - 1) << 16):#010x}, "
                 f"base {self.apicbase:#010x}, svr {self.svr:#05x} "
                 f"({'enabled' if self.software_enabled else 'disabled'}, spurious {self.svr & 0xFF:#04x})",
                 f"tpr {self.tpr:#04x}  ppr {self.ppr():#04x}  ldr {self.ldr:#04x}  "
                 f"dfr {'flat' if self.dfr_model == 0xF else 'cluster' if self.dfr_model == 0 else self.dfr_model}  "
                 f"esr {self.esr:#04x} (pending {self.esr_pending:#04x})",
                 f"isr {vecs(self.isr)}", f"irr {vecs(self.irr)}", f"tmr {vecs(self.tmr)}",
                 f"icr {self.icr_hi:#010x}:{self.icr_lo:#010x}"]
        for i, name in enumerate(LVT_NAMES):
            lvt = self.lvt[i]
            extra = ""
            if i == LVT_TIMER:
                extra = " periodic" if lvt & LVT_TIMER_PERIODIC else " one-shot"
            elif i in (LVT_LINT0, LVT_LINT1):
                extra = " level" if lvt & LVT_LEVEL else " edge"
            lines.append(f"lvt {name:<7} {lvt:#010x} {DM_NAMES.get((lvt >> 8) & 7, '?'):<7} "
                         f"vector {lvt & 0xFF:#04x}{extra}{' masked' if lvt & LVT_MASKED else ''}")
        timer = "stopped" if self.next_time is None else f"next at {ns_to_insn(self.next_time)}"
        lines.append(f"timer initial {self.initial_count} current {self.current_count()} "
                     f"divide {1 << self.count_shift} ({timer})")
        pending = [name for name, flag in (("nmi", self.nmi_pending), ("init", self.init_pending),
                                           ("sipi", self.sipi_pending),
                                           ("wait-for-sipi", self.wait_for_sipi)) if flag]
        lines.append(f"inputs lint0 {self.lint0_level} lint1 {self.lint1_level}; "
                     f"pending {' '.join(pending) or '-'}")
        return lines
