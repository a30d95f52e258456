"""emulator/smp.py: APIC wiring, deterministic round-robin, real-mode AP start."""

import pytest
from unicorn import UC_ARCH_X86, UC_MODE_32, Uc
from unicorn import x86_const as X

from emulator.clock import Clock
from emulator.devices.i8259 import PicPair
from emulator.devices.ioapic import IOAPIC_BASE
from emulator.devices.lapic import LAPIC_BASE
from emulator.smp import (ApicPlatform, CpuState, RoundRobin, Slice, enter_real_mode,
                          init_registers, sipi_registers)


# -- RoundRobin ------------------------------------------------------------------

def drain(rr, now=0, deadline=None, turns=6):
    """Run every slice to its end; the sequence of (cpu, count)."""
    out = []
    for _ in range(turns):
        s = rr.next_slice(now, deadline)
        out.append((s.cpu, s.count))
        if s.cpu is not None:
            rr.retired(s.count)
            now += s.count
    return out


def test_cpus_take_turns_in_index_order_one_quantum_each():
    rr = RoundRobin(3, quantum=100)
    rr.start(1)
    rr.start(2)
    assert drain(rr) == [(0, 100), (1, 100), (2, 100), (0, 100), (1, 100), (2, 100)]


def test_aps_wait_for_their_startup_ipi_and_the_bsp_runs_alone():
    rr = RoundRobin(3, quantum=50)
    assert rr.state == [CpuState.RUNNING, CpuState.WAIT_SIPI, CpuState.WAIT_SIPI]
    assert drain(rr, turns=3) == [(0, 50), (0, 50), (0, 50)]


def test_a_turn_cut_short_by_a_deadline_resumes_with_the_rest_of_its_quantum():
    rr = RoundRobin(2, quantum=100)
    rr.start(1)
    s = rr.next_slice(now=0, deadline=30)
    assert s == Slice(0, 30)
    rr.retired(30)
    assert rr.next_slice(now=30, deadline=None) == Slice(0, 70)
    rr.retired(70)
    assert rr.next_slice(now=100, deadline=None) == Slice(1, 100)


def test_a_halted_cpu_ends_its_turn_and_is_skipped_until_woken():
    rr = RoundRobin(3, quantum=10)
    rr.start(1)
    rr.start(2)
    assert rr.next_slice(0, None) == Slice(0, 10)
    rr.retired(4)
    rr.halt(0)
    assert drain(rr, now=4, turns=4) == [(1, 10), (2, 10), (1, 10), (2, 10)]
    rr.wake(0)
    assert drain(rr, turns=3) == [(0, 10), (1, 10), (2, 10)]


def test_with_every_cpu_halted_time_jumps_to_the_next_deadline():
    rr = RoundRobin(2, quantum=10)
    rr.halt(0)
    assert rr.next_slice(5, 1234) == Slice(None, until=1234)
    assert rr.next_slice(5, None) == Slice(None, until=None)
    rr.wake(0)
    assert rr.next_slice(1234, None) == Slice(0, 10)


def test_wake_does_not_start_an_ap_waiting_for_sipi():
    rr = RoundRobin(2)
    rr.wake(1)
    assert rr.state[1] is CpuState.WAIT_SIPI
    rr.start(1)
    assert rr.runnable(1)


def test_quantum_must_be_positive():
    with pytest.raises(ValueError):
        RoundRobin(2, quantum=0)


def test_the_same_events_give_the_same_schedule():
    def schedule():
        rr = RoundRobin(4, quantum=7)
        for i in (1, 2, 3):
            rr.start(i)
        seq, now = [], 0
        for step in range(40):
            s = rr.next_slice(now, 1000 if step < 20 else None)
            seq.append((s.cpu, s.count))
            n = min(s.count, 3 + step % 5)
            rr.retired(n)
            now += n
            if step == 9:
                rr.halt(2)
            if step == 25:
                rr.wake(2)
        return seq
    assert schedule() == schedule()


# -- ApicPlatform -----------------------------------------------------------------

def init_pic(pic, base=0x20):
    """ICW1-ICW4 for the master, IMR 0 (what a PC kernel does)."""
    for port, value in ((0x20, 0x11), (0x21, base), (0x21, 0x04), (0x21, 0x01), (0x21, 0x00)):
        pic.io_write(port, 1, value)


def test_a_guest_that_never_touches_the_apics_gets_the_pics_interrupts_through_lint0():
    clock = Clock()
    pic = PicPair(clock)
    platform = ApicPlatform(clock, 2, pic)
    init_pic(pic)
    platform.isa_irq(4, 1)
    bsp, ap = platform.lapics
    assert bsp.intr_pending() and not ap.intr_pending()
    assert bsp.acknowledge() == 0x24


def test_isa_irq0_reaches_pic_line_0_and_ioapic_pin_2():
    clock = Clock()
    pic = PicPair(clock)
    platform = ApicPlatform(clock, 2, pic)
    line = platform.isa_line(0)
    line.set(1)
    assert pic.inputs & 1
    assert platform.ioapic.pin_level[2] == 1 and platform.ioapic.pin_level[0] == 0


def test_mmio_reaches_the_accessing_cpus_own_lapic_and_the_shared_ioapic():
    clock = Clock()
    platform = ApicPlatform(clock, 3)
    assert platform.mmio_read(2, LAPIC_BASE + 0x20, 4) == 2 << 24
    assert platform.mmio_read(1, LAPIC_BASE + 0x20, 4) == 1 << 24
    platform.mmio_write(1, IOAPIC_BASE, 4, 1)
    assert platform.mmio_read(0, IOAPIC_BASE + 0x10, 4) == 0x00170020
    assert platform.claims(LAPIC_BASE + 0xFFF) and not platform.claims(LAPIC_BASE + 0x1000)


def test_lapic_timers_are_the_platforms_deadlines():
    clock = Clock()
    platform = ApicPlatform(clock, 2)
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
    platform = ApicPlatform(Clock(), 2)
    platform.firmware_handoff()
    bsp = platform.lapics[0]
    assert [bsp.mmio_read(r, 4) for r in (0xF0, 0x350, 0x360)] == [0x1FF, 0x8700, 0x8400]


def test_cpu_count_is_checked():
    with pytest.raises(ValueError):
        ApicPlatform(Clock(), 9)


def test_describe_has_one_line_per_lapic_and_one_for_the_ioapic():
    lines = ApicPlatform(Clock(), 2).describe()
    assert len(lines) == 3 and lines[0].startswith("cpu0 lapic id=0") and lines[2].startswith("ioapic")


# -- AP start-up registers --------------------------------------------------------

def test_sipi_state_is_real_mode_at_vector_times_4k():
    regs = sipi_registers(0x9A)
    assert regs["CS"] == 0x9A00 and regs["EIP"] == 0 and regs["CR0"] & 1 == 0
    assert init_registers()["EIP"] == 0xFFF0 and init_registers()["EFLAGS"] == 2


def test_enter_real_mode_runs_16_bit_code_at_the_sipi_address_on_a_32_bit_engine():
    uc = Uc(UC_ARCH_X86, UC_MODE_32)
    uc.mem_map(0, 0x100000)
    # mov ax, cs ; mov bx, 0x1234 ; mov ecx, 0x12345678 (66 prefix) at 0x8000
    uc.mem_write(0x8000, bytes.fromhex("8cc8" "bb3412" "66b978563412"))
    uc.reg_write(X.UC_X86_REG_EAX, 0xDEAD0000)
    enter_real_mode(uc, 0x08)
    uc.emu_start(0, 0xFFFFFFFF, count=3)
    assert uc.reg_read(X.UC_X86_REG_AX) == 0x0800
    assert uc.reg_read(X.UC_X86_REG_BX) == 0x1234
    assert uc.reg_read(X.UC_X86_REG_ECX) == 0x12345678
    assert uc.reg_read(X.UC_X86_REG_EIP) == 11


def test_platform_and_scheduler_state_round_trips_for_snapshots():
    clock = Clock()
    platform = ApicPlatform(clock, 2)
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
