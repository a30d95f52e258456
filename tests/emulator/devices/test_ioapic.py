"""IO APIC against the 82093AA datasheet (and QEMU's ioapic.c where it is silent)."""

import pytest

from emulator.clock import Clock
from emulator.devices.apicbus import ApicBus
from emulator.devices.ioapic import (IOAPIC_PINS, IOEOI, IOREGSEL, IOWIN, IoApic,
                                     isa_irq_to_pin)
from emulator.devices.apic_regs import REG_EOI, REG_LDR, REG_SVR
from emulator.devices.lapic import LocalApic

LEVEL = 1 << 15
MASKED = 1 << 16
REMOTE_IRR = 1 << 14
LOGICAL = 1 << 11


def machine(n=2, version=0x20):
    clock = Clock()
    bus = ApicBus()
    apics = [LocalApic(clock, i, bus) for i in range(n)]
    for a in apics:
        a.mmio_write(REG_SVR, 4, 0x1FF)
    io = IoApic(bus, clock, version=version)
    return io, apics


def reg_write(io, sel, value):
    io.mmio_write(IOREGSEL, 4, sel)
    io.mmio_write(IOWIN, 4, value)


def reg_read(io, sel):
    io.mmio_write(IOREGSEL, 4, sel)
    return io.mmio_read(IOWIN, 4)


def route(io, pin, low, dest=0):
    reg_write(io, 0x10 + 2 * pin + 1, dest << 24)
    reg_write(io, 0x10 + 2 * pin, low)


def serve(apic):
    """The guest's handler: acknowledge and EOI; returns the vector."""
    v = apic.acknowledge()
    apic.mmio_write(REG_EOI, 4, 0)
    return v


def test_version_register_reads_0x00170020_like_qemu():
    """82093AA 3.2.2: bits 23-16 = 23 (24 entries); version 0x20 is QEMU's default."""
    io, _ = machine()
    assert reg_read(io, 1) == 0x00170020
    io11, _ = machine(version=0x11)
    assert reg_read(io11, 1) == 0x00170011


def test_unknown_version_is_refused():
    with pytest.raises(ValueError):
        IoApic(version=0x30)


def test_id_is_bits_24_to_27_and_arbitration_reads_the_same():
    """82093AA 3.2.1 / 3.2.3 (QEMU returns the ID as the arbitration ID)."""
    io, _ = machine()
    reg_write(io, 0, 0xFA000000)
    assert reg_read(io, 0) == 0x0A000000 and reg_read(io, 2) == 0x0A000000
    reg_write(io, 1, 0)                      # version is read-only
    assert reg_read(io, 1) == 0x00170020


def test_ioregsel_reads_back_and_all_entries_start_masked():
    """82093AA 3.2.4: after reset every redirection entry has its mask bit set."""
    io, _ = machine()
    io.mmio_write(IOREGSEL, 4, 0x13)
    assert io.mmio_read(IOREGSEL, 4) == 0x13
    assert all(reg_read(io, 0x10 + 2 * p) == MASKED for p in range(IOAPIC_PINS))


def test_remote_irr_and_delivery_status_are_read_only():
    """82093AA 3.2.4: bits 12 and 14 are read-only."""
    io, _ = machine()
    reg_write(io, 0x10, LEVEL | REMOTE_IRR | (1 << 12) | MASKED | 0x30)
    assert reg_read(io, 0x10) == LEVEL | MASKED | 0x30


def test_redirection_entry_high_half_holds_the_destination():
    io, _ = machine()
    route(io, 5, MASKED | 0x35, dest=0x03)
    assert reg_read(io, 0x10 + 11) == 0x03000000
    assert io.entry(5)["dest"] == 3 and io.entry(5)["masked"]


def test_isa_irq0_is_pin_2_and_other_irqs_map_one_to_one():
    """The PC's interrupt source override: the PIT's IRQ0 is IO APIC input 2."""
    assert isa_irq_to_pin(0) == 2
    assert [isa_irq_to_pin(i) for i in range(1, 16)] == list(range(1, 16))
    with pytest.raises(ValueError):
        isa_irq_to_pin(16)


def test_edge_entry_delivers_on_each_assertion():
    """82093AA 3.2.4: an edge-sensitive pin sends one message per edge."""
    io, apics = machine()
    route(io, 2, 0x30, dest=1)
    io.set_irq(2, 1)
    assert apics[1].irr == 1 << 0x30 and apics[0].irr == 0
    assert serve(apics[1]) == 0x30
    io.set_irq(2, 0)
    assert apics[1].irr == 0
    io.set_irq(2, 1)
    assert apics[1].irr == 1 << 0x30


def test_a_device_re_driving_a_high_line_interrupts_again_as_on_qemu():
    """QEMU ioapic_set_irq has no edge detector: each qemu_set_irq(1) on an edge pin delivers."""
    io, apics = machine()
    route(io, 8, 0x38)
    io.set_irq(8, 1)
    assert serve(apics[0]) == 0x38
    io.set_irq(8, 1)                         # wire.drive: same level, told again
    assert apics[0].irr == 1 << 0x38


def test_isa_lines_report_changes_only_so_a_steady_line_is_one_edge():
    """IrqLine.set calls its sink only on a change: through it an edge pin sees rising edges."""
    from emulator.devices.base import IrqLine
    io, apics = machine()
    route(io, 3, 0x33)
    line = IrqLine(lambda level: io.set_irq(3, level))
    line.set(1)
    assert serve(apics[0]) == 0x33
    line.set(1)
    assert apics[0].irr == 0


def test_an_edge_that_arrives_while_masked_is_lost():
    """82093AA 3.2.4 (QEMU too): masked edge interrupts are not held."""
    io, apics = machine()
    route(io, 4, MASKED | 0x34)
    io.set_irq(4, 1)
    route(io, 4, 0x34)
    assert apics[0].irr == 0


def test_level_entry_sets_remote_irr_and_does_not_redeliver_until_eoi():
    """82093AA 3.2.4: Remote IRR is set when the LAPIC accepts a level interrupt."""
    io, apics = machine()
    route(io, 9, LEVEL | 0x39)
    io.set_irq(9, 1)
    assert apics[0].irr == 1 << 0x39 and io.entry(9)["remote_irr"]
    assert apics[0].acknowledge() == 0x39
    io.set_irq(9, 0)
    io.set_irq(9, 1)                         # Remote IRR still set: held
    assert apics[0].irr == 0


def test_level_interrupt_still_asserted_is_redelivered_after_the_eoi():
    """SDM 10.8.5: the EOI of a level vector is broadcast; the IO APIC clears Remote IRR and resends."""
    io, apics = machine()
    route(io, 9, LEVEL | 0x39)
    io.set_irq(9, 1)
    assert serve(apics[0]) == 0x39
    assert apics[0].irr == 1 << 0x39 and io.entry(9)["remote_irr"]
    io.set_irq(9, 0)                         # the handler finally quiets the device
    assert serve(apics[0]) == 0x39
    assert apics[0].irr == 0 and not io.entry(9)["remote_irr"]


def test_level_interrupt_deasserted_before_the_eoi_is_not_redelivered():
    io, apics = machine()
    route(io, 10, LEVEL | 0x3A)
    io.set_irq(10, 1)
    apics[0].acknowledge()
    io.set_irq(10, 0)
    apics[0].mmio_write(REG_EOI, 4, 0)
    assert apics[0].irr == 0 and not io.entry(10)["remote_irr"]


def test_eoi_register_of_version_0x20_clears_remote_irr():
    """QEMU (version 0x20): a write of the vector to IOEOI (+0x40) acts as an EOI broadcast."""
    io, apics = machine()
    route(io, 11, LEVEL | 0x3B)
    io.set_irq(11, 1)
    apics[0].acknowledge()
    io.set_irq(11, 0)
    io.mmio_write(IOEOI, 4, 0x3B)
    assert not io.entry(11)["remote_irr"]


def test_version_0x11_has_no_eoi_register():
    io, apics = machine(version=0x11)
    route(io, 11, LEVEL | 0x3B)
    io.set_irq(11, 1)
    io.mmio_write(IOEOI, 4, 0x3B)
    assert io.entry(11)["remote_irr"]


def test_a_masked_level_input_is_delivered_when_unmasked():
    """A level input is sampled: unmasking while it is asserted sends the message."""
    io, apics = machine()
    route(io, 12, LEVEL | MASKED | 0x3C)
    io.set_irq(12, 1)
    assert apics[0].irr == 0
    route(io, 12, LEVEL | 0x3C)
    assert apics[0].irr == 1 << 0x3C


def test_rewriting_an_entry_as_edge_clears_remote_irr():
    """QEMU ioapic_fix_edge_remote_irr (Linux's edge/level toggle to fake an EOI)."""
    io, apics = machine()
    route(io, 13, LEVEL | 0x3D)
    io.set_irq(13, 1)
    route(io, 13, MASKED | 0x3D)
    assert not io.entry(13)["remote_irr"]


def test_logical_destination_and_lowest_priority_from_the_ioapic():
    """82093AA 3.2.4: destination mode 1 = logical; delivery mode 1 = lowest priority."""
    io, apics = machine(3)
    for i, a in enumerate(apics):
        a.mmio_write(REG_LDR, 4, (1 << i) << 24)
    route(io, 3, LOGICAL | 0x33, dest=0b110)            # fixed to APICs 1 and 2
    io.set_irq(3, 1)
    assert [a.irr >> 0x33 & 1 for a in apics] == [0, 1, 1]
    route(io, 4, LOGICAL | (1 << 8) | 0x34, dest=0b110)  # lowest priority: one of them
    io.set_irq(4, 1)
    assert [a.irr >> 0x34 & 1 for a in apics] == [0, 1, 0]


def test_extint_entry_takes_its_vector_from_the_pic():
    """82093AA 3.2.4 delivery mode 7 (QEMU: pic_read_irq at service time)."""
    io, apics = machine()
    io.extint_ack = lambda: 0x48
    route(io, 0, 7 << 8)
    io.set_irq(0, 1)
    assert apics[0].irr == 1 << 0x48


def test_nmi_entry_latches_an_nmi():
    io, apics = machine()
    route(io, 14, 4 << 8, dest=1)
    io.set_irq(14, 1)
    assert apics[1].nmi_pending and not apics[0].nmi_pending


def test_describe_lists_unmasked_pins():
    io, _ = machine()
    route(io, 2, 0x30)
    route(io, 9, LEVEL | 0x39)
    assert io.describe() == "ioapic id=0 ver=0x20 irr=0x000000 unmasked=[2->0x30E 9->0x39L]"


def test_dump_has_a_header_and_one_line_per_pin_for_info_ioapic():
    io, _ = machine()
    route(io, 8, LEVEL | 0x38, dest=1)
    lines = io.dump()
    assert lines[0].startswith("ioapic id 0 version 0x00170020") and len(lines) == 1 + IOAPIC_PINS
    assert "vector 0x38" in lines[9] and "level" in lines[9] and "dest 0x01" in lines[9]
    assert "masked" in lines[1]
