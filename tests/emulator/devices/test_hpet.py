"""HPET (emulator/devices/hpet.py): IA-PC HPET 1.0a and QEMU 7.2's hpet.c
(a 100 MHz counter, three timers, the pc machine's routing)."""

from emulator.clock import Clock
from emulator.devices.hpet import Hpet, _catch_up

CAP, PERIOD, CONF, ISR, CNT, CNT_HI = 0x000, 0x004, 0x010, 0x020, 0x0F0, 0x0F4


def tcfg(n):
    return 0x100 + 0x20 * n


def tcmp(n):
    return 0x108 + 0x20 * n


class Lines:
    def __init__(self):
        self.events = []
        self.level = {}

    def __call__(self, gsi, level):
        self.events.append((gsi, level))
        self.level[gsi] = level

    def edges(self, gsi):
        return sum(1 for i, (g, v) in enumerate(self.events) if g == gsi and v == 1)


def make():
    clock = Clock()
    lines = Lines()
    return Hpet(clock, gsi=lines), clock, lines


def set_cmp(h, n, value):
    """Both halves: after reset the comparator is all ones, so writing the low
    half alone leaves a 64-bit value far in the past (QEMU fires it one tick on)."""
    h.mmio_write(tcmp(n), 4, value & 0xFFFFFFFF)
    h.mmio_write(tcmp(n) + 4, 4, value >> 32)


def run_to(h, clock, t):
    """Advance to ``t`` stopping at every deadline, as the machine does."""
    while True:
        d = h.next_deadline()
        if d is None or d > t:
            break
        clock.now = d
        h.advance(d)
    clock.now = t
    h.advance(t)


def test_capabilities_say_64_bit_legacy_capable_three_timers_10ns():
    h, _, _ = make()
    assert h.mmio_read(CAP, 4) == 0x8086A201
    assert h.mmio_read(PERIOD, 4) == 10_000_000
    assert h.mmio_read(tcfg(0), 4) == 0x30                # PER_INT_CAP | SIZE_CAP
    assert h.mmio_read(tcfg(0) + 4, 4) == 0x4             # INT_ROUTE_CAP: IO APIC input 2


def test_main_counter_runs_only_while_enabled_at_one_tick_per_10ns():
    h, clock, _ = make()
    clock.now = 5000
    assert h.mmio_read(CNT, 4) == 0
    h.mmio_write(CONF, 4, 1)
    clock.now = 5000 + 1239
    assert h.mmio_read(CNT, 4) == 123
    h.mmio_write(CONF, 4, 0)
    clock.now += 100_000
    assert h.mmio_read(CNT, 4) == 123                     # halted keeps its value


def test_main_counter_is_writable_while_halted_and_counts_on_from_there():
    h, clock, _ = make()
    h.mmio_write(CNT, 4, 0xFFFFFFF0)
    h.mmio_write(CNT_HI, 4, 1)
    h.mmio_write(CONF, 4, 1)
    clock.now = 200
    assert (h.mmio_read(CNT, 4), h.mmio_read(CNT_HI, 4)) == (0x4, 2)   # 64-bit carry


def test_one_shot_edge_timer_pulses_its_route_once_at_the_comparator():
    h, clock, lines = make()
    h.mmio_write(tcfg(2), 4, 0x4 | (2 << 9))             # INT_ENB, route 2, edge
    set_cmp(h, 2, 100)
    h.mmio_write(CONF, 4, 1)
    assert h.next_deadline() == 1000
    run_to(h, clock, 999)
    assert lines.edges(2) == 0
    run_to(h, clock, 5000)
    assert lines.edges(2) == 1 and lines.level[2] == 0 and h.mmio_read(ISR, 4) == 0


def test_level_timer_holds_the_line_and_status_until_written_back():
    h, clock, lines = make()
    h.mmio_write(tcfg(0), 4, 0x4 | 0x2 | (2 << 9))
    set_cmp(h, 0, 10)
    h.mmio_write(CONF, 4, 1)
    run_to(h, clock, 200)
    assert h.mmio_read(ISR, 4) == 1 and lines.level[2] == 1
    h.mmio_write(ISR, 4, 1)
    assert h.mmio_read(ISR, 4) == 0 and lines.level[2] == 0


def test_periodic_timer_reloads_with_the_period_written():
    h, clock, lines = make()
    # periodic, 32-bit, VAL_SET: the write sets comparator and period (as Linux does)
    h.mmio_write(tcfg(1), 4, 0x4 | 0x8 | 0x40 | 0x100 | (2 << 9))
    h.mmio_write(tcmp(1), 4, 50)
    h.mmio_write(CONF, 4, 1)
    run_to(h, clock, 500 * 10 - 1)
    first = lines.edges(2)
    assert first >= 9
    assert h.mmio_read(tcmp(1), 4) % 50 == 0             # the comparator moved on by periods


def test_a_periodic_comparator_far_behind_the_counter_catches_up_to_its_next_period():
    # QEMU's hpet_timer adds the period until the comparator is not behind
    # the counter: from 10 under a 10-tick period with the counter at
    # 0xfffffff1 that is 0xfffffffa (a multiple of 10), nine ticks on
    h, clock, lines = make()
    for half, value in ((0, 10), (4, 0)):                    # comparator 10, period 10
        h.mmio_write(tcfg(0), 4, 0x4 | 0x8 | 0x40 | (2 << 9))   # periodic, VAL_SET, 64-bit
        h.mmio_write(tcmp(0) + half, 4, value)
    h.mmio_write(CNT, 4, 0xFFFFFFF0)
    h.mmio_write(CONF, 4, 1)
    run_to(h, clock, 10)                                     # fires one tick on
    assert lines.edges(2) == 1
    assert (h.mmio_read(tcmp(0), 4), h.mmio_read(tcmp(0) + 4, 4)) == (0xFFFFFFFA, 0)
    assert h.next_deadline() == 10 + 9 * 10


def test_the_catch_up_is_exactly_qemus_loop_for_every_small_width_case():
    def qemu_loop(cmp, period, cur, bits):
        mod, steps = 1 << bits, 0
        while (cmp - cur) % mod >= mod >> 1:                 # (intN)(cmp - cur) < 0
            cmp, steps = (cmp + period) % mod, steps + 1
            if steps > 1000:
                return None                                  # spins for ever in QEMU too
        return cmp
    for cmp in range(32):
        for cur in range(32):
            for period in range(1, 64):
                want = qemu_loop(cmp, period, cur, 5)
                if want is not None:
                    assert _catch_up(cmp, period, cur, 5) == want, (cmp, period, cur)


def test_a_comparator_in_the_past_fires_one_tick_later_as_in_qemu():
    h, clock, _ = make()
    h.mmio_write(CONF, 4, 1)
    clock.now = 1000                                     # count 100
    set_cmp(h, 0, 50)
    assert h.next_deadline() == 1010


def test_32_bit_one_shot_also_stops_at_the_counter_wrap():
    h, clock, _ = make()
    h.mmio_write(CNT, 4, 0xFFFFFF00)
    h.mmio_write(tcfg(0), 4, 0x4 | 0x100)                # 32-bit mode, one-shot
    set_cmp(h, 0, 0x10)                       # after the wrap
    h.mmio_write(CONF, 4, 1)
    assert h.next_deadline() == 0xFF * 10                # the wrap first


def test_legacy_route_sends_timer0_to_gsi0_and_turns_the_pit_interrupt_off():
    h, clock, lines = make()
    pit = []
    h.pit_enable = pit.append
    h.pit_in(1)
    assert lines.level[0] == 1
    h.mmio_write(CONF, 4, 0x3)                           # enable, LEG_RT_CNF
    assert pit == [0] and lines.level[0] == 0 and lines.level[8] == 0
    h.pit_in(0)
    h.pit_in(1)
    assert lines.level[0] == 0                           # the PIT no longer reaches it
    h.mmio_write(tcfg(0), 4, 0x4)
    set_cmp(h, 0, 5)
    run_to(h, clock, 100)
    assert lines.edges(0) == 2                           # the PIT's first edge, then timer 0's
    h.mmio_write(CONF, 4, 0x1)                           # leave legacy mode
    assert pit == [0, 1] and lines.level[0] == 0         # lowered; the PIT drives it again


def test_rtc_output_passes_through_outside_legacy_mode():
    h, _, lines = make()
    h.rtc_in(1)
    assert lines.level[8] == 1
    h.mmio_write(CONF, 4, 0x2)
    h.rtc_in(0)
    h.rtc_in(1)
    assert lines.level[8] == 0
    h.mmio_write(CONF, 4, 0x0)
    assert lines.level[8] == 1


def test_disabling_the_counter_stops_every_timer_and_clears_status():
    h, clock, lines = make()
    h.mmio_write(tcfg(0), 4, 0x4 | 0x2 | (2 << 9))
    set_cmp(h, 0, 1)
    h.mmio_write(CONF, 4, 1)
    run_to(h, clock, 100)
    assert h.mmio_read(ISR, 4) == 1
    h.mmio_write(CONF, 4, 0)
    assert h.mmio_read(ISR, 4) == 0 and h.next_deadline() is None and lines.level[2] == 0


def test_save_and_load_state_keep_counter_and_armed_timers():
    h, clock, _ = make()
    h.mmio_write(tcfg(0), 4, 0x4)
    set_cmp(h, 0, 100)
    h.mmio_write(CONF, 4, 1)
    saved = h.save_state()
    h.mmio_write(CONF, 4, 0)
    h.load_state(saved)
    assert h.next_deadline() == 1000
