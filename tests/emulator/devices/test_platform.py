"""emulator/devices/platform.py: the PIC pair, the LAPICs and the IO APIC wired as on QEMU's pc."""

import pytest

from emulator.clock import Clock
from emulator.devices.i8259 import PicPair
from emulator.devices.ioapic import IOAPIC_BASE
from emulator.devices.apic_regs import LAPIC_BASE
from emulator.devices.platform import PcInterrupts
from emulator.roundrobin import RoundRobin


def init_pic(pic, base=0x20):
    """ICW1-ICW4 for the master, IMR 0 (what a PC kernel does)."""
    for port, value in ((0x20, 0x11), (0x21, base), (0x21, 0x04), (0x21, 0x01), (0x21, 0x00)):
        pic.io_write(port, 1, value)


def test_a_guest_that_never_touches_the_apics_gets_the_pics_interrupts_through_lint0():
    clock = Clock()
    pic = PicPair(clock)
    platform = PcInterrupts(clock, 2, pic)
    init_pic(pic)
    platform.isa_irq(4, 1)
    bsp, ap = platform.lapics
    assert bsp.intr_pending() and not ap.intr_pending()
    assert bsp.acknowledge() == 0x24


def test_isa_irq0_reaches_pic_line_0_and_ioapic_pin_2():
    clock = Clock()
    pic = PicPair(clock)
    platform = PcInterrupts(clock, 2, pic)
    line = platform.isa_line(0)
    line.set(1)
    assert pic.inputs & 1
    assert platform.ioapic.pin_level[2] == 1 and platform.ioapic.pin_level[0] == 0


def test_mmio_reaches_the_accessing_cpus_own_lapic_and_the_shared_ioapic():
    clock = Clock()
    platform = PcInterrupts(clock, 3)
    assert platform.mmio_read(2, LAPIC_BASE + 0x20, 4) == 2 << 24
    assert platform.mmio_read(1, LAPIC_BASE + 0x20, 4) == 1 << 24
    platform.mmio_write(1, IOAPIC_BASE, 4, 1)
    assert platform.mmio_read(0, IOAPIC_BASE + 0x10, 4) == 0x00170020
    assert platform.claims(LAPIC_BASE + 0xFFF) and not platform.claims(LAPIC_BASE + 0x1000)


def test_lapic_timers_are_the_platforms_deadlines():
    clock = Clock()
    platform = PcInterrupts(clock, 2)
    ap = platform.lapics[1]
    ap.mmio_write(0xF0, 4, 0x1FF)
    ap.mmio_write(0x3E0, 4, 0xB)
    ap.mmio_write(0x320, 4, 0x40)
    ap.mmio_write(0x380, 4, 99)
    assert platform.next_deadline() == 100
    clock.now = 100
    platform.advance(100)
    assert ap.irr == 1 << 0x40


def test_firmware_handoff_matches_what_seabios_leaves_on_qemu():
    """Values read on qemu-system-i386 7.2 after SeaBIOS: SVR 0x1FF, LINT0 0x8700, LINT1 0x8400."""
    platform = PcInterrupts(Clock(), 2)
    platform.firmware_handoff()
    bsp = platform.lapics[0]
    assert [bsp.mmio_read(r, 4) for r in (0xF0, 0x350, 0x360)] == [0x1FF, 0x8700, 0x8400]


def test_cpu_count_is_checked():
    with pytest.raises(ValueError):
        PcInterrupts(Clock(), 9)


def test_describe_has_one_line_per_lapic_and_one_for_the_ioapic():
    lines = PcInterrupts(Clock(), 2).describe()
    assert len(lines) == 3 and lines[0].startswith("cpu0 lapic id=0") and lines[2].startswith("ioapic")


def test_platform_and_scheduler_state_round_trips_for_snapshots():
    clock = Clock()
    platform = PcInterrupts(clock, 2)
    rr = RoundRobin(2, quantum=10)
    bsp = platform.lapics[0]
    bsp.mmio_write(0xF0, 4, 0x1FF)
    bsp.set_irq(0x41, True)
    platform.mmio_write(0, IOAPIC_BASE, 4, 0x10)
    platform.mmio_write(0, IOAPIC_BASE + 0x10, 4, 0x8031)
    rr.retired(4)
    saved, saved_rr = platform.save_state(), rr.save_state()
    before = platform.describe() + [rr.describe()]
    bsp.acknowledge()
    bsp.mmio_write(0x80, 4, 0x70)
    platform.mmio_write(0, IOAPIC_BASE + 0x10, 4, 0x10000)
    rr.halt(0)
    platform.load_state(saved)
    rr.load_state(saved_rr)
    assert platform.describe() + [rr.describe()] == before
    assert bsp.irr == 1 << 0x41 and bsp.tmr == 1 << 0x41 and rr.used == 4
    saved["lapics"][0]["lvt"][0] = 0                 # the saved copy is not shared
    assert bsp.lvt[0] != 0
