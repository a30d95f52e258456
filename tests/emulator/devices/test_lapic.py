"""Local APIC against the Intel SDM Vol. 3A chapter 10 (and QEMU where it is silent).

Each test names the behaviour; the docstring cites the section it checks.
"""

import pytest

from emulator.clock import Clock
from emulator.devices.apicbus import ApicBus
from emulator.devices.apic_regs import (DM_EXTINT, DM_FIXED, DM_INIT, DM_NMI, DM_SIPI,
                                        ESR_ILLEGAL_REGISTER, ESR_RECV_ILLEGAL_VECTOR,
                                        ESR_SEND_ILLEGAL_VECTOR, LVT_MASKED, REG_DFR, REG_EOI,
                                        REG_ESR, REG_ICR_HI, REG_ICR_LO, REG_ID, REG_IRR, REG_ISR,
                                        REG_LDR, REG_LVT_ERROR, REG_LVT_LINT0, REG_LVT_LINT1,
                                        REG_LVT_TIMER, REG_PPR, REG_SVR, REG_TMR, REG_TIMER_CCR,
                                        REG_TIMER_DCR, REG_TIMER_ICR, REG_TPR, REG_VERSION)
from emulator.devices.lapic import LocalApic

PERIODIC = 1 << 17


class Pic:
    """A stand-in for the 8259 pair: acknowledge returns a fixed vector."""

    def __init__(self, vector=0x20):
        self.vector = vector
        self.acks = 0

    def ack(self):
        self.acks += 1
        return self.vector


def make(apic_id=0, enable=True, clock=None, bus=None):
    clock = clock or Clock()
    apic = LocalApic(clock, apic_id, bus)
    apic.changes = 0

    def changed():
        apic.changes += 1
    apic.output_changed = changed
    if enable:
        apic.mmio_write(REG_SVR, 4, 0x1FF)
    return apic


def w(apic, reg, value):
    apic.mmio_write(reg, 4, value)


def r(apic, reg):
    return apic.mmio_read(reg, 4)


# -- identification and reset --------------------------------------------------

def test_version_register_reads_qemus_0x00050014():
    """SDM 10.4.8: version 0x14 (integrated APIC), max LVT entry 5 (6 LVTs)."""
    assert r(make(), REG_VERSION) == 0x00050014


def test_id_register_holds_the_apic_id_in_bits_24_to_31():
    """SDM 10.4.6: the APIC ID is bits 31-24 of the ID register."""
    assert r(make(apic_id=3), REG_ID) == 3 << 24


def test_reset_disables_the_apic_and_masks_every_lvt_but_the_bsps_lint0():
    """SDM 10.4.7.1 (SVR 0xFF after reset, LVTs masked); QEMU: BSP LINT0 = ExtINT."""
    bsp, ap = make(0, enable=False), make(1, enable=False)
    assert r(bsp, REG_SVR) == 0xFF and r(ap, REG_SVR) == 0xFF
    assert r(bsp, REG_LVT_LINT0) == DM_EXTINT << 8
    assert r(ap, REG_LVT_LINT0) == LVT_MASKED
    for reg in (REG_LVT_TIMER, REG_LVT_LINT1, REG_LVT_ERROR):
        assert r(bsp, reg) == LVT_MASKED
    assert r(bsp, REG_DFR) == 0xFFFFFFFF and r(bsp, REG_LDR) == 0


def test_sub_dword_accesses_are_ignored():
    """SDM 10.4.1: registers are accessed with aligned 32-bit loads and stores (QEMU: others dropped)."""
    apic = make()
    apic.mmio_write(REG_TPR, 1, 0x50)
    assert r(apic, REG_TPR) == 0
    assert apic.mmio_read(REG_VERSION, 2) == 0


# -- priorities, TPR and PPR --------------------------------------------------------

def test_ppr_is_the_tpr_when_its_class_is_at_least_the_isr_class():
    """SDM 10.8.3.1: PPR = TPR if TPR[7:4] >= ISRV[7:4], else ISRV[7:4] << 4."""
    apic = make()
    apic.set_irq(0x51, False)
    assert apic.acknowledge() == 0x51
    w(apic, REG_TPR, 0x32)
    assert r(apic, REG_PPR) == 0x50
    w(apic, REG_TPR, 0x57)
    assert r(apic, REG_PPR) == 0x57


def test_tpr_masks_a_whole_priority_class():
    """SDM 10.8.3.1: an IRR vector is delivered only if its class is above PPR[7:4]."""
    apic = make()
    w(apic, REG_TPR, 0x40)
    apic.set_irq(0x4F, False)
    assert not apic.intr_pending()          # class 4 is not above TPR class 4
    w(apic, REG_TPR, 0x3F)
    assert apic.intr_pending()              # class 4 is above class 3
    assert apic.acknowledge() == 0x4F


def test_lowering_the_tpr_tells_the_machine_to_look_again():
    """The output_changed callback runs after a TPR write, so a waiting vector is seen."""
    apic = make()
    w(apic, REG_TPR, 0xF0)
    apic.set_irq(0x80, False)
    before = apic.changes
    w(apic, REG_TPR, 0)
    assert apic.changes > before and apic.intr_pending()


def test_a_higher_class_preempts_an_in_service_vector_but_the_same_class_waits():
    """SDM 10.8.3.1: the ISR's highest class raises the PPR; only a higher class gets through."""
    apic = make()
    apic.set_irq(0x61, False)
    assert apic.acknowledge() == 0x61
    apic.set_irq(0x6F, False)
    assert not apic.intr_pending()
    apic.set_irq(0x70, False)
    assert apic.intr_pending() and apic.acknowledge() == 0x70
    w(apic, REG_EOI, 0)
    w(apic, REG_EOI, 0)
    assert apic.acknowledge() == 0x6F


def test_acknowledge_moves_the_highest_irr_vector_to_the_isr():
    """SDM 10.8.4: the INTA cycle takes the highest-priority IRR bit into the ISR."""
    apic = make()
    for v in (0x31, 0x92, 0x45):
        apic.set_irq(v, False)
    assert apic.acknowledge() == 0x92
    assert r(apic, REG_ISR + 0x40) == 1 << (0x92 - 0x80)
    assert r(apic, REG_IRR + 0x40) == 0
    assert r(apic, REG_IRR + 0x10) == 1 << (0x31 - 0x20)
    assert r(apic, REG_IRR + 0x20) == 1 << (0x45 - 0x40)


def test_eoi_clears_only_the_highest_isr_bit():
    """SDM 10.8.5: an EOI write retires the highest-priority in-service vector."""
    apic = make()
    apic.set_irq(0x30, False)
    apic.acknowledge()
    apic.set_irq(0x90, False)
    apic.acknowledge()
    w(apic, REG_EOI, 0)
    assert apic.isr == 1 << 0x30
    w(apic, REG_EOI, 0)
    assert apic.isr == 0
    w(apic, REG_EOI, 0)                     # nothing in service: no effect
    assert apic.isr == 0


def test_spurious_vector_when_the_request_vanished_before_inta():
    """SDM 10.9: if the TPR masks the request between INTR and INTA, the spurious vector is returned."""
    apic = make()
    w(apic, REG_SVR, 0x1E7)
    apic.set_irq(0x55, False)
    assert apic.intr_pending()
    w(apic, REG_TPR, 0x60)                  # the guest raises the TPR first
    assert apic.acknowledge() == 0xE7
    assert apic.isr == 0 and apic.irr == 1 << 0x55    # nothing moves, nothing is lost


def test_trigger_mode_register_records_level_vectors():
    """SDM 10.8.4: the TMR bit is set for level-triggered and cleared for edge vectors."""
    apic = make()
    apic.set_irq(0x41, True)
    apic.set_irq(0x42, False)
    assert r(apic, REG_TMR + 0x20) == 1 << 1


def test_a_software_disabled_apic_latches_but_does_not_deliver():
    """SDM 10.4.7.2 / QEMU: with SVR bit 8 clear no fixed interrupt reaches the CPU."""
    apic = make(enable=False)
    apic.set_irq(0x40, False)
    assert not apic.intr_pending()
    w(apic, REG_SVR, 0x1FF)
    assert apic.intr_pending() and apic.acknowledge() == 0x40


def test_receiving_an_illegal_vector_logs_an_error_and_latches_nothing():
    """SDM 10.5.3: vectors 0-15 are illegal; receiving one sets ESR bit 6."""
    apic = make()
    apic.set_irq(0x0E, False)
    assert apic.irr == 0
    w(apic, REG_ESR, 0)
    assert r(apic, REG_ESR) == ESR_RECV_ILLEGAL_VECTOR


# -- ESR and LVT error -----------------------------------------------------------------

def test_esr_shows_errors_only_after_a_write_and_the_next_write_clears_them():
    """SDM 10.5.3: a write latches the errors since the last write into the ESR and clears them."""
    apic = make()
    r(apic, 0x3F0)                          # an illegal register address
    assert r(apic, REG_ESR) == 0            # not visible until written
    w(apic, REG_ESR, 0)
    assert r(apic, REG_ESR) == ESR_ILLEGAL_REGISTER
    w(apic, REG_ESR, 0)
    assert r(apic, REG_ESR) == 0


def test_lvt_error_fires_once_per_esr_write():
    """SDM 10.5.3: an error raises the LVT error interrupt; the ESR write re-arms it."""
    apic = make()
    w(apic, REG_LVT_ERROR, 0xFE)
    w(apic, REG_ICR_LO, 0x05)               # fixed IPI with illegal vector 5
    assert apic.irr == 1 << 0xFE
    apic.acknowledge()
    w(apic, REG_EOI, 0)
    w(apic, REG_ICR_LO, 0x05)
    assert apic.irr == 0                    # not re-armed yet
    w(apic, REG_ESR, 0)
    assert r(apic, REG_ESR) == ESR_SEND_ILLEGAL_VECTOR
    w(apic, REG_ICR_LO, 0x05)
    assert apic.irr == 1 << 0xFE


# -- LINT0 (the 8259 pair) and LINT1 (NMI) ----------------------------------------------

def test_extint_on_lint0_lets_a_guest_that_never_touches_the_apic_see_the_pic():
    """QEMU: BSP LINT0 is ExtINT after reset; the PIC's acknowledge supplies the vector."""
    apic = make(enable=False)
    pic = Pic(0x28)
    apic.extint_ack = pic.ack
    assert not apic.intr_pending()
    apic.set_lint0(1)
    assert apic.intr_pending()
    assert apic.acknowledge() == 0x28 and pic.acks == 1
    apic.set_lint0(0)
    assert not apic.intr_pending()


def test_extint_ignores_the_tpr():
    """SDM 10.8.1: ExtINT interrupts are not subject to the task priority."""
    apic = make()
    apic.extint_ack = Pic(0x21).ack
    w(apic, REG_TPR, 0xFF)
    apic.set_lint0(1)
    assert apic.intr_pending() and apic.acknowledge() == 0x21


def test_a_masked_lint0_keeps_the_pic_out_unless_the_apic_is_globally_disabled():
    """QEMU apic_accept_pic_intr: LINT0 unmasked, or IA32_APIC_BASE enable clear."""
    apic = make(apic_id=1)                  # an AP: LINT0 masked
    apic.extint_ack = Pic(0x20).ack
    apic.set_lint0(1)
    assert not apic.intr_pending()
    apic.write_apicbase(apic.read_apicbase() & ~(1 << 11))
    assert apic.intr_pending() and apic.acknowledge() == 0x20


def test_extint_is_taken_before_a_pending_apic_vector():
    """QEMU apic_get_interrupt: the PIC is asked first when it asserts INT."""
    apic = make()
    apic.extint_ack = Pic(0x20).ack
    apic.set_irq(0xA0, False)
    apic.set_lint0(1)
    assert apic.acknowledge() == 0x20
    apic.set_lint0(0)
    assert apic.acknowledge() == 0xA0


def test_with_nothing_pending_the_inta_goes_to_the_pic_when_lint0_passes_it():
    """QEMU cpu_get_pic_interrupt: no APIC vector means the PIC answers (its own spurious IRQ)."""
    apic = make()
    apic.extint_ack = Pic(0x27).ack
    assert apic.acknowledge() == 0x27


def test_lint0_in_fixed_level_mode_latches_and_drops_with_the_line():
    """QEMU apic_deliver_pic_intr: fixed level LINT0 sets the IRR; deassert clears it."""
    apic = make()
    w(apic, REG_LVT_LINT0, (1 << 15) | 0x66)
    apic.set_lint0(1)
    assert apic.irr == 1 << 0x66 and apic.tmr == 1 << 0x66
    apic.set_lint0(0)
    assert apic.irr == 0


def test_lint1_in_nmi_mode_latches_an_nmi_on_the_rising_edge():
    """SDM 10.5.1: LINT1 is the NMI input on the PC; take_nmi consumes the latch."""
    apic = make()
    w(apic, REG_LVT_LINT1, DM_NMI << 8)
    apic.set_lint1(1)
    assert apic.nmi_pending
    assert apic.take_nmi() is True
    assert apic.take_nmi() is False
    apic.set_lint1(1)                       # no new edge
    assert not apic.nmi_pending


# -- timer -------------------------------------------------------------------------------

def timer(apic, lvt, initial, dcr=0xB):
    w(apic, REG_TIMER_DCR, dcr)
    w(apic, REG_LVT_TIMER, lvt)
    w(apic, REG_TIMER_ICR, initial)


def run_to(apic, now):
    apic.clock.now = now
    apic.advance(now)


def test_one_shot_timer_counts_down_and_fires_once():
    """SDM 10.5.4: one-shot counts from the initial count to 0 and interrupts once (QEMU: at initial+1 ticks)."""
    apic = make()
    apic.clock.now = 100
    timer(apic, 0x40, 1000)
    assert apic.next_deadline() == 100 + 1001
    apic.clock.now = 600
    assert r(apic, REG_TIMER_CCR) == 500
    run_to(apic, 1100)
    assert r(apic, REG_TIMER_CCR) == 0 and apic.irr == 0
    run_to(apic, 1101)
    assert apic.irr == 1 << 0x40
    assert apic.next_deadline() is None


def test_periodic_timer_reloads_every_initial_plus_one_ticks():
    """SDM 10.5.4: periodic mode reloads from the initial count (QEMU period = initial+1)."""
    apic = make()
    timer(apic, PERIODIC | 0x41, 99)
    fired = []
    for _ in range(3):
        t = apic.next_deadline()
        run_to(apic, t)
        fired.append(t)
        assert apic.acknowledge() == 0x41
        w(apic, REG_EOI, 0)
    assert fired == [100, 200, 300]
    apic.clock.now = 325
    assert r(apic, REG_TIMER_CCR) == 99 - 25


def test_periodic_timer_coalesces_missed_periods_into_one_irr_bit():
    """The IRR is one bit per vector: periods missed while the machine was away fire once."""
    apic = make()
    timer(apic, PERIODIC | 0x41, 9)
    run_to(apic, 55)
    assert apic.irr == 1 << 0x41
    assert apic.next_deadline() == 60


@pytest.mark.parametrize("dcr,divisor", [(0x0, 2), (0x1, 4), (0x2, 8), (0x3, 16),
                                         (0x8, 32), (0x9, 64), (0xA, 128), (0xB, 1)])
def test_divide_configuration_slows_the_count_by_its_divisor(dcr, divisor):
    """SDM Figure 10-10: DCR bits 0,1,3 select divide by 2,4,...,128 or 1."""
    apic = make()
    timer(apic, 0x40, 1000, dcr)
    assert r(apic, REG_TIMER_DCR) == dcr
    apic.clock.now = 10 * divisor
    assert r(apic, REG_TIMER_CCR) == 990
    assert apic.next_deadline() == 1001 * divisor


def test_a_masked_timer_counts_but_does_not_interrupt():
    """SDM 10.5.1: the mask bit inhibits the interrupt; the count still runs."""
    apic = make()
    timer(apic, LVT_MASKED | 0x40, 1000)
    assert apic.next_deadline() is None
    apic.clock.now = 400
    assert r(apic, REG_TIMER_CCR) == 600


def test_writing_initial_count_zero_stops_the_timer():
    """SDM 10.5.4: an initial count of 0 stops the timer."""
    apic = make()
    timer(apic, PERIODIC | 0x40, 1000)
    w(apic, REG_TIMER_ICR, 0)
    assert apic.next_deadline() is None and r(apic, REG_TIMER_CCR) == 0


def test_timer_in_fixed_mode_delivers_edge_triggered():
    """SDM 10.5.1: the timer LVT has no trigger bit; its vector is edge (TMR clear)."""
    apic = make()
    timer(apic, (1 << 15) | 0x40, 0)
    w(apic, REG_TIMER_ICR, 5)
    run_to(apic, 6)
    assert apic.irr == 1 << 0x40 and apic.tmr == 0


# -- INIT and start-up -------------------------------------------------------------------------

def test_init_resets_everything_but_the_id_and_an_ap_waits_for_one_sipi():
    """SDM 10.4.7.3 and 8.4.4: INIT resets the APIC (ID kept); the first SIPI starts the AP."""
    ap = make(apic_id=2)
    calls = []
    ap.on_init = lambda: calls.append("init")
    ap.on_sipi = lambda v: calls.append(("sipi", v))
    w(ap, REG_TPR, 0x20)
    ap.set_irq(0x50, False)
    ap.accept(DM_INIT, 0, False)
    assert r(ap, REG_SVR) == 0xFF and ap.tpr == 0 and ap.irr == 0
    assert r(ap, REG_ID) == 2 << 24
    assert ap.take_init() is True
    ap.accept(DM_SIPI, 0x08, False)
    ap.accept(DM_SIPI, 0x09, False)         # the second SIPI finds the AP running
    assert calls == ["init", ("sipi", 0x08)]
    assert ap.take_sipi() == 0x08 and ap.take_sipi() is None


def test_a_sipi_without_init_is_ignored_by_the_bsp():
    """QEMU: the BSP never waits for a SIPI."""
    bsp = make(apic_id=0)
    bsp.accept(DM_SIPI, 0x10, False)
    assert not bsp.sipi_pending


def test_nmi_message_sets_the_nmi_latch():
    """SDM 10.6.1: delivery mode NMI ignores the vector and the TPR."""
    apic = make()
    w(apic, REG_TPR, 0xFF)
    apic.accept(DM_NMI, 0, False)
    assert apic.nmi_pending and not apic.intr_pending()


def test_icr_reads_back_idle_delivery_status():
    """SDM 10.6.1: delivery status (bit 12) is 0 once the IPI was sent (instantly here)."""
    bus = ApicBus()
    a = make(0, bus=bus)
    make(1, bus=bus)
    w(a, REG_ICR_HI, 1 << 24)
    w(a, REG_ICR_LO, (1 << 12) | 0x40)
    assert r(a, REG_ICR_LO) == 0x40 and r(a, REG_ICR_HI) == 1 << 24


def test_apic_base_msr_reports_bsp_and_enable():
    """SDM 10.4.4: IA32_APIC_BASE = 0xFEE00000 | enable (bit 11) | BSP (bit 8)."""
    assert make(0).read_apicbase() == 0xFEE00900
    assert make(1).read_apicbase() == 0xFEE00800


def test_describe_is_one_line():
    apic = make()
    apic.set_irq(0x44, False)
    line = apic.describe()
    assert "\n" not in line and "irr=0x44" in line and "id=0" in line
    assert apic.vectors(apic.irr) == [0x44]


def test_dump_decodes_every_register_for_info_lapic():
    apic = make(apic_id=1)
    w(apic, REG_LVT_TIMER, PERIODIC | 0x40)
    w(apic, REG_TIMER_ICR, 500)
    apic.set_irq(0x51, True)
    lines = apic.dump()
    assert lines[0].startswith("apic id 1 (AP), version 0x00050014")
    assert "irr 0x51" in lines and "tmr 0x51" in lines
    assert any(line.startswith("lvt timer") and "periodic" in line and "vector 0x40" in line
               for line in lines)
    assert any(line.startswith("timer initial 500") for line in lines)
