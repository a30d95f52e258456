"""The APIC bus: destinations, shorthands, lowest priority, IPIs (SDM Vol. 3A 10.6)."""

import pytest

from emulator.clock import Clock
from emulator.devices.apicbus import ApicBus
from emulator.devices.apic_regs import (DM_FIXED, DM_LOWEST, REG_DFR, REG_ESR, REG_ICR_HI,
                                        REG_ICR_LO, REG_LDR, REG_SVR, REG_TPR,
                                        ESR_SEND_ILLEGAL_VECTOR)
from emulator.devices.lapic import LocalApic

LOGICAL = 1 << 11
LEVEL_ASSERT = 1 << 14
TRIGGER_LEVEL = 1 << 15
SELF, ALL, OTHERS = 1 << 18, 2 << 18, 3 << 18
INIT, STARTUP, NMI = 5 << 8, 6 << 8, 4 << 8


def machine(n=4, policy="first"):
    clock = Clock()
    bus = ApicBus(lowest_priority=policy)
    apics = [LocalApic(clock, i, bus) for i in range(n)]
    for a in apics:
        a.mmio_write(REG_SVR, 4, 0x1FF)
    return bus, apics


def ipi(src, lo, dest=0):
    src.mmio_write(REG_ICR_HI, 4, dest << 24)
    src.mmio_write(REG_ICR_LO, 4, lo)


def got(apics, vector):
    """The APIC IDs whose IRR holds ``vector``."""
    return [a.id for a in apics if a.irr >> vector & 1]


def test_physical_destination_reaches_the_apic_with_that_id():
    """SDM 10.6.2.1: physical mode compares the destination with the APIC ID."""
    bus, apics = machine()
    ipi(apics[0], 0x40, dest=2)
    assert got(apics, 0x40) == [2]


def test_physical_destination_follows_a_rewritten_apic_id():
    """SDM 10.4.6: software may change the ID; messages follow the register."""
    bus, apics = machine()
    apics[3].mmio_write(0x20, 4, 7 << 24)
    ipi(apics[0], 0x40, dest=7)
    assert [a.initial_id for a in apics if a.irr] == [3]


def test_physical_destination_0xff_broadcasts():
    """SDM 10.6.2.1: destination 0xFF in physical mode is a broadcast."""
    bus, apics = machine()
    ipi(apics[1], 0x41, dest=0xFF)
    assert got(apics, 0x41) == [0, 1, 2, 3]


def test_logical_flat_destination_is_a_bit_mask_over_the_ldrs():
    """SDM 10.6.2.2: flat model, the message goes to every APIC with dest & LDR != 0."""
    bus, apics = machine()
    for i, a in enumerate(apics):
        a.mmio_write(REG_LDR, 4, (1 << i) << 24)
    ipi(apics[0], LOGICAL | 0x42, dest=0b1010)
    assert got(apics, 0x42) == [1, 3]


def test_logical_flat_skips_an_apic_whose_ldr_was_never_set():
    """SDM 10.6.2.2: an LDR of 0 matches no logical destination."""
    bus, apics = machine()
    apics[1].mmio_write(REG_LDR, 4, 0x01 << 24)
    ipi(apics[0], LOGICAL | 0x43, dest=0xFF)
    assert got(apics, 0x43) == [1]


def test_logical_cluster_destination_matches_cluster_and_member_bits():
    """SDM 10.6.2.2: cluster model, dest[7:4] is the cluster and dest[3:0] selects members."""
    bus, apics = machine()
    ldrs = [0x11, 0x12, 0x21, 0x22]
    for a, ldr in zip(apics, ldrs):
        a.mmio_write(REG_DFR, 4, 0x0FFFFFFF)
        a.mmio_write(REG_LDR, 4, ldr << 24)
    ipi(apics[0], LOGICAL | 0x44, dest=0x23)
    assert got(apics, 0x44) == [2, 3]
    ipi(apics[0], LOGICAL | 0x45, dest=0x12)
    assert got(apics, 0x45) == [1]
    ipi(apics[0], LOGICAL | 0x46, dest=0xF1)          # cluster 15: every cluster
    assert got(apics, 0x46) == [0, 2]


@pytest.mark.parametrize("shorthand,expected", [(SELF, [1]), (ALL, [0, 1, 2, 3]),
                                                (OTHERS, [0, 2, 3])])
def test_shorthands_ignore_the_destination_field(shorthand, expected):
    """SDM 10.6.1: self, all including self, all excluding self."""
    bus, apics = machine()
    ipi(apics[1], shorthand | 0x50, dest=3)
    assert got(apics, 0x50) == expected


def test_lowest_priority_first_policy_picks_the_lowest_apic_id():
    """irqlab's documented default (QEMU's): the first destination by APIC ID, whatever the TPRs."""
    bus, apics = machine()
    apics[0].mmio_write(REG_TPR, 4, 0xF0)
    ipi(apics[3], (DM_LOWEST << 8) | 0x60, dest=0xFF)
    assert got(apics, 0x60) == [0]


def test_lowest_priority_ppr_policy_picks_the_lowest_processor_priority():
    """SDM 10.6.2.4 as modelled by policy 'ppr': lowest PPR class wins, ties to the lowest ID."""
    bus, apics = machine(policy="ppr")
    apics[0].mmio_write(REG_TPR, 4, 0x30)
    apics[1].mmio_write(REG_TPR, 4, 0x20)
    apics[2].mmio_write(REG_TPR, 4, 0x10)
    apics[3].mmio_write(REG_TPR, 4, 0x1F)
    ipi(apics[0], (DM_LOWEST << 8) | 0x61, dest=0xFF)
    assert got(apics, 0x61) == [2]


def test_lowest_priority_ppr_policy_prefers_the_focus_processor():
    """SDM 10.6.2.4: a processor already servicing the vector is its focus and gets it."""
    bus, apics = machine(policy="ppr")
    apics[3].set_irq(0x62, False)
    apics[3].acknowledge()
    apics[3].mmio_write(REG_TPR, 4, 0xF0)
    ipi(apics[0], (DM_LOWEST << 8) | 0x62, dest=0xFF)
    assert got(apics, 0x62) == [3]


def test_unknown_lowest_priority_policy_is_refused():
    with pytest.raises(ValueError):
        ApicBus(lowest_priority="random")


def test_init_then_two_startup_ipis_start_each_ap_once():
    """SDM 8.4.4.1: INIT-SIPI-SIPI; the second SIPI is ignored by a running AP (QEMU)."""
    bus, apics = machine()
    started = []
    for a in apics:
        a.on_sipi = lambda v, a=a: started.append((a.id, v))
    ipi(apics[0], OTHERS | INIT | LEVEL_ASSERT)
    ipi(apics[0], OTHERS | INIT | TRIGGER_LEVEL)      # INIT level de-assert: no effect
    ipi(apics[0], OTHERS | STARTUP | 0x08)
    ipi(apics[0], OTHERS | STARTUP | 0x08)
    assert started == [(1, 8), (2, 8), (3, 8)]


def test_init_level_deassert_reaches_nobody():
    """SDM 10.6.1: INIT level de-assert only synchronises arbitration IDs."""
    bus, apics = machine()
    apics[2].mmio_write(REG_TPR, 4, 0x40)
    ipi(apics[0], INIT | TRIGGER_LEVEL, dest=2)
    assert apics[2].tpr == 0x40 and not apics[2].init_pending


def test_nmi_ipi_latches_an_nmi_at_the_destination():
    """SDM 10.6.1: delivery mode NMI."""
    bus, apics = machine()
    ipi(apics[0], NMI, dest=1)
    assert [a.nmi_pending for a in apics] == [False, True, False, False]


def test_sending_an_illegal_vector_logs_a_send_error_and_delivers_nothing():
    """SDM 10.5.3: a fixed IPI with vector 0-15 sets ESR bit 5 at the sender."""
    bus, apics = machine()
    ipi(apics[0], 0x0F, dest=1)
    assert apics[1].irr == 0
    apics[0].mmio_write(REG_ESR, 4, 0)
    assert apics[0].mmio_read(REG_ESR, 4) == ESR_SEND_ILLEGAL_VECTOR


def test_every_target_is_told_its_output_changed():
    """Each receiver's output_changed runs, so the machine re-examines that CPU."""
    bus, apics = machine()
    seen = []
    for a in apics:
        a.output_changed = lambda a=a: seen.append(a.id)
    ipi(apics[0], ALL | 0x70)
    assert sorted(set(seen)) == [0, 1, 2, 3]


def test_bus_traces_each_message_with_its_receivers():
    bus, apics = machine(2)
    events = []
    bus.trace = lambda kind, **f: events.append((kind, f))
    ipi(apics[0], 0x40, dest=1)
    assert events == [("apic.msg", {"src": "cpu-apic0", "dest": "physical:0x01",
                                    "mode": "fixed", "vector": 0x40, "level": 0, "to": [1]})]
